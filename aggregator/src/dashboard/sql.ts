import {
  FLEET_LABEL,
  fleetSeriesCondition,
  tierFor,
  type RetentionConfig,
  type Tier,
} from '@tidewatch/shared'

/**
 * The dashboards' SQL, written once for two dialects:
 *
 *   panel builder (this file) ──► builtinDialect  ─► {from:DateTime64(3)} parameters, one tier picked in TS
 *                              └─► grafanaDialect  ─► $__fromTime / $__toTime / $__interval_s macros,
 *                                                     a UNION ALL of the three tiers, each branch guarded
 *
 * The tier rule (`dashboardTier`): the coarser of "by width" (up to 6 h: raw; up to 30 d: 1m;
 * beyond: 1h) and "by age" (`tierFor`: the finest tier still holding `from`). One exception, the
 * fleet page (`tierLimitsFor`): its chart aggregates every host per region, which it reads from
 * the fleet rollup (fleet_1m: per region and minute, see shared/src/store/schema.ts) for every
 * range up to 24 hours, never raw, and from the hourly tier beyond. Per host rows are what made
 * it slow: 1,000 hosts' CPU is 1.4 million 1-minute rows a day, and with the 1-minute table
 * ordered by series a day's read decodes about 9.6 million (1.2 granules of 8,192 rows per series
 * of 7 days); 1,440 rows a day per region from fleet_1m. Grafana cannot run
 * TypeScript, so its SQL carries the same rule as constant conditions on the macros: ClickHouse
 * folds the two false guards away and reads no part of those tables (as the `samples_range` view
 * does). The test runs the Grafana SQL with the macros expanded as the plugin expands them.
 */

/** Ranges up to this wide read raw samples (the issue: "raw for hours"). 6 h, in ms. */
export const RAW_MAX_RANGE_MS = 6 * 3600_000

/** Bucket widths (s) never go below the tier's own resolution (raw: the agent's 10 s interval). */
export const TIER_RESOLUTION_SECS: Record<Tier, number> = { raw: 10, '1m': 60, '1h': 3600 }

/** Points a time series aims for across the range; the bucket is range / this, rounded up to the tier. */
export const TARGET_POINTS = 240

const TIER_ORDER: Tier[] = ['raw', '1m', '1h']

/** The fleet page's widest range on the 1-minute tier (see the file comment). 24 h, in ms. */
export const FLEET_MINUTE_MAX_RANGE_MS = 24 * 3600_000

/** The widest range (ms) a page reads from raw samples and from the 1-minute tier. */
export interface TierLimits {
  rawMaxMs: number
  minuteMaxMs: number
}

/** Every page but the fleet: raw up to RAW_MAX_RANGE_MS, 1m up to the 1-minute retention. */
export function defaultTierLimits(retention: RetentionConfig): TierLimits {
  return { rawMaxMs: RAW_MAX_RANGE_MS, minuteMaxMs: retention.rollup_1m }
}

/**
 * The tier a dashboard reads for [from, to) at `now`: the coarser of the width rule (raw up to
 * `limits.rawMaxMs`, 1m up to `limits.minuteMaxMs`) and `tierFor`.
 */
export function dashboardTier(
  fromMs: number,
  toMs: number,
  nowMs: number,
  retention: RetentionConfig,
  limits: TierLimits = defaultTierLimits(retention),
): Tier {
  const width = toMs - fromMs
  const byWidth: Tier =
    limits.rawMaxMs > 0 && width <= limits.rawMaxMs
      ? 'raw'
      : width <= Math.min(limits.minuteMaxMs, retention.rollup_1m)
        ? '1m'
        : '1h'
  const byAge = tierFor(fromMs, nowMs, retention)
  return TIER_ORDER[Math.max(TIER_ORDER.indexOf(byWidth), TIER_ORDER.indexOf(byAge))] as Tier
}

