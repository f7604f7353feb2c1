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
