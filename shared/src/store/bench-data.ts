import type { Labels } from '../series.js'

/**
 * Benchmark data shaped like what the agent sends: per host 100 series (CPU, per-core CPU, load,
 * memory, disks, network, TCP, processes, temperatures, an application counter) with the labels
 * host, env, region, pool and role (plus `cpu` / `device` / `sensor` where a host has several of a
 * metric). Deterministic: the same host index and seed give the same labels and values on every
 * run, so codec and query benchmarks measure the same data. Used by codec-bench.ts and
 * aggregator/src/bench/query.ts; the ingest benchmark uses it too.
 *
 *   const host = new BenchHost(42)
 *   host.series            // 100 x { name, labels }
 *   host.timestampAt(tick) // ms: the one timestamp the agent puts on every sample of that tick
 *   host.next()            // Float64Array(100): the values of the next tick, in `series` order
 *
 * Values follow what the agent's inputs send (agent/src/inputs) and what such metrics look like on
 * real servers. CPU percentages are computed like the cpu input's `cpuPercents`: integer /proc/stat
 * ticks (USER_HZ 100, 8 cores) of one interval divided by the interval's total ticks, times 100, at
 * full double precision (the agent does not round them); a core's busy share is a mean-reverting
 * walk, steal, nice, guest, irq and softirq are mostly 0 ticks. disk.used_percent and
 * mem.used_percent are used / total x 100 at full precision (the disk input's usedPercent). Load
 * averages have the 2 decimals of /proc/loadavg, uptime the 2 decimals of /proc/uptime, disk I/O
 * time is milliseconds / 1000 (diskio.io_time_seconds_total). Memory is bytes in 4 KiB pages drifting
 * slowly; byte and packet counters are integers growing by a noisy rate; error counters rarely move;
 * small integer gauges; constants (totals, limits). A series keeps its value type for life (the
 * agent's inputs do).
 */

/** Samples a second (the agent's default interval is 10 s). */
export const BENCH_INTERVAL_MS = 10_000
/** Cores of a bench host (per-core CPU series). */
const CPU_CORES = 8
/** /proc/stat ticks of one core in one interval: USER_HZ (100) x 10 s. */
const TICKS_PER_CORE_INTERVAL = (100 * BENCH_INTERVAL_MS) / 1000

/**
 * How the agent's timestamps deviate from the tick schedule. The agent anchors ticks to its start
 * time (a per-host phase within the interval) and stamps every sample of a tick with the time its
 * timer fired: mostly 0-2 ms late, sometimes up to 10 ms, rarely (GC, a busy host) up to 60 ms.
 * `agent`: that time rounded to whole seconds, as the agent sends it with its default
 * `timestamp_precision` (1s). `agent_ms`: the same at `timestamp_precision = "1ms"` (the jitter
 * kept). `uniform25`: 0-25 ms uniformly (the first codec benchmark's assumption). `none`: exactly on
 * the schedule.
 */
export type JitterModel = 'agent' | 'agent_ms' | 'uniform25' | 'none'

/** What the agent's `timestamp_precision` (1s) does to a sample's timestamp. */
export const AGENT_TIMESTAMP_PRECISION_MS = 1000

export interface BenchSeries {
  name: string
  labels: Labels
  /** What the value looks like; codec reports break bytes down by it. */
  kind: ValueKind
}

export type ValueKind =
  'percent' | 'load' | 'bytes_gauge' | 'counter' | 'small_int' | 'constant' | 'float_gauge'

export const ENVS = [
  'prod',
  'prod',
  'prod',
  'prod',
  'prod',
  'prod',
  'prod',
  'staging',
  'staging',
  'dev',
] as const
export const REGIONS = ['us-west', 'us-east', 'eu-west', 'ap-south'] as const
export const ROLES = ['web', 'api', 'db', 'cache', 'queue'] as const
/** Servers a pool (DESIGN.md: 1,000 pools x 100 servers). */
export const HOSTS_PER_POOL = 100

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Host labels. A pool is 100 consecutive hosts with one role, region and env; pools cycle through
 * roles and regions so every 20 consecutive pools hold each (role, region) pair once.
 */
