import { rollupSql, seriesId, type Labels, type Store } from '@tidewatch/shared'
import { hostLabels, prng } from '@tidewatch/shared/bench-data'

/**
 * Generated store contents for the dashboards' tests and benchmark, shaped like what the agent's
 * inputs send (series names and labels of agent/src/inputs/*): per host 17 series (cpu usage total and of 2 CPUs /
 * user / system / iowait with cpu="total", mem used / available / total, disk.used_percent for
 * two mount points, net in / out byte counters for eth0, system.load1/5/15), labels host, env,
 * region, pool, role from bench-data's `hostLabels`; plus, on the first host, queue depth series
 * (RabbitMQ, Redis, JetStream consumers) and the JetStream DLQ / ALERTS stream sizes.
 *
 * The values are computed by the engine (`INSERT ... SELECT FROM numbers()`): a daily wave plus
 * hash noise per gauge, a steady rate per counter. Generating 100 million rollup rows in
 * JavaScript and shipping them in would take minutes; the engine does it in seconds.
 *
 *   [now - rollupDays, rawStart): samples_1m rows written directly (samples_1h follows by its view)
 *   [rawStart, now):              samples_raw every 10 s, rolled up into samples_1m (samples_1h by its view)
 */
export interface DashboardDataOptions {
  hosts: number
  /** Days of 1-minute rollups before the raw window. */
  rollupDays: number
  /** Hours of raw samples, ending at `nowMs`. */
  rawHours: number
  nowMs: number
  /** Hosts (from the last) that stop reporting 10 minutes before `nowMs`: the fleet page's "silent". */
  silentHosts?: number
  /**
   * The first this many hosts get all 17 series; the others only cpu.usage_percent (the one series
   * the fleet page reads of every host). Default: all. The benchmark uses it to keep generation
   * to a minute: chDB writes rollup rows at about 400,000 rows/s here.
   */
  fullHosts?: number
}

interface GenSeries {
  metric: string
  labels: Labels
  kind: 'gauge' | 'counter'
  base: number
  amp: number
  noise: number
  lo: number
  hi: number
  /** Counter: increase a second. */
  rate: number
  phase: number
  silent: boolean
}

const HOST_SERIES = 17

function hostSeries(index: number, silent: boolean, full: boolean): GenSeries[] {
  const labels = hostLabels(index)
  const random = prng(index * 7919 + 17)
  const out: GenSeries[] = []
  const phase = random()
  const gauge = (
    metric: string,
    extra: Labels,
    base: number,
    amp: number,
    noise: number,
    lo = 0,
    hi = 1e18,
  ): void => {
    out.push({
      metric,
      labels: { ...labels, ...extra },
      kind: 'gauge',
      base,
      amp,
      noise,
      lo,
      hi,
      rate: 0,
      phase,
      silent,
    })
  }
  const counter = (metric: string, extra: Labels, base: number, rate: number): void => {
    out.push({
      metric,
      labels: { ...labels, ...extra },
      kind: 'counter',
      base,
      amp: 0,
      noise: 0,
      lo: 0,
      hi: 0,
      rate,
      phase,
      silent,
    })
  }
  const busy = 5 + random() * 60
  const total = cpuTotal
  gauge('cpu.usage_percent', total, busy, busy * 0.4, 4, 0, 100)
  if (!full) return out
  // Per-CPU series (the cpu input's per_cpu = true): not hosts of their own on the fleet page.
  for (const cpu of ['0', '1']) gauge('cpu.usage_percent', { cpu }, busy, busy * 0.5, 6, 0, 100)
  gauge('cpu.user_percent', total, busy * 0.7, busy * 0.3, 3, 0, 100)
  gauge('cpu.system_percent', total, busy * 0.25, busy * 0.1, 1, 0, 100)
  gauge('cpu.iowait_percent', total, random() * 3, 1, 0.5, 0, 100)
  const memTotal = (4 + Math.floor(random() * 125)) * 1024 ** 3
  const used = memTotal * (0.2 + random() * 0.5)
  gauge('mem.used_bytes', {}, used, memTotal * 0.05, memTotal * 0.01, 0, memTotal)
  gauge('mem.available_bytes', {}, memTotal - used, memTotal * 0.05, memTotal * 0.01, 0, memTotal)
  gauge('mem.total_bytes', {}, memTotal, 0, 0, 0, memTotal)
  for (const mountpoint of ['/', '/data']) {
    gauge(
      'disk.used_percent',
      { mountpoint, device: mountpoint === '/' ? 'sda1' : 'sdb1', fstype: 'ext4' },
      20 + random() * 60,
      2,
      0.1,
      0,
      100,
    )
  }
  const netRate = random() * 5e7
  counter('net.in_bytes_total', { interface: 'eth0' }, random() * 1e12, netRate)
  counter('net.out_bytes_total', { interface: 'eth0' }, random() * 1e12, netRate * 0.6)
  const load = (busy / 100) * 8
  gauge('system.load1', {}, load, load * 0.4, load * 0.2, 0)
  gauge('system.load5', {}, load, load * 0.3, load * 0.1, 0)
  gauge('system.load15', {}, load, load * 0.2, load * 0.05, 0)
  return out
}
const cpuTotal: Labels = { cpu: 'total' }

