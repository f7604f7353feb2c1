import type { DecodedBatch } from '@tidewatch/shared'
import type { SeriesResolver, SeriesRow } from './series-resolver.js'

/**
 * One micro-batch as columns, the shape the store ingests fastest: series ids as UInt64 (written as
 * 32-bit halves into the buffer of a BigInt64Array, no BigInt per sample), timestamps in ms and values
 * as Float64, and each sample's metric as an index into `metrics`.
 */
export interface SampleColumns {
  length: number
  seriesIds: BigInt64Array
  timestampsMs: Float64Array
  values: Float64Array
  metricIndex: Int32Array
  metrics: readonly string[]
}

export interface PreparedBatch {
  columns: SampleColumns
  /** Series this process sees for the first time: rows for the series table. */
  newSeries: SeriesRow[]
  refusedSamples: number
}

type ColumnArrays = Pick<SampleColumns, 'seriesIds' | 'timestampsMs' | 'values' | 'metricIndex'>

/**
 * Column arrays kept from one micro-batch to the next. The committer builds a batch's columns, the
 * store reads them, and only then (one batch at a time) builds the next: allocating 28 bytes a
 * sample afresh each time was external memory V8 counts towards its next full garbage collection.
 * Arrays handed out are views from offset 0 of `length` elements; while a lease is out, `take`
 * allocates fresh ones, so a second caller never shares them.
 */
export class ColumnBuffers {
  private arrays: ColumnArrays = {
    seriesIds: new BigInt64Array(0),
    timestampsMs: new Float64Array(0),
    values: new Float64Array(0),
    metricIndex: new Int32Array(0),
  }
  private leased = false

  take(length: number): ColumnArrays {
    if (this.leased) return freshArrays(length)
    this.leased = true
    if (this.arrays.values.length < length)
      this.arrays = freshArrays(Math.max(length, Math.ceil(this.arrays.values.length * 1.25)))
    const { seriesIds, timestampsMs, values, metricIndex } = this.arrays
    return {
      seriesIds: new BigInt64Array(seriesIds.buffer, 0, length),
      timestampsMs: new Float64Array(timestampsMs.buffer, 0, length),
      values: new Float64Array(values.buffer, 0, length),
      metricIndex: new Int32Array(metricIndex.buffer, 0, length),
    }
  }

  /**
   * `columns`, from a `take`, are no longer read: when they are the kept arrays, the next `take` may
   * hand those out again (fresh arrays of a second lease release nothing).
   */
  release(columns: Pick<SampleColumns, 'values'>): void {
    if (columns.values.buffer === this.arrays.values.buffer) this.leased = false
  }
}

function freshArrays(length: number): ColumnArrays {
  return {
    seriesIds: new BigInt64Array(length),
    timestampsMs: new Float64Array(length),
    values: new Float64Array(length),
    metricIndex: new Int32Array(length),
  }
}

/** `buffers`: where the column arrays come from (default: fresh ones); see ColumnBuffers. */
export function buildColumns(
  batches: readonly DecodedBatch[],
  resolver: SeriesResolver,
  seenSec: number,
  buffers?: ColumnBuffers,
): PreparedBatch {
  const newSeries: SeriesRow[] = []
  const resolved = batches.map((batch) => resolver.resolve(batch, seenSec, newSeries))
  let length = 0
  let refusedSamples = 0
  for (let b = 0; b < batches.length; b++) {
    length += resolved[b]!.keptSamples
    refusedSamples += batches[b]!.sampleCount - resolved[b]!.keptSamples
  }
  const { seriesIds, timestampsMs, values, metricIndex } = buffers?.take(length) ?? freshArrays(length)
  const idWords = new Uint32Array(seriesIds.buffer, seriesIds.byteOffset, 2 * length)
  let at = 0
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b]!
    const structure = resolved[b]!
    if (structure.keep === undefined) {
      // The common case: whole columns copied at once.
      idWords.set(structure.sampleIdWords, 2 * at)
      metricIndex.set(structure.sampleMetrics, at)
      timestampsMs.set(batch.timestamps, at)
      values.set(batch.values, at)
      at += batch.sampleCount
      continue
    }
    for (let i = 0; i < batch.sampleCount; i++) {
      if (structure.keep[i] === 0) continue
      idWords[2 * at] = structure.sampleIdWords[2 * i]!
      idWords[2 * at + 1] = structure.sampleIdWords[2 * i + 1]!
      metricIndex[at] = structure.sampleMetrics[i]!
      timestampsMs[at] = batch.timestamps[i]!
      values[at] = batch.values[i]!
      at++
    }
  }
  return {
    columns: { length, seriesIds, timestampsMs, values, metricIndex, metrics: resolver.metrics },
    newSeries,
    refusedSamples,
  }
}
