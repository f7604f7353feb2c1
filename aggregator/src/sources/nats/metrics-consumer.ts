import { Observable } from 'rxjs'
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { isJetStreamApiError, JS_API_CODES, type Logger } from '@tidewatch/shared'

export interface MetricsConsumerOptions {
  stream: string
  durableName: string
  /** One subject filter (nats-server 2.9 has no multi-subject filters); undefined = the whole stream. */
  filterSubject: string | undefined
  /** Server-side bound on delivered-but-unacked messages: JetStream stops delivering at this count. */
  maxAckPending: number
  ackWaitMs: number
  pullMaxMessages: number
}

/** Creates the durable pull consumer, or updates the settings that may change. */
export async function ensureMetricsConsumer(manager: JetStreamManager, options: MetricsConsumerOptions): Promise<void> {
  const config = {
    durable_name: options.durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs),
    max_ack_pending: options.maxAckPending,
    max_deliver: -1,
    ...(options.filterSubject !== undefined ? { filter_subject: options.filterSubject } : {}),
  }
  try {
    await manager.consumers.info(options.stream, options.durableName)
    await manager.consumers.update(options.stream, options.durableName, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
      ...(options.filterSubject !== undefined ? { filter_subject: options.filterSubject } : {}),
    })
  } catch (error) {
    if (!isJetStreamApiError(error, JS_API_CODES.consumerNotFound)) throw error
    await manager.consumers.add(options.stream, config)
  }
}


/**
 * The consumer's messages as an Observable. Backpressure is JetStream's own: the consumer's
 * max_ack_pending caps how many messages are out and unacked, so when the store is slow and acks
 * stop, deliveries stop too and memory stays bounded by that count times the message size.
 */
export function consumeMetrics(
  manager: JetStreamManager,
  options: MetricsConsumerOptions,
  logger: Logger,
): Observable<JsMsg> {
  return new Observable<JsMsg>((subscriber) => {
    let messages: ConsumerMessages | undefined
    let stopped = false
    void (async () => {
      try {
        const consumer = await manager.jetstream().consumers.get(options.stream, options.durableName)
        messages = await consumer.consume({
          max_messages: options.pullMaxMessages,
        })
        if (stopped) {
          messages.stop()
          return
        }
        for await (const message of messages) subscriber.next(message)
        subscriber.complete()
      } catch (error) {
        if (stopped) return
        logger.error({ err: error }, 'metrics consumer failed')
        subscriber.error(error)
      }
    })()
    return () => {
      stopped = true
      messages?.stop()
    }
  })
}
