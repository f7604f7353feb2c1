import type { SampleColumns } from './columns.js'

/**
 * Where a micro-batch's samples go. One insert into samples_raw under the batch's deduplication
 * token; the store's materialized views derive samples_1m and samples_1h from that same insert and
 * deduplicate with it, so a re-sent batch is dropped in every tier.
 */
export interface SampleSink {
  writeSamples(token: string, columns: SampleColumns): Promise<void>
  close(): Promise<void>
}

/** Settings every sample insert carries, whatever the transport. */
export function dedupSettings(token: string): Record<string, string | number> {
  return { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 }
}

/** A string literal for SQL text: only for values the code controls or has validated (metric names, tokens). */
export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