/** Bucket width in seconds for a range read from `tier`: about TARGET_POINTS points, a whole multiple of the tier's resolution. */
export function bucketSecs(fromMs: number, toMs: number, tier: Tier): number {
  const resolution = TIER_RESOLUTION_SECS[tier]
  const wanted = Math.max(1, Math.ceil((toMs - fromMs) / 1000 / TARGET_POINTS))
  return Math.ceil(wanted / resolution) * resolution
}

/** How a dialect spells the time range, the bucket width, a variable and the tier choice. */
export interface Dialect {
  /** Database holding the tables (validated by the caller). */
  db: string
  /** SQL expressions of the range start and end (DateTime or DateTime64). */
  from: string
  to: string
  /** SQL expression of the wanted bucket width in seconds (raised to the tier's resolution per branch). */
  intervalSecs: string
  /** A fixed tier (one branch), or `guarded`: all three, each under its guard. */
  tier: Tier | 'guarded'
  /** A String-typed SQL expression for a dashboard variable. */
  variable(name: string): string
  /** Retention the guards encode (guarded dialect only). */
  retention: RetentionConfig
  /** Widest ranges read from raw and the 1-minute tier (guarded dialect only); see `dashboardTier`. */
  limits: TierLimits
}

/** The built-in dashboard: query parameters `from`, `to` (DateTime64(3)), `step` (UInt32) and `{name:String}` variables. */
export function builtinDialect(
  db: string,
  tier: Tier,
  retention: RetentionConfig,
  limits: TierLimits = defaultTierLimits(retention),
): Dialect {
  return {
    db,
    from: '{from:DateTime64(3)}',
    to: '{to:DateTime64(3)}',
    intervalSecs: '{step:UInt32}',
    tier,
    variable: (name) => `{${name}:String}`,
    retention,
    limits,
  }
}

/** Grafana's ClickHouse plugin: `$__fromTime`, `$__toTime`, `$__interval_s` and `'${name}'` template variables. */
export function grafanaDialect(
  db: string,
  retention: RetentionConfig,
  limits: TierLimits = defaultTierLimits(retention),
): Dialect {
  return {
    db,
    from: '$__fromTime',
    to: '$__toTime',
    // About TARGET_POINTS buckets whatever the panel's width ($__interval_s follows the pixel width).
    intervalSecs: `greatest($__interval_s, intDiv(toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime), ${TARGET_POINTS}))`,
    tier: 'guarded',
    variable: (name) => `'\${${name}}'`,
    retention,
    limits,
  }
}

/** The guard that is true exactly when `dashboardTier` picks `tier` (seconds; `now()` is the engine's clock). */
export function tierGuardSql(d: Dialect, tier: Tier): string {
  const width = `(toUnixTimestamp(${d.to}) - toUnixTimestamp(${d.from}))`
  const age = `(toUnixTimestamp(now()) - toUnixTimestamp(${d.from}))`
  const rawMax = Math.floor(d.limits.rawMaxMs / 1000)
  const rawAge = Math.floor(d.retention.raw / 1000)
  const oneMinute = Math.floor(d.retention.rollup_1m / 1000)
  const minuteMax = Math.floor(Math.min(d.limits.minuteMaxMs, d.retention.rollup_1m) / 1000)
  const minute = `(${width} <= ${minuteMax} AND ${age} <= ${oneMinute})`
  // rawMaxMs 0: never raw (the fleet page).
  if (rawMax <= 0) return tier === 'raw' ? '0' : tier === '1m' ? minute : `NOT ${minute}`
  const raw = `(${width} <= ${rawMax} AND ${age} <= ${rawAge})`
  if (tier === 'raw') return raw
  if (tier === '1m') return `NOT ${raw} AND ${minute}`
  return `NOT ${raw} AND NOT ${minute}`
}

/** Which partial aggregates a panel needs beyond count and sum: each one costs a column read and an aggregate per row. */
export interface BucketColumns {
  /** min and max. */
  extremes?: boolean
  /** The bucket's last value (counters' rates, "now" values). */
  last?: boolean
}

