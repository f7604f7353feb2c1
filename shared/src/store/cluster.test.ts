import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Session } from 'chdb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import { accessDdl, sha256Hex } from './access.js'
import { migrate, schemaDdl } from './schema.js'
import type { Store } from './store.js'

/*
 * The cluster variant of the schema and the access-control SQL: the exact statements, that
 * ClickHouse's own parser accepts every one (EXPLAIN AST in chDB: there is no Keeper or second
 * node here to run them), and that docs/DEPLOY.md shows exactly what is generated.
 */

const DEPLOY_MD = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/DEPLOY.md')
const retention = retentionSchema.parse({})
const cluster = schemaDdl('tidewatch', retention, undefined, { cluster: 'tidewatch' })
/** The example passwords docs/DEPLOY.md shows the access SQL with. */
const EXAMPLE_ACCESS = {
  database: 'tidewatch',
  writer: { password: 'example-writer-password' },
  reader: { password: 'example-reader-password' },
}

let dir: string
let session: Session
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-cluster-ddl-'))
  session = new Session(dir)
})
afterAll(() => {
  session?.close()
  rmSync(dir, { recursive: true, force: true })
})

function parses(sql: string): void {
  expect(() => session.query(`EXPLAIN AST ${sql}`, 'TSV'), sql).not.toThrow()
}