export function hostLabels(hostIndex: number): Labels {
  const pool = Math.floor(hostIndex / HOSTS_PER_POOL)
  return {
    host: `i${hostIndex}`,
    env: ENVS[pool % ENVS.length] as string,
    region: REGIONS[pool % REGIONS.length] as string,
    pool: `pool-${pool}`,
    role: ROLES[Math.floor(pool / REGIONS.length) % ROLES.length] as string,
  }
}

const round = (value: number, decimals: number): number => {
  const scale = 10 ** decimals
  return Math.round(value * scale) / scale
}
const clamp = (value: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, value))

/** One series' value process: `step` advances one tick and returns the value. */
interface Generator {
  series: BenchSeries
  step(): number
}

/** A mean-reverting walk in [0, 100] around `baseline` (a core's busy share in percent). */
function busyWalk(random: () => number, baseline: number, noise: number): () => number {
  let x = baseline
  return () => {
    x = clamp(x + (baseline - x) * 0.1 + (random() - 0.5) * noise, 0, 100)
    return x
  }
}

function counter(random: () => number, start: number, ratePerTick: number, moveChance = 1): () => number {
  let x = Math.floor(start)
  return () => {
    if (random() < moveChance) x += Math.floor(ratePerTick * (0.5 + random()))
    return x
  }
}

function smallInt(random: () => number, baseline: number, spread: number, moveChance: number): () => number {
  let x = Math.round(baseline)
  return () => {
    if (random() < moveChance)
      x = Math.max(0, Math.round(x + (baseline - x) * 0.2 + (random() - 0.5) * spread))
    return x
  }
}

