import { readdir, readFile } from 'node:fs/promises'
import type { AgentConfig, Clock } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type SystemConfig = AgentConfig['inputs']['system']

export interface LoadAvg {
  load1: number
  load5: number
  load15: number
  /** Kernel scheduling entities (threads) that exist now: the 4th field's denominator. */
  threads: number
}

/** `0.20 0.18 0.12 1/80 11206` */
export function parseLoadavg(text: string): LoadAvg {
  const [l1, l5, l15, entities] = text.trim().split(/\s+/)
  const values = [Number(l1), Number(l5), Number(l15), Number(entities?.split('/')[1])]
  if (values.some((v) => !Number.isFinite(v))) throw new Error(`unexpected /proc/loadavg: ${text.trim()}`)
  const [load1, load5, load15, threads] = values as [number, number, number, number]
  return { load1, load5, load15, threads }
}

/** `350735.47 234388.90`: seconds since boot, then idle seconds summed over cores. */
export function parseUptime(text: string): number {
  const seconds = Number(text.trim().split(/\s+/)[0])
  if (!Number.isFinite(seconds)) throw new Error(`unexpected /proc/uptime: ${text.trim()}`)
  return seconds
}

/** glibc's `struct utmp` on x86_64 (and other 64-bit ABIs that keep 32-bit utmp times): 384 bytes. */
export const UTMP_RECORD_BYTES = 384
const USER_PROCESS = 7
const UT_USER_OFFSET = 44

/** Login sessions in a utmp file (what `who` lists): records of type USER_PROCESS with a user name. */
export function countUtmpSessions(data: Buffer): number {
  if (data.length % UTMP_RECORD_BYTES !== 0)
    throw new Error(`utmp size ${data.length} is not a multiple of ${UTMP_RECORD_BYTES}`)
  let sessions = 0
  for (let at = 0; at < data.length; at += UTMP_RECORD_BYTES) {
    if (data.readInt16LE(at) === USER_PROCESS && data[at + UT_USER_OFFSET] !== 0) sessions++
  }
  return sessions
}

export interface SystemPaths {
  proc: string
  utmp: string
}

export interface SystemInputOptions {
  paths?: Partial<SystemPaths>
  /** Default: x86_64 Linux only, where the utmp record layout is the one above. */
  readUsers?: boolean
}

/**
 * system.load1, system.load5, system.load15, system.uptime_seconds, system.processes,
 * system.threads, and system.users where utmp is present and its layout known. All from /proc (and
 * /run/utmp): a few small reads and one readdir of /proc per gather.
 */
export class SystemInput implements Input {
  readonly name = 'system'
  private readonly paths: SystemPaths
  private readonly clock: Clock
  private readonly readUsers: boolean

  constructor(_config: SystemConfig, deps: InputDeps, options: SystemInputOptions = {}) {
    this.paths = { proc: '/proc', utmp: '/run/utmp', ...options.paths }
    this.clock = deps.clock
    this.readUsers = options.readUsers ?? (process.platform === 'linux' && process.arch === 'x64')
  }

  async init(): Promise<void> {
    if (process.platform !== 'linux') throw new Error('the system input reads /proc and runs on Linux only')
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const timestampMs = this.clock.now()
    const [loadavg, uptime, entries, sessions] = await Promise.all([
      readFile(`${this.paths.proc}/loadavg`, 'utf8'),
      readFile(`${this.paths.proc}/uptime`, 'utf8'),
      readdir(this.paths.proc),
      this.sessions(),
    ])
    const load = parseLoadavg(loadavg)
    accumulator.add('system.load1', {}, load.load1, timestampMs)
    accumulator.add('system.load5', {}, load.load5, timestampMs)
    accumulator.add('system.load15', {}, load.load15, timestampMs)
    accumulator.add('system.uptime_seconds', {}, parseUptime(uptime), timestampMs)
    accumulator.add('system.processes', {}, entries.filter((name) => /^\d+$/.test(name)).length, timestampMs)
    accumulator.add('system.threads', {}, load.threads, timestampMs)
    if (sessions !== undefined) accumulator.add('system.users', {}, sessions, timestampMs)
  }

  /** Undefined (no series) where there is no utmp, as in most containers. */
  private async sessions(): Promise<number | undefined> {
    if (!this.readUsers) return undefined
    try {
      return countUtmpSessions(await readFile(this.paths.utmp))
    } catch {
      return undefined
    }
  }
}

export const systemInput: InputFactory<'system'> = {
  name: 'system',
  create: (config, deps) => new SystemInput(config, deps),
}
