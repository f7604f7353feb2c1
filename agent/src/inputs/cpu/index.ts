import { readFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { systemInformation } from '../systeminformation.js'
import type { AgentConfig, Clock, Logger } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type CpuConfig = AgentConfig['inputs']['cpu']

/** Cumulative CPU time of all cores, in the kernel's ticks (USER_HZ), from the `cpu` line of /proc/stat. */
export interface CpuTimes {
  user: number
  nice: number
  system: number
  idle: number
  iowait: number
  irq: number
  softirq: number
  steal: number
}

export interface CpuPercents {
  usage: number
  user: number
  system: number
  idle: number
  /** Absent where the platform has no iowait (everything but Linux). */
  iowait?: number
  /** Absent where the platform does not report steal. */
  steal?: number
}

/** CPU readings keyed by the `cpu` label: "total", then "0", "1", ... per core. */
export type PerCpu<T> = Map<string, T>

/** Reads one CPU measurement; the Linux source reads /proc/stat, the portable one asks systeminformation. */
export type CpuSource =
  | { kind: 'proc_stat'; read: () => Promise<PerCpu<CpuTimes>> }
  | { kind: 'systeminformation'; read: () => Promise<PerCpu<CpuPercents>> }

/** A measurement window shorter than this gives noisy percentages, so the first gather waits it out. */
export const MIN_WINDOW_MS = 250

/** Every `cpu` line of /proc/stat: "total" for the aggregate line, the core number for `cpuN`. */
export function parseProcStatAll(text: string): PerCpu<CpuTimes> {
  const result: PerCpu<CpuTimes> = new Map()
  result.set('total', parseProcStat(text))
  for (const line of text.split('\n')) {
    const match = /^cpu(\d+)\s/.exec(line)
    if (match) result.set(match[1] as string, parseCpuLine(line))
  }
  return result
}

export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '))
  if (line === undefined) throw new Error('no aggregate "cpu" line in /proc/stat')
  return parseCpuLine(line)
}

function parseCpuLine(line: string): CpuTimes {
  const fields = line.trim().split(/\s+/).slice(1).map(Number)
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f)))
    throw new Error(`unexpected /proc/stat cpu line: ${line}`)
  const at = (i: number): number => fields[i] ?? 0
  // guest and guest_nice (fields 9, 10) are already counted in user and nice, so they stay out of the total.
  return {
    user: at(0),
    nice: at(1),
    system: at(2),
    idle: at(3),
    iowait: at(4),
    irq: at(5),
    softirq: at(6),
    steal: at(7),
  }
}

/**
 * Percentages of all CPU time between two readings (Telegraf's definitions): usage is everything but
 * idle and iowait; user excludes nice. Undefined when no tick passed (the counters did not move) or
 * a counter went backwards (iowait can, on some kernels), so a bad window is skipped, not reported.
 */
export function cpuPercents(before: CpuTimes, after: CpuTimes): CpuPercents | undefined {
  const delta = (key: keyof CpuTimes): number => after[key] - before[key]
  const keys: (keyof CpuTimes)[] = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal']
  if (keys.some((k) => delta(k) < 0)) return undefined
  const total = keys.reduce((sum, k) => sum + delta(k), 0)
  if (total <= 0) return undefined
  const pct = (ticks: number): number => (ticks / total) * 100
  return {
    usage: pct(total - delta('idle') - delta('iowait')),
    user: pct(delta('user')),
    system: pct(delta('system')),
    idle: pct(delta('idle')),
    iowait: pct(delta('iowait')),
    steal: pct(delta('steal')),
  }
}

export const procStatSource = (path = '/proc/stat'): CpuSource => ({
  kind: 'proc_stat',
  read: async () => parseProcStatAll(await readFile(path, 'utf8')),
})

export const systeminformationSource: CpuSource = {
  kind: 'systeminformation',
  read: async () => {
    const load = await (await systemInformation()).currentLoad()
    const result: PerCpu<CpuPercents> = new Map()
    result.set('total', {
      usage: load.currentLoad,
      user: load.currentLoadUser,
      system: load.currentLoadSystem,
      idle: load.currentLoadIdle,
      steal: load.currentLoadSteal,
    })
    load.cpus.forEach((core, index) =>
      result.set(String(index), {
        usage: core.load,
        user: core.loadUser,
        system: core.loadSystem,
        idle: core.loadIdle,
        steal: core.loadSteal,
      }),
    )
    return result
  },
}

