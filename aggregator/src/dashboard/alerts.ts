import { Kvm, type KV } from '@nats-io/kv'
import type { Labels, NatsConnection } from '@tidewatch/shared'

/**
 * The alerts page's data, read from the alerter's JetStream KV buckets (`<prefix>_alerts`,
 * `_silences`, `_nflog`) through the aggregator's own NATS connection. Read only: `get` and
 * `keys`, never a write. The record shapes are the alerter's (alerter/src/state/transition.ts
 * AlertRecord, silences/silences.ts Silence, state/nflog.ts NflogEntry); only the fields shown
 * here are read, and a record that does not parse is skipped.
 */
export interface AlertsSnapshot {
  /** False when the buckets do not exist (no alerter has run against this NATS) or NATS is not connected. */
  available: boolean
  reason?: string
  nowMs: number
  alerts: AlertRow[]
  silences: SilenceRow[]
  notifications: NotificationRow[]
}

export interface AlertRow {
  fingerprint: string
  rule: string
  state: 'pending' | 'firing' | 'resolved'
  labels: Labels
  summary: string
  value: number | null
  activeSinceMs: number
  firedAtMs?: number
  resolvedAtMs?: number
  /** An active silence matches its labels. */
  silenced: boolean
}

export interface SilenceRow {
  id: string
  matchers: string
  startsAtMs: number
  endsAtMs: number
  createdBy: string
  comment: string
  status: 'pending' | 'active' | 'expired'
}

export interface NotificationRow {
  receiver: string
  groupKey: string
  firing: number
  lastSentMs: number
}

export interface AlertsSource {
  snapshot(): Promise<AlertsSnapshot>
}

interface Matcher {
  name: string
  op: '=' | '!=' | '=~' | '!~'
  value: string
}

/** Alertmanager matcher semantics, as the alerter's: anchored regexes, an absent label matches as ''. */
export function matcherMatches(m: Matcher, labels: Labels): boolean {
  const v = labels[m.name] ?? ''
  switch (m.op) {
    case '=':
      return v === m.value
    case '!=':
      return v !== m.value
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v)
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(v)
  }
}

/** At most this many keys a bucket are read per snapshot (the page is an overview, not an export). */
const MAX_KEYS = 2000

async function readAll<T>(kv: KV, filter: string): Promise<Array<{ key: string; value: T }>> {
  const out: Array<{ key: string; value: T }> = []
  const keys: string[] = []
  for await (const key of await kv.keys(filter)) {
    keys.push(key)
    if (keys.length >= MAX_KEYS) break
  }
  for (const key of keys) {
    const entry = await kv.get(key)
    if (entry === null || entry.operation !== 'PUT') continue
    try {
      out.push({ key, value: entry.json<T>() })
    } catch {
      // Not a record of the shape we know: skip it rather than fail the page.
    }
  }
  return out
}

/** Alerts read through NATS; `connection()` is called per snapshot (the aggregator connects after the HTTP endpoint starts). */
export function natsAlertsSource(
  connection: () => NatsConnection | undefined,
  bucketPrefix: string,
  now: () => number = Date.now,
): AlertsSource {
  return {
    async snapshot() {
      const nowMs = now()
      const empty = (reason: string): AlertsSnapshot => ({
        available: false,
        reason,
        nowMs,
        alerts: [],
        silences: [],
        notifications: [],
      })
      const nc = connection()
      if (nc === undefined || nc.isClosed()) return empty('not connected to NATS')
      const kvm = new Kvm(nc)
      let alertsKv: KV
      let silencesKv: KV
      let nflogKv: KV
      try {
        alertsKv = await kvm.open(`${bucketPrefix}_alerts`)
        await alertsKv.status()
        silencesKv = await kvm.open(`${bucketPrefix}_silences`)
        nflogKv = await kvm.open(`${bucketPrefix}_nflog`)
      } catch {
        return empty(`no alerter state: the KV bucket ${bucketPrefix}_alerts does not exist`)
      }
      const [records, silenceRecords, nflog] = await Promise.all([
        readAll<RawAlert>(alertsKv, 'a.>'),
        readAll<RawSilence>(silencesKv, 's.>').catch(() => []),
        readAll<RawNflog>(nflogKv, '>').catch(() => []),
      ])
      const silences: SilenceRow[] = silenceRecords.map(({ value: s }) => ({
        id: s.id,
        matchers: (s.matchers ?? []).map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(', '),
        startsAtMs: s.startsAtMs,
        endsAtMs: s.endsAtMs,
        createdBy: s.createdBy ?? '',
        comment: s.comment ?? '',
        status: nowMs < s.startsAtMs ? 'pending' : nowMs >= s.endsAtMs ? 'expired' : 'active',
      }))
      const active = silenceRecords
        .filter(({ value: s }) => nowMs >= s.startsAtMs && nowMs < s.endsAtMs)
        .map(({ value }) => value)
      const alerts: AlertRow[] = records
        .map(({ value: r }) => r)
        .filter((r) => r.closedAtMs === undefined)
        .map((r) => ({
          fingerprint: r.fingerprint,
          rule: r.rule,
          state: r.state,
          labels: r.labels ?? {},
          summary: r.annotations?.summary ?? '',
          value: r.value ?? null,
          activeSinceMs: r.activeSinceMs,
          ...(r.firedAtMs !== undefined ? { firedAtMs: r.firedAtMs } : {}),
          ...(r.resolvedAtMs !== undefined ? { resolvedAtMs: r.resolvedAtMs } : {}),
          silenced: active.some((s) => (s.matchers ?? []).every((m) => matcherMatches(m, r.labels ?? {}))),
        }))
        .sort((a, b) => b.activeSinceMs - a.activeSinceMs)
      const notifications: NotificationRow[] = nflog
        .map(({ key, value: n }) => ({
          receiver: key.split('.')[0] ?? '',
          groupKey: n.groupKey,
          firing: Object.keys(n.firing ?? {}).length,
          lastSentMs: n.lastSentMs,
        }))
        .sort((a, b) => b.lastSentMs - a.lastSentMs)
        .slice(0, 50)
      return { available: true, nowMs, alerts, silences, notifications }
    },
  }
}

interface RawAlert {
  fingerprint: string
  rule: string
  state: 'pending' | 'firing' | 'resolved'
  labels?: Labels
  annotations?: Labels
  value?: number | null
  activeSinceMs: number
  firedAtMs?: number
  resolvedAtMs?: number
  closedAtMs?: number
}

interface RawSilence {
  id: string
  matchers?: Matcher[]
  startsAtMs: number
  endsAtMs: number
  createdBy?: string
  comment?: string
}

interface RawNflog {
  groupKey: string
  firing?: Record<string, number>
  lastSentMs: number
}
