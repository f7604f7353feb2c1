import type { AlertEvent } from '../alerts/event.js'
import { seriesKey, type Labels } from '../series.js'
import type { DecodedBatch } from '../wire/types.js'
import { matches } from './matchers.js'
import { compare, type ThresholdRule, type Rule } from './schema.js'
import { AlertTracker, indexByMetric } from './state.js'
import { SlidingWindow } from './window.js'

/**
 * Threshold rules over samples as they arrive, in event time. Pure: no timers, no clock; time is the
 * samples' timestamps, or the `nowMs` given to `tick`.
 *
 *   batch ─► series whose metric has rules ─► matchers ─► per series: drop samples not newer than
 *   the last one (a redelivered batch changes nothing) ─► value or window aggregate ─► op threshold
 *   ─► AlertTracker (for, keep_firing_for, flapping) ─► AlertEvent transitions
 *
 * Memory per matched series: its labels, last timestamp and (with `aggregate`) one SlidingWindow of
 * fixed size. A series silent for `stale_after` is forgotten by `tick`, resolving its alert.
 */
interface SeriesState {
  labels: Labels
  lastTs: number
  window: SlidingWindow | undefined
}

interface RuleRuntime {
  rule: ThresholdRule
  tracker: AlertTracker
  series: Map<string, SeriesState>
}

export interface EvaluatorOptions {
  /** Names the evaluator in events (`source`): the aggregator or alerter id. */
  source: string
}

export class StreamingRuleEvaluator {
  private readonly byMetric: Map<string, RuleRuntime[]>
  private readonly runtimes: RuleRuntime[] = []

  /** Takes every rule and keeps the threshold ones. */
  constructor(rules: readonly Rule[], options: EvaluatorOptions) {
    for (const rule of rules) {
      if (rule.kind !== 'threshold') continue
      const runtime: RuleRuntime = {
        rule,
        tracker: new AlertTracker(rule, options.source),
        series: new Map(),
      }
      this.runtimes.push(runtime)
    }
    this.byMetric = indexByMetric(this.runtimes)
  }

  get ruleCount(): number {
    return this.runtimes.length
  }

  /** Series currently tracked, over all rules (the evaluator's memory). */
  get seriesCount(): number {
    let n = 0
    for (const runtime of this.runtimes) n += runtime.series.size
    return n
  }

  observeBatch(batch: DecodedBatch, out: AlertEvent[] = []): AlertEvent[] {
    for (const series of batch.series) {
      if (!this.byMetric.has(series.name)) continue
      this.observe(
        series.name,
        series.labels,
        batch.timestamps,
        batch.values,
        series.offset,
        series.count,
        out,
      )
    }
    return out
  }

  observeSample(
    name: string,
    labels: Labels,
    ts: number,
    value: number,
    out: AlertEvent[] = [],
  ): AlertEvent[] {
    return this.observe(name, labels, [ts], [value], 0, 1, out)
  }

  /** Samples `[offset, offset + count)` of one series. */
  observe(
    name: string,
    labels: Labels,
    timestamps: ArrayLike<number>,
    values: ArrayLike<number>,
    offset: number,
    count: number,
    out: AlertEvent[] = [],
  ): AlertEvent[] {
    const runtimes = this.byMetric.get(name)
    if (runtimes === undefined) return out
    let key: string | undefined
    for (const runtime of runtimes) {
      const { rule, tracker } = runtime
      if (!matches(rule.matchers, labels)) continue
      key ??= seriesKey(name, labels)
      let state = runtime.series.get(key)
      if (state === undefined) {
        state = {
          labels,
          lastTs: -Infinity,
          window: rule.aggregate && new SlidingWindow(rule.aggregate.windowMs),
        }
        runtime.series.set(key, state)
      }
      for (let i = offset; i < offset + count; i++) {
        const ts = timestamps[i] as number
        if (ts <= state.lastTs) continue
        state.lastTs = ts
        const sample = values[i] as number
        let value: number | null = sample
        if (state.window !== undefined && rule.aggregate !== undefined) {
          state.window.add(ts, sample)
          value = state.window.value(rule.aggregate.fn, ts)
        }
        const holds = value !== null && compare(rule.op, value, rule.threshold)
        const event = tracker.update(key, labels, holds, ts, value)
        if (event !== undefined) out.push(event)
      }
    }
    return out
  }

  /** Forgets series silent for `stale_after` at `nowMs` (resolving their alerts). */
  tick(nowMs: number, out: AlertEvent[] = []): AlertEvent[] {
    for (const runtime of this.runtimes) {
      for (const [key, state] of runtime.series) {
        if (nowMs - state.lastTs < runtime.rule.staleAfterMs) continue
        runtime.series.delete(key)
        const event = runtime.tracker.remove(key, nowMs)
        if (event !== undefined) out.push(event)
      }
      runtime.tracker.prune(nowMs)
    }
    return out
  }
}
