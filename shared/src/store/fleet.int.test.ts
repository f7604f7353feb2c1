import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema, storeSchema } from '../config/schema.js'
import { seriesId } from '../series.js'
import { rollUpMinute } from './rollup.js'
import { migrate } from './schema.js'
import { createStore, type Store } from './store.js'

// The fleet rollup (fleet_1m, fed by fleet_1m_mv from every insert into samples_1m) against real
// chDB: the roll-up's minute and a late batch's partials reach it once however often they are
// written (the inserts' tokens), its count and sum equal the hosts' 1-minute rows per region, its
// digest is the digest of the hosts' 1-minute means, and a store migrated from a schema without
// it gets it filled from the 1-minute rows already stored.

const dir = mkdtempSync(join(tmpdir(), 'tidewatch-fleet-test-'))
const retention = retentionSchema.parse({})
const DB = 'tw_fleet'
const CPU = 'cpu.usage_percent'
const MINUTE = Math.floor(Date.now() / 60_000) * 60 - 30 * 60
const HOSTS = [
  { host: 'a1', region: 'us-west', values: [10, 12, 14, 16, 18, 20] },
  { host: 'a2', region: 'us-west', values: [50, 52, 54, 56, 58, 60] },
  { host: 'a3', region: 'us-west', values: [90, 91, 92, 93, 94, 95] },
  { host: 'b1', region: 'eu-west', values: [5, 5, 5, 5, 5, 5] },
  { host: 'b2', region: 'eu-west', values: [30, 31, 32, 33, 34, 35] },
]
/** DateTime64(3) text in UTC. */
const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
const idOf = (host: string, region: string, cpu = 'total') => seriesId(CPU, { host, region, cpu })
// A per-CPU series of a1 (the cpu input's per_cpu = true): not a host, so in no fleet figure.
const PER_CPU = { host: 'a1', region: 'us-west', cpu: '0', values: [99, 99, 99, 99, 99, 99] }
let store: Store

async function rows(query: string): Promise<Record<string, number | string>[]> {
  const result = (await (await store.client.query({ query, format: 'JSONEachRow' })).json()) as Record<
    string,
    unknown
  >[]
  // chDB prints UInt64 in JSON as a number, a server as a string: compare numbers.
  return result.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && k !== 'region' ? Number(v) : v]),
    ),
  ) as Record<string, number | string>[]
}

const dedup = (token: string) => ({
  insert_deduplication_token: token,
  deduplicate_blocks_in_dependent_materialized_views: 1 as const,
})

/** Per region: the samples' count and sum in fleet_1m, and its digest's p95, at MINUTE. */
const FLEET = `SELECT region, sum(count) AS count, sum(sum) AS sum, round(quantileTDigestMerge(0.95)(means), 6) AS p95
  FROM ${DB}.fleet_1m WHERE metric = '${CPU}' AND ts = toDateTime(${MINUTE}) GROUP BY region ORDER BY region`
/** The same from the hosts' 1-minute rows: what the fleet rollup must equal. */
const FROM_HOSTS = `SELECT region, sum(c) AS count, sum(s) AS sum, round(quantileTDigest(0.95)(s / c), 6) AS p95 FROM (
    SELECT m.series_id, any(s.labels['region']) AS region, sum(m.count) AS c, sum(m.sum) AS s
    FROM ${DB}.samples_1m AS m ANY LEFT JOIN ${DB}.series AS s ON s.series_id = m.series_id
    WHERE m.metric = '${CPU}' AND m.ts = toDateTime(${MINUTE}) AND s.labels['cpu'] = 'total' GROUP BY m.series_id)
  GROUP BY region ORDER BY region`

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: DB }))
  await migrate(store, { retention })
  await store.client.insert({
    table: `${DB}.series`,
    format: 'JSONEachRow',
    values: [...HOSTS.map((h) => ({ ...h, cpu: 'total' })), PER_CPU].map((h) => ({
      series_id: idOf(h.host, h.region, h.cpu).toString(),
      metric: CPU,
      labels: { host: h.host, region: h.region, cpu: h.cpu },
      first_seen: MINUTE,
      last_seen: MINUTE + 60,
    })),
  })
  // One batch of raw samples, delivered twice, then its minute rolled up twice.
  const raw = [...HOSTS.map((h) => ({ ...h, cpu: 'total' })), PER_CPU].flatMap((h) =>
    h.values.map((v, i) => ({
      metric: CPU,
      series_id: idOf(h.host, h.region, h.cpu).toString(),
      ts: chTime(MINUTE * 1000 + i * 10_000 + 3),
      value: v,
    })),
  )
  for (let delivery = 0; delivery < 2; delivery++) {
    await store.client.insert({
      table: `${DB}.samples_raw`,
      format: 'JSONEachRow',
      values: raw,
      clickhouse_settings: dedup('batch-1'),
    })
  }
  for (let run = 0; run < 2; run++) await rollUpMinute(store.client, DB, MINUTE)
})

afterAll(async () => {
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('fleet_1m', () => {
  it('holds per region the hosts’ samples once, and the digest of their 1-minute means', async () => {
    const fleet = await rows(FLEET)
    expect(fleet.map((r) => [r.region, r.count, r.sum])).toEqual([
      ['eu-west', 12, 30 + 195],
      ['us-west', 18, 90 + 330 + 555],
    ])
    expect(fleet).toEqual(await rows(FROM_HOSTS))
    // Three hosts' means 15, 55, 92.5: the p95 lies between the two largest.
    const usWest = fleet.find((r) => r.region === 'us-west')?.p95 as number
    expect(usWest).toBeGreaterThan(55)
    expect(usWest).toBeLessThanOrEqual(92.5)
  })

  it('a late batch’s partial reaches it once, however often the batch is written', async () => {
    const late = idOf('b1', 'eu-west')
    for (let delivery = 0; delivery < 2; delivery++) {
      await store.client.insert({
        table: `${DB}.samples_1m`,
        format: 'JSONEachRow',
        values: [
          {
            metric: CPU,
            series_id: late.toString(),
            ts: MINUTE,
            count: 2,
            sum: 9,
            min: 4,
            max: 5,
            last: [chTime(MINUTE * 1000 + 55_000), 5],
          },
        ],
        clickhouse_settings: dedup('late-batch-7'),
      })
    }
    const fleet = await rows(FLEET)
    expect(fleet.map((r) => [r.region, r.count, r.sum])).toEqual([
      ['eu-west', 14, 234],
      ['us-west', 18, 975],
    ])
  })

  it('a migration that creates it fills it from the 1-minute rows already stored, once', async () => {
    const before = await rows(FLEET)
    // A store of the schema before fleet_1m: same 1-minute rows, no fleet table or view.
    await store.client.command({ query: `DROP VIEW ${DB}.fleet_1m_mv` })
    await store.client.command({ query: `DROP TABLE ${DB}.fleet_1m` })
    await migrate(store, { retention })
    expect(await rows(FLEET)).toEqual(before.map((r) => ({ ...r, p95: expect.any(Number) })))
    await migrate(store, { retention })
    const after = await rows(FLEET)
    expect(after.map((r) => [r.region, r.count, r.sum])).toEqual(
      before.map((r) => [r.region, r.count, r.sum]),
    )
  })
})
