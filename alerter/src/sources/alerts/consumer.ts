import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import {
  isJetStreamApiError,
  JS_API_CODES,
  type AlertEvent,
  type Logger,
  type NatsConnection,
} from '@tidewatch/shared'

/*
 * The ALERTS stream's durable pull consumer, shared by every alerter replica (each event reaches one
 * replica; the state it writes reaches all of them through the KV watch).
 *
 *   ALERTS ──► consume ──► parse ──► handler (store the state change) ──► ack
 *                            │ bad: term (poison)          │ failed: nak(retry_delay)
 */

export interface AlertConsumerOptions {
  stream: string
  durableName: string
  filterSubject: string
  maxAckPending: number
  ackWaitMs: number
  retryDelayMs: number
}

export type ParseResult = { ok: true; event: AlertEvent } | { ok: false; reason: string }

/** Validates an event's shape; a version this build does not know is refused, not guessed at. */
export function parseAlertEvent(data: Uint8Array): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(data))
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (typeof value !== 'object' || value === null) return { ok: false, reason: 'not an object' }
  const e = value as Record<string, unknown>
  if (e.v !== 1) return { ok: false, reason: `unknown version ${JSON.stringify(e.v)}` }
  if (typeof e.fingerprint !== 'string' || !/^[A-Za-z0-9_-]+$/.test(e.fingerprint))
    return { ok: false, reason: 'bad fingerprint' }
  if (typeof e.rule !== 'string') return { ok: false, reason: 'bad rule' }
  if (e.state !== 'pending' && e.state !== 'firing' && e.state !== 'resolved')
    return { ok: false, reason: 'bad state' }
  if (!isStringRecord(e.labels) || !isStringRecord(e.annotations))
    return { ok: false, reason: 'bad labels or annotations' }
  if (e.value !== null && typeof e.value !== 'number') return { ok: false, reason: 'bad value' }
  if (!isUnixMs(e.activeSinceMs) || !isUnixMs(e.atMs))
    return {
      ok: false,
      reason: `activeSinceMs and atMs must be Unix milliseconds (years 2000-2999), got ${JSON.stringify(e.activeSinceMs)} and ${JSON.stringify(e.atMs)}`,
    }
  return { ok: true, event: value as AlertEvent }
}

const YEAR_2000_MS = 946_684_800_000
const YEAR_3000_MS = 32_503_680_000_000

/** Seconds or nanoseconds from another publisher would show the wrong date or break a message. */
function isUnixMs(value: unknown): value is number {
  return typeof value === 'number' && value >= YEAR_2000_MS && value < YEAR_3000_MS
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  )
}

export async function ensureAlertConsumer(
  connection: NatsConnection,
  options: AlertConsumerOptions,
): Promise<void> {
  const manager = await jetstreamManager(connection)
  const config = {
    durable_name: options.durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs),
    max_ack_pending: options.maxAckPending,
    max_deliver: -1,
    filter_subject: options.filterSubject,
  }
  try {
    await manager.consumers.info(options.stream, options.durableName)
    await manager.consumers.update(options.stream, options.durableName, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
    })
  } catch (error) {
    if (!isJetStreamApiError(error, JS_API_CODES.consumerNotFound)) throw error
    try {
      await manager.consumers.add(options.stream, config)
    } catch (addError) {
      // The other replica created it first.
      await manager.consumers.info(options.stream, options.durableName).catch(() => {
        throw addError
      })
    }
  }
}

export interface AlertConsumerStats {
  applied: number
  poison: number
  retried: number
}

/**
 * Consumes until `stop()`; one message at a time per replica, so one alert's events apply in stream
 * order here (and compare-and-set in the store orders them across replicas).
 */
export class AlertConsumer {
  private messages: ConsumerMessages | undefined
  private loop: Promise<void> | undefined
  private stopped = false
  readonly stats: AlertConsumerStats = { applied: 0, poison: 0, retried: 0 }

  constructor(
    private readonly connection: NatsConnection,
    private readonly options: AlertConsumerOptions,
    private readonly handler: (event: AlertEvent) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await ensureAlertConsumer(this.connection, this.options)
    const manager = await jetstreamManager(this.connection)
    const consumer = await manager.jetstream().consumers.get(this.options.stream, this.options.durableName)
    this.messages = await consumer.consume({ max_messages: Math.min(256, this.options.maxAckPending) })
    const messages = this.messages
    this.loop = (async () => {
      try {
        for await (const message of messages) await this.handle(message)
      } catch (error) {
        if (!this.stopped) this.logger.error({ err: error }, 'alert consumer stopped unexpectedly')
      }
    })()
  }

  private async handle(message: JsMsg): Promise<void> {
    const parsed = parseAlertEvent(message.data)
    if (!parsed.ok) {
      this.stats.poison++
      this.logger.error(
        { subject: message.subject, seq: message.seq, reason: parsed.reason },
        'malformed alert event dropped',
      )
      // No reason argument: nats-server 2.9 does not parse `+TERM <reason>` and would keep the
      // message pending until ack_wait (the reason is in the log line above).
      message.term()
      return
    }
    try {
      await this.handler(parsed.event)
      this.stats.applied++
      message.ack()
    } catch (error) {
      this.stats.retried++
      this.logger.warn(
        { err: error, seq: message.seq, fingerprint: parsed.event.fingerprint },
        'cannot store alert state; redelivering later',
      )
      message.nak(this.options.retryDelayMs)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.messages?.stop()
    await this.loop
  }
}
