import type { AlertEvent } from '../alerts/event.js'
import { seriesKey, type Labels } from '../series.js'
import { compare, type QueryRule, type Rule } from './schema.js'
import { AlertTracker } from './state.js'

/**
 * The pure half of query rules: rows returned by a rule's SQL -> one condition per row (its label
 * columns name the group) -> the shared state machine. A group that was alerting and is missing
 * from the next result counts as "condition does not hold". The alerter's runner does the I/O.
 */
export interface QueryCondition {
  key: string
  labels: Labels
  value: number | null
  holds: boolean
}

/** Turns result rows into conditions; a value that is not a finite number never holds (an empty avg is nan). */
export function rowsToConditions(
  rule: QueryRule,
  rows: readonly Record<string, unknown>[],
): QueryCondition[] {
  return rows.map((row) => {
    const labels: Record<string, string> = {}
    const columns = rule.labelColumns ?? Object.keys(row).filter((c) => c !== rule.valueColumn)
    for (const column of columns) {
      const cell = row[column]
      if (cell !== null && cell !== undefined)
        labels[column] = typeof cell === 'object' ? JSON.stringify(cell) : String(cell)
    }
    const raw = row[rule.valueColumn]
    const number =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
    const value = Number.isFinite(number) ? number : null
    const holds =
      value !== null &&
      (rule.op === undefined || rule.threshold === undefined || compare(rule.op, value, rule.threshold))
    return { key: seriesKey('', labels), labels, value, holds }
  })
}

export class QueryRuleEvaluator {
  private readonly trackers = new Map<string, AlertTracker>()
  readonly rules: readonly QueryRule[]

  /** Takes every rule and keeps the query ones. */
  constructor(rules: readonly Rule[], options: { source: string }) {
    this.rules = rules.filter((r): r is QueryRule => r.kind === 'query')
    for (const rule of this.rules) this.trackers.set(rule.name, new AlertTracker(rule, options.source))
  }

  /** Applies one run's rows of `rule` at `nowMs`; returns the transitions. */
  evaluate(rule: QueryRule, rows: readonly Record<string, unknown>[], nowMs: number): AlertEvent[] {
    const tracker = this.trackers.get(rule.name)
    if (tracker === undefined) throw new Error(`unknown query rule ${rule.name}`)
    const out: AlertEvent[] = []
    const present = new Set<string>()
    for (const condition of rowsToConditions(rule, rows)) {
      present.add(condition.key)
      const event = tracker.update(condition.key, condition.labels, condition.holds, nowMs, condition.value)
      if (event !== undefined) out.push(event)
    }
    for (const key of [...tracker.keys()]) {
      if (present.has(key)) continue
      const event = tracker.update(key, {}, false, nowMs, null)
      if (event !== undefined) out.push(event)
    }
    tracker.prune(nowMs)
    return out
  }
}
