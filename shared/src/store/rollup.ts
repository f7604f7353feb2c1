import type { ClickHouseClient } from '@clickhouse/client'
import { assertDatabaseName } from './schema.js'

/**
 * The 1-minute tier is rolled up from samples_raw once per closed minute: one row per series and
 * minute, where deriving it from every insert block wrote as many 1-minute rows as raw rows (one
 * sample per series per micro-batch) and made each insert ~15x more expensive (npm run bench:insert).
 *
 * Exactly once: each minute is inserted under the token `rollup-1m:<minute>` with dependent-view
 * deduplication (samples_1h_mv), so any replica may roll any minute, any number of times. Which
 * minutes are done is recorded in ingest_batches under the consumer name `ROLLUP_LOG`. Samples that
 * arrive after their minute was rolled up (late, replayed from an agent's spool) are written as
 * partials straight into samples_1m by the aggregator, under their batch's token.
 */
export const ROLLUP_LOG = 'rollup-1m'

export function rollupToken(minuteSec: number): string {
  return `${ROLLUP_LOG}:${minuteSec}`
}

/** The INSERT that rolls the raw samples of whole minutes [fromSec, toSec) into samples_1m. */
export function rollupSql(database: string, fromSec: number, toSec: number): string {
  assertDatabaseName(database)
  for (const sec of [fromSec, toSec]) {
    if (!Number.isSafeInteger(sec) || sec % 60 !== 0) throw new Error(`not a minute: ${sec}`)
  }
  return `INSERT INTO ${database}.samples_1m (metric, series_id, ts, count, sum, min, max, last)
SELECT r.metric, r.series_id, toStartOfMinute(r.ts), count(), sum(r.value), min(r.value), max(r.value), max((r.ts, r.value))
FROM ${database}.samples_raw AS r
WHERE r.ts >= toDateTime64(${fromSec}, 3) AND r.ts < toDateTime64(${toSec}, 3)
GROUP BY r.metric, r.series_id, toStartOfMinute(r.ts)`
}

/** The INSERT that rolls the raw samples of [minuteSec, minuteSec + 60) into samples_1m. */
export function rollupMinuteSql(database: string, minuteSec: number): string {
  return rollupSql(database, minuteSec, minuteSec + 60)
}

/** Rolls one minute up (idempotent) and records it. */
export async function rollUpMinute(
  client: ClickHouseClient,
  database: string,
  minuteSec: number,
): Promise<void> {
  await client.command({
    query: rollupMinuteSql(database, minuteSec),
    clickhouse_settings: {
      insert_deduplication_token: rollupToken(minuteSec),
      deduplicate_blocks_in_dependent_materialized_views: 1,
    },
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