/** A host's 100 series and their value processes. */
function generators(labels: Labels, random: () => number, options: BenchHostOptions): Generator[] {
  const out: Generator[] = []
  const add = (name: string, kind: ValueKind, step: () => number, extra: Labels = {}): void => {
    out.push({ series: { name, labels: { ...labels, ...extra }, kind }, step })
  }
  const busy = 5 + random() * 60
  // CPU: 10 host-wide percentages + 8 cores, from integer ticks as the cpu input computes them.
  const cores = Array.from({ length: CPU_CORES }, () => ({
    walk: busyWalk(random, busy * (0.6 + random() * 0.8), 12),
    systemShare: 0.2 + random() * 0.15,
    iowait: random() * 3,
  }))
  const ticks = { total: 0, busy: 0, user: 0, system: 0, iowait: 0, idle: 0, quiet: [0, 0, 0, 0, 0] }
  const coreUsage: number[] = []
  const pct = (part: number, total: number): number => {
    const value = (part / total) * 100
    return options.cpuDecimals === undefined ? value : round(value, options.cpuDecimals)
  }
  const cpuTick = (): void => {
    ticks.total = ticks.busy = ticks.user = ticks.system = ticks.iowait = ticks.idle = 0
    ticks.quiet.fill(0)
    cores.forEach((core, c) => {
      // The interval's ticks: 10 s x USER_HZ, one more or less when the timer fired a little off.
      const r = random()
      const total = TICKS_PER_CORE_INTERVAL + (r < 0.05 ? -1 : r > 0.95 ? 1 : 0)
      const busyTicks = Math.round((core.walk() / 100) * total)
      // steal, nice, guest, irq, softirq: mostly 0 ticks, now and then a few.
      const quiet = ticks.quiet.map(() => (random() < 0.7 ? 0 : Math.floor(random() * 4)))
      const quietSum = Math.min(
        busyTicks,
        quiet.reduce((a, b) => a + b, 0),
      )
      const system = Math.round((busyTicks - quietSum) * core.systemShare)
      const iowait = Math.min(total - busyTicks, Math.floor(random() * core.iowait * 20))
      quiet.forEach((q, i) => (ticks.quiet[i] = (ticks.quiet[i] as number) + q))
      ticks.total += total
      ticks.busy += busyTicks
      ticks.system += system
      ticks.user += busyTicks - quietSum - system
      ticks.iowait += iowait
      ticks.idle += total - busyTicks - iowait
      coreUsage[c] = pct(busyTicks, total)
    })
  }
  add('cpu.usage_percent', 'percent', () => (cpuTick(), pct(ticks.busy, ticks.total)))
  add('cpu.user_percent', 'percent', () => pct(ticks.user, ticks.total))
  add('cpu.system_percent', 'percent', () => pct(ticks.system, ticks.total))
  add('cpu.iowait_percent', 'percent', () => pct(ticks.iowait, ticks.total))
  add('cpu.idle_percent', 'percent', () => pct(ticks.idle, ticks.total))
  ;['steal', 'nice', 'guest', 'irq', 'softirq'].forEach((name, i) => {
    add(`cpu.${name}_percent`, 'percent', () => pct(ticks.quiet[i] as number, ticks.total))
  })
  for (let core = 0; core < CPU_CORES; core++) {
    add('cpu.core_usage_percent', 'percent', () => coreUsage[core] as number, { cpu: String(core) })
  }
  // Load averages: the kernel's exponentially damped averages of the run queue, 2 decimals.
  const loads = [0, 0, 0].map(() => (busy / 100) * 8)
  const decay = [Math.exp(-10 / 60), Math.exp(-10 / 300), Math.exp(-10 / 900)]
  let runQueue = loads[0] as number
  const loadStep = (i: number) => () => {
    if (i === 0) runQueue = Math.max(0, runQueue + ((busy / 100) * 8 - runQueue) * 0.2 + (random() - 0.5) * 2)
    const d = decay[i] as number
    loads[i] = (loads[i] as number) * d + runQueue * (1 - d)
    return round(loads[i] as number, 2)
  }
  add('load.load1', 'load', loadStep(0))
  add('load.load5', 'load', loadStep(1))
  add('load.load15', 'load', loadStep(2))
  // Memory: bytes in 4 KiB pages.
  const page = 4096
  const total = (4 + Math.floor(random() * 125)) * 1024 ** 3
  let used = total * (0.2 + random() * 0.5)
  let cached = total * 0.2 * random()
  const memStep = () => {
    used = clamp(used + (random() - 0.5) * 16 * 1024 * 1024, total * 0.05, total * 0.9)
    cached = clamp(cached + (random() - 0.45) * 4 * 1024 * 1024, 0, total - used)
  }
  const pages = (bytes: number) => Math.floor(bytes / page) * page
  add('mem.total_bytes', 'constant', () => total)
  add('mem.used_bytes', 'bytes_gauge', () => (memStep(), pages(used)))
  add('mem.free_bytes', 'bytes_gauge', () => pages(total - used - cached))
  add('mem.available_bytes', 'bytes_gauge', () => pages(total - used))
  add('mem.cached_bytes', 'bytes_gauge', () => pages(cached))
  const buffers = smallInt(random, 200 * 1024 * 1024, 64 * 1024, 0.3)
  add('mem.buffers_bytes', 'bytes_gauge', () => pages(buffers()))
  add('mem.used_percent', 'percent', () => (pages(used) / total) * 100)
  add('mem.dirty_bytes', 'bytes_gauge', () => pages(random() * 8 * 1024 * 1024))
  add('swap.total_bytes', 'constant', () => 2 * 1024 ** 3)
  add('swap.used_bytes', 'bytes_gauge', smallInt(random, 64 * 1024 * 1024, 4096 * 4, 0.02))
  // Disks: 2 devices x 10.
  for (const device of ['sda', 'sdb']) {
    const size = (100 + Math.floor(random() * 900)) * 1024 ** 3
    let usedDisk = size * (0.1 + random() * 0.6)
    const d = { device }
    const writeRate = random() * 5e6
    add('disk.read_bytes_total', 'counter', counter(random, random() * 1e12, random() * 2e6, 0.8), d)
    add('disk.write_bytes_total', 'counter', counter(random, random() * 1e12, writeRate), d)
    add('disk.reads_total', 'counter', counter(random, random() * 1e9, random() * 200, 0.8), d)
    add('disk.writes_total', 'counter', counter(random, random() * 1e9, random() * 500), d)
    const ioTimeMs = counter(random, random() * 1e9, random() * 2000)
    add('disk.io_time_seconds_total', 'counter', () => ioTimeMs() / 1000, d)
    add('disk.total_bytes', 'constant', () => size, d)
    add(
      'disk.used_bytes',
      'bytes_gauge',
      () => {
        usedDisk = clamp(usedDisk + writeRate * 0.01 * (random() - 0.3), 0, size)
        return pages(usedDisk)
      },
      d,
    )
    add('disk.free_bytes', 'bytes_gauge', () => pages(size - usedDisk), d)
    add('disk.used_percent', 'percent', () => (pages(usedDisk) / size) * 100, d)
    add('disk.inodes_used', 'small_int', smallInt(random, 100_000 + random() * 1e6, 50, 0.5), d)
  }
  // Network: 2 interfaces x 8 counters.
  for (const device of ['eth0', 'lo']) {
    const d = { device }
    const rate = device === 'lo' ? random() * 1e5 : random() * 1e8
    add('net.bytes_recv_total', 'counter', counter(random, random() * 1e13, rate), d)
    add('net.bytes_sent_total', 'counter', counter(random, random() * 1e13, rate * 0.6), d)
    add('net.packets_recv_total', 'counter', counter(random, random() * 1e10, rate / 800), d)
    add('net.packets_sent_total', 'counter', counter(random, random() * 1e10, rate / 1000), d)
    add('net.errs_in_total', 'counter', counter(random, random() * 100, 1, 0.001), d)
    add('net.errs_out_total', 'counter', counter(random, random() * 100, 1, 0.001), d)
    add('net.drop_in_total', 'counter', counter(random, random() * 1e4, 3, 0.01), d)
    add('net.drop_out_total', 'counter', counter(random, 0, 1, 0.0005), d)
  }
  // Kernel, TCP, processes.
  add('kernel.context_switches_total', 'counter', counter(random, random() * 1e12, 1e5 + random() * 1e6))
  add('kernel.interrupts_total', 'counter', counter(random, random() * 1e12, 5e4 + random() * 5e5))
  add('kernel.forks_total', 'counter', counter(random, random() * 1e8, 50 + random() * 200))
  add('swap.in_pages_total', 'counter', counter(random, random() * 1e6, 4, 0.01))
  add('swap.out_pages_total', 'counter', counter(random, random() * 1e6, 4, 0.01))
  add('tcp.retrans_segs_total', 'counter', counter(random, random() * 1e7, 20, 0.5))
  add('tcp.active_opens_total', 'counter', counter(random, random() * 1e9, 500 + random() * 5000))
  add('tcp.passive_opens_total', 'counter', counter(random, random() * 1e9, 500 + random() * 5000))
  add('tcp.in_segs_total', 'counter', counter(random, random() * 1e11, 1e4 + random() * 1e5))
  add('tcp.out_segs_total', 'counter', counter(random, random() * 1e11, 1e4 + random() * 1e5))
  add('tcp.established', 'small_int', smallInt(random, 50 + random() * 500, 20, 0.9))
  add('tcp.time_wait', 'small_int', smallInt(random, random() * 300, 30, 0.9))
  add('tcp.listen', 'small_int', smallInt(random, 12, 0, 0))
  add('procs.running', 'small_int', smallInt(random, 1 + random() * 4, 3, 0.8))
  add('procs.blocked', 'small_int', smallInt(random, 0, 1.2, 0.3))
  add('procs.total', 'small_int', smallInt(random, 200 + random() * 300, 4, 0.5))
  add('procs.zombies', 'small_int', smallInt(random, 0, 0, 0))
  add('procs.threads', 'small_int', smallInt(random, 800 + random() * 2000, 20, 0.7))
  // /proc/uptime: seconds with 2 decimals, read when the timer fired.
  let uptime = round(random() * 1e7, 2)
  add('system.uptime_seconds', 'counter', () => {
    uptime = round(uptime + BENCH_INTERVAL_MS / 1000 + (random() < 0.1 ? 0.01 : 0), 2)
    return uptime
  })
  add('system.users', 'small_int', smallInt(random, 1, 1, 0.01))
  add('fd.allocated', 'small_int', smallInt(random, 2000 + random() * 10_000, 40, 0.8))
  add('fd.max', 'constant', () => 9_223_372)
  add('conntrack.entries', 'small_int', smallInt(random, 500 + random() * 5000, 80, 0.9))
  add('entropy.available_bits', 'small_int', smallInt(random, 256, 0, 0))
  add('sockets.used', 'small_int', smallInt(random, 300 + random() * 1000, 20, 0.9))
  add('ntp.offset_seconds', 'float_gauge', () => round((random() - 0.5) * 0.002, 6))
  for (const sensor of ['cpu0', 'cpu1', 'board', 'nvme']) {
    let celsius = 35 + random() * 20
    add(
      'temp.celsius',
      'float_gauge',
      () => {
        celsius = clamp(celsius + (random() - 0.5) * 0.6, 20, 95)
        return round(celsius, 1)
      },
      { sensor },
    )
  }
  add('http.requests_total', 'counter', counter(random, random() * 1e9, 100 + random() * 5000))
  add('http.errors_total', 'counter', counter(random, random() * 1e5, 1, 0.05))
  add('queue.depth', 'small_int', smallInt(random, random() * 5, 4, 0.5))
  return out
}

