import type { AlertEvent } from '../alerts/event.js'
import type { Labels } from '../series.js'
import type { DecodedBatch } from '../wire/types.js'
import { AbsentEvaluator } from './absent.js'
import type { Rule } from './schema.js'
import { StreamingRuleEvaluator } from './streaming.js'

/**
 * Every streaming rule of a rule set (threshold and absent), behind one pure interface: what the
 * aggregator's rules branch and `test-rules` drive. Query rules are ignored (the alerter runs them).
 */
export class StreamingRules {
  readonly threshold: StreamingRuleEvaluator
  readonly absent: AbsentEvaluator

  constructor(rules: readonly Rule[], options: { source: string }) {
    this.threshold = new StreamingRuleEvaluator(rules, options)
    this.absent = new AbsentEvaluator(rules, options)
  }

  get ruleCount(): number {
    return this.threshold.ruleCount + this.absent.ruleCount
  }

  /** Evaluates a batch; `seenAtMs` (arrival time) is used for absent rules, see AbsentEvaluator. */
  observeBatch(batch: DecodedBatch, seenAtMs?: number): AlertEvent[] {
    this.absent.observeBatch(batch, seenAtMs)
    return this.threshold.observeBatch(batch)
  }

  observeSample(name: string, labels: Labels, ts: number, value: number): AlertEvent[] {
    this.absent.observeSample(name, labels, ts)
    return this.threshold.observeSample(name, labels, ts, value)
  }

  tick(nowMs: number): AlertEvent[] {
    const out = this.absent.tick(nowMs)
    return this.threshold.tick(nowMs, out)
  }
}
