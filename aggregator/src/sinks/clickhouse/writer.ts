import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import type { PreparedRows } from './rows.js'

/**
 * Writes a micro-batch's rows to the store. Every insert carries the batch's deduplication token, and
 * the 1-minute insert asks the materialized view into samples_1h to deduplicate too, so writing the
 * same batch twice (a retry, a redelivery after a crash) stores it once in every tier.
 */
export class ClickHouseSampleWriter {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
  ) {}

  async write(token: string, rows: PreparedRows): Promise<void> {
    if (rows.newSeries.length > 0) {
      // Series rows merge by min(first_seen)/max(last_seen): writing one twice is harmless.
      await this.client.insert({
        table: `${this.database}.series`,
        values: rows.newSeries,
        format: 'JSONEachRow',
        clickhouse_settings: { date_time_input_format: 'best_effort' },
      })
    }
    if (rows.rawRows > 0) {
      await this.client.insert({
        table: `${this.database}.samples_raw`,
        columns: ['metric', 'series_id', 'ts', 'value'],
        values: Readable.from([rows.rawTsv], { objectMode: false }),
        format: 'TabSeparated',
        clickhouse_settings: { insert_deduplication_token: token },
      })
    }
    if (rows.minuteRows > 0) {
      await this.client.insert({
        table: `${this.database}.samples_1m`,
        columns: ['metric', 'series_id', 'ts', 'count', 'sum', 'min', 'max', 'last'],
        values: Readable.from([rows.minuteTsv], { objectMode: false }),
        format: 'TabSeparated',
        clickhouse_settings: {
          insert_deduplication_token: token,
          deduplicate_blocks_in_dependent_materialized_views: 1,
        },
      })
    }
  }
}
