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
  return `SELECT series_id, ts, sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max, max(last).2 AS last
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