/**
 * Why /proc/stat on Linux rather than si.currentLoad(): systeminformation has no iowait, and it
 * builds its totals from Node's os.cpus(), which leaves iowait and softirq out of the denominator,
 * so an iowait read from /proc/stat beside it would not add up with its user and system figures.
 * One /proc/stat reading gives all four over the same ticks. Elsewhere si.currentLoad() is used and
 * no iowait series is sent.
 */
export function defaultCpuSource(platform: NodeJS.Platform = process.platform): CpuSource {
  return platform === 'linux' ? procStatSource() : systeminformationSource
}

export interface CpuInputOptions {
  source?: CpuSource
  /** Waits out the first measurement window; tests pass a no-op. */
  sleep?: (ms: number) => Promise<void>
}

/**
 * cpu.usage_percent, cpu.user_percent, cpu.system_percent, cpu.idle_percent, cpu.iowait_percent and
 * cpu.steal_percent, with cpu="total" and (per_cpu) cpu="<core>".
 */
export class CpuInput implements Input {
  readonly name = 'cpu'
  private readonly source: CpuSource
  private readonly sleep: (ms: number) => Promise<void>
  private readonly clock: Clock
  private readonly log: Logger
  private readonly perCpu: boolean
  private baseline: PerCpu<CpuTimes> | undefined
  private baselineAtMs = 0

  constructor(config: CpuConfig, deps: InputDeps, options: CpuInputOptions = {}) {
    this.source = options.source ?? defaultCpuSource()
    this.sleep = options.sleep ?? ((ms) => delay(ms))
    this.clock = deps.clock
    this.log = deps.logger.child({ input: 'cpu' })
    this.perCpu = config.per_cpu
  }

  /**
   * Takes the baseline the first gather measures against. Counters read once only say "since boot"
   * (and so does an unprimed si.currentLoad() in older systeminformation releases), so a rate needs
   * two readings: the baseline here, the next in gather(), which waits until MIN_WINDOW_MS have passed.
   */
  async init(): Promise<void> {
    if (this.source.kind === 'proc_stat') this.baseline = await this.source.read()
    else await this.source.read()
    this.baselineAtMs = this.clock.now()
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const waited = this.clock.now() - this.baselineAtMs
    if (waited < MIN_WINDOW_MS) await this.sleep(MIN_WINDOW_MS - waited)
    const timestampMs = this.clock.now()
    let percents: PerCpu<CpuPercents>
    if (this.source.kind === 'proc_stat') {
      const now = await this.source.read()
      percents = new Map()
      for (const [cpu, times] of now) {
        const before = this.baseline?.get(cpu)
        const p = before === undefined ? undefined : cpuPercents(before, times)
        if (p !== undefined) percents.set(cpu, p)
      }
      this.baseline = now
    } else {
      percents = await this.source.read()
    }
    this.baselineAtMs = timestampMs
    if (percents.size === 0) {
      this.log.debug('no CPU ticks passed since the last reading; skipping this round')
      return
    }
    for (const [cpu, p] of percents) {
      if (cpu !== 'total' && !this.perCpu) continue
      const labels = { cpu }
      accumulator.add('cpu.usage_percent', labels, p.usage, timestampMs)
      accumulator.add('cpu.user_percent', labels, p.user, timestampMs)
      accumulator.add('cpu.system_percent', labels, p.system, timestampMs)
      accumulator.add('cpu.idle_percent', labels, p.idle, timestampMs)
      if (p.iowait !== undefined) accumulator.add('cpu.iowait_percent', labels, p.iowait, timestampMs)
      if (p.steal !== undefined) accumulator.add('cpu.steal_percent', labels, p.steal, timestampMs)
    }
  }
}

export const cpuInput: InputFactory<'cpu'> = {
  name: 'cpu',
  create: (config, deps) => new CpuInput(config, deps),
}
