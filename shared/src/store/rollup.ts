import type { ClickHouseClient } from '@clickhouse/client'
import { assertDatabaseName } from './schema.js'

/**
 * The 1-minute tier is rolled up from samples_raw once per closed minute: one row per series and
 * minute, where deriving it from every insert block wrote as many 1-minute rows as raw rows (one
 * sample per series per micro-batch) and made each insert ~15x more expensive (npm run bench:insert).
 *
 * Exactly once: each minute is inserted under the token `rollup-1m:<minute>` with dependent-view
 * deduplication (samples_1h_mv), so any replica may roll any minute, any number of times. Which
 * minutes are done is recorded in ingest_batches under the consumer name `ROLLUP_LOG`, claims on
 * minutes about to be rolled up under `ROLLUP_CLAIMS`. Samples that arrive after their minute was
 * rolled up (late, replayed from an agent's spool) are written as partials straight into samples_1m
 * by the aggregator, under their batch's token. Which samples those are is agreed between batches
 * and every replica's roll-ups through the intent rows, the claims and the log
 * (aggregator/src/rollups/coordinator.ts): `checkRollup` and `readRollupFrontier` are the two reads.
 */
export const ROLLUP_LOG = 'rollup-1m'

/**
 * Claims on minutes about to be rolled up, in ingest_batches under this consumer name: a row with
 * committed = 0 when a replica claims minute `last_seq` (token `<minute>:<replica>:<id>`), a row
 * with committed = 1 under the same token when that claim is resolved (rolled up, or withdrawn).
 */
export const ROLLUP_CLAIMS = 'rollup-1m-claim'

export function rollupToken(minuteSec: number): string {
  return `${ROLLUP_LOG}:${minuteSec}`
}

/**
 * The `last` (timestamp, value) of raw samples `r`: the value at the newest timestamp. argMax costs
 * half of `max((r.ts, r.value))` (tuple comparisons were 0.3 of the roll-up's 0.55 s select of 3 M
 * samples); two samples of one series with the same timestamp keep either value, not the larger.
 */
export const LAST_OF_RAW = '(max(r.ts), argMax(r.value, r.ts))'

/** The INSERT that rolls the raw samples of whole minutes [fromSec, toSec) into samples_1m. */
export function rollupSql(database: string, fromSec: number, toSec: number): string {
  assertDatabaseName(database)
  for (const sec of [fromSec, toSec]) {
    if (!Number.isSafeInteger(sec) || sec % 60 !== 0) throw new Error(`not a minute: ${sec}`)
  }
  return `INSERT INTO ${database}.samples_1m (metric, series_id, ts, count, sum, min, max, last)
SELECT r.metric, r.series_id, toStartOfMinute(r.ts), count(), sum(r.value), min(r.value), max(r.value), ${LAST_OF_RAW}
FROM ${database}.samples_raw AS r
WHERE r.ts >= toDateTime64(${fromSec}, 3) AND r.ts < toDateTime64(${toSec}, 3)
GROUP BY r.metric, r.series_id, toStartOfMinute(r.ts)`
}

/** The INSERT that rolls the raw samples of [minuteSec, minuteSec + 60) into samples_1m. */
export function rollupMinuteSql(database: string, minuteSec: number): string {
  return rollupSql(database, minuteSec, minuteSec + 60)
}

/** Squash thresholds no minute reaches: a roll-up's whole result is one insert block. */
const ONE_BLOCK = 1e15

/**
 * Settings of a minute's roll-up INSERT. Its result is inserted as one block whatever its size, so
 * the token names exactly one block id and a repeated roll-up is a no-op however many series the
 * minute has (cut into blocks of ~1 M rows, a minute of more series left that to how the result was
 * cut on each run). The price: the store holds a minute's 1-minute rows at once (about 60 bytes a
 * series, 600 MB at 10 M series; the hash aggregation holds their states anyway).
 * Not optimize_aggregation_in_order, though it was faster (bench:insert 1.33 -> 1.19 s per 3 M
 * samples): the store derives an INSERT SELECT's block identity from the chunks the SELECT emits,
 * which in-order aggregation cuts by the raw part layout, so a re-run after a merge of samples_raw
 * inserted the minute again (migrate.int.test.ts counted every sample twice).
 */