/**
 * Per series and bucket: name (the metric), series_id, t (DateTime, bucket start), count, sum and, when asked,
 * min, max, last (the bucket's last value) and last_ts (its time). One tier answers, so a (series_id, t) pair appears
 * once: outer queries may read these rows as final. `where` filters metric and series (no time:
 * added here).
 */
export function bucketed(d: Dialect, where: string, columns: BucketColumns = {}): string {
  const branch = (tier: Tier, guard: string | undefined): string => {
    // Buckets by integer division of Unix seconds (the same edges as toStartOfInterval, measured
    // 1.5-2x faster over millions of rows); grouped by series_id alone (metric is a function of it,
    // and a LowCardinality key in the GROUP BY costs more than any()).
    const step = `greatest(${d.intervalSecs}, ${TIER_RESOLUTION_SECS[tier]})`
    const bucket = `intDiv(toUnixTimestamp(ts), ${step})`
    // Rollup ts is DateTime: compare with DateTime bounds (a DateTime64 bound converts every row).
    const range =
      tier === 'raw'
        ? `ts >= ${d.from} AND ts < ${d.to}`
        : `ts >= toDateTime(${d.from}) AND ts < toDateTime(${d.to})`
    const cond = [guard, where, range].filter((c) => c !== undefined).join(' AND ')
    const raw = tier === 'raw'
    const table = raw ? 'samples_raw' : tier === '1m' ? 'samples_1m' : 'samples_1h'
    const aggs = [
      raw ? 'count() AS count' : 'sum(count) AS count',
      raw ? 'sum(value) AS sum' : 'sum(sum) AS sum',
      ...(columns.extremes
        ? [raw ? 'min(value) AS min, max(value) AS max' : 'min(min) AS min, max(max) AS max']
        : []),
      ...(columns.last
        ? [
            raw
              ? 'argMax(value, ts) AS last, toDateTime64(max(ts), 3) AS last_ts'
              : // Qualified: an unqualified `last` here would resolve to the alias.
                `max(${table}.last).2 AS last, toDateTime64(max(${table}.last).1, 3) AS last_ts`,
          ]
        : []),
    ].join(', ')
    return `SELECT any(metric) AS name, series_id, toDateTime(bucket * ${step}) AS t, ${aggs}
  FROM ${d.db}.${table} WHERE ${cond} GROUP BY series_id, ${bucket} AS bucket`
  }
  if (d.tier !== 'guarded') return branch(d.tier, undefined)
  return TIER_ORDER.map((tier) => branch(tier, tierGuardSql(d, tier))).join('\n  UNION ALL\n  ')
}

const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
const metricIn = (metrics: readonly string[]): string =>
  metrics.length === 1
    ? `metric = ${quote(metrics[0] as string)}`
    : `metric IN (${metrics.map(quote).join(', ')})`

/** Series of `metrics` whose labels match `labels` (label -> SQL expression). */
function seriesOf(d: Dialect, metrics: readonly string[], labels: Record<string, string>): string {
  const conds = Object.entries(labels).map(([label, expr]) => ` AND labels[${quote(label)}] = ${expr}`)
  return `series_id IN (SELECT series_id FROM ${d.db}.series WHERE ${metricIn(metrics)}${conds.join('')})`
}

/** series_id -> labels of `metrics` (the series table is an AggregatingMergeTree: collapse unmerged rows). */
function labelsOf(d: Dialect, metrics: readonly string[]): string {
  return `(SELECT series_id, any(labels) AS labels FROM ${d.db}.series WHERE ${metricIn(metrics)} GROUP BY series_id)`
}

/** What a panel shows; the browser and Grafana draw it. */
export type PanelKind =
  /** Rows (t DateTime, series String, value Float64), one line per series. */
  | 'timeseries'
  /** Rows of named columns. */
  | 'table'
  /** One row of named numbers. */
  | 'stat'

export interface Panel {
  id: string
  title: string
  kind: PanelKind
  /** Axis unit: 'percent', 'bytes', 'bytes/s', 'count', '' */
  unit: string
  sql: string
  /** Timeseries: whether to stack, or draw lines (default). */
  description?: string
}

