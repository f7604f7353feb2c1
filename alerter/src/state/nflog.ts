import type { KV } from '@nats-io/kv'
import { isWrongLastSequence } from './buckets.js'

/** Where a receiver put a message, so a later one can update it or reply in its thread (Slack bot mode). */
export interface MessageRef {
  channel: string
  ts: string
}

/**
 * The notification log of one group at one receiver: what was last sent, so a restart or the other
 * replica neither re-sends it nor forgets what a resolved message must follow.
 */
export interface NflogEntry {
  /** The group's readable key, for debugging. */
  groupKey: string
  /** Alerts notified as firing and not yet notified as resolved: fingerprint -> activeSinceMs. */
  firing: Record<string, number>
  /** When the last notification was accepted by the receiver. */
  lastSentMs: number
  /** The last firing message, for bot-mode updates and thread replies. */
  ref?: MessageRef
}

export interface StoredNflog {
  entry: NflogEntry
  revision: number
}

export class NotificationLog {
  constructor(private readonly kv: KV) {}

  async get(key: string): Promise<StoredNflog | undefined> {
    const entry = await this.kv.get(key)
    if (entry === null || entry.operation !== 'PUT') return undefined
    return { entry: entry.json<NflogEntry>(), revision: entry.revision }
  }

  /**
   * Records a notification. Compare-and-set against what was read before sending: a mismatch means
   * another replica sent meanwhile (a lease lost mid-flight), which the caller logs.
   */
  async put(
    key: string,
    entry: NflogEntry,
    previous: StoredNflog | undefined,
  ): Promise<'stored' | 'conflict'> {
    try {
      if (previous === undefined) await this.kv.create(key, JSON.stringify(entry))
      else await this.kv.update(key, JSON.stringify(entry), previous.revision)
      return 'stored'
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error
      await this.kv.put(key, JSON.stringify(entry))
      return 'conflict'
    }
  }

  async delete(key: string, previous: StoredNflog): Promise<void> {
    try {
      await this.kv.delete(key, { previousSeq: previous.revision })
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error
    }
  }
}