describe('schemaDdl with a cluster', () => {
  it('keeps the user-facing names, each a Distributed table over a Replicated <name>_local', () => {
    expect(cluster.map((t) => t.name)).toEqual([
      'series_local',
      'series',
      'samples_raw_local',
      'samples_raw',
      'samples_1m_local',
      'samples_1m',
      'samples_1h_local',
      'samples_1h',
      'samples_1h_mv',
      'fleet_1m_local',
      'fleet_1m',
      'fleet_1m_mv',
      'samples_range',
      'ingest_batches_local',
      'ingest_batches',
    ])
    const single = schemaDdl('tidewatch', retention).map((t) => t.name)
    expect(single.every((name) => cluster.some((t) => t.name === name))).toBe(true)
    for (const table of cluster) expect(table.create).toContain(' ON CLUSTER tidewatch')
  })

  it('generates exactly this SQL for samples_raw', () => {
    const byName = new Map(cluster.map((t) => [t.name, t]))
    expect(byName.get('samples_raw_local')?.create)
      .toBe(`CREATE TABLE IF NOT EXISTS tidewatch.samples_raw_local ON CLUSTER tidewatch
(
    metric LowCardinality(String),
    series_id UInt64 CODEC(ZSTD(1)),
    ts DateTime64(3) CODEC(Delta, ZSTD(1)),
    value Float64 CODEC(ZSTD(3))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/tidewatch/samples_raw_local', '{replica}')
PARTITION BY toDate(ts)
ORDER BY (metric, series_id, ts)
TTL toDateTime(ts) + toIntervalSecond(604800)
SETTINGS ttl_only_drop_parts = 1, replicated_deduplication_window = 10000`)
    expect(byName.get('samples_raw_local')?.ttl).toBe('toDateTime(ts) + toIntervalSecond(604800)')
    expect(byName.get('samples_raw')?.create)
      .toBe(`CREATE TABLE IF NOT EXISTS tidewatch.samples_raw ON CLUSTER tidewatch AS tidewatch.samples_raw_local
ENGINE = Distributed(tidewatch, tidewatch, samples_raw_local, series_id)`)
    expect(byName.get('samples_raw')?.ttl).toBeUndefined()
    expect(byName.get('series_local')?.create).toContain(
      "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/tidewatch/series_local', '{replica}')",
    )
    expect(byName.get('ingest_batches')?.create).toContain(
      'Distributed(tidewatch, tidewatch, ingest_batches_local, cityHash64(consumer))',
    )
  })

  it('runs the materialized view shard-locally and the range view over the Distributed tables', () => {
    const byName = new Map(cluster.map((t) => [t.name, t.create]))
    expect(byName.get('samples_1h_mv')).toContain('FROM tidewatch.samples_1m_local AS m')
    expect(byName.get('fleet_1m_mv')).toContain('TO tidewatch.fleet_1m_local')
    expect(byName.get('fleet_1m_mv')).toContain('FROM tidewatch.samples_1m_local AS m')
    expect(byName.get('fleet_1m_mv')).toContain('FROM tidewatch.series_local WHERE')
    const range = byName.get('samples_range') ?? ''
    expect(range).toMatch(/^CREATE OR REPLACE VIEW tidewatch\.samples_range ON CLUSTER tidewatch AS\n/)
    expect(range).toContain('FROM tidewatch.samples_raw AS s')
    expect(range).not.toContain('_local')
  })

  it('is accepted by ClickHouse’s parser, statement by statement', () => {
    for (const table of cluster) parses(table.create)
  })

  it('refuses a cluster name that is not an identifier', () => {
    expect(() => schemaDdl('tidewatch', retention, undefined, { cluster: "x'; DROP" })).toThrow(ConfigError)
  })

  it('migrate runs CREATE DATABASE and TTL changes ON CLUSTER, on the _local tables', async () => {
    const commands: string[] = []
    const fake = {
      kind: 'server',
      database: 'tidewatch',
      cluster: 'tidewatch',
      close: async () => undefined,
      client: {
        command: async ({ query }: { query: string }) => {
          commands.push(query)
          return {}
        },
        query: async ({ query }: { query: string }) => ({
          json: async () =>
            query.includes('merge_tree_settings')
              ? [{ n: 1 }]
              : [
                  {
                    name: 'samples_raw_local',
                    engine_full:
                      "ReplicatedMergeTree('/x', '{replica}') TTL toDateTime(ts) + toIntervalSecond(1) SETTINGS a = 1",
                  },
                ],
        }),
      },
    } as unknown as Store
    const result = await migrate(fake, { retention })
    expect(commands[0]).toBe('CREATE DATABASE IF NOT EXISTS tidewatch ON CLUSTER tidewatch')
    // The per-insert 1-minute view of earlier schemas is dropped; the minute roll-up replaced it.
    expect(commands[1]).toBe('DROP VIEW IF EXISTS tidewatch.samples_1m_mv ON CLUSTER tidewatch')
    expect(commands.slice(2, 2 + cluster.length)).toEqual(cluster.map((t) => t.create))
    expect(result.ttlChanged).toContain('samples_raw_local')
    expect(commands).toContain(
      'ALTER TABLE tidewatch.samples_raw_local ON CLUSTER tidewatch MODIFY TTL toDateTime(ts) + toIntervalSecond(604800)',
    )
    // Columns added since the first release reach the Distributed table too, after its local one.
    const added = commands.filter((c) =>
      /^ALTER TABLE tidewatch\.ingest_batches(_local)? .*ADD COLUMN/.test(c),
    )
    expect(added.map((c) => c.split(' ')[2])).toEqual([
      'tidewatch.ingest_batches_local',
      'tidewatch.ingest_batches',
    ])
  })
})