export interface Page {
  id: 'fleet' | 'host' | 'queues' | 'tidewatch'
  title: string
  /** Variables the page's SQL uses, each with the SQL listing its values. */
  variables: { name: string; label: string; sql: string }[]
  panels: Panel[]
}

/** A gauge averaged per bucket, one line per series named by `name` (an SQL expression over metric and labels). */
function gaugeSeries(
  d: Dialect,
  metrics: readonly string[],
  labels: Record<string, string>,
  name: string,
  value = 'sum / count',
): string {
  return `SELECT b.t AS t, ${name} AS series, ${value} AS value
FROM (
  ${bucketed(d, `${metricIn(metrics)} AND ${seriesOf(d, metrics, labels)}`, { extremes: value !== 'sum / count' })}
) AS b
ANY LEFT JOIN ${labelsOf(d, metrics)} AS s ON s.series_id = b.series_id
ORDER BY series, t`
}

/**
 * A counter's per-second rate per bucket: the bucket's last value minus the previous bucket's, over
 * the time between those two samples (not between bucket starts: with samples and buckets out of
 * step that would saw-tooth). A reset counts as 0.
 */
function rateSeries(
  d: Dialect,
  metrics: readonly string[],
  labels: Record<string, string>,
  name: string,
): string {
  return `SELECT t, series, value FROM (
  SELECT b.t AS t, ${name} AS series,
    greatest(0, b.last - lagInFrame(b.last) OVER w)
      / greatest(0.001, (toUnixTimestamp64Milli(b.last_ts) - toUnixTimestamp64Milli(lagInFrame(b.last_ts) OVER w)) / 1000) AS value,
    row_number() OVER w AS n
  FROM (
    ${bucketed(d, `${metricIn(metrics)} AND ${seriesOf(d, metrics, labels)}`, { last: true })}
  ) AS b
  ANY LEFT JOIN ${labelsOf(d, metrics)} AS s ON s.series_id = b.series_id
  WINDOW w AS (PARTITION BY b.series_id ORDER BY b.t ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
WHERE n > 1
ORDER BY series, t`
}

const CPU = 'cpu.usage_percent'
const shortName = (prefix: string) => `replaceOne(b.name, '${prefix}', '')`

/** The host list for a host picker: every host that has a CPU series. */
export function hostsSql(db: string): string {
  return `SELECT DISTINCT labels['host'] AS host FROM ${db}.series WHERE metric = '${CPU}' ORDER BY host`
}

/** One host: CPU, memory, disk, network, load. Variable: host. */
export function hostPage(d: Dialect): Page {
  const host = { host: d.variable('host') }
  return {
    id: 'host',
    title: 'Host',
    variables: [{ name: 'host', label: 'host', sql: hostsSql(d.db) }],
    panels: [
      {
        id: 'cpu',
        title: 'CPU',
        kind: 'timeseries',
        unit: 'percent',
        sql: gaugeSeries(
          d,
          ['cpu.usage_percent', 'cpu.user_percent', 'cpu.system_percent', 'cpu.iowait_percent'],
          host,
          shortName('cpu.'),
        ),
      },
      {
        id: 'memory',
        title: 'Memory',
        kind: 'timeseries',
        unit: 'bytes',
        sql: gaugeSeries(
          d,
          ['mem.used_bytes', 'mem.available_bytes', 'mem.total_bytes'],
          host,
          shortName('mem.'),
        ),
      },
      {
        id: 'disk',
        title: 'Disk used (per mount point)',
        kind: 'timeseries',
        unit: 'percent',
        sql: gaugeSeries(d, ['disk.used_percent'], host, `s.labels['mountpoint']`),
      },
      {
        id: 'network',
        title: 'Network (per interface)',
        kind: 'timeseries',
        unit: 'bytes/s',
        sql: rateSeries(
          d,
          ['net.in_bytes_total', 'net.out_bytes_total'],
          host,
          `concat(s.labels['interface'], if(b.name = 'net.in_bytes_total', ' in', ' out'))`,
        ),
      },
      {
        id: 'load',
        title: 'Load average',
        kind: 'timeseries',
        unit: '',
        sql: gaugeSeries(d, ['system.load1', 'system.load5', 'system.load15'], host, shortName('system.')),
      },
    ],
  }
}

