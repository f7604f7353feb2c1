import { Observable } from 'rxjs'
import type { ClickHouseClient } from '@clickhouse/client'
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
export async function ensureMetricsConsumer(
  manager: JetStreamManager,
  options: MetricsConsumerOptions,
): Promise<void> {
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

/** Messages and bytes this process holds delivered but not yet acked, nak'd or termed. */
export interface InFlight {
  messages: number
  bytes: number
  /** Highest `messages` seen since start: tests check it never passes max_ack_pending. */
  peakMessages: number
  peakBytes: number
}

export interface ConsumeOptions {
  /** Stop pulling while this many messages are held; at most max_ack_pending (the server's own bound). */
  maxInFlightMessages: number
  /** Stop pulling while this many bytes are held (one pull may overshoot by at most one pull). */
  maxInFlightBytes: number
  /** Most bytes per pull; 0 = pulls are bounded by message count only. */
  pullMaxBytes: number
  inFlight?: InFlight
  /**
   * Highest stream sequence this consumer's intent log knows (committed or not) when the pipeline
   * starts. A message at or below it, or at or below one already seen in this run, is marked
   * `redelivered` even when JetStream says it is not, so the committer checks the intent log first.
   */
  seenUpToSeq?: () => Promise<number>
}

/** The bytes a delivered message counts for in InFlight until its first ack, nak or term (then -1). */
const HELD_BYTES = Symbol('tidewatch.heldBytes')
type TrackedMessage = JsMsg & { [HELD_BYTES]: number }
const SETTLING = ['ack', 'nak', 'term', 'ackAck'] as const

/**
 * ack, nak, term and ackAck for a consumer's messages: each releases the message's room in InFlight
 * on its first call, then does what JsMsg's own method does. Built once per consumer and assigned to
 * every message (no closures or bound functions per message: at 10,000 messages a second those were
 * garbage the collector had to mark while the messages waited for their commit).
 */
function settlingMethods(release: (size: number) => void): Pick<JsMsg, (typeof SETTLING)[number]> {
  const methods: Record<string, unknown> = {}
  for (const name of SETTLING) {
    methods[name] = function (this: TrackedMessage, ...args: unknown[]): unknown {
      const size = this[HELD_BYTES]
      if (size >= 0) {
        this[HELD_BYTES] = -1
        release(size)
      }
      const own = Object.getPrototypeOf(this) as Record<string, (...a: unknown[]) => unknown>
      return own[name]!.apply(this, args)
    }
  }
  return methods as unknown as Pick<JsMsg, (typeof SETTLING)[number]>
}

export function createInFlight(): InFlight {
  return { messages: 0, bytes: 0, peakMessages: 0, peakBytes: 0 }
}

/**
 * The consumer's messages as an Observable, pulled only while there is room.
 *
 * Backpressure, end to end: each pull asks for at most the room left under `maxInFlightMessages`
 * (and no pull starts while `maxInFlightBytes` are held); a message leaves the count when it is
 * acked, nak'd or termed, which the committer does only after the store committed it. So a slow or
 * stopped store stops the pulls, the backlog stays in the stream, and this process holds at most
 * max_ack_pending messages and about maxInFlightBytes bytes. (`consume()` would keep pulling as
 * messages arrive, bounded only by the server's max_ack_pending, with no bound on bytes.)
 */
export function consumeMetrics(
  manager: JetStreamManager,
  options: MetricsConsumerOptions,
  logger: Logger,
  consume: ConsumeOptions = {
    maxInFlightMessages: options.maxAckPending,
    maxInFlightBytes: Number.MAX_SAFE_INTEGER,
    pullMaxBytes: 0,
  },
): Observable<JsMsg> {
  return new Observable<JsMsg>((subscriber) => {
    const inFlight = consume.inFlight ?? createInFlight()
    const maxMessages = Math.min(consume.maxInFlightMessages, options.maxAckPending)
    let current: ConsumerMessages | undefined
    let stopped = false
    let wake: (() => void) | undefined
    const roomFreed = (): void => {
      const w = wake
      wake = undefined
      w?.()
    }
    const hasRoom = (): boolean =>
      inFlight.messages < maxMessages && inFlight.bytes < consume.maxInFlightBytes

    let seenUpTo = 0
    /**
     * JetStream's own `redelivered` flag covers ack_wait expiry, nak and a restart of this process,
     * not a consumer whose ack state was reset (deleted and re-created, or moved back with a start
     * sequence): it hands out already-committed messages as first deliveries, in new groupings, and
     * their new deduplication tokens would store them twice. A pull consumer delivers first
     * deliveries in stream order, so a sequence not above every sequence seen before is one the
     * intent log must be asked about.
     */
    const markSuspect = (message: JsMsg): void => {
      if (message.seq <= seenUpTo && !message.redelivered) {
        Object.defineProperty(message, 'redelivered', { value: true, configurable: true })
      }
      if (message.seq > seenUpTo) seenUpTo = message.seq
    }

    const release = (size: number): void => {
      inFlight.messages--
      inFlight.bytes -= size
      roomFreed()
    }
    const settle = settlingMethods(release)
    const track = (message: JsMsg): void => {
      const size = message.data.length
      inFlight.messages++
      inFlight.bytes += size
      if (inFlight.messages > inFlight.peakMessages) inFlight.peakMessages = inFlight.messages
      if (inFlight.bytes > inFlight.peakBytes) inFlight.peakBytes = inFlight.bytes
      const tracked = message as TrackedMessage
      tracked[HELD_BYTES] = size
      Object.assign(tracked, settle)
    }

    void (async () => {
      // Read before the first pull (and not before the partition is claimed: the store may be down).
      if (consume.seenUpToSeq !== undefined) seenUpTo = await consume.seenUpToSeq()
      const consumer = await manager.jetstream().consumers.get(options.stream, options.durableName)
      while (!stopped) {
        if (!hasRoom()) {
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          continue
        }
        const room = Math.min(options.pullMaxMessages, maxMessages - inFlight.messages)
        try {
          current = await consumer.fetch(
            consume.pullMaxBytes > 0
              ? {
                  max_bytes: Math.min(consume.pullMaxBytes, consume.maxInFlightBytes - inFlight.bytes),
                  expires: 5_000,
                }
              : { max_messages: room, expires: 5_000 },
          )
          if (stopped) current.stop()
          for await (const message of current) {
            track(message)
            markSuspect(message)
            subscriber.next(message)
            // A byte-bounded pull may deliver more messages than the room left: stop it there.
            if (inFlight.messages >= maxMessages) current.stop()
          }
        } catch (error) {
          if (stopped) break
          logger.warn(
            { err: error, consumer: options.durableName },
            'pulling from the metrics consumer failed; retrying',
          )
          await new Promise((resolve) => setTimeout(resolve, 1_000))
        }
      }
      subscriber.complete()
    })().catch((error: unknown) => {
      if (stopped) return
      logger.error({ err: error, consumer: options.durableName }, 'metrics consumer failed')
      subscriber.error(error)
    })
    return () => {
      stopped = true
      current?.stop()
      roomFreed()
    }
  })
}

/**
 * Highest stream sequence any intent of `consumer` covers (0 when none): where first deliveries of
 * this consumer must start to be new. Read when a partition's pipeline starts.
 */
export async function intentHighWaterSeq(
  client: ClickHouseClient,
  database: string,
  consumer: string,
): Promise<number> {
  const result = await client.query({
    query: `SELECT max(last_seq) AS seq FROM ${database}.ingest_batches WHERE consumer = {consumer:String}`,
    query_params: { consumer },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  })
  const rows = await result.json<{ seq: number }>()
  return Number(rows[0]?.seq ?? 0)
}
