import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema, storeSchema } from '../config/schema.js'
import { seriesId, type Labels } from '../series.js'
import { groupAverageQuery, hostSeriesQuery, tierFor, type Tier } from './queries.js'
import { rollUpMinutes } from './rollup.js'
import { migrate } from './schema.js'
import { createStore, type Store } from './store.js'

// This file's one chDB directory (one per process: the forks pool gives each test file a process).
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-queries-test-'))
const DB = 'tw_queries'
const CPU = 'cpu.usage_percent'
let store: Store

// One hour of 10 s samples, starting at the previous whole hour (recent, so no TTL drops it).
const HOUR = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000
const MIN = 60_000

interface Series {
  metric: string
  labels: Labels
  id: string
  samples: { ts: number; value: number }[]
}

function makeSeries(metric: string, labels: Labels, valueAt: (i: number) => number): Series {
  const samples = Array.from({ length: 360 }, (_, i) => ({
    ts: HOUR + i * 10_000 + (i % 3),
    value: valueAt(i),
  }))
  return { metric, labels, id: seriesId(metric, labels), samples }
}

const target = makeSeries(
  CPU,
  { host: 'i631', env: 'prod', role: 'web', region: 'us-west' },
  (i) => (i % 7) * 1.25,
)
const otherWeb = makeSeries(
  CPU,
  { host: 'i632', env: 'prod', role: 'web', region: 'us-west' },
  (i) => 50 + (i % 5),
)
const staging = makeSeries(CPU, { host: 'i631', env: 'staging', role: 'db', region: 'us-west' }, () => 99)
const euWeb = makeSeries(CPU, { host: 'i700', env: 'prod', role: 'web', region: 'eu-west' }, () => 77)
const memory = makeSeries(
  'mem.used_bytes',
  { host: 'i631', env: 'prod', role: 'web', region: 'us-west' },
  () => 1e9,
)
const all = [target, otherWeb, staging, euWeb, memory]

const secs = (ms: number) => (ms / 1000).toFixed(3)
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
const inRange = (s: Series, from: number, to: number) => s.samples.filter((x) => x.ts >= from && x.ts < to)

async function insertTsv(table: string, lines: string[]): Promise<void> {
  await store.client.insert({
    table: `${DB}.${table}`,
    format: 'TabSeparated',
    values: Readable.from([lines.join('')], { objectMode: false }),
  })
}

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: DB }))
  await migrate(store, { retention: retentionSchema.parse({}) })
  await store.client.insert({
    table: `${DB}.series`,
    format: 'JSONEachRow',
    values: all.map((s) => ({
      series_id: s.id,
      metric: s.metric,
      labels: s.labels,
      first_seen: Math.floor(HOUR / 1000),
      last_seen: Math.floor(HOUR / 1000) + 3599,
    })),
  })
  // Two inserts, then each minute rolled up, as the aggregator does; the queries re-aggregate.
  for (const half of [0, 1]) {
    await insertTsv(
      'samples_raw',
      all.flatMap((s) =>
        s.samples
          .filter((_, i) => i % 2 === half)
          .map((x) => `${s.metric}\t${s.id}\t${secs(x.ts)}\t${x.value}\n`),
      ),
    )
  }
  await rollUpMinutes(store.client, DB, HOUR / 1000, (HOUR + 60 * MIN) / 1000)
})

afterAll(async () => {
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function run(query: string, params: Record<string, unknown>): Promise<Record<string, number>[]> {
  const result = await store.client.query({ query, query_params: params, format: 'JSONEachRow' })
  // chDB prints UInt64 in JSON as a number, a server as a string: compare numbers; times (UTC
  // server) become epoch ms
  const toNumber = (key: string, value: unknown): number =>
    key === 'ts' ? Date.parse(String(value).replace(' ', 'T') + 'Z') : Number(value)
  return ((await result.json()) as Record<string, unknown>[]).map((row) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, toNumber(k, v)])),
  )
}

describe('question 1: CPU of host i631 in prod over a time range', () => {
  const from = HOUR + 5 * MIN
  const to = HOUR + 15 * MIN
  const params = { metric: CPU, host: 'i631', env: 'prod', from: secs(from), to: secs(to) }

  it('raw: every sample of the series in [from, to)', async () => {
    const rows = await run(hostSeriesQuery(DB, 'raw'), params)
    const expected = inRange(target, from, to)
    expect(rows).toHaveLength(60)
    expect(rows.map((r) => r.value)).toEqual(expected.map((x) => x.value))
    expect(rows.map((r) => r.ts)).toEqual(expected.map((x) => x.ts))
    expect(new Set(rows.map((r) => String(r.series_id))).size).toBe(1)
  })

  it('1m: one row a minute with avg, min, max and last', async () => {
    const rows = await run(hostSeriesQuery(DB, '1m'), params)
    expect(rows).toHaveLength(10)
    rows.forEach((row, m) => {
      const minute = inRange(target, from + m * MIN, from + (m + 1) * MIN).map((x) => x.value)
      expect(row.ts).toBe(from + m * MIN)
      expect(row.avg).toBeCloseTo(mean(minute), 9)
      expect(row.min).toBe(Math.min(...minute))
      expect(row.max).toBe(Math.max(...minute))
      expect(row.last).toBe(minute[minute.length - 1])
    })
  })

  it('1h: one row for the hour', async () => {
    const rows = await run(hostSeriesQuery(DB, '1h'), {
      ...params,
      from: secs(HOUR),
      to: secs(HOUR + 60 * MIN),
    })
    const values = target.samples.map((x) => x.value)
    expect(rows).toHaveLength(1)
    expect(rows[0]?.avg).toBeCloseTo(mean(values), 9)
    expect(rows[0]?.max).toBe(Math.max(...values))
  })
})

describe('question 2: average CPU of role=web servers in region=us-west over the last 10 minutes', () => {
  const now = HOUR + 40 * MIN
  const params = { metric: CPU, role: 'web', region: 'us-west', now: secs(now) }
  const web = [target, otherWeb]

  it.each<[Tier, number, number]>([
    ['raw', now - 10 * MIN + 1, now + 1], // (now - 10m, now]
    ['1m', now - 10 * MIN, now], // whole minutes
    ['1h', HOUR, HOUR + 60 * MIN], // the hour overlapping the window
  ])('%s', async (tier, from, to) => {
    const values = web.flatMap((s) => inRange(s, from, to).map((x) => x.value))
    const rows = await run(groupAverageQuery(DB, tier), params)
    expect(rows).toHaveLength(1)
    expect(rows[0]?.samples).toBe(values.length)
    expect(rows[0]?.series).toBe(2)
    expect(rows[0]?.avg).toBeCloseTo(mean(values), 9)
  })
})

describe('tierFor', () => {
  const retention = retentionSchema.parse({})
  const now = Date.UTC(2025, 0, 31)
  it('picks raw for 7 days, 1m for 30 days, 1h beyond', () => {
    expect(tierFor(now - 6 * 86_400_000, now, retention)).toBe('raw')
    expect(tierFor(now - 8 * 86_400_000, now, retention)).toBe('1m')
    expect(tierFor(now - 200 * 86_400_000, now, retention)).toBe('1h')
  })
})
