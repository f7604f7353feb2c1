import { readFile } from 'node:fs/promises'
import { systemInformation } from '../systeminformation.js'
import type { AgentConfig, Clock } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type MemoryConfig = AgentConfig['inputs']['memory']

/** What this input reports, in bytes. */
export interface MemoryReading {
  total: number
  available: number
  /** Page cache (Cached in /proc/meminfo). */
  cached: number
  swapTotal: number
  swapFree: number
}

/** /proc/meminfo in bytes; throws when a field this input needs is missing. */
export function parseMeminfo(text: string): MemoryReading {
  const kb = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?$/.exec(line.trim())
    if (match) kb.set(match[1] as string, Number(match[2]))
  }
  const field = (name: string): number => {
    const value = kb.get(name)
    if (value === undefined) throw new Error(`no ${name} in /proc/meminfo`)
    return value * 1024
  }
  return {
    total: field('MemTotal'),
    available: field('MemAvailable'),
    cached: field('Cached'),
    swapTotal: field('SwapTotal'),
    swapFree: field('SwapFree'),
  }
}

export const procMeminfoReader =
  (path = '/proc/meminfo') =>
  async (): Promise<MemoryReading> =>
    parseMeminfo(await readFile(path, 'utf8'))

export const systeminformationReader = async (): Promise<MemoryReading> => {
  const mem = await (await systemInformation()).mem()
  return {
    total: mem.total,
    available: mem.available,
    cached: mem.cached,
    swapTotal: mem.swaptotal,
    swapFree: mem.swapfree,
  }
}

export interface MemoryInputOptions {
  read?: () => Promise<MemoryReading>
}

/**
 * mem.total_bytes, mem.used_bytes, mem.available_bytes, mem.cached_bytes, mem.swap_total_bytes,
 * mem.swap_used_bytes. "Used" is total minus available (what `free` and the kernel's MemAvailable
 * mean), not total minus free, which counts reclaimable page cache: on Linux that makes every busy
 * host look full. On Linux it reads /proc/meminfo itself (one small file, no child process).
 */
export class MemoryInput implements Input {
  readonly name = 'memory'
  private readonly read: () => Promise<MemoryReading>
  private readonly clock: Clock

  constructor(_config: MemoryConfig, deps: InputDeps, options: MemoryInputOptions = {}) {
    this.read = options.read ?? (process.platform === 'linux' ? procMeminfoReader() : systeminformationReader)
    this.clock = deps.clock
  }

  async init(): Promise<void> {}

  async gather(accumulator: Accumulator): Promise<void> {
    const timestampMs = this.clock.now()
    const mem = await this.read()
    if (!(mem.total > 0)) throw new Error(`memory total reported as ${mem.total}`)
    const available = Math.min(Math.max(mem.available, 0), mem.total)
    const swapFree = Math.min(Math.max(mem.swapFree, 0), mem.swapTotal)
    accumulator.add('mem.total_bytes', {}, mem.total, timestampMs)
    accumulator.add('mem.used_bytes', {}, mem.total - available, timestampMs)
    accumulator.add('mem.available_bytes', {}, available, timestampMs)
    accumulator.add('mem.cached_bytes', {}, mem.cached, timestampMs)
    accumulator.add('mem.swap_total_bytes', {}, mem.swapTotal, timestampMs)
    accumulator.add('mem.swap_used_bytes', {}, mem.swapTotal - swapFree, timestampMs)
  }
}

export const memoryInput: InputFactory<'memory'> = {
  name: 'memory',
  create: (config, deps) => new MemoryInput(config, deps),
}
