import { seriesKey, type Labels, type SeriesSamples } from '@tidewatch/shared'

interface OpenSeries {
  name: string
  labels: Labels
  timestamps: number[]
  values: number[]
}

export interface ChunkLimits {
  /** At most this many samples per batch (`agent.batch_max_samples`). */
  maxSamples: number
  /** At most this many series per batch (`limits.max_series_per_batch`). */
  maxSeries: number
}

/**
 * Samples gathered since the last flush, grouped by series in arrival order. Pure: no clock, no I/O.
 * `drain` cuts them into batch-sized chunks; a series larger than a batch is split across batches.
 */
export class SampleBuffer {
  private series = new Map<string, OpenSeries>()
  private count = 0

  get sampleCount(): number {
    return this.count
  }

  add(name: string, labels: Labels, value: number, timestampMs: number): void {
    const key = seriesKey(name, labels)
    let open = this.series.get(key)
    if (open === undefined) {
      open = { name, labels, timestamps: [], values: [] }
      this.series.set(key, open)
    }
    open.timestamps.push(timestampMs)
    open.values.push(value)
    this.count++
  }

  /** Empties the buffer into chunks that respect `limits`, keeping series and sample order. */
  drain(limits: ChunkLimits): SeriesSamples[][] {
    const chunks: SeriesSamples[][] = []
    let chunk: SeriesSamples[] = []
    let chunkSamples = 0
    const close = (): void => {
      if (chunk.length > 0) chunks.push(chunk)
      chunk = []
      chunkSamples = 0
    }
    for (const open of this.series.values()) {
      let from = 0
      while (from < open.values.length) {
        if (chunkSamples >= limits.maxSamples || chunk.length >= limits.maxSeries) close()
        const take = Math.min(open.values.length - from, limits.maxSamples - chunkSamples)
        chunk.push({
          name: open.name,
          labels: open.labels,
          timestamps: open.timestamps.slice(from, from + take),
          values: open.values.slice(from, from + take),
        })
        chunkSamples += take
        from += take
      }
    }
    close()
    this.series.clear()
    this.count = 0
    return chunks
  }
}