export function rollupSettings(minuteSec: number): Record<string, string | number> {
  return {
    insert_deduplication_token: rollupToken(minuteSec),
    deduplicate_blocks_in_dependent_materialized_views: 1,
    min_insert_block_size_rows: ONE_BLOCK,
    min_insert_block_size_bytes: ONE_BLOCK,
  }
}

/** Rolls one minute up (idempotent) and records it. */
export async function rollUpMinute(
  client: ClickHouseClient,
  database: string,
  minuteSec: number,
): Promise<void> {
  await client.command({
    query: rollupMinuteSql(database, minuteSec),
    clickhouse_settings: rollupSettings(minuteSec),
  })
  await client.insert({
    table: `${database}.ingest_batches`,
    values: [
      {
        consumer: ROLLUP_LOG,
        token: rollupToken(minuteSec),
        first_seq: minuteSec,
        last_seq: minuteSec,
        seqs: [],
        committed: 1,
      },
    ],
    format: 'JSONEachRow',
  })
}

/** Rolls up every minute that starts in [fromSec, toSec). */
export async function rollUpMinutes(
  client: ClickHouseClient,
  database: string,
  fromSec: number,
  toSec: number,
): Promise<void> {
  for (let minute = Math.floor(fromSec / 60) * 60; minute < toSec; minute += 60)
    await rollUpMinute(client, database, minute)
}

/** The newest minute rolled up by anyone, or undefined when none is recorded (or the log expired). */
export async function lastRolledMinute(
  client: ClickHouseClient,
  database: string,
): Promise<number | undefined> {
  const result = await client.query({
    query: `SELECT max(last_seq) AS minute, count() AS n FROM ${database}.ingest_batches WHERE consumer = {consumer:String}`,
    query_params: { consumer: ROLLUP_LOG },
    format: 'JSONEachRow',
  })
  const row = (await result.json<{ minute: string | number; n: string | number }>())[0]
  return row === undefined || Number(row.n) === 0 ? undefined : Number(row.minute)
}

/** Records a claim on a minute (`resolved` false), or its resolution (rolled up or withdrawn). */
export async function recordRollupClaim(
  client: ClickHouseClient,
  database: string,
  minuteSec: number,
  claim: string,
  resolved: boolean,
): Promise<void> {
  await client.insert({
    table: `${database}.ingest_batches`,
    values: [
      {
        consumer: ROLLUP_CLAIMS,
        token: claim,
        first_seq: minuteSec,
        last_seq: minuteSec,
        seqs: [],
        committed: resolved ? 1 : 0,
      },
    ],
    format: 'JSONEachRow',
  })
}

/** The newest minute rolled up by anyone (undefined: none recorded), as a scalar subquery pair. */
function lastRolledColumns(database: string): string {
  return `(SELECT max(last_seq) FROM ${database}.ingest_batches WHERE consumer = {log:String}) AS rolled,
  (SELECT count() FROM ${database}.ingest_batches WHERE consumer = {log:String}) AS rolled_rows`
}

function lastRolledOf(row: { rolled: string | number; rolled_rows: string | number }): number | undefined {
  return Number(row.rolled_rows) === 0 ? undefined : Number(row.rolled)
}

export interface RollupCheck {
  /** The newest minute rolled up by anyone, or undefined when none is recorded. */
  lastRolled: number | undefined
  /** Intents neither committed nor expired that may hold on-time samples of the minute. */
  blocking: number
}

/**
 * What a replica that has claimed `minuteSec` must know before rolling it up, in one query: whether
 * someone rolled it already, and how many batches may still bring on-time samples of it. Such a
 * batch has an intent (not committed, written less than `intentExpirySec` ago) classified with a
 * watermark at or before the minute and samples reaching into it. Rows without a watermark (written
 * before intents recorded one) hold nothing back.
 */
