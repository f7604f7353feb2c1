import type { AcceptedMessage } from './classify.js'
import type { BatchIntent } from '../sinks/clickhouse/intent-log.js'

interface HeldBatch {
  intent: BatchIntent
  messages: Map<number, AcceptedMessage>
  heldSinceMs: number
}

/**
 * Redelivered messages whose batch was recorded but not committed wait here until every message of
 * that batch is back, so the batch is re-sent exactly as it was first sent, under the same token.
 */
export class RecoveryBuffer {
  private readonly byToken = new Map<string, HeldBatch>()

  hold(intent: BatchIntent, message: AcceptedMessage, nowMs: number): void {
    let held = this.byToken.get(intent.token)
    if (held === undefined) {
      held = { intent, messages: new Map(), heldSinceMs: nowMs }
      this.byToken.set(intent.token, held)
    }
    // A second redelivery of the same sequence replaces the first: ack the newest delivery.
    held.messages.set(message.message.seq, message)
  }

  /** Batches whose messages are all back, removed from the buffer. */
  takeComplete(): Array<{ intent: BatchIntent; messages: AcceptedMessage[] }> {
    const complete: Array<{ intent: BatchIntent; messages: AcceptedMessage[] }> = []
    for (const [token, held] of this.byToken) {
      if (held.intent.seqs.every((seq) => held.messages.has(seq))) {
        this.byToken.delete(token)
        complete.push({
          intent: held.intent,
          messages: held.intent.seqs.map((seq) => held.messages.get(seq)!),
        })
      }
    }
    return complete
  }

  /** Batches held longer than `ageMs`, for a re-check of their commit state. */
  stale(
    nowMs: number,
    ageMs: number,
  ): Array<{ intent: BatchIntent; messages: AcceptedMessage[]; heldSinceMs: number }> {
    const result = []
    for (const held of this.byToken.values()) {
      if (nowMs - held.heldSinceMs >= ageMs) {
        result.push({
          intent: held.intent,
          messages: [...held.messages.values()],
          heldSinceMs: held.heldSinceMs,
        })
      }
    }
    return result
  }

  release(token: string): void {
    this.byToken.delete(token)
  }

  get size(): number {
    return this.byToken.size
  }
}
