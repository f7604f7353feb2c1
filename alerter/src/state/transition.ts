import type { AlertEvent, AlertState, Labels } from '@tidewatch/shared'

/**
 * What the alerter stores per alert instance (key: its fingerprint). A resolved record stays until its
 * group has notified it; then it is `closed` (kept as a tombstone so a late, redelivered event of the
 * same activation cannot bring the alert back) and swept after a while. A resolved event that finds
 * nothing to notify (no record, or a pending one) leaves a closed tombstone too: events of one alert
 * can be applied out of order (two replicas each holding a batch, a redelivery after a nak), and the
 * firing event that arrives after its own resolve must not fire for good.
 */
export interface AlertRecord {
  fingerprint: string
  rule: string
  state: AlertState
  labels: Labels
  annotations: Labels
  value: number | null
  activeSinceMs: number
  /** Event time of the last transition applied. */
  atMs: number
  /** Event time the alert started firing (this activation). */
  firedAtMs?: number
  resolvedAtMs?: number
  /** Set once the resolved alert's group has dealt with it: no longer part of any group. */
  closedAtMs?: number
}

export type Transition =
  | { kind: 'store'; record: AlertRecord }
  | {
      kind: 'ignore'
      reason: 'stale' | 'duplicate' | 'already_firing' | 'awaiting_resolved_notification'
    }

/**
 * The state change an event makes to what is stored: a pure function, unit-tested without NATS.
 * `nowMs` stamps the tombstones it creates (the sweep ages them by the alerter's clock).
 */
export function applyEvent(stored: AlertRecord | undefined, event: AlertEvent, nowMs: number): Transition {
  if (stored !== undefined) {
    if (event.atMs < stored.atMs) return { kind: 'ignore', reason: 'stale' }
    if (event.atMs === stored.atMs && event.state === stored.state)
      return { kind: 'ignore', reason: 'duplicate' }
  }
  const open = stored !== undefined && stored.closedAtMs === undefined ? stored : undefined
  const base = {
    fingerprint: event.fingerprint,
    rule: event.rule,
    labels: event.labels,
    annotations: event.annotations,
    value: event.value,
    activeSinceMs: event.activeSinceMs,
    atMs: event.atMs,
  }
  switch (event.state) {
    case 'pending':
      if (open?.state === 'firing') return { kind: 'ignore', reason: 'already_firing' }
      // A resolved alert not yet notified keeps its record: overwriting it would lose the resolved message.
      if (open?.state === 'resolved') return { kind: 'ignore', reason: 'awaiting_resolved_notification' }
      return { kind: 'store', record: { ...base, state: 'pending' } }
    case 'firing':
      // Still firing (an evaluator restarted, or the query-rule lease moved): the same alert, as
      // Alertmanager keeps one by fingerprint. A new activation time would notify it as new.
      if (open?.state === 'firing')
        return {
          kind: 'store',
          record: {
            ...base,
            state: 'firing',
            activeSinceMs: open.activeSinceMs,
            ...(open.firedAtMs !== undefined ? { firedAtMs: open.firedAtMs } : {}),
          },
        }
      return { kind: 'store', record: { ...base, state: 'firing', firedAtMs: event.atMs } }
    case 'resolved':
      if (open?.state === 'resolved') return { kind: 'ignore', reason: 'awaiting_resolved_notification' }
      if (open?.state !== 'firing') {
        // Nothing was notified (no record, a pending or a closed one): a closed tombstone, so an
        // older firing or pending event applied after this one is stale.
        return {
          kind: 'store',
          record: { ...base, state: 'resolved', resolvedAtMs: event.atMs, closedAtMs: nowMs },
        }
      }
      return {
        kind: 'store',
        record: {
          ...base,
          // Keep the activation the firing message showed.
          activeSinceMs: open.activeSinceMs,
          ...(open.firedAtMs !== undefined ? { firedAtMs: open.firedAtMs } : {}),
          state: 'resolved',
          resolvedAtMs: event.atMs,
        },
      }
  }
}
