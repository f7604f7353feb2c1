import type { KV, KvWatchEntry } from '@nats-io/kv'
import type { AlertEvent, Clock, Logger } from '@tidewatch/shared'
import { isWrongLastSequence, sweepBucket } from './buckets.js'
import { applyEvent, type AlertRecord, type Transition } from './transition.js'

const KEY_PREFIX = 'a.'

export interface StoredAlert {
  record: AlertRecord
  revision: number
}

/**
 * Alert state in JetStream KV: one key per alert instance, written with compare-and-set so two
 * replicas applying events of the same alert at once cannot lose one of them.
 */
export class AlertStore {
  constructor(
    private readonly kv: KV,
    private readonly clock: Clock,
  ) {}

  /** Applies an event; resolves once the change is stored (the caller acks after this). */
  async apply(event: AlertEvent): Promise<Transition> {
    const key = KEY_PREFIX + event.fingerprint
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(key)
      const stored = entry !== null && entry.operation === 'PUT' ? entry.json<AlertRecord>() : undefined
      const transition = applyEvent(stored, event, this.clock.now())
      try {
        switch (transition.kind) {
          case 'ignore':
            return transition
          case 'store': {
            const data = JSON.stringify(transition.record)
            if (entry === null) await this.kv.create(key, data)
            else await this.kv.update(key, data, entry.revision)
            return transition
          }
        }
      } catch (error) {
        // Another replica changed this alert between our read and write: read again and re-decide.
        if (!isWrongLastSequence(error) || attempt >= 20) throw error
      }
    }
  }

  /**
   * Marks a resolved alert as dealt with by its group. Only if nothing changed since `revision`; a
   * newer write (the alert fired again) wins and is kept. Returns whether it was closed.
   */
  async close(stored: StoredAlert): Promise<boolean> {
    const record: AlertRecord = { ...stored.record, closedAtMs: this.clock.now() }
    try {
      await this.kv.update(KEY_PREFIX + stored.record.fingerprint, JSON.stringify(record), stored.revision)
      return true
    } catch (error) {
      if (isWrongLastSequence(error)) return false
      throw error
    }
  }

  /** Deletes tombstones (closed records) older than `maxAgeMs`; compare-and-set, so a new activation is kept. */
  async sweepClosed(maxAgeMs: number, logger: Logger): Promise<number> {
    const now = this.clock.now()
    const deleted = await sweepBucket<AlertRecord>(
      this.kv,
      KEY_PREFIX,
      (record) => record.closedAtMs !== undefined && now - record.closedAtMs >= maxAgeMs,
      (error, key) => logger.warn({ err: error, key }, 'cannot sweep a closed alert record'),
    )
    return deleted.length
  }

  async get(fingerprint: string): Promise<StoredAlert | undefined> {
    const entry = await this.kv.get(KEY_PREFIX + fingerprint)
    if (entry === null || entry.operation !== 'PUT') return undefined
    return { record: entry.json<AlertRecord>(), revision: entry.revision }
  }

  /**
   * Calls `onChange` for every stored alert, then for every change, until `signal` aborts; a deleted key
   * arrives as `undefined`. Resolves `ready` once the initial values have been delivered.
   */
  async watch(
    onChange: (fingerprint: string, stored: StoredAlert | undefined) => void,
    signal: AbortSignal,
  ): Promise<{ ready: Promise<void>; done: Promise<void> }> {
    return watchBucket(this.kv, `${KEY_PREFIX}>`, signal, (entry) => {
      const fingerprint = entry.key.slice(KEY_PREFIX.length)
      if (entry.operation !== 'PUT') onChange(fingerprint, undefined)
      else onChange(fingerprint, { record: entry.json<AlertRecord>(), revision: entry.revision })
    })
  }
}

/**
 * Watches a bucket's keys: the latest value of each, then every change, pushed by the server (no
 * polling). `ready` resolves when the initial values are in (or at once for an empty bucket).
 */
export async function watchBucket(
  kv: KV,
  key: string,
  signal: AbortSignal,
  onEntry: (entry: KvWatchEntry) => void,
): Promise<{ ready: Promise<void>; done: Promise<void> }> {
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const iterator = await kv.watch({ key })
  const status = await kv.status()
  if (status.values === 0) markReady()
  const stop = () => iterator.stop()
  signal.addEventListener('abort', stop, { once: true })
  const done = (async () => {
    try {
      for await (const entry of iterator) {
        onEntry(entry)
        if (entry.isUpdate || entry.delta === 0) markReady()
      }
    } finally {
      markReady()
      signal.removeEventListener('abort', stop)
    }
  })()
  // A bucket whose other keys (outside `key`) hold all its values sends no initial entry for us.
  const fallback = setTimeout(markReady, 2_000)
  fallback.unref()
  void ready.then(() => clearTimeout(fallback))
  return { ready, done }
}
