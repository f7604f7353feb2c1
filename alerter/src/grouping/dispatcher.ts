import { createHash } from 'node:crypto'
import type { Clock, Labels, Logger } from '@tidewatch/shared'
import { NotifyError } from '../errors.js'
import { isInhibited, type InhibitRule } from '../inhibition/inhibitor.js'
import type { LeaseResult } from '../leases/leases.js'
import type { Notification, Notifier, SendResult } from '../notifiers/types.js'
import { groupLabels, routesFor, type Route, type RouteTree } from '../routing/route.js'
import type { StoredAlert } from '../state/alert-store.js'
import type { NflogEntry, StoredNflog } from '../state/nflog.js'
import type { TimerHandle, Timers } from '../timers.js'
import { nextFlushAtMs, planFlush, type GroupAlert } from './plan.js'

/*
 * The dispatcher: alert state in, notifications out. It runs in every replica, fed by the KV watch
 * of alert records (so every replica sees every alert), and reacts to events, not to a poll:
 *
 *   KV watch ──► onAlert ──► routes ──► groups (per route and group labels)
 *                                         │ timer: group_wait, then group_interval
 *                                         ▼
 *                 flush: lease? ─no─► retry when the holder's lease would lapse
 *                          │yes
 *                          ▼
 *                 nflog get ─► planFlush (pure) ─► notifier.send (retry: 429/5xx/network)
 *                          ─► nflog put ─► close resolved records ─► (group done: release lease)
 */

export interface DispatcherLeases {
  acquire(key: string): Promise<LeaseResult>
  holds(key: string, marginMs?: number): boolean
  release(key: string): Promise<void>
}

export interface DispatcherNflog {
  get(key: string): Promise<StoredNflog | undefined>
  put(key: string, entry: NflogEntry, previous: StoredNflog | undefined): Promise<'stored' | 'conflict'>
  delete(key: string, previous: StoredNflog): Promise<void>
}

export interface DispatcherDeps {
  routes: RouteTree
  inhibitRules: readonly InhibitRule[]
  silences: { isSilenced(labels: Labels, nowMs: number): boolean }
  leases: DispatcherLeases
  nflog: DispatcherNflog
  store: { close(stored: StoredAlert): Promise<boolean> }
  notifiers: ReadonlyMap<string, Notifier>
  clock: Clock
  timers: Timers
  logger: Logger
  retry: { initialDelayMs: number; maxDelayMs: number }
  /** Called once per accepted notification (for metrics and benchmarks). */
  onSent?: (notification: Notification) => void
}

interface Group {
  id: string
  /** KV key of its lease and nflog entry: `<receiver>.<hash>`. */
  key: string
  route: Route
  labels: Labels
  alerts: Map<string, StoredAlert>
  createdAtMs: number
  lastFlushMs: number | undefined
  timer: TimerHandle | undefined
  timerAtMs: number
  flushing: Promise<void> | undefined
}

export interface DispatcherStats {
  sent: number
  failed: number
  retries: number
  groups: number
  /** The same counts per receiver, with when its notifier last accepted and last failed (ms, 0 = never). */
  byReceiver: Record<string, ReceiverStats>
}

export interface ReceiverStats {
  sent: number
  /** Refused for good (not retried). */
  failed: number
  /** Failed attempts that were retried (network errors, 5xx, 429). */
  retries: number
  lastSuccessMs: number
  lastFailureMs: number
}

export class Dispatcher {
  private readonly groups = new Map<string, Group>()
  private readonly groupsOf = new Map<string, Set<string>>()
  /** Every open firing alert, for inhibition. */
  private readonly firing = new Map<string, StoredAlert>()
  private stopped = false
  private readonly stopWaiters = new Set<() => void>()
  readonly stats: DispatcherStats = { sent: 0, failed: 0, retries: 0, groups: 0, byReceiver: {} }

  constructor(private readonly deps: DispatcherDeps) {}