export interface BenchHostOptions {
  /** Default 1: another seed gives other values (and phases) for the same labels. */
  seed?: number
  /** Default `agent`. */
  jitter?: JitterModel
  /**
   * Round CPU percentages to this many decimals. Default: not rounded, as the agent's cpu input
   * sends them; codec-bench.ts measures what rounding would save.
   */
  cpuDecimals?: number
}

/** One benchmark host: its series, its tick timestamps and its values tick by tick. */
export class BenchHost {
  readonly index: number
  readonly labels: Labels
  readonly series: readonly BenchSeries[]
  private readonly steps: (() => number)[]
  private readonly jitterRandom: () => number
  private readonly phaseMs: number
  private readonly jitter: JitterModel

  constructor(index: number, options: BenchHostOptions = {}) {
    const seed = options.seed ?? 1
    this.index = index
    this.labels = hostLabels(index)
    const random = prng(Math.imul(index + 1, 0x9e3779b1) ^ seed)
    const gens = generators(this.labels, random, options)
    this.series = gens.map((g) => g.series)
    this.steps = gens.map((g) => g.step)
    this.jitter = options.jitter ?? 'agent'
    this.jitterRandom = prng(Math.imul(index + 7, 0x85ebca6b) ^ seed)
    this.phaseMs = Math.floor(random() * BENCH_INTERVAL_MS)
  }

