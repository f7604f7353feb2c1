import type { RetentionConfig } from '../config/schema.js'
import { assertDatabaseName } from './schema.js'

/**
 * The SQL behind DESIGN.md's two questions, for each tier, with `{name:Type}` query parameters
 * (`client.query({ query, query_params })`). Label filters go through the `series` table; the
 * samples tables hold only series ids. Rollup rows are partial aggregates that may not have merged
 * yet, so every rollup query re-aggregates (sum of sums / sum of counts, min of mins, ...).
 *
 * Parameters: `metric` (e.g. 'cpu.usage_percent'), label values, and times as DateTime64(3) text
 * ('2025-01-01 12:00:00.000', UTC on a UTC server) or a JS Date. "Now" is a parameter, so callers
 * with an injected clock (and tests) get the same answer the engine's now64() would give.
 */

export type Tier = 'raw' | '1m' | '1h'

export const TIER_TABLES: Record<Tier, string> = {
  raw: 'samples_raw',
  '1m': 'samples_1m',
  '1h': 'samples_1h',
}

/**
 * The finest tier still holding data from `fromMs` on: raw for the last 7 days, the 1-minute
 * rollups for 30 days, the 1-hour rollups beyond (with the default retention).
 */
export function tierFor(fromMs: number, nowMs: number, retention: RetentionConfig): Tier {
  const age = nowMs - fromMs
  if (age <= retention.raw) return 'raw'
  if (age <= retention.rollup_1m) return '1m'
  return '1h'
}

const seriesFilter = (db: string, labels: [string, string][]): string =>
  `series_id IN (SELECT series_id FROM ${db}.series
                    WHERE metric = {metric:String}${labels.map(([label, param]) => ` AND labels['${label}'] = {${param}:String}`).join('')})`

/**
 * Question 1: the CPU of one host in one environment over [from, to). Parameters: metric, host,
 * env, from, to. One row per series and time: raw samples, or per minute / hour the average, min,
 * max and last value (a rollup bucket is included when it starts inside [from, to)).
 */
export function hostSeriesQuery(database: string, tier: Tier): string {
  assertDatabaseName(database)
  const db = database
  const filter = seriesFilter(db, [
    ['host', 'host'],
    ['env', 'env'],
  ])
  if (tier === 'raw') {
    return `SELECT series_id, ts, value
FROM ${db}.samples_raw
WHERE metric = {metric:String}
  AND ${filter}
  AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}
ORDER BY series_id, ts`
  }
  // argMax on the tuple's elements, not max(last).2: max over a Tuple compares generic values row
  // by row and cost 13 of 40 ms engine time on 43,200 rows (aggregator/src/bench/query.ts); both pick the value of
  // the latest sample, as samples_range's argMax(last, last_ts) does.
  return `SELECT series_id, ts, sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
    argMax(last.2, last.1) AS last
FROM ${db}.${TIER_TABLES[tier]}
WHERE metric = {metric:String}
  AND ${filter}
  AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}
GROUP BY series_id, ts
ORDER BY series_id, ts`
}

/**
 * Question 2: the average over the last 10 minutes before `now` of every series of a metric whose
 * series has the given role and region. Parameters: metric, role, region, now. Returns one row:
 * avg (average of all samples), samples, series. The window is (now - 10m, now] on raw samples;
 * on 1m the minutes that start in [startOfMinute(now - 10m), now); on 1h the hours that overlap
 * the window (the hourly tier cannot answer a 10-minute question more precisely).
 */
export function groupAverageQuery(database: string, tier: Tier): string {
  assertDatabaseName(database)
  const db = database
  const filter = seriesFilter(db, [
    ['role', 'role'],
    ['region', 'region'],
  ])
  if (tier === 'raw') {
    return `SELECT sum(value) / count() AS avg, count() AS samples, uniqExact(series_id) AS series
FROM ${db}.samples_raw
WHERE metric = {metric:String}
  AND ${filter}
  AND ts > {now:DateTime64(3)} - INTERVAL 10 MINUTE AND ts <= {now:DateTime64(3)}`
  }
  const start = tier === '1m' ? 'toStartOfMinute' : 'toStartOfHour'
  return `SELECT sum(sum) / sum(count) AS avg, sum(count) AS samples, uniqExact(series_id) AS series
FROM ${db}.${TIER_TABLES[tier]}
WHERE metric = {metric:String}
  AND ${filter}
  AND ts >= ${start}({now:DateTime64(3)} - INTERVAL 10 MINUTE) AND ts < {now:DateTime64(3)}`
}

