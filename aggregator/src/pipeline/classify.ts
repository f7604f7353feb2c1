import type { JsMsg } from '@nats-io/jetstream'
import {
  decodeBatch,
  WireError,
  type Clock,
  type DecodeCache,
  type DecodedBatch,
  type WireLimits,
} from '@tidewatch/shared'

export interface AcceptedMessage {
  kind: 'accepted'
  message: JsMsg
  batch: DecodedBatch
}

export interface RejectedMessage {
  kind: 'rejected'
  message: JsMsg
  reason: string
  detail: string
}

export type ClassifiedMessage = AcceptedMessage | RejectedMessage

/** Decodes and validates one message; anything refused carries a reason for the dead-letter stream. */
export function classifyMessage(
  message: JsMsg,
  limits: WireLimits,
  clock: Clock,
  cache?: DecodeCache,
): ClassifiedMessage {
  try {
    const reuse = cache === undefined ? undefined : { cache, key: message.subject }
    return { kind: 'accepted', message, batch: decodeBatch(message.data, limits, clock.now(), reuse) }
  } catch (error) {
    if (error instanceof WireError)
      return { kind: 'rejected', message, reason: error.reason, detail: error.message }
    // A decoder bug must not take the process down or block the stream: dead-letter it too.
    return { kind: 'rejected', message, reason: 'decode_failed', detail: String(error) }
  }
}
