import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema, storeSchema } from '../config/schema.js'
import { seriesId } from '../series.js'
import {
  groupAverageRangeQuery,
  hostSeriesRangeQuery,
  RANGE_VIEW,
  tierConditionSql,
  tierFor,
  type Tier,
} from './queries.js'
import { migrate } from './schema.js'
import { createStore, type Store } from './store.js'

// Proof that the samples_range view reads only the tier tierFor picks: each tier holds data in the
// queried range with its own value (raw 1, 1m 2, hourly-only 3), and EXPLAIN ESTIMATE (the
// engine's own plan: parts and rows it will read per table) shows 0 parts of the other tiers.
// chDB has no system.query_log, so the plan plus the values stand in for read_rows per table.
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-tiers-test-'))
const DB = 'tw_tiers'
const CPU = 'cpu.usage_percent'
const retention = retentionSchema.parse({})
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const NOW = Math.floor(Date.now() / MIN) * MIN
const labels = { host: 'i631', env: 'prod', role: 'web', region: 'us-west' }
const ID = seriesId(CPU, labels)
const OLD_HOUR = Math.floor((NOW - 200 * DAY) / HOUR) * HOUR
let store: Store

const secs = (ms: number) => (ms / 1000).toFixed(3)

async function insertTsv(table: string, lines: string[]): Promise<void> {
  await store.client.insert({
    table: `${DB}.${table}`,
    format: 'TabSeparated',
    values: Readable.from([lines.join('')], { objectMode: false }),
  })
}

const rollupRow = (startMs: number, count: number, value: number) =>
  `${CPU}\t${ID}\t${startMs / 1000}\t${count}\t${count * value}\t${value}\t${value}\t('${secs(startMs)}',${value})\n`

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: DB }))
  await migrate(store, { retention })
  await store.client.insert({
    table: `${DB}.series`,
    format: 'JSONEachRow',
    values: [{ series_id: ID, metric: CPU, labels, first_seen: 0, last_seen: Math.floor(NOW / 1000) }],
  })
  // Each tier holds rows the others do not: raw samples of 1 in the last 10 minutes (at :05, :15,
  // ... past the minute, so a raw row never looks like a bucket), minute rollups of 2 an hour
  // before that (samples_1h_mv copies them into samples_1h), and an hour 200 days back that only
  // samples_1h holds (3). If the schema derives samples_1m from raw inserts, the last 10 minutes
  // also appear as minute rows of 1: still 1-minute rows, and the assertions allow for them.
  const raw: string[] = []
  for (let t = NOW - 10 * MIN + 5_000; t < NOW; t += 10_000) raw.push(`${CPU}\t${ID}\t${secs(t)}\t1\n`)
  await insertTsv('samples_raw', raw)
  const minutes: string[] = []
  for (let t = NOW - 2 * HOUR; t < NOW - HOUR; t += MIN) minutes.push(rollupRow(t, 6, 2))
  await insertTsv('samples_1m', minutes)
  await insertTsv('samples_1h', [rollupRow(OLD_HOUR, 360, 3)])
})

