import { JetStreamApiError, StorageType } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@tidewatch/shared'

/** The alerter's JetStream KV buckets, all named `<prefix>_<what>`. */
export interface AlerterBuckets {
  /** `a.<fingerprint>` -> AlertRecord */
  alerts: KV
  /** `<receiver>.<group hash>` -> NflogEntry */
  nflog: KV
  /** `s.<id>` -> Silence */
  silences: KV
  /** `<receiver>.<group hash>` -> Lease */
  leases: KV
}

export interface BucketOptions {
  prefix: string
  replicas: number
  storage: 'file' | 'memory'
}

/** Creates the buckets if missing (any replica, any start) and opens them. */
export async function openBuckets(
  connection: NatsConnection,
  options: BucketOptions,
): Promise<AlerterBuckets> {
  const kvm = new Kvm(connection)
  const open = (name: string, history = 1) =>
    kvm.create(`${options.prefix}_${name}`, {
      replicas: options.replicas,
      history,
      storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    })
  const [alerts, nflog, silences, leases] = await Promise.all([
    open('alerts'),
    open('nflog'),
    open('silences', 5),
    open('leases'),
  ])
  return { alerts, nflog, silences, leases }
}

/** JetStream's "wrong last sequence" answer to a compare-and-set write: someone else wrote first. */
export function isWrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10071 || error.code === 10164)
}

/**
 * Deletes every key under `prefix` whose value `isDone` says is no longer needed, compare-and-set so
 * a key written meanwhile (an alert firing again, a silence extended) stays. A failure other than
 * such a race goes to `onError` and the sweep goes on. Returns the keys deleted.
 */
export async function sweepBucket<T>(
  kv: KV,
  prefix: string,
  isDone: (value: T) => boolean,
  onError: (error: unknown, key: string) => void,
): Promise<string[]> {
  const deleted: string[] = []
  for await (const key of await kv.keys(`${prefix}>`)) {
    const entry = await kv.get(key)
    if (entry === null || entry.operation !== 'PUT' || !isDone(entry.json<T>())) continue
    try {
      await kv.delete(key, { previousSeq: entry.revision })
      deleted.push(key)
    } catch (error) {
      if (!isWrongLastSequence(error)) onError(error, key)
    }
  }
  return deleted
}