export async function checkRollup(
  client: ClickHouseClient,
  database: string,
  minuteSec: number,
  intentExpirySec: number,
): Promise<RollupCheck> {
  const result = await client.query({
    query: `SELECT ${lastRolledColumns(database)},
  (SELECT count() FROM (
    SELECT max(committed) AS done, max(watermark_ms) AS classified, min(min_ts_ms) AS lo, max(max_ts_ms) AS hi
    FROM ${database}.ingest_batches
    WHERE consumer NOT IN ({log:String}, {claims:String}) AND created >= now() - {expiry:UInt32}
    GROUP BY consumer, token
    HAVING done = 0 AND classified > 0 AND classified <= {from:Int64} AND lo < {to:Int64} AND hi >= {from:Int64}
  )) AS blocking`,
    query_params: {
      log: ROLLUP_LOG,
      claims: ROLLUP_CLAIMS,
      expiry: Math.max(1, Math.ceil(intentExpirySec)),
      from: minuteSec * 1000,
      to: (minuteSec + 60) * 1000,
    },
    format: 'JSONEachRow',
  })
  const row = (
    await result.json<{ rolled: string | number; rolled_rows: string | number; blocking: string | number }>()
  )[0]
  if (row === undefined) throw new Error('the roll-up check returned no row')
  return { lastRolled: lastRolledOf(row), blocking: Number(row.blocking) }
}

export interface RollupFrontier {
  /** The newest minute rolled up by anyone, or undefined when none is recorded. */
  lastRolled: number | undefined
  /** Minutes in the range asked about with a claim neither resolved nor expired. */
  claimed: number[]
}

/**
 * What a batch must know to settle its watermark, in one query: the newest minute rolled up, and the
 * minutes in [fromSec, toSec] some replica has claimed and not yet rolled up or given back (claims
 * older than `claimExpirySec` are taken as given back: their replica died).
 */
export async function readRollupFrontier(
  client: ClickHouseClient,
  database: string,
  fromSec: number,
  toSec: number,
  claimExpirySec: number,
): Promise<RollupFrontier> {
  // One scan of the log and of the claims in range (a few thousand rows over the log's 2 days):
  // about 6 ms on the embedded store, where three subqueries took about 15.
  const result = await client.query({
    query: `SELECT maxIf(last_seq, consumer = {log:String}) AS rolled, countIf(consumer = {log:String}) AS rolled_rows,
  groupArrayIf((last_seq, token, committed, created >= now() - {expiry:UInt32}), consumer = {claims:String}) AS claims
FROM ${database}.ingest_batches
WHERE consumer = {log:String}
  OR (consumer = {claims:String} AND last_seq >= {from:Int64} AND last_seq <= {to:Int64})`,
    query_params: {
      log: ROLLUP_LOG,
      claims: ROLLUP_CLAIMS,
      expiry: Math.max(1, Math.ceil(claimExpirySec)),
      from: fromSec,
      to: toSec,
    },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  })
  const row = (
    await result.json<{
      rolled: string | number
      rolled_rows: string | number
      claims: Array<[number, string, number, number]>
    }>()
  )[0]
  if (row === undefined) throw new Error('the roll-up frontier query returned no row')
  // A claim is open while it has a row younger than the expiry and no resolution.
  const claims = new Map<string, { minute: number; resolved: boolean; fresh: boolean }>()
  for (const [minute, token, committed, fresh] of row.claims) {
    const claim = claims.get(token) ?? { minute: Number(minute), resolved: false, fresh: false }
    claim.resolved ||= Number(committed) === 1
    claim.fresh ||= Number(fresh) === 1
    claims.set(token, claim)
  }
  const claimed = [...claims.values()].filter((c) => !c.resolved && c.fresh).map((c) => c.minute)
  return { lastRolled: lastRolledOf(row), claimed }
}
