import { MetricsRegistry, type Labels } from '@tidewatch/shared'
import type { DispatcherStats, ReceiverStats } from '../grouping/dispatcher.js'
import type { AlertConsumerStats } from '../sources/alerts/consumer.js'

/** Where the alerter's own figures come from; read at each scrape or report (undefined before start). */
export interface AlerterMetricsSources {
  id: string
  /** The configured receivers: their series exist (at 0) before their first notification. */
  receivers: readonly string[]
  dispatcher: () => (DispatcherStats & { firing: number }) | undefined
  consumer: () => AlertConsumerStats | undefined
}

const NEVER: ReceiverStats = { sent: 0, failed: 0, retries: 0, lastSuccessMs: 0, lastFailureMs: 0 }

/** Every alerter.* series (README.md, "Self metrics"). */
export function alerterRegistry(sources: AlerterMetricsSources): MetricsRegistry {
  const registry = new MetricsRegistry({ component: 'alerter', instance: sources.id })
  const perReceiver =
    (read: (stats: ReceiverStats) => number) => (): Array<{ labels: Labels; value: number }> => {
      const byReceiver = sources.dispatcher()?.byReceiver ?? {}
      const names = new Set([...sources.receivers, ...Object.keys(byReceiver)])
      return [...names].map((receiver) => ({
        labels: { receiver },
        value: read(byReceiver[receiver] ?? NEVER),
      }))
    }
  registry.collect(
    'alerter.notifications_sent_total',
    'Notifications the receiver accepted.',
    'counter',
    perReceiver((s) => s.sent),
  )
  registry.collect(
    'alerter.notifications_failed_total',
    'Notifications refused for good (not retried).',
    'counter',
    perReceiver((s) => s.failed),
  )
  registry.collect(
    'alerter.notification_retries_total',
    'Failed attempts that were retried (network error, 5xx, 429).',
    'counter',
    perReceiver((s) => s.retries),
  )
  registry.collect(
    'alerter.notification_errors_total',
    'Every failed attempt, retried or not: above zero for a while means the receiver (Slack) cannot be reached.',
    'counter',
    perReceiver((s) => s.failed + s.retries),
  )
  registry.collect(
    'alerter.notify_last_success_seconds',
    'When the receiver last accepted a notification, Unix seconds (0: never).',
    'gauge',
    perReceiver((s) => s.lastSuccessMs / 1000),
  )
  registry.collect(
    'alerter.notify_last_failure_seconds',
    'When an attempt to notify the receiver last failed, Unix seconds (0: never).',
    'gauge',
    perReceiver((s) => s.lastFailureMs / 1000),
  )
  registry.collect(
    'alerter.receiver_reachable',
    '1 unless the last attempt to notify the receiver failed.',
    'gauge',
    perReceiver((s) => (s.lastFailureMs > s.lastSuccessMs ? 0 : 1)),
  )
  registry.collect(
    'alerter.events_consumed_total',
    'Alert events applied to the alert state.',
    'counter',
    () => sources.consumer()?.applied ?? 0,
  )
  registry.collect(
    'alerter.events_poison_total',
    'Alert events that could not be decoded (terminated).',
    'counter',
    () => sources.consumer()?.poison ?? 0,
  )
  registry.collect(
    'alerter.events_retried_total',
    'Alert events whose state change failed to store (redelivered).',
    'counter',
    () => sources.consumer()?.retried ?? 0,
  )
  registry.collect(
    'alerter.alerts_firing',
    'Open alerts in the firing state (silenced and inhibited included).',
    'gauge',
    () => sources.dispatcher()?.firing ?? 0,
  )
  registry.collect(
    'alerter.notification_groups',
    'Alert groups the dispatcher keeps.',
    'gauge',
    () => sources.dispatcher()?.groups ?? 0,
  )
  return registry
}
