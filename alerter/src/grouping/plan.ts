import type { StoredAlert } from '../state/alert-store.js'
import type { NflogEntry } from '../state/nflog.js'
import type { AlertRecord } from '../state/transition.js'
import type { NotificationAlert } from '../notifiers/types.js'

/*
 * What a group does at a flush, as a pure function of its alerts, its notification log and the time:
 * no KV, no timers. The dispatcher reads, calls this, sends, and writes back what it returns.
 *
 *   alerts (firing / resolved, muted or not) + nflog (what was sent) + now
 *        -> notification to send (or none) + the nflog's next firing set + resolved records to close
 */

export interface GroupAlert {
  stored: StoredAlert
  /** Silenced or inhibited now. */
  muted: boolean
}

export interface FlushPlan {
  notification?: {
    kind: 'firing' | 'resolved'
    firing: NotificationAlert[]
    resolved: NotificationAlert[]
    repeat: boolean
  }
  /** The nflog's `firing` after this flush (when the notification, if any, was delivered). */
  nextFiring: Record<string, number>
  /** Whether the nflog changes even without a notification. */
  nflogChanged: boolean
  /** Resolved records this flush has dealt with: closed once the notification is recorded. */
  close: StoredAlert[]
  /** True when nothing in the group fires any more, and all of it is closed by this flush. */
  groupDone: boolean
}

export interface PlanOptions {
  nowMs: number
  repeatIntervalMs: number
  sendResolved: boolean
}

export function planFlush(
  alerts: readonly GroupAlert[],
  log: NflogEntry | undefined,
  options: PlanOptions,
): FlushPlan {
  const previous = log?.firing ?? {}
  const firing = alerts.filter((a) => a.stored.record.state === 'firing')
  const firingShown = firing.filter((a) => !a.muted)
  const resolved = alerts.filter((a) => a.stored.record.state === 'resolved')
  // A resolved message follows only a firing message: an alert never notified (muted, or resolved
  // within group_wait) resolves silently. Muted alerts are not notified at all, as in Alertmanager.
  const resolvedShown = resolved.filter(
    (a) => previous[a.stored.record.fingerprint] !== undefined && !a.muted,
  )
  const fresh = firingShown.filter(
    (a) => previous[a.stored.record.fingerprint] !== a.stored.record.activeSinceMs,
  )
  const repeatDue =
    firingShown.length > 0 && log !== undefined && options.nowMs - log.lastSentMs >= options.repeatIntervalMs

  const send = fresh.length > 0 || (options.sendResolved && resolvedShown.length > 0) || repeatDue
  const nextFiring: Record<string, number> = {}
  for (const a of firing) {
    const { fingerprint, activeSinceMs } = a.stored.record
    // Still notified (muted since: kept, so its resolved message is not lost when the mute ends first)...
    if (previous[fingerprint] === activeSinceMs) nextFiring[fingerprint] = activeSinceMs
    // ...or notified now.
    else if (send && !a.muted) nextFiring[fingerprint] = activeSinceMs
  }
  const plan: FlushPlan = {
    nextFiring,
    nflogChanged: !sameKeys(previous, nextFiring),
    close: resolved.map((a) => a.stored),
    groupDone: firing.length === 0,
  }
  if (send) {
    plan.notification = {
      kind: firingShown.length > 0 ? 'firing' : 'resolved',
      firing: firingShown.map((a) => toNotificationAlert(a.stored.record)),
      resolved: options.sendResolved ? resolvedShown.map((a) => toNotificationAlert(a.stored.record)) : [],
      repeat: fresh.length === 0 && resolvedShown.length === 0,
    }
    if (plan.notification.kind === 'resolved' && plan.notification.resolved.length === 0)
      delete plan.notification
  }
  return plan
}

function sameKeys(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key])
}

export function toNotificationAlert(record: AlertRecord): NotificationAlert {
  const alert: NotificationAlert = {
    fingerprint: record.fingerprint,
    state: record.state === 'resolved' ? 'resolved' : 'firing',
    labels: record.labels,
    annotations: record.annotations,
    value: record.value,
    activeSinceMs: record.activeSinceMs,
  }
  if (record.resolvedAtMs !== undefined) alert.resolvedAtMs = record.resolvedAtMs
  return alert
}

/** When a group flushes next: `group_wait` after it formed, then every `group_interval` after a flush. */
export function nextFlushAtMs(
  group: { createdAtMs: number; lastFlushMs: number | undefined },
  timing: { groupWaitMs: number; groupIntervalMs: number },
): number {
  return group.lastFlushMs === undefined
    ? group.createdAtMs + timing.groupWaitMs
    : group.lastFlushMs + timing.groupIntervalMs
}