/**
 * Per region and bucket the average and p95 of hosts' CPU (columns t, region, avg, p95), from one
 * tier. 1m: the fleet rollup (fleet_1m, per region and minute: the samples' count and sum and a
 * t-digest of each host's 1-minute mean), so regions x minutes rows whatever the number of hosts;
 * the average is over the samples, the p95 over the hosts' 1-minute means in the bucket. raw and
 * 1h: per host and bucket first (count and sum only), then across the hosts of each region.
 */
function fleetCpuBranch(d: Dialect, tier: Tier, guard: string | undefined): string {
  if (tier === '1m') {
    const step = `greatest(${d.intervalSecs}, 60)`
    const cond = [
      guard,
      `metric = '${CPU}'`,
      `ts >= toDateTime(${d.from}) AND ts < toDateTime(${d.to})`,
    ].filter((c) => c !== undefined)
    const region = FLEET_LABEL === 'region' ? 'region' : `${FLEET_LABEL} AS region`
    return `SELECT toDateTime(intDiv(toUnixTimestamp(ts), ${step}) * ${step}) AS t, ${region},
    sum(sum) / sum(count) AS avg, quantileTDigestMerge(0.95)(means) AS p95
  FROM ${d.db}.fleet_1m WHERE ${cond.join(' AND ')}
  GROUP BY t, region`
  }
  const where = [guard, `metric = '${CPU}'`].filter((c) => c !== undefined).join(' AND ')
  return `SELECT t, region, avg(cpu) AS avg, quantile(0.95)(cpu) AS p95
  FROM (
    SELECT b.t AS t, s.labels['${FLEET_LABEL}'] AS region, b.sum / b.count AS cpu
    FROM (
      ${bucketed({ ...d, tier }, where)}
    ) AS b
    ANY LEFT JOIN ${labelsOf(d, [CPU])} AS s ON s.series_id = b.series_id
    WHERE ${fleetSeriesCondition('s.labels')}
  )
  GROUP BY t, region`
}

/** fleetCpuBranch of the dialect's tier, or (Grafana) of each tier the page's limits can pick, under its guard. */
function fleetCpu(d: Dialect): string {
  if (d.tier !== 'guarded') return fleetCpuBranch(d, d.tier, undefined)
  return TIER_ORDER.filter((tier) => tier !== 'raw' || d.limits.rawMaxMs > 0)
    .map((tier) => fleetCpuBranch(d, tier, tierGuardSql(d, tier)))
    .join('\n  UNION ALL\n  ')
}

/**
 * Fleet: per region the average and p95 of hosts' CPU over time (fleetCpu: the fleet rollup up to
 * 24 hours, the hourly tier beyond; the two share a panel), hosts reporting and silent, and per region and pool the hosts, reporting,
 * silent and CPU now.
 *
 * "Now" does not follow the range (so a range ending up to 30 days back works too): CPU over the
 * hours overlapping the hour before `to` (the hourly tier), "reporting" a CPU sample in the 3
 * minutes before `to` (the raw tier), "silent" reported in the 24 hours before `to`, not since.
 */
