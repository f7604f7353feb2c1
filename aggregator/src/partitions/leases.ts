/*
 * Which replica consumes which partition of the METRICS stream.
 *
 *   KV bucket (max_age = lease_ttl, history 1)
 *     r.<replica id>   heartbeat, put every lease_ttl/3          ─► live replicas L
 *     p.<k>            owner's replica id, created with create()  ─► one owner per partition
 *                      (fails if it exists), renewed with update(rev) (fails if someone else's)
 *
 *   every lease_ttl/3: heartbeat ─► renew owned ─► release above ceil(P/L) ─► claim up to ceil(P/L)
 *
 * A replica that dies stops renewing: its keys expire after lease_ttl and the others claim its
 * partitions at their next tick. A replica that joins makes L grow: the others release what is
 * above their new share (stop the partition's pipeline, which commits what it holds, then delete
 * the key) and the newcomer claims it.
 */
import type { KV } from '@nats-io/kv'
import type { Clock, Logger } from '@tidewatch/shared'

export interface PartitionLeaseOptions {
  kv: KV
  /** This replica's id; a KV key token ([A-Za-z0-9_-]). */
  replicaId: string
  partitions: number
  /** Lease lifetime, ms; the bucket's max_age must equal it. */
  ttlMs: number
  clock: Clock
  logger: Logger
  /** Starts consuming partition `k`; called once the lease is held. */
  acquire(partition: number): Promise<void>
  /** Stops consuming partition `k` (commits what it holds); called before the lease is given up. */
  release(partition: number): Promise<void>
}

interface Lease {
  revision: number
  renewedMs: number
}

export function leaseKey(partition: number): string {
  return `p.${partition}`
}

/** A replica id as a KV key token. */
export function replicaKeyToken(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_')
}

export class PartitionLeases {
  private readonly owned = new Map<number, Lease>()
  private timer: NodeJS.Timeout | undefined
  private ticking: Promise<void> | undefined
  private stopped = false
  private readonly replica: string

  constructor(private readonly options: PartitionLeaseOptions) {
    this.replica = replicaKeyToken(options.replicaId)
  }

  /** Partitions this replica holds now. */
  get partitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b)
  }

  async start(): Promise<void> {
    await this.tick()
    const schedule = (): void => {
      if (this.stopped) return
      this.timer = setTimeout(
        () => {
          this.ticking = this.tick().finally(schedule)
        },
        Math.max(100, Math.floor(this.options.ttlMs / 3)),
      )
      this.timer.unref()
    }
    schedule()
  }

  /** Releases every partition (pipelines stopped, keys deleted) and the heartbeat. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.ticking?.catch(() => undefined)
    for (const partition of this.partitions) await this.giveUp(partition, 'stopping')
    await this.options.kv.delete(`r.${this.replica}`).catch(() => undefined)
  }

  /** One round; never rejects, never overlaps (the next is scheduled after this one ends). */
  async tick(): Promise<void> {
    const { kv, logger, clock, ttlMs, partitions } = this.options
    try {
      await kv.put(`r.${this.replica}`, String(clock.now()))
    } catch (error) {
      logger.warn({ err: error }, 'cannot renew the replica heartbeat')
    }
    for (const [partition, lease] of this.owned) {
      try {
        lease.revision = await kv.update(leaseKey(partition), this.replica, lease.revision)
        lease.renewedMs = clock.now()
      } catch (error) {
        // Either another replica holds it now (its key expired under us), or NATS is unreachable:
        // past the TTL another replica may have taken it, so stop consuming it either way.
        const expired = clock.now() - lease.renewedMs >= ttlMs * 0.8
        const taken = await this.ownerOf(partition).then(
          (owner) => owner !== undefined && owner !== this.replica,
          () => false,
        )
        if (taken || expired) {
          logger.warn({ err: error, partition }, 'lost the lease of a partition; stopping it')
          this.owned.delete(partition)
          await this.options
            .release(partition)
            .catch((e: unknown) => logger.error({ err: e, partition }, 'stopping a partition failed'))
        }
      }
    }
    if (this.stopped) return

    let live: number
    try {
      live = await this.liveReplicas()
    } catch (error) {
      logger.warn({ err: error }, 'cannot list live replicas')
      return
    }
    const share = Math.ceil(partitions / Math.max(1, live))
    // Give up the highest partitions above the share so a newcomer can claim them.
    while (this.owned.size > share) {
      const partition = Math.max(...this.owned.keys())
      await this.giveUp(partition, 'rebalancing')
    }
    if (this.owned.size >= share) return
    // Start looking at a replica-specific offset so replicas starting together collide less.
    const offset = hashToken(this.replica) % partitions
    for (let i = 0; i < partitions && this.owned.size < share && !this.stopped; i++) {
      const partition = (offset + i) % partitions
      if (this.owned.has(partition)) continue
      let revision: number
      try {
        revision = await kv.create(leaseKey(partition), this.replica)
      } catch {
        continue // held by another replica
      }
      this.owned.set(partition, { revision, renewedMs: clock.now() })
      logger.info({ partition, live_replicas: live, share }, 'claimed a partition')
      try {
        await this.options.acquire(partition)
      } catch (error) {
        logger.error({ err: error, partition }, 'cannot start consuming a claimed partition; giving it back')
        this.owned.delete(partition)
        await kv.delete(leaseKey(partition), { previousSeq: revision }).catch(() => undefined)
      }
    }
  }

  private async giveUp(partition: number, why: string): Promise<void> {
    const lease = this.owned.get(partition)
    if (lease === undefined) return
    this.owned.delete(partition)
    await this.options
      .release(partition)
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, partition }, 'stopping a partition failed'),
      )
    // Only after its pipeline stopped (and committed what it held) may another replica take it.
    await this.options.kv.delete(leaseKey(partition)).catch(() => undefined)
    this.options.logger.info({ partition, why }, 'released a partition')
  }

  private async ownerOf(partition: number): Promise<string | undefined> {
    const entry = await this.options.kv.get(leaseKey(partition))
    if (entry === null || entry.operation !== 'PUT') return undefined
    return entry.string()
  }

  private async liveReplicas(): Promise<number> {
    const keys = await this.options.kv.keys('r.*')
    const names = new Set<string>([this.replica])
    for await (const key of keys) names.add(key.slice(2))
    return names.size
  }
}

function hashToken(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0
  return hash
}
