import { seriesIdOfKey, seriesKey, type Labels } from '../series.js'

/**
 * Alert events: what rule evaluators (streaming rules in the aggregator, query rules in the alerter)
 * publish on the ALERTS stream, and what the alerter turns into state and notifications.
 *
 * Subject: `alerts.events.<rule name>`; JetStream message id: `alertEventId(event)`, so an evaluator
 * that re-publishes a transition after a crash does not create a second event.
 */
export type AlertState = 'pending' | 'firing' | 'resolved'

export type AlertRuleKind = 'threshold' | 'absent' | 'query'

export interface AlertEvent {
  /** Format version of this object; a consumer refuses versions it does not know. */
  v: 1
  /** Stable identity of one alert instance: hash of the rule name and the alert's labels. */
  fingerprint: string
  rule: string
  ruleKind: AlertRuleKind
  state: AlertState
  /** `alertname`, `severity` and the rule's labels, plus the labels of the series (or group) that triggered it. */
  labels: Labels
  /** Rendered templates: `summary`, `description`, `runbook_url`, and any others the rule defines. */
  annotations: Labels
  /** The value that crossed (or, when resolved, the last value seen); null for absent-data alerts. */
  value: number | null
  /** Event time (ms) when the condition started to hold: the start of `pending`. */
  activeSinceMs: number
  /** Event time (ms) of this transition. */
  atMs: number
  /** Which evaluator produced it (aggregator id or alerter id), for debugging. */
  source: string
}

export const ALERT_SUBJECT_PREFIX = 'alerts.events'

/** The JetStream message id of an event: one per transition of one alert instance. */
export function alertEventId(event: AlertEvent): string {
  return `${event.fingerprint}:${event.state}:${event.activeSinceMs}:${event.atMs}`
}

export function alertSubject(event: AlertEvent): string {
  return `${ALERT_SUBJECT_PREFIX}.${event.rule.replace(/[^A-Za-z0-9_-]/g, '_')}`
}

/** The fingerprint of an alert instance: the series-id hash over the rule name and the alert's labels. */
export function alertFingerprint(rule: string, labels: Labels): string {
  return seriesIdOfKey(seriesKey(rule, labels))
}
