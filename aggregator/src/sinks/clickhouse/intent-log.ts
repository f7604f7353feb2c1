import type { ClickHouseClient } from '@clickhouse/client'

/** What the log knows about the batch a stream sequence was part of. */
export interface BatchIntent {
  token: string
  seqs: number[]
  committed: boolean
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

  async recordIntent(token: string, seqs: readonly number[]): Promise<void> {
    await this.insert(token, seqs, 0)
  }

  async recordCommit(token: string, seqs: readonly number[]): Promise<void> {
    await this.insert(token, seqs, 1)
  }

  private async insert(token: string, seqs: readonly number[], committed: 0 | 1): Promise<void> {
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
      query: `SELECT token, any(seqs) AS batch_seqs, max(committed) AS committed
        FROM ${this.database}.ingest_batches
        WHERE consumer = {consumer:String} AND first_seq <= {max:UInt64} AND last_seq >= {min:UInt64}
          AND hasAny(seqs, {seqs:Array(UInt64)})
        GROUP BY token`,
      query_params: { consumer: this.consumer, min: Math.min(...seqs), max: Math.max(...seqs), seqs },
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    })
    const rows = await result.json<{ token: string; batch_seqs: number[]; committed: number }>()
    for (const row of rows) {
      const intent: BatchIntent = {
        token: row.token,
        seqs: row.batch_seqs.map(Number),
        committed: Number(row.committed) === 1,
      }
      for (const seq of intent.seqs) found.set(seq, intent)
    }
    return found
  }
}
