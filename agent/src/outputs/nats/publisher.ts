import { JetStreamApiError, jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { TidewatchError, type Logger, type NatsConnection } from '@tidewatch/shared'
import type { BatchSink } from '../../delivery.js'
import type { QueuedBatch } from '../../spool/types.js'

/** JetStream API error 10054: the message is larger than the stream's max_msg_size. */
const MESSAGE_TOO_LARGE = 10054

/**
 * The subject a batch of `agentId` is published on. With one partition: `<prefix>.<agent id>`.
 * With P > 1: `<prefix>.<k>.<agent id>`, k = FNV-1a(agent id) mod P, so all of one host's series
 * land in one partition and one aggregator replica keeps their windows (aggregator/README.md,
 * Scale-out). nats-server 2.9 has no subject-transform partitioning, so the agent names it.
 */
export function partitionedSubject(prefix: string, agentId: string, partitions: number): string {
  if (partitions <= 1) return `${prefix}.${agentId}`
  return `${prefix}.${partitionOf(agentId, partitions)}.${agentId}`
}

/** FNV-1a (32 bit) of the UTF-8 bytes, mod `partitions`: stable across processes and versions. */
export function partitionOf(agentId: string, partitions: number): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(agentId, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % partitions
}

/**
 * The bytes the client adds to a batch's payload for its headers (`NATS/1.0`, `Nats-Msg-Id: <id>`):
 * the server's max_payload bounds both together.
 */
export function headerBytes(batchId: string): number {
  return `NATS/1.0\r\nNats-Msg-Id: ${batchId}\r\n\r\n`.length
}

/** Room for headers of any batch of `agentId` (an id `<agent id>:<seq>`, seq up to 20 digits). */
export function headerAllowance(agentId: string): number {
  return headerBytes(`${agentId}:${'9'.repeat(20)}`)
}

export class PublishError extends TidewatchError {
  override readonly name = 'PublishError'
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, retryable ? 'PUBLISH_FAILED' : 'PUBLISH_REFUSED', retryable, options)
  }
}

export interface NatsPublisherOptions {
  connection: NatsConnection
  logger: Logger
  /** How long to wait for the stream's ack, ms (`agent.publish_timeout`). */
  timeoutMs: number
}

/**
 * Publishes a batch to JetStream with `Nats-Msg-Id` = the batch id, so a re-send inside the
 * stream's duplicate window is stored once (the ack then says `duplicate`). It publishes once per
 * call: retry, ordering and queueing belong to the runner (RetryingDelivery). It never creates
 * streams; the aggregator owns METRICS, and a missing stream is a retryable failure.
 */
export class NatsPublisher implements BatchSink {
  private readonly js: JetStreamClient
  private readonly log: Logger

  constructor(private readonly options: NatsPublisherOptions) {
    this.js = jetstream(options.connection)
    this.log = options.logger.child({ component: 'nats-publisher' })
  }

  async send(batch: QueuedBatch): Promise<{ duplicate: boolean }> {
    const maxPayload = this.options.connection.info?.max_payload
    const messageBytes = batch.data.byteLength + headerBytes(batch.id)
    if (maxPayload !== undefined && messageBytes > maxPayload) {
      // Never accepted, so never retried: the head of the queue must not hold up everything behind it.
      throw new PublishError(
        `batch ${batch.id} is ${messageBytes} bytes with its headers, over the server's max_payload ${maxPayload}`,
        false,
      )
    }
    try {
      const ack = await this.js.publish(batch.subject, batch.data, {
        msgID: batch.id,
        timeout: this.options.timeoutMs,
      })
      this.log.debug(
        { batch_id: batch.id, stream: ack.stream, stream_seq: ack.seq, duplicate: ack.duplicate },
        'batch published',
      )
      return { duplicate: ack.duplicate }
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === MESSAGE_TOO_LARGE) {
        throw new PublishError(`the stream refused batch ${batch.id} as too large`, false, { cause: error })
      }
      const reason = error instanceof Error ? error.message : String(error)
      throw new PublishError(`publishing batch ${batch.id} to ${batch.subject} failed: ${reason}`, true, {
        cause: error,
      })
    }
  }

  /** Flushes what the client buffered; closing the connection is the caller's (it opened it). */
  async close(): Promise<void> {
    if (!this.options.connection.isClosed()) await this.options.connection.flush().catch(() => undefined)
  }
}
