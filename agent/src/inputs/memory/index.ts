import si from 'systeminformation'
import type { AgentConfig, Clock } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type MemoryConfig = AgentConfig['inputs']['memory']

/** The fields of si.mem() this input reads. */
export interface MemoryReading {
  total: number
  available: number
}

export interface MemoryInputOptions {
  read?: () => Promise<MemoryReading>
}

/**
 * mem.total_bytes, mem.used_bytes, mem.available_bytes. "Used" is total minus available (what
 * `free` and the kernel's MemAvailable mean), not si.mem().used, which is total minus free and so
 * counts reclaimable page cache: on Linux that makes every busy host look full.
 */
export class MemoryInput implements Input {
  readonly name = 'memory'
  private readonly read: () => Promise<MemoryReading>
  private readonly clock: Clock

  constructor(_config: MemoryConfig, deps: InputDeps, options: MemoryInputOptions = {}) {
    this.read = options.read ?? (() => si.mem())
    this.clock = deps.clock
  }

  async init(): Promise<void> {}

  async gather(accumulator: Accumulator): Promise<void> {
    const timestampMs = this.clock.now()
    const mem = await this.read()
    if (!(mem.total > 0)) throw new Error(`systeminformation reported a memory total of ${mem.total}`)
    const available = Math.min(Math.max(mem.available, 0), mem.total)
    accumulator.add('mem.total_bytes', {}, mem.total, timestampMs)
    accumulator.add('mem.used_bytes', {}, mem.total - available, timestampMs)
    accumulator.add('mem.available_bytes', {}, available, timestampMs)
  }
}

export const memoryInput: InputFactory<'memory'> = {
  name: 'memory',
  create: (config, deps) => new MemoryInput(config, deps),
}