export function fleetPage(d: Dialect): Page {
  // One pass, no join. The hourly tier names the hosts of the last 24 hours and gives their CPU
  // over the hours overlapping the last hour; the raw tier says who reported in the last 3 minutes
  // (its ts column only; the 1-minute tier trails by the roll-up grace, so it cannot say it).
  const hosts = `series_id IN (SELECT series_id FROM ${d.db}.series WHERE metric = '${CPU}' AND ${fleetSeriesCondition()})`
  const hostStatus = `SELECT series_id, max(recent) AS ok, sum(s) / sum(c) AS cpu FROM (
      SELECT series_id, toUInt8(0) AS recent, if(ts >= toStartOfHour(toDateTime(${d.to}) - INTERVAL 1 HOUR), sum, 0) AS s,
        if(ts >= toStartOfHour(toDateTime(${d.to}) - INTERVAL 1 HOUR), count, 0) AS c
      FROM ${d.db}.samples_1h
      WHERE metric = '${CPU}' AND ${hosts} AND ts >= toStartOfHour(toDateTime(${d.to}) - INTERVAL 24 HOUR) AND ts < toDateTime(${d.to})
      UNION ALL
      SELECT series_id, toUInt8(1) AS recent, toFloat64(0) AS s, toUInt64(0) AS c FROM ${d.db}.samples_raw
      WHERE metric = '${CPU}' AND ${hosts} AND ts >= toDateTime(${d.to}) - INTERVAL 3 MINUTE AND ts < toDateTime(${d.to})
    )
    GROUP BY series_id`
  return {
    id: 'fleet',
    title: 'Fleet',
    variables: [],
    panels: [
      {
        id: 'hosts',
        title: 'Hosts',
        kind: 'stat',
        unit: 'count',
        sql: `SELECT countIf(ok) AS reporting, countIf(NOT ok) AS silent FROM (${hostStatus})`,
      },
      {
        id: 'cpu',
        title: 'CPU by region: average and p95 of hosts',
        kind: 'timeseries',
        unit: 'percent',
        sql: `SELECT t, concat(region, ' ', stat.1) AS series, stat.2 AS value
FROM (
  ${fleetCpu(d)}
)
ARRAY JOIN [('avg', avg), ('p95', p95)] AS stat
ORDER BY series, t`,
      },
      {
        id: 'pools',
        title: 'Pools now (CPU: the last hour)',
        kind: 'table',
        unit: '',
        sql: `SELECT s.labels['region'] AS region, s.labels['pool'] AS pool, count() AS hosts,
    countIf(h.ok) AS reporting, countIf(NOT h.ok) AS silent,
    round(avgIf(h.cpu, h.ok), 1) AS avg_cpu, round(quantileIf(0.95)(h.cpu, h.ok), 1) AS p95_cpu
  FROM (${hostStatus}) AS h
  ANY LEFT JOIN ${labelsOf(d, [CPU])} AS s ON s.series_id = h.series_id
  GROUP BY region, pool
  ORDER BY region, pool`,
      },
    ],
  }
}

/** Queue depth series the agent's inputs send, with the labels that name a queue. */
export const QUEUE_METRICS: { metric: string; title: string; name: string }[] = [
  {
    metric: 'rabbitmq.queue_messages',
    title: 'RabbitMQ queue depth',
    name: `if(s.labels['vhost'] = '/', s.labels['queue'], concat(s.labels['vhost'], '/', s.labels['queue']))`,
  },
  {
    metric: 'jetstream.consumer_num_pending',
    title: 'JetStream consumer pending',
    name: `concat(s.labels['stream'], '/', s.labels['consumer'])`,
  },
  {
    metric: 'redis.list_length',
    title: 'Redis list length',
    name: `concat(s.labels['host'], ' ', s.labels['key'])`,
  },
  {
    metric: 'redis.stream_length',
    title: 'Redis stream length',
    name: `concat(s.labels['host'], ' ', s.labels['key'])`,
  },
]

