import type { Logger } from 'pino'
import type { RetentionConfig } from '../config/schema.js'
import { ConfigError, StoreError } from '../errors.js'
import { RANGE_VIEW, samplesRangeView } from './queries.js'
import type { Store } from './store.js'

/**
 * The store schema. Other components write to these tables by name and column, so names, columns
 * and types are a contract; codecs and settings are not.
 *
 *   insert ──► samples_raw      (TTL retention.raw, 7d)
 *   samples_raw ──(rollup job: each closed minute once, see rollup.ts)──► samples_1m ──► samples_1h_mv ──► samples_1h
 *   (TTL retention.rollup_1m 30d / rollup_1h 365d); late samples reach samples_1m as partials with their batch
 *   samples_1m ──► fleet_1m_mv ──► fleet_1m  (FLEET_METRICS per region and minute; TTL retention.rollup_1m)
 *   samples_range(metric, from, to, now): parameterized view reading the tier tierFor picks
 *   insert ──► series           (TTL last_seen + retention.rollup_1h)
 *   insert ──► ingest_batches   (TTL 2 days; the aggregator's intent log)
 *
 * Codecs were picked by measuring bytes per sample with codec-bench.ts (see shared/README.md, Store).
 * `non_replicated_deduplication_window` makes a plain MergeTree remember the last N insert block ids,
 * so a redelivered insert with the same `insert_deduplication_token` is skipped; the hourly table
 * needs it too or a redelivery into samples_1m double-counts the hourly tier through the view.
 */

/** Remembered insert blocks per table for deduplication (default of Replicated tables is 1,000). */
export const DEDUP_WINDOW = 10_000

/**
 * Measured winners (codec-bench.ts on bench-data.ts: 1,200 series x 24 h = 10.4 million samples as
 * the agent sends them, bytes/sample after OPTIMIZE FINAL; see shared/README.md, Store):
 *
 * - ts: Delta+ZSTD(1) 0.013 (DoubleDelta+ZSTD(1) 0.013, DoubleDelta alone 0.133, T64+ZSTD 0.65,
 *   LZ4 5.16). The agent stamps whole seconds (timestamp_precision 1s), so deltas are a constant
 *   10 s; with millisecond jitter Delta+ZSTD cost 0.57 and DoubleDelta 0.77.
 * - raw value: ZSTD(3) 1.735 (Delta+ZSTD(3) 1.830, ZSTD(1) 1.907, ZSTD(6) 1.698, ZSTD(9) 1.665,
 *   Gorilla+ZSTD(3) 2.26, FPC+ZSTD(1) 2.29, LZ4 3.23). Delta on the Float64 bits wins on counters
 *   (1.80 vs 2.07) but more than doubles the full-precision CPU percentages the agent sends
 *   (3.43 vs 2.55); ZSTD levels above 3 save 2-4 % for 2-3x the compression CPU of every merge.
 * - series_id ZSTD(1) 0.008 (LZ4 0.038).
 * - rollups keep Delta+ZSTD(3): Delta on the bits wins on sums and counts, and in the `last` tuple
 *   it halves the DateTime64 element (1-minute row 9.8 -> about 8.3 bytes).
 *
 * migrate() moves an existing table's column to these codecs (ALTER ... MODIFY COLUMN ... CODEC):
 * new parts and merges use the new codec, old parts are rewritten as they merge.
 */
const TS_CODEC = 'CODEC(Delta, ZSTD(1))'
const RAW_VALUE_CODEC = 'CODEC(ZSTD(3))'
const ROLLUP_VALUE_CODEC = 'CODEC(Delta, ZSTD(3))'
const ID_CODEC = 'CODEC(ZSTD(1))'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * What an intent row of ingest_batches says about its batch's samples, for the roll-up (see
 * aggregator/src/rollups/coordinator.ts): the watermark they were classified with (before it: late
 * partials) and their earliest and latest timestamps, all in ms; 0 on rows written before these
 * columns existed.
 */
const INTENT_STAMP_COLUMNS = [
  'watermark_ms Int64 DEFAULT 0',
  'min_ts_ms Int64 DEFAULT 0',
  'max_ts_ms Int64 DEFAULT 0',
]

