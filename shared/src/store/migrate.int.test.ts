import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema, storeSchema, type RetentionConfig } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import { lastRolledMinute, rollUpMinute, rollupMinuteSql, rollupSettings } from './rollup.js'
import { columnCodecs, migrate, normalizeCodec, schemaDdl, ttlOfEngine } from './schema.js'
import { createStore, type Store } from './store.js'

// This file's one chDB directory (one per process: the forks pool gives each test file a process).
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-migrate-test-'))
const retention = retentionSchema.parse({})
let store: Store

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: 'tw_migrate' }))
  await migrate(store, { retention })
})

afterAll(async () => {
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function text(query: string): Promise<string> {
  return (await store.client.query({ query, format: 'TabSeparatedRaw' })).text()
}

async function showCreateAll(): Promise<Map<string, string>> {
  const names = (await text(`SELECT name FROM system.tables WHERE database = 'tw_migrate' ORDER BY name`))
    .split('\n')
    .filter((name) => name !== '')
  return new Map(
    await Promise.all(
      names.map(async (name) => [name, await text(`SHOW CREATE TABLE tw_migrate.${name}`)] as const),
    ),
  )
}

const SEC = 1000
const DAY = 86_400 * SEC

describe('migrate', () => {
  it('creates every table and the view, and a second run changes nothing', async () => {
    const before = await showCreateAll()
    expect([...before.keys()]).toEqual(
      schemaDdl('tw_migrate', retention)
        .map((table) => table.name)
        .sort(),
    )
    expect([...before.keys()]).toEqual(
      expect.arrayContaining(['samples_raw', 'samples_1m', 'samples_1h', 'samples_range']),
    )
    const second = await migrate(store, { retention })
    expect(second).toEqual({ ttlChanged: [], codecChanged: [] })
    expect(await showCreateAll()).toEqual(before)
  })

  it("moves a column an older schema created to the schema's codec, once", async () => {
    const codecOf = (table: string, column: string) =>
      text(
        `SELECT compression_codec FROM system.columns WHERE database = 'tw_migrate' AND table = '${table}' AND name = '${column}'`,
      ).then((t) => t.trim())
    // The schema before raw values moved to plain ZSTD, and an older ts codec.
    await store.client.command({
      query: 'ALTER TABLE tw_migrate.samples_raw MODIFY COLUMN value CODEC(Delta, ZSTD(3))',
    })
    await store.client.command({ query: 'ALTER TABLE tw_migrate.samples_1m MODIFY COLUMN ts CODEC(LZ4)' })
    expect(await codecOf('samples_raw', 'value')).toBe('CODEC(Delta(8), ZSTD(3))')
    const changed = await migrate(store, { retention })
    expect(changed.codecChanged.sort()).toEqual(['samples_1m.ts', 'samples_raw.value'])
    expect(await codecOf('samples_raw', 'value')).toBe('CODEC(ZSTD(3))')
    expect(await codecOf('samples_1m', 'ts')).toBe('CODEC(Delta(4), ZSTD(1))')
    expect((await migrate(store, { retention })).codecChanged).toEqual([])
    // Every codec the schema declares is what the store reports, widths aside.
    for (const table of schemaDdl('tw_migrate', retention)) {
      for (const [column, codec] of columnCodecs(table.create))
        expect(normalizeCodec(await codecOf(table.name, column))).toBe(normalizeCodec(codec))
    }
    expect(
      columnCodecs(schemaDdl('tw_migrate', retention).find((t) => t.name === 'samples_raw')!.create),
    ).toEqual(
      new Map([
        ['series_id', 'CODEC(ZSTD(1))'],
        ['ts', 'CODEC(Delta, ZSTD(1))'],
        ['value', 'CODEC(ZSTD(3))'],
      ]),
    )
  })

  it('moves a samples_1h_mv an earlier version created (grouping) to the row-by-row query, in place', async () => {
    const viewQuery = () =>
      text(`SELECT as_select FROM system.tables WHERE database = 'tw_migrate' AND name = 'samples_1h_mv'`)
    // The view as releases before this one created it.
    await store.client.command({
      query: `ALTER TABLE tw_migrate.samples_1h_mv MODIFY QUERY SELECT m.metric AS metric, m.series_id AS series_id,
        toStartOfHour(m.ts) AS ts, sum(m.count) AS count, sum(m.sum) AS sum, min(m.min) AS min, max(m.max) AS max,
        max(m.last) AS last FROM tw_migrate.samples_1m AS m GROUP BY metric, series_id, ts`,
    })
    expect(await viewQuery()).toContain('GROUP BY')
    await migrate(store, { retention })
    expect(await viewQuery()).not.toContain('GROUP BY')
    // Rows of two minutes of one hour still land in the hour, merged exactly by the table.
    const hour = Math.floor((Date.now() - 2 * 3_600_000) / 3_600_000) * 3_600
    await store.client.insert({
      table: 'tw_migrate.samples_1m',
      values: [
        {
          metric: 'mv.check',
          series_id: '7',
          ts: hour,
          count: 2,
          sum: 3,
          min: 1,
          max: 2,
          last: [`${hour + 50}.000`, 2],
        },
        {
          metric: 'mv.check',
          series_id: '7',
          ts: hour + 60,
          count: 3,
          sum: 30,
          min: 5,
          max: 15,
          last: [`${hour + 70}.000`, 5],
        },
      ],
      format: 'JSONEachRow',
    })
    const row =
      await text(`SELECT sum(count), sum(sum), min(min), max(max), max(last).2 FROM tw_migrate.samples_1h
      WHERE metric = 'mv.check' AND series_id = 7 GROUP BY ts`)
    expect(row.trim()).toBe('5\t33\t1\t15\t5')
    // The next run finds nothing to change.
    await migrate(store, { retention })
    expect(await viewQuery()).not.toContain('GROUP BY')
  })

  it('gives the 7-day, 30-day and 365-day TTLs from the default retention', async () => {
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_raw')).toContain(
      'TTL toDateTime(ts) + toIntervalSecond(604800)',
    )
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_1m')).toContain(
      'TTL ts + toIntervalSecond(2592000)',
    )
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_1h')).toContain(
      'TTL ts + toIntervalSecond(31536000)',
    )
    expect(await text('SHOW CREATE TABLE tw_migrate.series')).toContain(
      'TTL last_seen + toIntervalSecond(31536000)',
    )
    expect(await text('SHOW CREATE TABLE tw_migrate.ingest_batches')).toContain(
      'TTL created + toIntervalDay(2)',
    )
    const raw = await text('SHOW CREATE TABLE tw_migrate.samples_raw')
    expect(raw).toContain('ttl_only_drop_parts = 1')
    expect(raw).toContain('non_replicated_deduplication_window = 10000')
  })

  it('moves the TTL when the retention in config changes, and back', async () => {
    const shorter: RetentionConfig = { raw: 3 * DAY, rollup_1m: 14 * DAY, rollup_1h: 90 * DAY }
    const changed = await migrate(store, { retention: shorter })
    // fleet_1m, the fleet rollup of the 1-minute tier, keeps the 1-minute retention.
    expect(changed.ttlChanged.sort()).toEqual([
      'fleet_1m',
      'samples_1h',
      'samples_1m',
      'samples_raw',
      'series',
    ])
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_raw')).toContain('toIntervalSecond(259200)')
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_1m')).toContain('toIntervalSecond(1209600)')
    expect(await text('SHOW CREATE TABLE tw_migrate.fleet_1m')).toContain('toIntervalSecond(1209600)')
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_1h')).toContain('toIntervalSecond(7776000)')
    expect((await migrate(store, { retention: shorter })).ttlChanged).toEqual([])
    expect((await migrate(store, { retention })).ttlChanged.sort()).toEqual([
      'fleet_1m',
      'samples_1h',
      'samples_1m',
      'samples_raw',
      'series',
    ])
    expect(await text('SHOW CREATE TABLE tw_migrate.samples_raw')).toContain('toIntervalSecond(604800)')
  })

  it('adds the intent stamp columns to an ingest_batches an earlier version created, keeping its rows', async () => {
    await store.client.command({ query: 'CREATE DATABASE IF NOT EXISTS tw_upgrade' })
    // The table as the release before intent stamps created it.
    await store.client.command({
      query: `CREATE TABLE tw_upgrade.ingest_batches
(
    consumer LowCardinality(String),
    token String,
    first_seq UInt64,
    last_seq UInt64,
    seqs Array(UInt64),
    committed UInt8 DEFAULT 0,
    created DateTime DEFAULT now()
)
ENGINE = MergeTree
ORDER BY (consumer, last_seq)
TTL created + toIntervalDay(2)`,
    })
    await store.client.command({
      query: `INSERT INTO tw_upgrade.ingest_batches (consumer, token, first_seq, last_seq, seqs) VALUES ('METRICS/a', 't', 1, 2, [1, 2])`,
    })
    const upgraded = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: 'tw_upgrade' }))
    await migrate(upgraded, { retention })
    await migrate(upgraded, { retention })
    expect(
      await text('SELECT token, watermark_ms, min_ts_ms, max_ts_ms FROM tw_upgrade.ingest_batches'),
    ).toBe('t\t0\t0\t0\n')
    expect(await text('SHOW CREATE TABLE tw_upgrade.ingest_batches')).toMatch(/max_ts_ms`? Int64 DEFAULT 0/)
  })

  it('rejects a bad database name or a sub-second retention before touching the store', () => {
    expect(() => schemaDdl('tw; DROP DATABASE x', retention)).toThrow(ConfigError)
    expect(() => schemaDdl('tw', { ...retention, raw: 500 })).toThrow(ConfigError)
  })

  it('reads the TTL clause out of engine_full', () => {
    expect(
      ttlOfEngine('MergeTree ORDER BY a TTL ts + toIntervalSecond(5) SETTINGS index_granularity = 8192'),
    ).toBe('ts + toIntervalSecond(5)')
    expect(ttlOfEngine('MergeTree ORDER BY a TTL ts + toIntervalSecond(5)')).toBe('ts + toIntervalSecond(5)')
    expect(ttlOfEngine('MergeTree ORDER BY a SETTINGS index_granularity = 8192')).toBeUndefined()
  })
})

describe('deduplicated inserts', () => {
  it('a redelivered raw insert and a repeated roll-up leave raw, 1m and 1h exact', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000
    const secs = (ms: number) => (ms / 1000).toFixed(3)
    const values = [1.5, 2.5, 7, -1, 4]
    const rawTsv = values
      .map((v, i) => `cpu.usage_percent\t42\t${secs(minute + i * 10_000 + 7)}\t${v}\n`)
      .join('')
    const settings = (token: string) => ({
      insert_deduplication_token: token,
      deduplicate_blocks_in_dependent_materialized_views: 1 as const,
    })
    // The same batch delivered twice, and its minute rolled up twice (two replicas, or a retry):
    // the tokens make each second write a no-op, in samples_1h_mv too.
    for (let delivery = 0; delivery < 2; delivery++) {
      await store.client.insert({
        table: 'tw_migrate.samples_raw',
        format: 'TabSeparated',
        values: Readable.from([rawTsv], { objectMode: false }),
        clickhouse_settings: settings('stream-1-5'),
      })
    }
    for (let run = 0; run < 2; run++) await rollUpMinute(store.client, 'tw_migrate', minute / 1000)
    expect(await lastRolledMinute(store.client, 'tw_migrate')).toBe(minute / 1000)
    // chDB prints UInt64 in JSON as a number, a server as a string: compare numbers
    const rows = async (query: string) =>
      (
        (await (await store.client.query({ query, format: 'JSONEachRow' })).json()) as Record<
          string,
          unknown
        >[]
      ).map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? Number(v) : v])),
      )
    expect(
      await rows('SELECT count() AS n, sum(value) AS s FROM tw_migrate.samples_raw WHERE series_id = 42'),
    ).toEqual([{ n: 5, s: 14 }])
    const rollup = `SELECT sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max, max(last).2 AS last
                    FROM tw_migrate.%s WHERE series_id = 42`
    expect(await rows(rollup.replace('%s', 'samples_1m'))).toEqual([
      { count: 5, sum: 14, min: -1, max: 7, last: 4 },
    ])
    expect(await rows(rollup.replace('%s', 'samples_1h'))).toEqual([
      { count: 5, sum: 14, min: -1, max: 7, last: 4 },
    ])
  })

  it('rolls a minute of more series than one default insert block holds up as one block, and again as a no-op', async () => {
    // 1.1 M series in one minute, in two raw parts: more 1-minute rows than min_insert_block_size_rows
    // (1,048,449), where the roll-up's result used to be cut into several blocks.
    const minuteSec = Math.floor(Date.now() / 60_000) * 60 - 30 * 60
    for (const [part, offset] of [
      [0, 7],
      [1, 31],
    ] as const)
      await store.client.command({
        query: `INSERT INTO tw_migrate.samples_raw SELECT 'big.minute', number, toDateTime64(${minuteSec + offset}, 3), number % 10
                FROM numbers(1100000)`,
        clickhouse_settings: { insert_deduplication_token: `big-${part}` },
      })
    const parts = () =>
      text(`SELECT count() FROM system.parts WHERE database = 'tw_migrate' AND table = 'samples_1m' AND active
            AND min_time <= toDateTime(${minuteSec}) AND max_time >= toDateTime(${minuteSec})`)
    const before = Number(await parts())
    await rollUpMinute(store.client, 'tw_migrate', minuteSec)
    expect(Number(await parts()) - before).toBe(1)
    // Another part layout under it (merged), and the roll-up again: the token still names its one block.
    await store.client.command({ query: 'OPTIMIZE TABLE tw_migrate.samples_raw FINAL' })
    await rollUpMinute(store.client, 'tw_migrate', minuteSec)
    // And from a replica with another core count.
    for (const maxThreads of [1, 4])
      await store.client.command({
        query: rollupMinuteSql('tw_migrate', minuteSec),
        clickhouse_settings: { ...rollupSettings(minuteSec), max_threads: maxThreads },
      })
    const totals = `SELECT sum(count), sum(sum), uniqExact(series_id) FROM tw_migrate.%s WHERE metric = 'big.minute'`
    expect((await text(totals.replace('%s', 'samples_1m'))).trim()).toBe('2200000\t9900000\t1100000')
    expect((await text(totals.replace('%s', 'samples_1h'))).trim()).toBe('2200000\t9900000\t1100000')
  })
})