function brokerSeries(): GenSeries[] {
  const labels = hostLabels(0)
  const out: GenSeries[] = []
  const random = prng(99)
  const depth = (metric: string, extra: Labels, base: number): void => {
    out.push({
      metric,
      labels: { ...labels, ...extra },
      kind: 'gauge',
      base,
      amp: base * 0.8,
      noise: base * 0.3,
      lo: 0,
      hi: 1e12,
      rate: 0,
      phase: random(),
      silent: false,
    })
  }
  for (const queue of ['orders', 'emails', 'billing', 'thumbnails', 'webhooks'])
    depth('rabbitmq.queue_messages', { vhost: '/', queue }, 10 + random() * 500)
  for (const key of ['jobs:default', 'jobs:low'])
    depth('redis.list_length', { db: '0', key }, 5 + random() * 100)
  depth('redis.stream_length', { db: '0', key: 'events' }, 1000 + random() * 5000)
  depth('jetstream.consumer_num_pending', { stream: 'METRICS', consumer: 'aggregator' }, 20)
  depth('jetstream.stream_messages', { stream: 'DLQ' }, 3)
  depth('jetstream.stream_messages', { stream: 'ALERTS' }, 40)
  return out
}

/** The series a run generates (the benchmark reports the count). */
export function dashboardSeries(
  options: Pick<DashboardDataOptions, 'hosts' | 'silentHosts' | 'fullHosts'>,
): GenSeries[] {
  const out: GenSeries[] = []
  const silentFrom = options.hosts - (options.silentHosts ?? 0)
  const full = options.fullHosts ?? options.hosts
  for (let i = 0; i < options.hosts; i++) out.push(...hostSeries(i, i >= silentFrom, i < full))
  out.push(...brokerSeries())
  return out
}

export interface GeneratedData {
  series: number
  rawSamples: number
  rollupRows: number
}

