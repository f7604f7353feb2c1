/**
 * One-minute partial rollups: pure functions over plain data, no clock, no I/O.
 * A partial is mergeable: several partials of the same series and minute (late samples, other
 * replicas, other micro-batches) combine by sum/min/max/latest, which is what samples_1m's
 * AggregatingMergeTree does when parts merge.
 */
export interface MinutePartial {
  metric: string
  seriesId: string
  /** Start of the minute, seconds since the epoch. */
  minuteSec: number
  count: number
  sum: number
  min: number
  max: number
  /**
   * Timestamp (ms) and value of the latest sample; ties keep the larger value, as the late partials'
   * max(tuple) does (the minute roll-up from raw, argMax, keeps either on a tie: rollup.ts).
   */
  lastMs: number
  lastValue: number
}

export type MinuteRollup = Map<string, MinutePartial>

export function createMinuteRollup(): MinuteRollup {
  return new Map()
}

/** Event time decides the minute: a sample lands where its timestamp says, however late it arrives. */
export function minuteOf(timestampMs: number): number {
  return Math.floor(timestampMs / 60_000) * 60
}

export function recordSample(
  rollup: MinuteRollup,
  metric: string,
  seriesId: string,
  timestampMs: number,
  value: number,
): void {
  const minuteSec = minuteOf(timestampMs)
  const key = seriesId + '@' + minuteSec
  const partial = rollup.get(key)
  if (partial === undefined) {
    rollup.set(key, {
      metric,
      seriesId,
      minuteSec,
      count: 1,
      sum: value,
      min: value,
      max: value,
      lastMs: timestampMs,
      lastValue: value,
    })
    return
  }
  partial.count += 1
  partial.sum += value
  if (value < partial.min) partial.min = value
  if (value > partial.max) partial.max = value
  if (timestampMs > partial.lastMs || (timestampMs === partial.lastMs && value > partial.lastValue)) {
    partial.lastMs = timestampMs
    partial.lastValue = value
  }
}

/** Merges two partials of the same series and minute; the same rule the store applies on merge. */
export function mergePartials(a: MinutePartial, b: MinutePartial): MinutePartial {
  const bIsLater = b.lastMs > a.lastMs || (b.lastMs === a.lastMs && b.lastValue > a.lastValue)
  return {
    metric: a.metric,
    seriesId: a.seriesId,
    minuteSec: a.minuteSec,
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    lastMs: bIsLater ? b.lastMs : a.lastMs,
    lastValue: bIsLater ? b.lastValue : a.lastValue,
  }
}