export interface TableDdl {
  name: string
  /** `CREATE ... IF NOT EXISTS` statement. */
  create: string
  /** The TTL expression as ClickHouse prints it in `engine_full`, when the table has one. */
  ttl?: string
  /**
   * Columns added after the table was first released (they are in `create` too): the migration adds
   * each one, `ADD COLUMN IF NOT EXISTS`, to a table an earlier version created.
   */
  addedColumns?: string[]
  /**
   * For a materialized view whose query changed after release: true when the query an earlier
   * version created (system.tables `as_select`) is the old one. The migration then moves the view
   * to the new query in place (ALTER ... MODIFY QUERY), so no insert passes without a view.
   */
  staleQuery?: (asSelect: string) => boolean
}

/** Whole seconds of a retention in ms; retention shorter than a second is a config error. */
function retentionSeconds(ms: number, key: string): number {
  const seconds = Math.floor(ms / 1000)
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new ConfigError(
      `${key}: expected a retention of at least 1s`,
      undefined,
      key,
      'a duration >= 1s',
      `${ms}ms`,
    )
  }
  return seconds
}

export function assertDatabaseName(database: string): void {
  if (!IDENTIFIER.test(database)) {
    throw new ConfigError(
      `store.database: expected an identifier ([A-Za-z_][A-Za-z0-9_]*), found "${database}"`,
      undefined,
      'store.database',
      '[A-Za-z_][A-Za-z0-9_]*',
      database,
    )
  }
}

/**
 * Metrics the fleet rollup (fleet_1m) keeps per FLEET_LABEL value and minute: what the fleet
 * dashboards chart across every host. One series per host each, so the table is about 1/100 of
 * the hosts' 1-minute rows times (regions / hosts).
 */
export const FLEET_METRICS: readonly string[] = ['cpu.usage_percent']
/** The series label fleet_1m groups by. */
export const FLEET_LABEL = 'region'

/**
 * Which series of a fleet metric stand for a host (SQL over the series' `labels` map, named by
 * `labels`): the host's total, not the per-CPU series the cpu input adds with `per_cpu = true`,
 * which would otherwise count as hosts of their own.
 */
export function fleetSeriesCondition(labels = 'labels'): string {
  return `${labels}['cpu'] IN ('total', '')`
}

const rollupColumns = (tsType: string) => `(
    metric LowCardinality(String),
    series_id UInt64 ${ID_CODEC},
    ts ${tsType} ${TS_CODEC},
    count SimpleAggregateFunction(sum, UInt64) ${ROLLUP_VALUE_CODEC},
    sum SimpleAggregateFunction(sum, Float64) ${ROLLUP_VALUE_CODEC},
    min SimpleAggregateFunction(min, Float64) ${ROLLUP_VALUE_CODEC},
    max SimpleAggregateFunction(max, Float64) ${ROLLUP_VALUE_CODEC},
    last SimpleAggregateFunction(max, Tuple(DateTime64(3), Float64)) ${ROLLUP_VALUE_CODEC}
)`

export interface EngineFeatures {
  /**
   * ClickHouse 26.x refuses an AggregatingMergeTree column that is neither in the sorting key nor an
   * aggregate unless `allow_dimensions_outside_sorting_key = 1`; older servers do not know the
   * setting. `series.labels` is such a column, on purpose: it is a function of series_id.
   */
  allowDimensionsOutsideSortingKey: boolean
}