  /** A record changed in KV (`undefined`: deleted). Pending and closed records belong to no group. */
  onAlert(fingerprint: string, stored: StoredAlert | undefined): void {
    if (this.stopped) return
    const record = stored?.record
    const open = record !== undefined && record.closedAtMs === undefined && record.state !== 'pending'
    if (record?.state === 'firing' && open) this.firing.set(fingerprint, stored as StoredAlert)
    else this.firing.delete(fingerprint)

    const previous = this.groupsOf.get(fingerprint) ?? new Set<string>()
    const next = new Set<string>()
    if (open) {
      const now = this.deps.clock.now()
      for (const route of routesFor(this.deps.routes, record.labels)) {
        const labels = groupLabels(route, record.labels)
        const id = `${route.receiver}/${route.id}/${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`
        next.add(id)
        let group = this.groups.get(id)
        if (group === undefined) {
          const hash = createHash('sha256').update(id).digest('hex').slice(0, 32)
          group = {
            id,
            key: `${route.receiver}.${hash}`,
            route,
            labels,
            alerts: new Map(),
            createdAtMs: now,
            lastFlushMs: undefined,
            timer: undefined,
            timerAtMs: Infinity,
            flushing: undefined,
          }
          this.groups.set(id, group)
          this.stats.groups = this.groups.size
          this.schedule(group, nextFlushAtMs(group, route))
        }
        group.alerts.set(fingerprint, stored as StoredAlert)
      }
    }
    for (const id of previous) {
      if (next.has(id)) continue
      const group = this.groups.get(id)
      if (group === undefined) continue
      group.alerts.delete(fingerprint)
      if (group.alerts.size === 0 && group.flushing === undefined) this.dropGroup(group)
    }
    if (next.size > 0) this.groupsOf.set(fingerprint, next)
    else this.groupsOf.delete(fingerprint)
  }

  /** Flushes every group now (tests, and after a silence or inhibition source changes when asked to). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.groups.values()].map((group) => this.flush(group)))
  }

  /** Stops timers and waits for flushes in flight; a notification mid-retry is left for the next holder. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const wake of this.stopWaiters) wake()
    for (const group of this.groups.values())
      if (group.timer !== undefined) this.deps.timers.clear(group.timer)
    await Promise.allSettled([...this.groups.values()].map((group) => group.flushing))
  }

  get groupCount(): number {
    return this.groups.size
  }

  private dropGroup(group: Group): void {
    if (group.timer !== undefined) this.deps.timers.clear(group.timer)
    group.timer = undefined
    this.groups.delete(group.id)
    this.stats.groups = this.groups.size
    // Also a lease whose time ran out here (a stalled loop): still ours in KV, it would be renewed for ever.
    void this.deps.leases
      .release(group.key)
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error, group: group.id }, 'cannot release a group lease'),
      )
  }

  private schedule(group: Group, atMs: number): void {
    if (this.stopped || !Number.isFinite(atMs)) return
    if (group.timer !== undefined && group.timerAtMs <= atMs) return
    if (group.timer !== undefined) this.deps.timers.clear(group.timer)
    group.timerAtMs = atMs
    group.timer = this.deps.timers.set(atMs - this.deps.clock.now(), () => {
      group.timer = undefined
      group.timerAtMs = Infinity
      void this.flush(group)
    })
  }

  /** Never rejects and never overlaps itself for one group. */
  private flush(group: Group): Promise<void> {
    if (group.flushing !== undefined) return group.flushing
    const run = (async () => {
      let retryAtMs: number | undefined
      try {
        retryAtMs = await this.flushOnce(group)
      } catch (error) {
        this.deps.logger.warn({ err: error, group: group.id }, 'group flush failed; retrying')
        retryAtMs = this.deps.clock.now() + this.deps.retry.initialDelayMs
      } finally {
        group.flushing = undefined
      }
      if (this.groups.get(group.id) !== group) return
      if (group.alerts.size === 0) {
        this.dropGroup(group)
        return
      }
      const next = nextFlushAtMs(group, group.route)
      this.schedule(group, retryAtMs !== undefined ? Math.min(retryAtMs, next) : next)
    })()
    group.flushing = run
    return run
  }