describe('accessDdl', () => {
  const single = accessDdl(EXAMPLE_ACCESS)

  it('creates a writer that may insert and read its intent log and series, and a read-only reader with limits', () => {
    expect(single).toEqual([
      'CREATE ROLE IF NOT EXISTS tidewatch_schema',
      'GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, DROP VIEW, ALTER TTL, ALTER MODIFY COLUMN, ALTER ADD COLUMN, ALTER VIEW MODIFY QUERY ON tidewatch.* TO tidewatch_schema',
      'GRANT SELECT ON tidewatch.samples_raw TO tidewatch_schema',
      'GRANT SELECT ON tidewatch.samples_1m TO tidewatch_schema',
      'GRANT SELECT ON tidewatch.samples_1h TO tidewatch_schema',
      'GRANT SELECT ON tidewatch.series TO tidewatch_schema',
      'GRANT SELECT ON tidewatch.fleet_1m TO tidewatch_schema',
      'CREATE SETTINGS PROFILE OR REPLACE tidewatch_writer',
      `CREATE USER OR REPLACE tidewatch_writer IDENTIFIED WITH sha256_hash BY '${sha256Hex('example-writer-password')}' SETTINGS PROFILE 'tidewatch_writer'`,
      'GRANT INSERT ON tidewatch.series TO tidewatch_writer',
      'GRANT INSERT ON tidewatch.samples_raw TO tidewatch_writer',
      'GRANT INSERT ON tidewatch.samples_1m TO tidewatch_writer',
      'GRANT INSERT ON tidewatch.samples_1h TO tidewatch_writer',
      'GRANT INSERT ON tidewatch.fleet_1m TO tidewatch_writer',
      'GRANT INSERT ON tidewatch.ingest_batches TO tidewatch_writer',
      'GRANT SELECT ON tidewatch.ingest_batches TO tidewatch_writer',
      'GRANT SELECT ON tidewatch.series TO tidewatch_writer',
      'GRANT tidewatch_schema TO tidewatch_writer',
      'CREATE SETTINGS PROFILE OR REPLACE tidewatch_reader SETTINGS readonly = 1, max_execution_time = 60 MAX 60 CHANGEABLE_IN_READONLY, max_memory_usage = 2147483648, max_rows_to_read = 1000000000',
      `CREATE USER OR REPLACE tidewatch_reader IDENTIFIED WITH sha256_hash BY '${sha256Hex('example-reader-password')}' SETTINGS PROFILE 'tidewatch_reader'`,
      'GRANT SELECT ON tidewatch.* TO tidewatch_reader',
    ])
    expect(single.join('\n')).not.toContain('example-writer-password')
  })

  it('in a cluster: ON CLUSTER everywhere, the _local tables granted too, foreground distributed inserts', () => {
    const statements = accessDdl({
      ...EXAMPLE_ACCESS,
      cluster: 'tidewatch',
      readerLimits: { maxRowsToRead: 5 },
    })
    expect(statements.every((sql) => sql.includes(' ON CLUSTER tidewatch'))).toBe(true)
    expect(statements).toContain(
      'GRANT ON CLUSTER tidewatch INSERT ON tidewatch.samples_raw_local TO tidewatch_writer',
    )
    expect(statements).toContain('GRANT ON CLUSTER tidewatch CLUSTER ON *.* TO tidewatch_schema')
    expect(statements).toContain(
      'CREATE SETTINGS PROFILE OR REPLACE tidewatch_writer ON CLUSTER tidewatch SETTINGS distributed_foreground_insert = 1',
    )
    expect(statements.find((sql) => sql.includes('PROFILE OR REPLACE tidewatch_reader'))).toContain(
      'max_rows_to_read = 5',
    )
  })

  it('refuses short passwords, odd names and equal users', () => {
    expect(() => accessDdl({ ...EXAMPLE_ACCESS, writer: { password: 'short' } })).toThrow(/at least 12/)
    expect(() =>
      accessDdl({ ...EXAMPLE_ACCESS, reader: { name: 'a b', password: 'example-reader-password' } }),
    ).toThrow(ConfigError)
    expect(() =>
      accessDdl({
        ...EXAMPLE_ACCESS,
        reader: { name: 'tidewatch_writer', password: 'example-reader-password' },
      }),
    ).toThrow(/must differ/)
  })

  it('is accepted by ClickHouse’s parser, single server and cluster', () => {
    for (const sql of [...single, ...accessDdl({ ...EXAMPLE_ACCESS, cluster: 'tidewatch' })]) parses(sql)
  })

  it('cannot run in chDB: its default user has no access management (so the SQL is parsed, not run, here)', () => {
    expect(() => session.query(single[0] ?? '', 'TSV')).toThrow(/ACCESS_DENIED|Not enough privileges/)
  })
})

describe('docs/DEPLOY.md', () => {
  it('shows exactly the SQL generated for a cluster named tidewatch, and for access control', () => {
    const doc = readFileSync(DEPLOY_MD, 'utf8')
    for (const table of cluster) expect(doc).toContain(`${table.create};`)
    expect(doc).toContain('CREATE DATABASE IF NOT EXISTS tidewatch ON CLUSTER tidewatch;')
    for (const sql of accessDdl(EXAMPLE_ACCESS)) expect(doc).toContain(`${sql};`)
  })
})
