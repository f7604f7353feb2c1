import type { AggregateFn } from './schema.js'

/**
 * A sliding window over one series, in fixed memory: the window is cut into `buckets` equal
 * sub-windows, each holding count, sum, min, max, first/last sample and the counter increase inside
 * it. Memory is O(buckets) however dense the series. A bucket counts toward the window at `atMs`
 * while its newest sample is inside (atMs - window, atMs]; so the window edge is exact when a
 * bucket holds at most one sample (samples at least window/buckets apart: 1 s for a 1 m window), and
 * otherwise errs by at most one bucket's width of older samples.
 *
 * Samples must arrive in time order (the evaluator drops older ones).
 */
interface Bucket {
  index: number
  count: number
  sum: number
  min: number
  max: number
  firstTs: number
  lastTs: number
  lastValue: number
  /** Counter increase between samples inside this bucket (resets count from zero). */
  increaseInside: number
  /** Increase from the previous sample (in an older bucket) to this bucket's first sample. */
  increaseFromPrevious: number
}

export const DEFAULT_WINDOW_BUCKETS = 60

export class SlidingWindow {
  private readonly slots: (Bucket | undefined)[]
  private readonly widthMs: number
  private previous: { ts: number; value: number } | undefined

  constructor(
    readonly windowMs: number,
    buckets = DEFAULT_WINDOW_BUCKETS,
  ) {
    this.widthMs = Math.max(1, windowMs / buckets)
    // One spare slot: the window may straddle buckets + 1 bucket indexes.
    this.slots = new Array<Bucket | undefined>(buckets + 1).fill(undefined)
  }

  add(ts: number, value: number): void {
    const index = Math.floor(ts / this.widthMs)
    const slot = ((index % this.slots.length) + this.slots.length) % this.slots.length
    let bucket = this.slots[slot]
    const increase =
      this.previous === undefined ? 0 : value >= this.previous.value ? value - this.previous.value : value
    if (bucket === undefined || bucket.index !== index) {
      bucket = {
        index,
        count: 0,
        sum: 0,
        min: Infinity,
        max: -Infinity,
        firstTs: ts,
        lastTs: ts,
        lastValue: value,
        increaseInside: 0,
        increaseFromPrevious: increase,
      }
      this.slots[slot] = bucket
    } else {
      bucket.increaseInside += increase
    }
    bucket.count++
    bucket.sum += value
    if (value < bucket.min) bucket.min = value
    if (value > bucket.max) bucket.max = value
    bucket.lastTs = ts
    bucket.lastValue = value
    this.previous = { ts, value }
  }

  /** The aggregate over (atMs - window, atMs]; null when the window holds no sample (or, for rate, fewer than two). */
  value(fn: AggregateFn, atMs: number): number | null {
    const from = atMs - this.windowMs
    let count = 0
    let sum = 0
    let min = Infinity
    let max = -Infinity
    let increase = 0
    let oldest: Bucket | undefined
    let newestTs = -Infinity
    for (const bucket of this.slots) {
      if (bucket === undefined || bucket.lastTs <= from || bucket.firstTs > atMs) continue
      count += bucket.count
      sum += bucket.sum
      if (bucket.min < min) min = bucket.min
      if (bucket.max > max) max = bucket.max
      increase += bucket.increaseInside + bucket.increaseFromPrevious
      if (oldest === undefined || bucket.index < oldest.index) oldest = bucket
      if (bucket.lastTs > newestTs) newestTs = bucket.lastTs
    }
    if (count === 0 || oldest === undefined) return null
    switch (fn) {
      case 'avg':
        return sum / count
      case 'sum':
        return sum
      case 'count':
        return count
      case 'min':
        return min
      case 'max':
        return max
      case 'rate': {
        // Per second, between the first and the last sample in the window (no extrapolation).
        const seconds = (newestTs - oldest.firstTs) / 1000
        if (count < 2 || seconds <= 0) return null
        return (increase - oldest.increaseFromPrevious) / seconds
      }
    }
  }
}
