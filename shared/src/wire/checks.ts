import type { WireLimitsConfig } from '../config/schema.js'
import { WireError } from '../errors.js'
import { MAX_AGENT_ID_BYTES, quote, utf8Length } from './format.js'
import type { MetricBatch, WireLimits } from './types.js'

/**
 * The rules a batch must follow, written once: `decodeBatch` (the aggregator, the authority) and
 * `validateBatch` (the agent, before it sends) both call these functions. Each failure throws a
 * `WireError` whose `reason` is stable and whose detail names the series, label or sample.
 */

/** Prometheus' metric name syntax, plus dots (`cpu.usage`). */
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:.]*$/
/** Prometheus' label name syntax; names starting with `__` are reserved and rejected separately. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
/** Dot-separated tokens safe in a NATS subject (`metrics.in.<agent id>`): no spaces, `*`, `>`, empty tokens. */
const AGENT_ID = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/

/** Turns the `[limits]` table of a component's config (durations already in ms) into `WireLimits`. */
export function limitsFromConfig(cfg: WireLimitsConfig): WireLimits {
  return {
    maxBatchBytes: cfg.max_batch_bytes,
    maxSeriesPerBatch: cfg.max_series_per_batch,
    maxSamplesPerBatch: cfg.max_samples_per_batch,
    maxLabelsPerSeries: cfg.max_labels_per_series,
    maxNameLength: cfg.max_name_length,
    maxLabelValueLength: cfg.max_label_value_length,
    maxFutureSkewMs: cfg.max_future_skew,
    maxPastAgeMs: cfg.max_past_age,
  }
}

/** The encoded size; `decodeBatch` checks it before reading a byte, the agent after `encodeBatch`. */
export function checkBatchBytes(byteLength: number, limits: WireLimits): void {
  if (byteLength > limits.maxBatchBytes) {
    throw new WireError('batch_too_large', `batch is ${byteLength} bytes, limit is ${limits.maxBatchBytes}`)
  }
}

export function checkAgentId(agentId: string): void {
  if (agentId.length === 0 || agentId.length > MAX_AGENT_ID_BYTES || !AGENT_ID.test(agentId)) {
    throw new WireError(
      'bad_agent_id',
      `agent id ${quote(agentId)} must be 1-${MAX_AGENT_ID_BYTES} characters of [A-Za-z0-9_-] in dot-separated tokens`,
    )
  }
}

export function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new WireError('bad_seq', `seq ${seq} must be a non-negative safe integer`)
  }
}

export function checkCreatedMs(createdMs: number): void {
  if (!Number.isSafeInteger(createdMs) || createdMs < 0) {
    throw new WireError(
      'bad_timestamp',
      `createdMs ${createdMs} must be a non-negative integer of milliseconds`,
    )
  }
}

export function checkSeriesCount(count: number, limits: WireLimits): void {
  if (count > limits.maxSeriesPerBatch) {
    throw new WireError('too_many_series', `batch has ${count} series, limit is ${limits.maxSeriesPerBatch}`)
  }
}

export function checkSampleCount(count: number, limits: WireLimits): void {
  if (count > limits.maxSamplesPerBatch) {
    throw new WireError(
      'too_many_samples',
      `batch has ${count} samples or more, limit is ${limits.maxSamplesPerBatch}`,
    )
  }
}

export function checkMetricName(name: string, limits: WireLimits, series: number): void {
  if (name.length === 0 || name.length > limits.maxNameLength || !METRIC_NAME.test(name)) {
    throw new WireError(
      'bad_metric_name',
      `series ${series}: metric name ${quote(name)} must match [a-zA-Z_:][a-zA-Z0-9_:.]* and be at most ${limits.maxNameLength} characters`,
    )
  }
}

export function checkLabelCount(count: number, limits: WireLimits, series: number, metric: string): void {
  if (count > limits.maxLabelsPerSeries) {
    throw new WireError(
      'too_many_labels',
      `series ${series} (${quote(metric)}): ${count} labels, limit is ${limits.maxLabelsPerSeries}`,
    )
  }
}

export function checkLabelName(name: string, limits: WireLimits, series: number, metric: string): void {
  if (
    name.length === 0 ||
    name.length > limits.maxNameLength ||
    !LABEL_NAME.test(name) ||
    name.startsWith('__')
  ) {
    throw new WireError(
      'bad_label_name',
      `series ${series} (${quote(metric)}): label name ${quote(name)} must match [a-zA-Z_][a-zA-Z0-9_]*, not start with "__" and be at most ${limits.maxNameLength} characters`,
    )
  }
}

