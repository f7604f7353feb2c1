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

export function buildColumns(
  batches: readonly DecodedBatch[],
  resolver: SeriesResolver,
  seenSec: number,
): PreparedBatch {
  const newSeries: SeriesRow[] = []
  const resolved = batches.map((batch) => resolver.resolve(batch, seenSec, newSeries))
  let length = 0
  let refusedSamples = 0
  for (let b = 0; b < batches.length; b++) {
    length += resolved[b]!.keptSamples
    refusedSamples += batches[b]!.sampleCount - resolved[b]!.keptSamples
  }
  const seriesIds = new BigInt64Array(length)
  const idWords = new Uint32Array(seriesIds.buffer)
  const timestampsMs = new Float64Array(length)
  const values = new Float64Array(length)
  const metricIndex = new Int32Array(length)
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