/**
 * SQL that is true exactly when `tierFor(from, now, retention)` returns `tier`, over the query
 * parameters `{from:DateTime64(3)}` and `{now:DateTime64(3)}`. The `samples_range` view guards each
 * tier's branch with it: both sides are constants, so ClickHouse folds the guard of the other two
 * branches to false and reads no part of their tables (EXPLAIN ESTIMATE shows 0 parts, 0 rows).
 * Same rule as tierFor, with the retention baked in as milliseconds (tiers.int.test.ts checks they
 * agree at the boundaries).
 */
export function tierConditionSql(tier: Tier, retention: RetentionConfig): string {
  const age = 'toUnixTimestamp64Milli({now:DateTime64(3)}) - toUnixTimestamp64Milli({from:DateTime64(3)})'
  const raw = Math.floor(retention.raw)
  const oneMinute = Math.floor(retention.rollup_1m)
  if (tier === 'raw') return `(${age}) <= ${raw}`
  if (tier === '1m') return `(${age}) > ${raw} AND (${age}) <= ${oneMinute}`
  return `(${age}) > ${raw} AND (${age}) > ${oneMinute}`
}

/** Name of the parameterized view that reads the tier `tierFor` picks; see `samplesRangeView`. */
export const RANGE_VIEW = 'samples_range'

/**
 * The parameterized view `samples_range(metric, from, to, now)`: the rows of `metric` in
 * [from, to) from the one tier tierFor picks for `from` (relative to `now`), in one shape for every
 * tier: tier, series_id, ts DateTime64(3), count, sum, min, max, last_ts, last. A raw sample is a
 * row with count 1 and sum = min = max = last = value; rollup rows are unmerged partials, so
 * always aggregate (sum(sum) / sum(count), min(min), max(max), argMax(last, last_ts)). Filter
 * series outside the view (`WHERE series_id IN (...)`): the filter is pushed into the branch and
 * uses the primary key. Recreated by every migration, so it follows the retention config.
 */
export function samplesRangeView(database: string, retention: RetentionConfig): string {
  assertDatabaseName(database)
  const db = database
  const window = (alias: string) =>
    `${alias}.metric = {metric:String} AND ${alias}.ts >= {from:DateTime64(3)} AND ${alias}.ts < {to:DateTime64(3)}`
  const rollup = (
    tier: Tier,
  ) => `SELECT '${tier}' AS tier, r.series_id AS series_id, toDateTime64(r.ts, 3) AS ts,
    r.count AS count, r.sum AS sum, r.min AS min, r.max AS max, r.last.1 AS last_ts, r.last.2 AS last
FROM ${db}.${TIER_TABLES[tier]} AS r
WHERE ${tierConditionSql(tier, retention)} AND ${window('r')}`
  return `CREATE OR REPLACE VIEW ${db}.${RANGE_VIEW} AS
SELECT 'raw' AS tier, s.series_id AS series_id, s.ts AS ts,
    toUInt64(1) AS count, s.value AS sum, s.value AS min, s.value AS max, s.ts AS last_ts, s.value AS last
FROM ${db}.samples_raw AS s
WHERE ${tierConditionSql('raw', retention)} AND ${window('s')}
UNION ALL
${rollup('1m')}
UNION ALL
${rollup('1h')}`
}

const rangeArgs =
  'metric = {metric:String}, from = {from:DateTime64(3)}, to = {to:DateTime64(3)}, now = {now:DateTime64(3)}'

/**
 * Question 1 through `samples_range`: the tier follows the range. Parameters: metric, host, env,
 * from, to, now. One row per series and bucket (a raw sample is its own bucket) with the tier that
 * answered, avg, min, max and last.
 */
export function hostSeriesRangeQuery(database: string): string {
  assertDatabaseName(database)
  const db = database
  return `SELECT any(tier) AS tier, series_id, ts, sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
    argMax(last, last_ts) AS last
FROM ${db}.${RANGE_VIEW}(${rangeArgs})
WHERE ${seriesFilter(db, [
    ['host', 'host'],
    ['env', 'env'],
  ])}
GROUP BY series_id, ts
ORDER BY series_id, ts`
}

/**
 * Question 2 through `samples_range` over [from, to) (for "the last 10 minutes": from = now - 10m,
 * to = now; raw answers). Parameters: metric, role, region, from, to, now.
 */
export function groupAverageRangeQuery(database: string): string {
  assertDatabaseName(database)
  const db = database
  return `SELECT any(tier) AS tier, sum(sum) / sum(count) AS avg, sum(count) AS samples, uniqExact(series_id) AS series
FROM ${db}.${RANGE_VIEW}(${rangeArgs})
WHERE ${seriesFilter(db, [
    ['role', 'role'],
    ['region', 'region'],
  ])}`
}
