import type { Labels } from '../series.js'

/** One series of a batch as the agent builds it: a name, labels and parallel timestamp/value arrays. */
export interface SeriesSamples {
  name: string
  labels: Labels
  /** Milliseconds since the Unix epoch, integers. */
  timestamps: ArrayLike<number>
  values: ArrayLike<number>
}

/** What an agent publishes: one message on `metrics.in.<agent id>`. */
export interface MetricBatch {
  /** The agent that built it; with `seq` it forms the batch id (`Nats-Msg-Id`). */
  agentId: string
  /** Increases by one per batch of this agent; survives restarts (kept in the agent's data dir). */
  seq: number
  /** When the batch was built, ms since the epoch. */
  createdMs: number
  series: SeriesSamples[]
}

/**
 * A series of a decoded batch: its samples are `[offset, offset + count)` of the batch's columns.
 * Series of one batch with the same label set share one `labels` object: never mutate it.
 */
export interface DecodedSeries {
  name: string
  labels: Labels
  offset: number
  count: number
}

/**
 * A decoded, validated batch: samples are columnar for speed. When the input was 8-byte aligned,
 * `timestamps` and `values` are views into it (they keep its buffer alive; do not reuse the input).
 */
export interface DecodedBatch {
  version: number
  agentId: string
  seq: number
  createdMs: number
  series: DecodedSeries[]
  timestamps: Float64Array
  values: Float64Array
  sampleCount: number
}

/** Limits a batch must respect; see `wireLimitsSchema` in the config for defaults. */
export interface WireLimits {
  maxBatchBytes: number
  maxSeriesPerBatch: number
  maxSamplesPerBatch: number
  maxLabelsPerSeries: number
  maxNameLength: number
  maxLabelValueLength: number
  maxFutureSkewMs: number
  maxPastAgeMs: number
}

/** The batch id used as `Nats-Msg-Id`: stable across re-sends of the same batch. */
export function batchId(agentId: string, seq: number): string {
  return `${agentId}:${seq}`
}