/** Queues: depth per queue over time (the largest in the bucket), and the deepest queues at the end of the range. */
export function queuesPage(d: Dialect): Page {
  const metrics = QUEUE_METRICS.map((q) => q.metric)
  const nameOf = `multiIf(${QUEUE_METRICS.map((q) => `b.name = '${q.metric}', ${q.name}`).join(', ')}, '')`
  return {
    id: 'queues',
    title: 'Queues',
    variables: [],
    panels: [
      ...QUEUE_METRICS.map((q): Panel => ({
        id: q.metric.replace(/\./g, '_'),
        title: q.title,
        kind: 'timeseries',
        unit: 'count',
        sql: gaugeSeries(d, [q.metric], {}, q.name, 'max'),
      })),
      {
        id: 'deepest',
        title: 'Deepest queues (last value in range)',
        kind: 'table',
        unit: '',
        sql: `SELECT replaceOne(b.name, '.', ' ') AS source, ${nameOf} AS queue, argMax(b.last, b.t) AS depth, max(b.max) AS max_depth
FROM (
  ${bucketed(d, metricIn(metrics), { extremes: true, last: true })}
) AS b
ANY LEFT JOIN ${labelsOf(d, metrics)} AS s ON s.series_id = b.series_id
GROUP BY b.name, queue
ORDER BY depth DESC
LIMIT 20`,
      },
    ],
  }
}

/**
 * tidewatch itself, from what the store holds: samples stored per second (the rollups' counts),
 * how far behind the newest sample is, the aggregator's consumer backlog, the DLQ and the ALERTS
 * stream (from the agent's nats_jetstream input on the NATS server). The alerter's alert state
 * is in JetStream KV, not in the store: the built-in dashboard's alerts page reads it.
 */
export function tidewatchPage(d: Dialect): Page {
  const js = (metric: string, labels: Record<string, string>, name: string): string =>
    gaugeSeries(
      d,
      [metric],
      Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, quote(v)])),
      name,
      'max',
    )
  return {
    id: 'tidewatch',
    title: 'tidewatch',
    variables: [],
    panels: [
      {
        id: 'ingest',
        title: 'Samples stored per second',
        kind: 'timeseries',
        unit: 'count',
        sql: `SELECT t, 'samples/s' AS series, sum(count) / max(step) AS value
FROM (
  SELECT b.t AS t, b.count AS count, greatest(${d.intervalSecs}, 10) AS step FROM (
  ${bucketed(d, '1 = 1')}
  ) AS b
)
GROUP BY t ORDER BY t`,
      },
      {
        id: 'freshness',
        title: 'Newest sample',
        kind: 'stat',
        unit: 's',
        sql: `SELECT dateDiff('second', max(ts), ${d.to}) AS behind_secs, count() AS samples_last_5m
FROM ${d.db}.samples_raw WHERE ts >= ${d.to} - INTERVAL 5 MINUTE AND ts < ${d.to}`,
      },
      {
        id: 'backlog',
        title: 'Aggregator backlog (METRICS consumer pending)',
        kind: 'timeseries',
        unit: 'count',
        sql: js('jetstream.consumer_num_pending', { stream: 'METRICS' }, `s.labels['consumer']`),
      },
      {
        id: 'dlq',
        title: 'Dead letters (DLQ stream messages)',
        kind: 'timeseries',
        unit: 'count',
        sql: js('jetstream.stream_messages', { stream: 'DLQ' }, `'DLQ'`),
      },
      {
        id: 'alerts',
        title: 'Alert events (ALERTS stream messages)',
        kind: 'timeseries',
        unit: 'count',
        sql: js('jetstream.stream_messages', { stream: 'ALERTS' }, `'ALERTS'`),
      },
    ],
  }
}

export const PAGES = {
  fleet: fleetPage,
  host: hostPage,
  queues: queuesPage,
  tidewatch: tidewatchPage,
} as const
export type PageId = keyof typeof PAGES

/**
 * A page's tier limits: the fleet page never reads raw (its chart reads fleet_1m, a 1-minute
 * rollup) and reads the hourly tier beyond FLEET_MINUTE_MAX_RANGE_MS; every other page the defaults.
 */
export function tierLimitsFor(page: PageId, retention: RetentionConfig): TierLimits {
  return page === 'fleet'
    ? { rawMaxMs: 0, minuteMaxMs: FLEET_MINUTE_MAX_RANGE_MS }
    : defaultTierLimits(retention)
}
