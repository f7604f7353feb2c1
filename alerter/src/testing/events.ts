import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import {
  alertEventId,
  alertFingerprint,
  alertSubject,
  ensureStream,
  type AlertEvent,
  type AlertState,
  type NatsConnection,
} from '@tidewatch/shared'
import { alerterConfigSchema } from '@tidewatch/shared'

/** An alert event as a rule evaluator would publish it. */
export function alertEvent(
  rule: string,
  labels: Record<string, string>,
  state: AlertState,
  atMs: number,
  extra: Partial<AlertEvent> = {},
): AlertEvent {
  const allLabels = { alertname: rule, ...labels }
  return {
    v: 1,
    fingerprint: alertFingerprint(rule, allLabels),
    rule,
    ruleKind: 'threshold',
    state,
    labels: allLabels,
    annotations: {
      summary: `${rule} on ${labels.host ?? 'somewhere'}`,
      runbook_url: 'https://runbooks.example/cpu',
    },
    value: 97.5,
    activeSinceMs: extra.activeSinceMs ?? atMs,
    atMs,
    source: 'test',
    ...extra,
  }
}

/** Publishes as evaluators do: subject per rule, message id per transition (JetStream dedups re-sends). */
export async function publishAlert(connection: NatsConnection, event: AlertEvent): Promise<void> {
  await jetstream(connection).publish(alertSubject(event), JSON.stringify(event), {
    msgID: alertEventId(event),
  })
}

export async function ensureAlertsStream(connection: NatsConnection, name = 'ALERTS'): Promise<void> {
  const config = alerterConfigSchema.parse({ streams: { alerts: { name } } }).streams.alerts
  await ensureStream(await jetstreamManager(connection), config)
}
