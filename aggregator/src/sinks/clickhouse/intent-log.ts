import type { ClickHouseClient } from '@clickhouse/client'

/** What the log knows about the batch a stream sequence was part of. */
export interface BatchIntent {
  token: string
  seqs: number[]
  committed: boolean
  /** The roll-up watermark its samples were classified with, ms (0: not recorded, an older row). */
  watermarkMs: number
}

/** What an intent row says about its batch's samples, for the roll-up (rollups/coordinator.ts). */
export interface IntentStamp {
  /** Samples before this (ms) are written as late 1-minute partials, the others raw only. */
  watermarkMs: number
  /** Earliest and latest sample timestamps, ms (0 and 0 for a batch without samples). */
  minTsMs: number
  maxTsMs: number
}

/**
 * The aggregator's intent log, in the store beside the data (table ingest_batches).
 *
 * Deduplication tokens only protect a batch that is re-sent with the same token and the same
 * messages. After a crash, JetStream redelivers unacked messages in whatever grouping it likes, so
 * the aggregator first records which stream sequences a token covers (intent), then writes the data,
 * then records the commit, then acks. A redelivered message whose batch is committed is only acked;
 * one whose batch is not is re-sent as exactly that batch under the same token, so the store drops
 * whatever part of it had already landed.
 */
export class IntentLog {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
    private readonly consumer: string,
  ) {}

  /** Records (or, with a raised watermark, rewrites or renews) the intent: a row with committed = 0. */
  async recordIntent(token: string, seqs: readonly number[], stamp: IntentStamp): Promise<void> {
    await this.insert(token, seqs, 0, stamp)
  }

  async recordCommit(token: string, seqs: readonly number[], stamp: IntentStamp): Promise<void> {
    await this.insert(token, seqs, 1, stamp)
  }

  private async insert(
    token: string,
    seqs: readonly number[],
    committed: 0 | 1,
    stamp: IntentStamp,
  ): Promise<void> {
    await this.client.insert({
      table: `${this.database}.ingest_batches`,
      values: [
        {
          consumer: this.consumer,
          token,
          first_seq: Math.min(...seqs),
          last_seq: Math.max(...seqs),
          seqs,
          committed,
          watermark_ms: Math.floor(stamp.watermarkMs),
          min_ts_ms: Math.floor(stamp.minTsMs),
          max_ts_ms: Math.floor(stamp.maxTsMs),
        },
      ],
      format: 'JSONEachRow',
      // A column missing from the table must fail loudly, not be dropped.
      clickhouse_settings: { input_format_skip_unknown_fields: 0 },
    })
  }

  /** Intents covering any of `seqs`, keyed by sequence. */
  async lookup(seqs: readonly number[]): Promise<Map<number, BatchIntent>> {
    const found = new Map<number, BatchIntent>()
    if (seqs.length === 0) return found
    const result = await this.client.query({
      // The alias must not be `seqs`: a ClickHouse server resolves `seqs` in WHERE to the alias, an
      // aggregate there (code 184), where chDB in-process happened to take the column.
      query: `SELECT token, any(seqs) AS batch_seqs, max(committed) AS committed, max(watermark_ms) AS classified
        FROM ${this.database}.ingest_batches
        WHERE consumer = {consumer:String} AND first_seq <= {max:UInt64} AND last_seq >= {min:UInt64}
          AND hasAny(seqs, {seqs:Array(UInt64)})
        GROUP BY token`,
      query_params: { consumer: this.consumer, min: Math.min(...seqs), max: Math.max(...seqs), seqs },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
    const rows = await result.json<{
      token: string
      batch_seqs: number[]
      committed: number
      classified: number
    }>()
    for (const row of rows) {
      const intent: BatchIntent = {
        token: row.token,
        seqs: row.batch_seqs.map(Number),
        committed: Number(row.committed) === 1,
        watermarkMs: Number(row.classified),
      }
      for (const seq of intent.seqs) found.set(seq, intent)
    }
    return found
  }
}