/** Label values are limited in UTF-8 bytes: what the decoder sees without decoding and what the store holds. */
export function checkLabelValueBytes(
  byteLength: number,
  limits: WireLimits,
  series: number,
  metric: string,
  label: string,
): void {
  if (byteLength > limits.maxLabelValueLength) {
    throw new WireError(
      'label_value_too_long',
      `series ${series} (${quote(metric)}): value of label ${quote(label)} is ${byteLength} UTF-8 bytes, limit is ${limits.maxLabelValueLength}`,
    )
  }
}

export function duplicateLabel(series: number, metric: string, label: string): WireError {
  return new WireError(
    'duplicate_label',
    `series ${series} (${quote(metric)}): label ${quote(label)} appears twice`,
  )
}

/** A series without samples carries nothing; rejecting it keeps `count >= 1` true downstream. */
export function checkSeriesSampleCount(count: number, series: number, metric: string): void {
  if (count === 0) throw new WireError('empty_series', `series ${series} (${quote(metric)}) has no samples`)
}

/**
 * Every sample of `[from, to)`: the timestamp an integer within `[now - maxPastAgeMs, now +
 * maxFutureSkewMs]` (both ends included), the value finite (NaN and +-Infinity are rejected, so
 * Prometheus-style NaN staleness markers do not pass). `locate(i)` names sample `i` in an error.
 */
export function checkSamples(
  timestamps: ArrayLike<number>,
  values: ArrayLike<number>,
  from: number,
  to: number,
  limits: WireLimits,
  nowMs: number,
  locate: (index: number) => string,
): void {
  const oldest = nowMs - limits.maxPastAgeMs
  const newest = nowMs + limits.maxFutureSkewMs
  for (let i = from; i < to; i++) {
    const t = timestamps[i] as number
    // One comparison chain for the common case; NaN fails it too.
    if (!(t >= oldest && t <= newest && Math.floor(t) === t))
      throw timestampError(t, oldest, newest, locate(i))
    const v = values[i] as number
    // v - v is 0 for every finite number and NaN for NaN and +-Infinity.
    if (v - v !== 0) throw new WireError('non_finite_value', `${locate(i)}: value ${v} is not finite`)
  }
}

function timestampError(t: number, oldest: number, newest: number, where: string): WireError {
  if (!Number.isInteger(t)) {
    return new WireError('bad_timestamp', `${where}: timestamp ${t} is not an integer of milliseconds`)
  }
  return t < oldest
    ? new WireError('timestamp_too_old', `${where}: timestamp ${t} is before now - maxPastAgeMs (${oldest})`)
    : new WireError(
        'timestamp_too_new',
        `${where}: timestamp ${t} is after now + maxFutureSkewMs (${newest})`,
      )
}

/**
 * What the agent runs before it sends: every rule `decodeBatch` applies, on the batch as built, except
 * the byte size (known only once encoded: call `checkBatchBytes(bytes.byteLength, limits)` after
 * `encodeBatch`). Throws `WireError` on the first violation.
 */
export function validateBatch(batch: MetricBatch, limits: WireLimits, nowMs: number): void {
  checkAgentId(batch.agentId)
  checkSeq(batch.seq)
  checkCreatedMs(batch.createdMs)
  const all = batch.series
  checkSeriesCount(all.length, limits)
  let samples = 0
  for (let s = 0; s < all.length; s++) {
    const series = all[s]!
    const metric = series.name
    checkMetricName(metric, limits, s)
    const names = Object.keys(series.labels)
    checkLabelCount(names.length, limits, s, metric)
    for (const name of names) {
      checkLabelName(name, limits, s, metric)
      const value = series.labels[name]!
      const bytes = utf8Length(value)
      if (bytes < 0) throw loneSurrogate(`series ${s} (${quote(metric)}): value of label ${quote(name)}`)
      checkLabelValueBytes(bytes, limits, s, metric, name)
    }
    const count = checkParallelColumns(series.timestamps.length, series.values.length, s, metric)
    checkSeriesSampleCount(count, s, metric)
    samples += count
    checkSampleCount(samples, limits)
    checkSamples(series.timestamps, series.values, 0, count, limits, nowMs, (i) => sampleName(s, metric, i))
  }
}

export function checkParallelColumns(
  timestamps: number,
  values: number,
  series: number,
  metric: string,
): number {
  if (timestamps !== values) {
    throw new WireError(
      'sample_count_mismatch',
      `series ${series} (${quote(metric)}) has ${timestamps} timestamps but ${values} values`,
    )
  }
  return timestamps
}

export function loneSurrogate(what: string): WireError {
  return new WireError('bad_utf8', `${what} holds a lone UTF-16 surrogate, which UTF-8 cannot carry`)
}

export function sampleName(series: number, metric: string, sample: number): string {
  return `series ${series} (${quote(metric)}) sample ${sample}`
}
