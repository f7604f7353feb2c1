import type { ClickHouseClient } from '@clickhouse/client'
import type { SeriesRow } from './series-resolver.js'

/** Writes first-seen series to the series table. Rows merge by min/max, so writing one twice is harmless. */
export async function writeSeriesRows(
  client: ClickHouseClient,
  database: string,
  rows: readonly SeriesRow[],
): Promise<void> {
  if (rows.length === 0) return
  await client.insert({
    table: `${database}.series`,
    values: rows,
    format: 'JSONEachRow',
    clickhouse_settings: { date_time_input_format: 'best_effort', input_format_skip_unknown_fields: 0 },
  })
}