  /** One flush; returns when to try again early (lease held elsewhere, or a failure), if at all. */
  private async flushOnce(group: Group): Promise<number | undefined> {
    if (this.stopped) return undefined
    const { clock, leases, nflog, logger } = this.deps
    const lease = await leases.acquire(group.key)
    if (!lease.held) {
      // The holder sends. Should it die, its lease lapses: look again just after that.
      group.lastFlushMs = clock.now()
      return lease.expiresAtMs + 50
    }
    const notifier = this.deps.notifiers.get(group.route.receiver)
    if (notifier === undefined) {
      logger.error({ receiver: group.route.receiver }, 'no notifier for receiver')
      return undefined
    }
    const nowMs = clock.now()
    const log = await nflog.get(group.key)
    const firingSources = [...this.firing.values()].map((s) => ({
      fingerprint: s.record.fingerprint,
      labels: s.record.labels,
    }))
    const alerts: GroupAlert[] = [...group.alerts.values()].map((stored) => ({
      stored,
      muted:
        this.deps.silences.isSilenced(stored.record.labels, nowMs) ||
        (this.deps.inhibitRules.length > 0 &&
          isInhibited(
            { fingerprint: stored.record.fingerprint, labels: stored.record.labels },
            firingSources,
            this.deps.inhibitRules,
          )),
    }))
    const plan = planFlush(alerts, log?.entry, {
      nowMs,
      repeatIntervalMs: group.route.repeatIntervalMs,
      sendResolved: notifier.sendResolved,
    })
    group.lastFlushMs = nowMs

    let entry: NflogEntry | undefined
    if (plan.notification !== undefined) {
      const notification: Notification = {
        ...plan.notification,
        receiver: group.route.receiver,
        groupKey: group.id,
        groupLabels: group.labels,
        nowMs,
      }
      if (log?.entry.ref !== undefined) notification.ref = log.entry.ref
      const result = await this.deliver(group, notifier, notification)
      // Refused (a revoked token, an archived channel): nothing is recorded as sent and no resolved
      // alert is closed, so the next group_interval sends it again, as Alertmanager does.
      if (result === 'aborted' || result === 'failed') return undefined
      entry = { groupKey: group.id, firing: plan.nextFiring, lastSentMs: clock.now() }
      const ref = notification.kind === 'firing' ? (result.ref ?? log?.entry.ref) : log?.entry.ref
      if (ref !== undefined) entry.ref = ref
    } else if (plan.nflogChanged && log !== undefined) {
      entry = { ...log.entry, firing: plan.nextFiring }
    }
    if (entry !== undefined) {
      const outcome = await nflog.put(group.key, entry, log)
      if (outcome === 'conflict')
        logger.warn({ group: group.id }, 'notification log changed while this replica held the lease')
    }
    for (const stored of plan.close) await this.deps.store.close(stored)
    if (plan.groupDone && plan.close.length === group.alerts.size) {
      const latest = await nflog.get(group.key)
      if (latest !== undefined) await nflog.delete(group.key, latest)
    }
    return undefined
  }

  /**
   * Sends with retries until accepted, refused for good, or this replica stops or loses the lease
   * (then the next holder sends: nothing was accepted, so nothing is sent twice).
   */
  /** Open alerts in the firing state (silenced and inhibited ones included). */
  get firingCount(): number {
    return this.firing.size
  }

  private receiverStats(receiver: string): ReceiverStats {
    let stats = this.stats.byReceiver[receiver]
    if (stats === undefined) {
      stats = { sent: 0, failed: 0, retries: 0, lastSuccessMs: 0, lastFailureMs: 0 }
      this.stats.byReceiver[receiver] = stats
    }
    return stats
  }

  private async deliver(
    group: Group,
    notifier: Notifier,
    notification: Notification,
  ): Promise<SendResult | 'failed' | 'aborted'> {
    const { logger } = this.deps
    const receiverStats = this.receiverStats(notification.receiver)
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) return 'aborted'
      if (!this.deps.leases.holds(group.key)) {
        logger.warn(
          { group: group.id },
          'lease lost before the notification was accepted; the other replica sends it',
        )
        return 'aborted'
      }
      try {
        const result = await notifier.send(notification)
        this.stats.sent++
        receiverStats.sent++
        receiverStats.lastSuccessMs = this.deps.clock.now()
        this.deps.onSent?.(notification)
        logger.info(
          {
            group: group.id,
            receiver: notification.receiver,
            kind: notification.kind,
            firing: notification.firing.length,
            resolved: notification.resolved.length,
            attempt,
          },
          'notification sent',
        )
        return result
      } catch (error) {
        const retryable = error instanceof NotifyError && error.retryable
        receiverStats.lastFailureMs = this.deps.clock.now()
        if (!retryable) {
          this.stats.failed++
          receiverStats.failed++
          logger.error(
            { err: error, group: group.id, receiver: notification.receiver },
            'notification refused; not retrying',
          )
          return 'failed'
        }
        this.stats.retries++
        receiverStats.retries++
        const ceiling = Math.min(
          this.deps.retry.maxDelayMs,
          this.deps.retry.initialDelayMs * 2 ** Math.min(attempt - 1, 20),
        )
        const backoff = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
        const delayMs = error.retryAfterMs ?? backoff
        logger.warn(
          { group: group.id, status: error.status, reason: error.reason, attempt, delay_ms: delayMs },
          'notification not accepted; retrying',
        )
        await this.sleep(delayMs)
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve()
      const done = () => {
        this.stopWaiters.delete(done)
        this.deps.timers.clear(handle)
        resolve()
      }
      const handle = this.deps.timers.set(ms, done)
      this.stopWaiters.add(done)
    })
  }
}
