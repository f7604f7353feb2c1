import {
  seriesIdHalves,
  seriesKey,
  uint64Text,
  U64Set,
  type DecodedBatch,
  type DecodedSeries,
  type Labels,
} from '@tidewatch/shared'

/** A row of the `series` table: how a series id maps back to its metric and labels. */
export interface SeriesRow {
  series_id: string
  metric: string
  labels: Labels
  first_seen: number
  last_seen: number
}

/**
 * Per-sample identity for one batch structure: the series id halves (little-endian UInt64 layout,
 * low word first) and the metric's dictionary index of every sample, in the batch's sample order.
 */
export interface ResolvedStructure {
  sampleIdWords: Uint32Array
  sampleMetrics: Int32Array
  /** Samples kept; undefined when all are (refused series over the cardinality limit are not). */
  keep: Uint8Array | undefined
  keptSamples: number
  refusedSeries: number
}

export interface SeriesResolverOptions {
  /** New series a metric may gain in this process; beyond it their samples are refused and counted. */
  maxSeriesPerMetric: number
}

/**
 * Turns batch structures into per-sample series ids and metric indices, once per structure: the
 * decoder hands back the same `series` array while an agent's batches keep their shape, so steady
 * traffic costs a WeakMap lookup per batch instead of hashing every series.
 */
export class SeriesResolver {
  private readonly structures = new WeakMap<readonly DecodedSeries[], ResolvedStructure>()
  private readonly metricIndex = new Map<string, number>()
  private readonly metricNames: string[] = []
  private readonly seriesPerMetric = new Map<string, number>()
  /** Series known to this process (and so written to the series table by it). */
  private readonly known = new U64Set(1 << 16)
  private refusedTotal = 0

  constructor(private readonly options: SeriesResolverOptions) {}

  /** Metric names by dictionary index, for the insert's lookup array. */
  get metrics(): readonly string[] {
    return this.metricNames
  }

  get seriesCount(): number {
    return this.known.size
  }

  /** Series refused by the cardinality limit since start. */
  get refusedSeries(): number {
    return this.refusedTotal
  }

  resolve(batch: DecodedBatch, seenSec: number, newRows: SeriesRow[]): ResolvedStructure {
    const cached = this.structures.get(batch.series)
    if (cached !== undefined) return cached
    const resolved = this.resolveStructure(batch.series, batch.sampleCount, seenSec, newRows)
    this.structures.set(batch.series, resolved)
    return resolved
  }

  private resolveStructure(
    series: readonly DecodedSeries[],
    sampleCount: number,
    seenSec: number,
    newRows: SeriesRow[],
  ): ResolvedStructure {
    const sampleIdWords = new Uint32Array(2 * sampleCount)
    const sampleMetrics = new Int32Array(sampleCount)
    let keep: Uint8Array | undefined
    let keptSamples = 0
    let refusedSeries = 0
    for (const s of series) {
      const { high, low } = seriesIdHalves(seriesKey(s.name, s.labels))
      let accepted = true
      if (!this.known.has(high, low)) {
        const count = this.seriesPerMetric.get(s.name) ?? 0
        if (count >= this.options.maxSeriesPerMetric) {
          accepted = false
        } else {
          this.known.add(high, low)
          this.seriesPerMetric.set(s.name, count + 1)
          newRows.push({
            series_id: uint64Text(high, low),
            metric: s.name,
            labels: s.labels,
            first_seen: seenSec,
            last_seen: seenSec,
          })
        }
      }
      if (!accepted) {
        refusedSeries++
        keep ??= new Uint8Array(sampleCount).fill(1)
        keep.fill(0, s.offset, s.offset + s.count)
        continue
      }
      const metric = this.metricIdOf(s.name)
      for (let i = s.offset; i < s.offset + s.count; i++) {
        sampleIdWords[2 * i] = low
        sampleIdWords[2 * i + 1] = high
        sampleMetrics[i] = metric
      }
      keptSamples += s.count
    }
    this.refusedTotal += refusedSeries
    return { sampleIdWords, sampleMetrics, keep, keptSamples, refusedSeries }
  }

  private metricIdOf(name: string): number {
    let index = this.metricIndex.get(name)
    if (index === undefined) {
      index = this.metricNames.length
      this.metricNames.push(name)
      this.metricIndex.set(name, index)
    }
    return index
  }

  /** Forget series whose rows could not be written, so a later batch writes them again. */
  forget(rows: readonly SeriesRow[]): void {
    for (const row of rows) {
      const id = BigInt(row.series_id)
      if (this.known.delete(Number(id >> 32n), Number(id & 0xffffffffn))) {
        this.seriesPerMetric.set(row.metric, (this.seriesPerMetric.get(row.metric) ?? 1) - 1)
      }
    }
  }
}
