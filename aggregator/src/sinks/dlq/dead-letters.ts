import { headers as natsHeaders } from '@nats-io/transport-node'
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream'

/** Headers a dead letter carries so an operator can tell what was refused and why. */
export const DLQ_HEADERS = {
  reason: 'Tidewatch-Reason',
  detail: 'Tidewatch-Detail',
  subject: 'Tidewatch-Original-Subject',
  streamSeq: 'Tidewatch-Stream-Seq',
  msgId: 'Tidewatch-Original-Msg-Id',
} as const

/**
 * Publishes a refused message, unchanged, to `<subjectPrefix>.<reason>` with its reason in headers.
 * The message id is derived from the stream sequence, so re-publishing after a crash is a duplicate.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly jetstream: JetStreamClient,
    private readonly subjectPrefix: string,
    private readonly sourceStream: string,
  ) {}

  async publish(message: JsMsg, reason: string, detail: string): Promise<void> {
    const headers = natsHeaders()
    headers.set(DLQ_HEADERS.reason, reason)
    // Header values must stay on one line and reasonably short.
    headers.set(DLQ_HEADERS.detail, detail.replace(/[\r\n]+/g, ' ').slice(0, 1024))
    headers.set(DLQ_HEADERS.subject, message.subject)
    headers.set(DLQ_HEADERS.streamSeq, String(message.seq))
    const originalId = message.headers?.get('Nats-Msg-Id')
    if (originalId) headers.set(DLQ_HEADERS.msgId, originalId.slice(0, 256))
    await this.jetstream.publish(`${this.subjectPrefix}.${reason}`, message.data, {
      headers,
      msgID: `${this.sourceStream}:${message.seq}`,
    })
  }
}
