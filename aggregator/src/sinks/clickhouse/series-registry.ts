import { seriesIdOfKey, seriesKey, type Labels } from '@tidewatch/shared'

/** A row of the `series` table: how a series id maps back to its metric and labels. */
export interface SeriesRow {
  series_id: string
  metric: string
  labels: Labels
  first_seen: number
  last_seen: number
}

/**
 * Maps (metric, labels) to series ids and remembers which series this process has already written to
 * the `series` table, so a series row is written once per process instead of once per sample.
 */
export class SeriesRegistry {
  private readonly idsByKey = new Map<string, string>()
  private readonly written = new Set<string>()

  /** The series id, plus the row to write when this process has not written the series yet. */
  resolve(metric: string, labels: Labels, seenSec: number): { id: string; newRow: SeriesRow | undefined } {
    const key = seriesKey(metric, labels)
    let id = this.idsByKey.get(key)
    if (id === undefined) {
      id = seriesIdOfKey(key)
      this.idsByKey.set(key, id)
    }
    if (this.written.has(id)) return { id, newRow: undefined }
    this.written.add(id)
    return { id, newRow: { series_id: id, metric, labels, first_seen: seenSec, last_seen: seenSec } }
  }

  /** Forget rows whose insert failed for good, so a later batch writes them again. */
  forget(rows: readonly SeriesRow[]): void {
    for (const row of rows) this.written.delete(row.series_id)
  }

  get size(): number {
    return this.idsByKey.size
  }
}