  /**
   * Tick `tick`'s timestamp (ms) counted from `startMs`: startMs + phase + tick x 10 s + jitter,
   * rounded to whole seconds under the `agent` model. Call with increasing ticks (the jitter comes
   * from the host's own PRNG).
   */
  timestampAt(startMs: number, tick: number): number {
    const fired = startMs + this.phaseMs + tick * BENCH_INTERVAL_MS + this.jitterMs()
    if (this.jitter !== 'agent') return fired
    return Math.round(fired / AGENT_TIMESTAMP_PRECISION_MS) * AGENT_TIMESTAMP_PRECISION_MS
  }

  /** Advances one tick; the values of every series in `series` order. */
  next(into: Float64Array = new Float64Array(this.steps.length)): Float64Array {
    for (let i = 0; i < this.steps.length; i++) into[i] = (this.steps[i] as () => number)()
    return into
  }

  private jitterMs(): number {
    const r = this.jitterRandom()
    switch (this.jitter) {
      case 'none':
        return 0
      case 'uniform25':
        return Math.floor(r * 25)
      case 'agent':
      case 'agent_ms':
        if (r < 0.9) return Math.floor(r * 3.33) // 0-2 ms: timer lateness
        if (r < 0.99) return 3 + Math.floor(this.jitterRandom() * 8) // 3-10 ms
        return 10 + Math.floor(this.jitterRandom() * 50) // 10-59 ms: GC, a busy host
    }
  }
}
