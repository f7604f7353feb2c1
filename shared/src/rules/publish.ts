import type { JetStreamClient } from '@nats-io/jetstream'
import { alertEventId, alertSubject, type AlertEvent } from '../alerts/event.js'

/** Where rule evaluators send AlertEvents: JetStream in production, an array in tests. */
export interface AlertPublisher {
  publish(event: AlertEvent): Promise<void>
}

export function encodeAlertEvent(event: AlertEvent): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(event))
}

/**
 * Publishes to the ALERTS stream on `alerts.events.<rule>` with `Nats-Msg-Id` = alertEventId(event),
 * so a transition published twice (a retry, a redelivered batch) is stored once. Throws when
 * JetStream does not acknowledge; the caller retries.
 */
export class JetStreamAlertPublisher implements AlertPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly options: { timeoutMs?: number } = {},
  ) {}

  async publish(event: AlertEvent): Promise<void> {
    await this.js.publish(alertSubject(event), encodeAlertEvent(event), {
      msgID: alertEventId(event),
      timeout: this.options.timeoutMs ?? 5_000,
    })
  }
}
