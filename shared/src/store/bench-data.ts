import type { Labels } from '../series.js'

/**
 * Benchmark data shaped like what the agent sends: per host 100 series (CPU, per-core CPU, load,
 * memory, disks, network, TCP, processes, temperatures, an application counter) with the labels
 * host, env, region, pool and role (plus `cpu` / `device` / `sensor` where a host has several of a
 * metric). Deterministic: the same host index and seed give the same labels and values on every
 * run, so codec and query benchmarks measure the same data. Used by codec-bench.ts and
 * query-bench.ts; the ingest benchmark can use it too.
 *
 *   const host = new BenchHost(42)
 *   host.series            // 100 x { name, labels }
 *   host.timestampAt(tick) // ms: the one timestamp the agent puts on every sample of that tick
 *   host.next()            // Float64Array(100): the values of the next tick, in `series` order
 *
 * Values follow what such metrics look like on real servers: CPU percentages with 1 or 2 decimals
 * as a mean-reverting walk (steal, nice, guest mostly 0), load averages with 2 decimals as the
 * kernel's moving averages, memory in 4 KiB pages drifting slowly, byte and packet counters growing
 * by a noisy rate, error counters that rarely move, small integer gauges, constants (totals,
 * limits). A series keeps its value type for life (the agent's inputs do).
 */

/** Samples a second (the agent's default interval is 10 s). */
export const BENCH_INTERVAL_MS = 10_000

/**
 * How the agent's timestamps deviate from the tick schedule. `agent`: the agent anchors ticks to
 * its start time (a per-host phase within the interval) and stamps every sample of a tick with the
 * time its timer fired: mostly 0-2 ms late, sometimes up to 10 ms, rarely (GC, a busy host) up to
 * 60 ms. `uniform25`: 0-25 ms uniformly (the first codec benchmark's assumption). `none`: exactly
 * on the schedule.
 */
export type JitterModel = 'agent' | 'uniform25' | 'none'

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

/** A mean-reverting walk in [0, 100], 1 or 2 decimals. `idle`: mostly exactly 0 (steal, nice, guest). */
function percent(random: () => number, baseline: number, noise: number, decimals: number): () => number {
  let x = baseline
  return () => {
    x = clamp(x + (baseline - x) * 0.1 + (random() - 0.5) * noise, 0, 100)
    return round(x, decimals)
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
  let x = baseline
  return () => {
    if (random() < moveChance)
      x = Math.max(0, Math.round(x + (baseline - x) * 0.2 + (random() - 0.5) * spread))
    return x
  }
}

/** A host's 100 series and their value processes. */
function generators(labels: Labels, random: () => number): Generator[] {
  const out: Generator[] = []
  const add = (name: string, kind: ValueKind, step: () => number, extra: Labels = {}): void => {
    out.push({ series: { name, labels: { ...labels, ...extra }, kind }, step })
  }
  const busy = 5 + random() * 60
  const decimals = random() < 0.5 ? 1 : 2
  // CPU: 10 host-wide percentages + 8 cores.
  add('cpu.usage_percent', 'percent', percent(random, busy, 8, decimals))
  add('cpu.user_percent', 'percent', percent(random, busy * 0.7, 6, decimals))
  add('cpu.system_percent', 'percent', percent(random, busy * 0.25, 3, decimals))
  add('cpu.iowait_percent', 'percent', percent(random, random() * 3, 1, decimals))
  add('cpu.idle_percent', 'percent', percent(random, 100 - busy, 8, decimals))
  for (const name of ['steal', 'nice', 'guest', 'irq', 'softirq']) {
    const quiet = percent(random, random() * 0.3, 0.2, decimals)
    add(`cpu.${name}_percent`, 'percent', () => (random() < 0.7 ? 0 : quiet()))
  }
  for (let core = 0; core < 8; core++) {
    add('cpu.core_usage_percent', 'percent', percent(random, busy * (0.6 + random() * 0.8), 12, decimals), {
      cpu: String(core),
    })
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
  add('mem.buffers_bytes', 'bytes_gauge', smallInt(random, 200 * 1024 * 1024, 64 * 1024, 0.3))
  add('mem.used_percent', 'percent', () => round((used / total) * 100, 2))
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
    add('disk.io_time_ms_total', 'counter', counter(random, random() * 1e9, random() * 2000), d)
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
    add('disk.used_percent', 'percent', () => round((usedDisk / size) * 100, 2), d)
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
  add('system.uptime_seconds', 'counter', counter(random, random() * 1e7, 10 / 1.5))
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

/** One benchmark host: its series, its tick timestamps and its values tick by tick. */
export class BenchHost {
  readonly index: number
  readonly labels: Labels
  readonly series: readonly BenchSeries[]
  private readonly steps: (() => number)[]
  private readonly jitterRandom: () => number
  private readonly phaseMs: number
  private readonly jitter: JitterModel

  constructor(index: number, options: { seed?: number; jitter?: JitterModel } = {}) {
    const seed = options.seed ?? 1
    this.index = index
    this.labels = hostLabels(index)
    const random = prng(Math.imul(index + 1, 0x9e3779b1) ^ seed)
    const gens = generators(this.labels, random)
    this.series = gens.map((g) => g.series)
    this.steps = gens.map((g) => g.step)
    this.jitter = options.jitter ?? 'agent'
    this.jitterRandom = prng(Math.imul(index + 7, 0x85ebca6b) ^ seed)
    this.phaseMs = Math.floor(random() * BENCH_INTERVAL_MS)
  }

  /**
   * Tick `tick`'s timestamp (ms) counted from `startMs`: startMs + phase + tick x 10 s + jitter.
   * Call with increasing ticks (the jitter comes from the host's own PRNG).
   */
  timestampAt(startMs: number, tick: number): number {
    return startMs + this.phaseMs + tick * BENCH_INTERVAL_MS + this.jitterMs()
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
        if (r < 0.9) return Math.floor(r * 3.33) // 0-2 ms: timer lateness
        if (r < 0.99) return 3 + Math.floor(this.jitterRandom() * 8) // 3-10 ms
        return 10 + Math.floor(this.jitterRandom() * 50) // 10-59 ms: GC, a busy host
    }
  }
}