/** Fills an empty (migrated) store; see the file comment for the layout. */
export async function generateDashboardData(
  store: Store,
  options: DashboardDataOptions,
): Promise<GeneratedData> {
  const db = store.database
  const series = dashboardSeries(options)
  const nowSec = Math.floor(options.nowMs / 1000)
  const rawStartSec = Math.floor((nowSec - options.rawHours * 3600) / 60) * 60
  const rollupStartSec = Math.floor((rawStartSec - options.rollupDays * 86400) / 60) * 60
  const silentSinceSec = nowSec - 600

  await store.client.insert({
    table: `${db}.series`,
    values: series.map((s) => ({
      series_id: seriesId(s.metric, s.labels),
      metric: s.metric,
      labels: s.labels,
      first_seen: rollupStartSec,
      last_seen: nowSec,
    })),
    format: 'JSONEachRow',
  })
  const gen = `${db}.dashboard_gen`
  await store.client.command({ query: `DROP TABLE IF EXISTS ${gen}` })
  await store.client.command({
    query: `CREATE TABLE ${gen} (metric String, series_id UInt64, kind String, base Float64, amp Float64, noise Float64,
      lo Float64, hi Float64, rate Float64, phase Float64, silent UInt8) ENGINE = Memory`,
  })
  await store.client.insert({
    table: gen,
    values: series.map((s) => ({
      ...s,
      series_id: seriesId(s.metric, s.labels),
      silent: s.silent ? 1 : 0,
      labels: undefined,
    })),
    format: 'JSONEachRow',
  })
  // Value of series g at Unix second x (a Float64 expression).
  const value = (x: string): string => `if(g.kind = 'counter',
      floor(g.base + g.rate * (${x} - ${rollupStartSec})),
      greatest(g.lo, least(g.hi, g.base + g.amp * sin(2 * pi() * (${x} / 86400 + g.phase))
        + g.noise * ((cityHash64(g.series_id, intDiv(${x}, 10)) % 2001) / 1000.0 - 1))))`
  const minutes = Math.floor((rawStartSec - rollupStartSec) / 60)
  const alive = (x: string): string => `(g.silent = 0 OR ${x} < ${silentSinceSec})`
  // The value is computed once a row (mid-minute); min / max / last spread around it by the
  // series' noise. Several days an insert keep the blocks (and memory) moderate.
  let rollupRows = 0
  const chunk = 1440 * Math.max(1, Math.floor(20_000 / Math.max(1, series.length)))
  for (let first = 0; first < minutes; first += chunk) {
    const count = Math.min(chunk, minutes - first)
    const m = `(${rollupStartSec} + (${first} + n.number) * 60)`
    await store.client.command({
      query: `INSERT INTO ${db}.samples_1m (metric, series_id, ts, count, sum, min, max, last)
SELECT metric, series_id, toDateTime(x) AS ts, 6, 6 * v, v - spread, v + spread, (toDateTime64(x + 50, 3), v)
FROM (
  SELECT g.metric AS metric, g.series_id AS series_id, ${m} AS x, ${value(`${m} + 30`)} AS v,
    if(g.kind = 'counter', g.rate * 30, g.noise) AS spread
  FROM ${gen} AS g CROSS JOIN numbers(${count}) AS n
  WHERE ${alive(m)}
)`,
      clickhouse_settings: {
        max_block_size: '1000000',
        min_insert_block_size_rows: '4000000',
        min_insert_block_size_bytes: '0',
      },
    })
    rollupRows += count
  }
  const ticks = Math.floor((nowSec - rawStartSec) / 10)
  const tick = `(${rawStartSec} + n.number * 10)`
  await store.client.command({
    query: `INSERT INTO ${db}.samples_raw (metric, series_id, ts, value)
SELECT g.metric, g.series_id, toDateTime64(${tick} + g.phase * 9.99, 3) AS ts, ${value(tick)}
FROM ${gen} AS g CROSS JOIN numbers(${ticks}) AS n
WHERE ${alive(tick)} AND ${tick} + g.phase * 9.99 < ${nowSec}`,
    clickhouse_settings: { max_block_size: '1000000', min_insert_block_size_rows: '1000000' },
  })
  // The aggregator rolls closed minutes up from samples_raw; generated data does it in one go.
  await store.client.command({
    query: rollupSql(db, rawStartSec, Math.ceil((nowSec + 1) / 60) * 60),
    clickhouse_settings: { max_block_size: '1000000', min_insert_block_size_rows: '1000000' },
  })
  await store.client.command({ query: `DROP TABLE ${gen}` })
  return { series: series.length, rawSamples: ticks * series.length, rollupRows: rollupRows * series.length }
}

export { HOST_SERIES }