/** Every table and view, in creation order, for a database and a retention config. */
export function schemaDdl(
  database: string,
  retention: RetentionConfig,
  features: EngineFeatures = { allowDimensionsOutsideSortingKey: true },
  options: SchemaOptions = {},
): TableDdl[] {
  assertDatabaseName(database)
  if (options.cluster !== undefined) return clusterSchemaDdl(database, retention, features, options.cluster)
  const raw = retentionSeconds(retention.raw, 'retention.raw')
  const oneMinute = retentionSeconds(retention.rollup_1m, 'retention.rollup_1m')
  const oneHour = retentionSeconds(retention.rollup_1h, 'retention.rollup_1h')
  const db = database
  const series: TableDdl = {
    name: 'series',
    ttl: `last_seen + toIntervalSecond(${oneHour})`,
    create: `CREATE TABLE IF NOT EXISTS ${db}.series
(
    series_id UInt64,
    metric LowCardinality(String),
    labels Map(LowCardinality(String), String),
    first_seen SimpleAggregateFunction(min, DateTime),
    last_seen SimpleAggregateFunction(max, DateTime)
)
ENGINE = AggregatingMergeTree
ORDER BY (metric, series_id)
TTL last_seen + toIntervalSecond(${oneHour})${
      features.allowDimensionsOutsideSortingKey ? '\nSETTINGS allow_dimensions_outside_sorting_key = 1' : ''
    }`,
  }
  const samplesRaw: TableDdl = {
    name: 'samples_raw',
    ttl: `toDateTime(ts) + toIntervalSecond(${raw})`,
    create: `CREATE TABLE IF NOT EXISTS ${db}.samples_raw
(
    metric LowCardinality(String),
    series_id UInt64 ${ID_CODEC},
    ts DateTime64(3) ${TS_CODEC},
    value Float64 ${RAW_VALUE_CODEC}
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (metric, series_id, ts)
TTL toDateTime(ts) + toIntervalSecond(${raw})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  }
  // samples_1m and samples_1h differ only in name and retention.
  const rollupTable = (name: string, retentionSecs: number): TableDdl => ({
    name,
    ttl: `ts + toIntervalSecond(${retentionSecs})`,
    create: `CREATE TABLE IF NOT EXISTS ${db}.${name}
${rollupColumns('DateTime')}
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (metric, series_id, ts)
TTL ts + toIntervalSecond(${retentionSecs})
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  })
  const samples1m = rollupTable('samples_1m', oneMinute)
  const samples1h = rollupTable('samples_1h', oneHour)
  // Row by row, no GROUP BY: every row of a samples_1m insert block is already one series and
  // minute (the roll-up's, or a late batch's partials), and samples_1h is an AggregatingMergeTree
  // whose merges (and every query) combine the rows of one hour. Grouping them here as well was
  // 40 % of each roll-up (3 M raw samples: 1.40 -> 0.95 s without it; aggregator/src/bench/insert.ts).
  const samples1hMv: TableDdl = {
    name: 'samples_1h_mv',
    create: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.samples_1h_mv TO ${db}.samples_1h
AS SELECT
    m.metric AS metric,
    m.series_id AS series_id,
    toStartOfHour(m.ts) AS ts,
    m.count AS count,
    m.sum AS sum,
    m.min AS min,
    m.max AS max,
    m.last AS last
FROM ${db}.samples_1m AS m`,
    staleQuery: (asSelect) => /GROUP BY/i.test(asSelect),
  }
  // The fleet rollup: per metric, region and minute the samples' count and sum and a t-digest of
  // the series' 1-minute means, so a fleet chart reads regions x minutes rows (1,440 a day per
  // region) instead of every host's. Fed by each insert into samples_1m (the roll-up's minute
  // under its token, a late batch's partials under theirs): the view's block is deduplicated with
  // its source's token (deduplicate_blocks_in_dependent_materialized_views), like samples_1h_mv.
  // Count and sum merge exactly; a late partial adds its own mean to its minute's digest.
  // index_granularity 256: a digest row is ~1 KB (250 hosts), so a granule of 8,192 rows would
  // make a 1-hour read decode 8 MB.
  const fleet1m: TableDdl = {
    name: 'fleet_1m',
    ttl: `ts + toIntervalSecond(${oneMinute})`,
    create: `CREATE TABLE IF NOT EXISTS ${db}.fleet_1m
(
    metric LowCardinality(String),
    ${FLEET_LABEL} LowCardinality(String),
    ts DateTime ${TS_CODEC},
    count SimpleAggregateFunction(sum, UInt64),
    sum SimpleAggregateFunction(sum, Float64),
    means AggregateFunction(quantileTDigest, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (metric, ${FLEET_LABEL}, ts)
TTL ts + toIntervalSecond(${oneMinute})
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  }
  const fleet1mMv: TableDdl = {
    name: 'fleet_1m_mv',
    create: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.fleet_1m_mv TO ${db}.fleet_1m
AS ${fleetRollupSelect(db, 'samples_1m', 'series')}`,
  }
  const ingestBatches: TableDdl = {
    name: 'ingest_batches',
    addedColumns: INTENT_STAMP_COLUMNS,
    ttl: 'created + toIntervalDay(2)',
    create: `CREATE TABLE IF NOT EXISTS ${db}.ingest_batches
(
    consumer LowCardinality(String),
    token String,
    first_seq UInt64,
    last_seq UInt64,
    seqs Array(UInt64),
    committed UInt8 DEFAULT 0,
    created DateTime DEFAULT now(),
    ${INTENT_STAMP_COLUMNS.join(',\n    ')}
)
ENGINE = MergeTree
ORDER BY (consumer, last_seq)
TTL created + toIntervalDay(2)`,
  }
  // CREATE OR REPLACE: the view's tier guards carry the retention, so every migration rewrites it.
  const samplesRange: TableDdl = { name: RANGE_VIEW, create: samplesRangeView(db, retention) }
  return [
    series,
    samplesRaw,
    samples1m,
    samples1h,
    samples1hMv,
    fleet1m,
    fleet1mMv,
    samplesRange,
    ingestBatches,
  ]
}

/**
 * fleet_1m's rows from 1-minute rows: the view's query, and the migration's backfill. Only a
 * host's series count (fleetSeriesCondition); the series row is always written before its samples.
 * A plain INNER JOIN (the right side has one row per series): ANY INNER would keep one left row a key.
 */
function fleetRollupSelect(db: string, samples1m: string, series: string, where = ''): string {
  const metrics = FLEET_METRICS.map((m) => `'${m}'`).join(', ')
  return `SELECT
    m.metric AS metric,
    s.${FLEET_LABEL} AS ${FLEET_LABEL},
    m.ts AS ts,
    sum(m.count) AS count,
    sum(m.sum) AS sum,
    quantileTDigestState(m.sum / m.count) AS means
FROM ${db}.${samples1m} AS m
INNER JOIN (SELECT series_id, any(labels['${FLEET_LABEL}']) AS ${FLEET_LABEL} FROM ${db}.${series} WHERE metric IN (${metrics}) AND ${fleetSeriesCondition()} GROUP BY series_id) AS s ON s.series_id = m.series_id
WHERE m.metric IN (${metrics})${where}
GROUP BY metric, ${FLEET_LABEL}, ts`
}

export interface SchemaOptions {
  /** ClickHouse cluster name (config `store.cluster`): see clusterSchemaDdl. Default: none. */
  cluster?: string
}

/** ON CLUSTER, engine and setting substitutions of the cluster variant, by single-server text. */
const REPLICATED_ENGINES: Record<string, string> = {
  MergeTree: 'ReplicatedMergeTree',
  AggregatingMergeTree: 'ReplicatedAggregatingMergeTree',
}

/** How each user-facing table is sharded in the cluster variant (an integer expression of a row). */
const SHARDING_KEYS: Record<string, string> = {
  series: 'series_id',
  samples_raw: 'series_id',
  samples_1m: 'series_id',
  samples_1h: 'series_id',
  fleet_1m: `cityHash64(${FLEET_LABEL})`,
  ingest_batches: 'cityHash64(consumer)',
}

/** `<table>_local`: the per-shard table behind a Distributed table of the cluster variant. */
export const LOCAL_SUFFIX = '_local'

/**
 * The schema for a ClickHouse cluster: the same statements as one server, with
 *
 * - `ON CLUSTER <cluster>` on every statement (each node runs it through the distributed DDL queue);
 * - each table created as `<name>_local` with the Replicated variant of its engine, keyed in Keeper
 *   by `/clickhouse/tables/{shard}/<database>/<name>_local` and `{replica}` (macros every node
 *   defines), and `replicated_deduplication_window` in place of the non-replicated one;
 * - a Distributed table under the table's own name over the `_local` tables, sharded by series_id
 *   (ingest_batches by consumer), so readers and writers use the names they use on one server;
 * - the materialized views reading and writing the `_local` tables on each shard (a series stays on
 *   one shard, so its rollups are complete there), and the samples_range view reading the
 *   Distributed tables.
 *
 * Writers must insert with `distributed_foreground_insert = 1` (the writer's settings profile sets
 * it: see accessDdl) so an insert is on the shards, deduplication token included, when it returns.
 */
export function clusterSchemaDdl(
  database: string,
  retention: RetentionConfig,
  features: EngineFeatures,
  cluster: string,
): TableDdl[] {
  assertIdentifier(cluster, 'store.cluster')
  const db = database
  const single = schemaDdl(database, retention, features)
  const onCluster = ` ON CLUSTER ${cluster}`
  const local = (name: string) => `${db}.${name}${LOCAL_SUFFIX}`
  const out: TableDdl[] = []
  for (const table of single) {
    const head =
      /^(CREATE (?:TABLE IF NOT EXISTS|MATERIALIZED VIEW IF NOT EXISTS|OR REPLACE VIEW)) (\S+)/.exec(
        table.create,
      )
    if (head === null) throw new Error(`unexpected DDL for ${table.name}`)
    const [, verb, qualified] = head
    const rest = table.create.slice(head[0].length)
    if (verb === 'CREATE TABLE IF NOT EXISTS') {
      const engine = /\nENGINE = (\w+)\n/.exec(rest)?.[1] ?? ''
      const replicated = REPLICATED_ENGINES[engine]
      if (replicated === undefined) throw new Error(`no Replicated engine for ${engine} (${table.name})`)
      const body = rest
        .replace(
          `\nENGINE = ${engine}\n`,
          `\nENGINE = ${replicated}('/clickhouse/tables/{shard}/${db}/${table.name}${LOCAL_SUFFIX}', '{replica}')\n`,
        )
        .replace('non_replicated_deduplication_window', 'replicated_deduplication_window')
      out.push({
        ...table,
        name: `${table.name}${LOCAL_SUFFIX}`,
        create: `${verb} ${local(table.name)}${onCluster}${body}`,
      })
      out.push({
        name: table.name,
        // The Distributed table copies the local one's columns only when created: an upgrade adds
        // new columns to both.
        ...(table.addedColumns !== undefined ? { addedColumns: table.addedColumns } : {}),
        create: `${verb} ${qualified}${onCluster} AS ${local(table.name)}
ENGINE = Distributed(${cluster}, ${db}, ${table.name}${LOCAL_SUFFIX}, ${SHARDING_KEYS[table.name] ?? 'rand()'})`,
      })
    } else if (verb === 'CREATE MATERIALIZED VIEW IF NOT EXISTS') {
      // On each shard: from the local source to the local target.
      const body = rest.replace(
        /(TO|FROM) (\w+)\.(\w+)/g,
        (_, word: string, _db: string, name: string) => `${word} ${local(name)}`,
      )
      out.push({ ...table, create: `${verb} ${qualified}${onCluster}${body}` })
    } else {
      out.push({ ...table, create: `${verb} ${qualified}${onCluster}${rest}` })
    }
  }
  return out
}

/** Throws a ConfigError naming `key` unless `name` is a plain SQL identifier (it goes into SQL text). */
export function assertIdentifier(name: string, key: string): void {
  if (!IDENTIFIER.test(name)) {
    throw new ConfigError(
      `${key}: expected an identifier ([A-Za-z_][A-Za-z0-9_]*), found "${name}"`,
      undefined,
      key,
      '[A-Za-z_][A-Za-z0-9_]*',
      name,
    )
  }
}

export interface MigrateOptions {
  retention: RetentionConfig
  logger?: Logger
  /** Migrate on this ClickHouse cluster; default: the store's own `cluster` (config `store.cluster`). */
  cluster?: string
}

export interface MigrateResult {
  /** Tables whose TTL was changed to follow the retention config. */
  ttlChanged: string[]
  /** `table.column`s whose codec was changed to the schema's (an older schema created them). */
  codecChanged: string[]
}

/** Each column's `CODEC(...)` clause in a CREATE TABLE statement, by column name. */
export function columnCodecs(create: string): Map<string, string> {
  const codecs = new Map<string, string>()
  for (const match of create.matchAll(/^\s+(\w+) .*?(CODEC\((?:[^()]|\([^()]*\))*\)),?$/gm))
    codecs.set(match[1] as string, match[2] as string)
  return codecs
}

/**
 * A codec as comparable text: ClickHouse reports `CODEC(Delta, ZSTD(3))` as
 * `CODEC(Delta(8), ZSTD(3))` (the width it derived from the type), so widths and spaces go.
 */
export function normalizeCodec(codec: string): string {
  return codec.replace(/\s+/g, '').replace(/\b(Delta|DoubleDelta|Gorilla|T64)\(\d+\)/g, '$1')
}

async function engineFeatures(store: Store): Promise<EngineFeatures> {
  const result = await store.client.query({
    query: `SELECT count() AS n FROM system.merge_tree_settings WHERE name = 'allow_dimensions_outside_sorting_key'`,
    format: 'JSONEachRow',
  })
  const [row] = await result.json<{ n: string | number }>()
  return { allowDimensionsOutsideSortingKey: Number(row?.n ?? 0) > 0 }
}

/** The `TTL ...` clause of a table's `engine_full`, or undefined when it has none. */
export function ttlOfEngine(engineFull: string): string | undefined {
  const match = /\bTTL (.+?)(?: SETTINGS |$)/.exec(engineFull)
  return match?.[1]?.trim()
}

/**
 * Moves each view an earlier version created with an old query (TableDdl.staleQuery) to its new one;
 * `queries`: each table's `as_select` as system.tables shows it.
 */
async function updateViewQueries(
  store: Store,
  statements: readonly TableDdl[],
  queries: ReadonlyMap<string, string>,
  onCluster: string,
  log: Logger | undefined,
): Promise<void> {
  for (const view of statements) {
    const current = queries.get(view.name)
    if (view.staleQuery === undefined || current === undefined || !view.staleQuery(current)) continue
    const at = view.create.indexOf('\nAS SELECT')
    if (at < 0) throw new Error(`no AS SELECT in the DDL of ${view.name}`)
    const select = view.create.slice(at + 4)
    await store.client.command({
      query: `ALTER TABLE ${store.database}.${view.name}${onCluster} MODIFY QUERY ${select}`,
    })
    log?.info({ view: view.name }, "View query changed to the schema's.")
  }
}

async function tableExists(store: Store, db: string, name: string): Promise<boolean> {
  const result = await store.client.query({
    query: 'SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {name:String}',
    query_params: { db, name },
    format: 'JSONEachRow',
  })
  const [row] = await result.json<{ n: string | number }>()
  return Number(row?.n ?? 0) > 0
}

/**
 * Fills a just-created fleet_1m from the 1-minute rows already stored (one INSERT ... SELECT: one
 * aggregated block, so it lands whole or not at all; a failed migration leaves the table empty and
 * the next run does not refill it, see below). Exact when nothing writes samples_1m meanwhile: the
 * aggregator migrates before it starts its roll-ups and consumers; another writer inserting during
 * the backfill would have its rows counted by the view and again here. In a cluster the series
 * join would cross shards: each shard is left to its view, and older ranges show no fleet chart.
 */
async function backfillFleet(
  store: Store,
  db: string,
  cluster: string | undefined,
  log: Logger | undefined,
): Promise<void> {
  if (cluster !== undefined) {
    log?.warn('fleet_1m created empty in a cluster: the fleet charts start from now.')
    return
  }
  const started = Date.now()
  await store.client.command({
    query: `INSERT INTO ${db}.fleet_1m (metric, ${FLEET_LABEL}, ts, count, sum, means)
${fleetRollupSelect(db, 'samples_1m', 'series')}`,
  })
  log?.info({ ms: Date.now() - started }, 'fleet_1m filled from the stored 1-minute rows.')
}

/**
 * Creates the database, tables and view when missing, and moves each table's TTL to the configured
 * retention when it differs. Safe to run on every start and from several processes.
 */
export async function migrate(store: Store, options: MigrateOptions): Promise<MigrateResult> {
  const cluster = options.cluster ?? store.cluster
  const schemaOptions: SchemaOptions = cluster !== undefined ? { cluster } : {}
  // Validates names and retention (ConfigError) before touching the store.
  schemaDdl(store.database, options.retention, undefined, schemaOptions)
  const log = options.logger?.child({ component: 'store-migrate' })
  const db = store.database
  const onCluster = cluster !== undefined ? ` ON CLUSTER ${cluster}` : ''
  const ttlChanged: string[] = []
  const codecChanged: string[] = []
  try {
    const features = await engineFeatures(store)
    const statements = schemaDdl(db, options.retention, features, schemaOptions)
    await store.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}${onCluster}` })
    // Earlier schemas derived samples_1m from every raw insert block through this view; the rollup
    // job replaced it (one 1-minute row per series and minute instead of one per insert).
    await store.client.command({ query: `DROP VIEW IF EXISTS ${db}.samples_1m_mv${onCluster}` })
    const fleetExisted = await tableExists(store, db, 'fleet_1m')
    for (const table of statements) await store.client.command({ query: table.create })
    for (const table of statements) {
      if (table.addedColumns === undefined) continue
      const columns = table.addedColumns.map((column) => `ADD COLUMN IF NOT EXISTS ${column}`)
      await store.client.command({
        query: `ALTER TABLE ${db}.${table.name}${onCluster} ${columns.join(', ')}`,
      })
    }
    if (!fleetExisted) await backfillFleet(store, db, cluster, log)
    const result = await store.client.query({
      query: 'SELECT name, engine_full, as_select FROM system.tables WHERE database = {db:String}',
      query_params: { db },
      format: 'JSONEachRow',
    })
    const tables = await result.json<{ name: string; engine_full: string; as_select: string }>()
    const engines = new Map(tables.map((t) => [t.name, t.engine_full]))
    await updateViewQueries(
      store,
      statements,
      new Map(tables.map((t) => [t.name, t.as_select])),
      onCluster,
      log,
    )
    for (const table of statements) {
      if (table.ttl === undefined) continue
      const current = ttlOfEngine(engines.get(table.name) ?? '')
      if (current === table.ttl) continue
      await store.client.command({
        query: `ALTER TABLE ${db}.${table.name}${onCluster} MODIFY TTL ${table.ttl}`,
      })
      ttlChanged.push(table.name)
      log?.info(
        { table: table.name, from: current, to: table.ttl },
        'Table TTL changed to follow the retention config.',
      )
    }
    // Tables an older schema created keep their codecs until told: move each column to the
    // schema's codec (new parts and merges write it; old parts are rewritten as they merge).
    const columns = await store.client.query({
      query:
        'SELECT table, name, compression_codec AS codec FROM system.columns WHERE database = {db:String}',
      query_params: { db },
      format: 'JSONEachRow',
    })
    const current = new Map(
      (await columns.json<{ table: string; name: string; codec: string }>()).map((c) => [
        `${c.table}.${c.name}`,
        c.codec,
      ]),
    )
    for (const table of statements) {
      for (const [column, codec] of columnCodecs(table.create)) {
        const key = `${table.name}.${column}`
        const from = current.get(key)
        if (from === undefined || normalizeCodec(from) === normalizeCodec(codec)) continue
        await store.client.command({
          query: `ALTER TABLE ${db}.${table.name}${onCluster} MODIFY COLUMN ${column} ${codec}`,
        })
        codecChanged.push(key)
        log?.info({ table: table.name, column, from, to: codec }, "Column codec changed to the schema's.")
      }
    }
  } catch (error) {
    throw new StoreError(
      `migration of database ${db} failed: ${(error as Error).message}`,
      'STORE_MIGRATION_FAILED',
      false,
      {
        cause: error,
      },
    )
  }
  return { ttlChanged, codecChanged }
}
