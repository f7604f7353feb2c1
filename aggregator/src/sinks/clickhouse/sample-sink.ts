import type { SampleColumns } from './columns.js'

/**
 * Where a micro-batch's samples go: one insert into samples_raw under the batch's deduplication
 * token, and, for samples older than `lateBeforeMs` (their minute is already rolled up), their
 * 1-minute partials into samples_1m under the same token (samples_1h_mv follows, deduplicating too).
 * A re-sent batch is dropped in every tier.
 */
export interface SampleSink {
  writeSamples(token: string, columns: SampleColumns, lateBeforeMs: number): Promise<void>
  close(): Promise<void>
}

/** Whether any sample's timestamp is before `lateBeforeMs`. */
export function hasLateSamples(columns: SampleColumns, lateBeforeMs: number): boolean {
  const timestamps = columns.timestampsMs
  for (let i = 0; i < columns.length; i++) if ((timestamps[i] as number) < lateBeforeMs) return true
  return false
}

/** Settings every sample insert carries, whatever the transport. */
export function dedupSettings(token: string): Record<string, string | number> {
  return { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 }
}

/** A string literal for SQL text: only for values the code controls or has validated (metric names, tokens). */
export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