afterAll(async () => {
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

type Params = Record<string, string>
const rangeParams = (fromMs: number, toMs = NOW): Params => ({
  metric: CPU,
  from: secs(fromMs),
  to: secs(toMs),
  now: secs(NOW),
})

/** Parts and rows the engine plans to read, per table (EXPLAIN ESTIMATE). */
async function plannedReads(
  query: string,
  params: Params,
): Promise<Map<string, { parts: number; rows: number }>> {
  const result = await store.client.query({
    query: `EXPLAIN ESTIMATE ${query}`,
    query_params: params,
    format: 'JSONEachRow',
  })
  const rows = await result.json<{ table: string; parts: number | string; rows: number | string }>()
  return new Map(rows.map((r) => [r.table, { parts: Number(r.parts), rows: Number(r.rows) }]))
}

async function run(query: string, params: Params): Promise<Record<string, unknown>[]> {
  return (await store.client.query({ query, query_params: params, format: 'JSONEachRow' })).json()
}

const read = (plan: Map<string, { parts: number; rows: number }>, table: string) => plan.get(table)?.rows ?? 0

describe('samples_range reads only the tier tierFor picks', () => {
  const q1 = { host: 'i631', env: 'prod' }

  it('a 10-minute range reads raw only', async () => {
    const params = rangeParams(NOW - 10 * MIN)
    expect(tierFor(NOW - 10 * MIN, NOW, retention)).toBe('raw')
    const plan = await plannedReads(hostSeriesRangeQuery(DB), { ...params, ...q1 })
    expect(read(plan, 'samples_raw')).toBeGreaterThan(0)
    expect(read(plan, 'samples_1m')).toBe(0)
    expect(read(plan, 'samples_1h')).toBe(0)
    const rows = await run(groupAverageRangeQuery(DB), { ...params, role: 'web', region: 'us-west' })
    expect(rows).toEqual([{ tier: 'raw', avg: 1, samples: 60, series: 1 }])
  })

  it('a 30-day range reads zero raw rows: samples_1m answers', async () => {
    const params = { ...rangeParams(NOW - 30 * DAY), ...q1 }
    expect(tierFor(NOW - 30 * DAY, NOW, retention)).toBe('1m')
    const plan = await plannedReads(hostSeriesRangeQuery(DB), params)
    expect(plan.get('samples_raw')?.parts ?? 0).toBe(0)
    expect(read(plan, 'samples_raw')).toBe(0)
    expect(read(plan, 'samples_1h')).toBe(0)
    expect(read(plan, 'samples_1m')).toBeGreaterThan(0)
    const rows = await run(hostSeriesRangeQuery(DB), params)
    // only minute buckets of the 1-minute tier: a raw sample would be a row at :05 with tier raw
    expect(rows.every((r) => r.tier === '1m' && String(r.ts).endsWith(':00.000'))).toBe(true)
    expect(rows.filter((r) => r.avg === 2)).toHaveLength(60)
    expect(rows.every((r) => r.avg === 2 || r.avg === 1)).toBe(true)
  })

  it('a 1-year range reads zero 1-minute rows: samples_1h answers', async () => {
    const params = { ...rangeParams(NOW - 365 * DAY), ...q1 }
    expect(tierFor(NOW - 365 * DAY, NOW, retention)).toBe('1h')
    const plan = await plannedReads(hostSeriesRangeQuery(DB), params)
    expect(read(plan, 'samples_1m')).toBe(0)
    expect(plan.get('samples_1m')?.parts ?? 0).toBe(0)
    expect(read(plan, 'samples_raw')).toBe(0)
    expect(read(plan, 'samples_1h')).toBeGreaterThan(0)
    const rows = await run(hostSeriesRangeQuery(DB), params)
    // the hour only samples_1h holds, then the hours the view rolled up from samples_1m
    expect(rows[0]).toMatchObject({ tier: '1h', avg: 3, min: 3, max: 3 })
    expect(rows.every((r) => r.tier === '1h' && String(r.ts).endsWith(':00:00.000'))).toBe(true)
    const hourly = await run(
      `SELECT sum(count) AS n, sum(sum) AS s FROM ${DB}.samples_1h WHERE series_id = ${ID}`,
      {},
    )
    const group = await run(groupAverageRangeQuery(DB), {
      ...rangeParams(NOW - 365 * DAY),
      role: 'web',
      region: 'us-west',
    })
    const n = Number(hourly[0]?.n)
    expect(n).toBeGreaterThanOrEqual(360 + 360)
    expect(group).toEqual([{ tier: '1h', avg: Number(hourly[0]?.s) / n, samples: n, series: 1 }])
  })
})

describe('tierConditionSql', () => {
  it('agrees with tierFor at the retention boundaries', async () => {
    const ages = [
      0,
      retention.raw,
      retention.raw + 1,
      retention.rollup_1m,
      retention.rollup_1m + 1,
      365 * DAY,
    ]
    for (const age of ages) {
      const params = { from: secs(NOW - age), now: secs(NOW) }
      const tiers: Tier[] = ['raw', '1m', '1h']
      const result = await run(
        `SELECT ${tiers.map((t) => `(${tierConditionSql(t, retention)}) AS \`${t}\``).join(', ')}`,
        params,
      )
      const chosen = tiers.filter((t) => Number(result[0]?.[t]) === 1)
      expect(chosen, `age ${age} ms`).toEqual([tierFor(NOW - age, NOW, retention)])
    }
  })

  it('the view is rewritten when the retention changes', async () => {
    await migrate(store, { retention: { ...retention, raw: 40 * DAY, rollup_1m: 60 * DAY } })
    const plan = await plannedReads(hostSeriesRangeQuery(DB), {
      ...rangeParams(NOW - 30 * DAY),
      host: 'i631',
      env: 'prod',
    })
    expect(read(plan, 'samples_raw')).toBeGreaterThan(0)
    expect(read(plan, 'samples_1m')).toBe(0)
    await migrate(store, { retention })
    const text = await (
      await store.client.query({ query: `SHOW CREATE TABLE ${DB}.${RANGE_VIEW}`, format: 'TabSeparatedRaw' })
    ).text()
    expect(text).toContain(String(retention.raw))
  })
})
