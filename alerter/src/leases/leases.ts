import type { KV } from '@nats-io/kv'
import type { Clock, Logger } from '@tidewatch/shared'
import { isWrongLastSequence } from '../state/buckets.js'
import type { Timers, TimerHandle } from '../timers.js'

/** A lease as stored: who holds it and until when (wall-clock ms; replicas' clocks must roughly agree). */
export interface LeaseValue {
  owner: string
  expiresAtMs: number
}

export type LeaseResult = { held: true } | { held: false; owner: string; expiresAtMs: number }

interface HeldLease {
  revision: number
  expiresAtMs: number
}

/**
 * One lease per notification group in KV, so exactly one replica sends a group's notifications.
 * Acquire and renew are compare-and-set writes; a holder renews every ttl/3 while it keeps the group,
 * and releases on shutdown, so a stopped replica hands over at once and a dead one after `ttlMs`.
 * A holder whose renewal fails (someone else took the lease) stops counting it as held.
 */
export class LeaseManager {
  private readonly held = new Map<string, HeldLease>()
  private renewTimer: TimerHandle | undefined
  private renewing = false
  private stopped = false

  constructor(
    private readonly kv: KV,
    /** Unique per process: `<alerter id>/<random>`, so two replicas with the same id never share a lease. */
    readonly owner: string,
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly logger: Logger,
  ) {}

  /** Whether this replica holds `key` with at least `marginMs` to go. */
  holds(key: string, marginMs = 0): boolean {
    const lease = this.held.get(key)
    return lease !== undefined && lease.expiresAtMs - marginMs > this.clock.now()
  }

  async acquire(key: string): Promise<LeaseResult> {
    if (this.stopped) return { held: false, owner: 'stopped', expiresAtMs: Infinity }
    const now = this.clock.now()
    const value = JSON.stringify({ owner: this.owner, expiresAtMs: now + this.ttlMs } satisfies LeaseValue)
    const entry = await this.kv.get(key)
    try {
      if (entry === null || entry.operation !== 'PUT') {
        const revision =
          entry === null ? await this.kv.create(key, value) : await this.kv.update(key, value, entry.revision)
        this.held.set(key, { revision, expiresAtMs: now + this.ttlMs })
        this.scheduleRenewal()
        return { held: true }
      }
      const current = entry.json<LeaseValue>()
      if (current.owner !== this.owner && current.expiresAtMs > now) {
        this.held.delete(key)
        return { held: false, owner: current.owner, expiresAtMs: current.expiresAtMs }
      }
      const revision = await this.kv.update(key, value, entry.revision)
      this.held.set(key, { revision, expiresAtMs: now + this.ttlMs })
      this.scheduleRenewal()
      return { held: true }
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error
      // Someone wrote between our read and write: our own background renewal (then we still hold it,
      // at its revision), or another replica, which holds it for (at least) a full ttl.
      const latest = await this.kv.get(key)
      const current = latest !== null && latest.operation === 'PUT' ? latest.json<LeaseValue>() : undefined
      if (latest !== null && current?.owner === this.owner && current.expiresAtMs > this.clock.now()) {
        this.held.set(key, { revision: latest.revision, expiresAtMs: current.expiresAtMs })
        return { held: true }
      }
      this.held.delete(key)
      return {
        held: false,
        owner: current?.owner ?? 'unknown',
        expiresAtMs: current?.expiresAtMs ?? now + this.ttlMs,
      }
    }
  }

  /** Gives the lease up (the group is gone, or this replica stops); the other replica may take it at once. */
  async release(key: string): Promise<void> {
    const lease = this.held.get(key)
    this.held.delete(key)
    if (lease === undefined) return
    try {
      await this.kv.delete(key, { previousSeq: lease.revision })
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error
    }
  }

  async releaseAll(): Promise<void> {
    this.stopped = true
    if (this.renewTimer !== undefined) this.timers.clear(this.renewTimer)
    await Promise.allSettled([...this.held.keys()].map((key) => this.release(key)))
  }

  private scheduleRenewal(): void {
    if (this.renewTimer !== undefined || this.stopped) return
    this.renewTimer = this.timers.set(Math.max(50, Math.floor(this.ttlMs / 3)), () => {
      this.renewTimer = undefined
      void this.renewAll().finally(() => {
        if (this.held.size > 0) this.scheduleRenewal()
      })
    })
  }

  /** Never rejects: a failed renewal drops the lease; the next flush of that group asks again. */
  async renewAll(): Promise<void> {
    if (this.renewing || this.stopped) return
    this.renewing = true
    try {
      await Promise.all(
        [...this.held.entries()].map(async ([key, lease]) => {
          const expiresAtMs = this.clock.now() + this.ttlMs
          try {
            const revision = await this.kv.update(
              key,
              JSON.stringify({ owner: this.owner, expiresAtMs }),
              lease.revision,
            )
            if (this.held.get(key) === lease) this.held.set(key, { revision, expiresAtMs })
          } catch (error) {
            if (this.held.get(key) === lease) this.held.delete(key)
            this.logger.warn(
              { err: error, lease: key },
              'lost a group lease; the other replica sends for that group',
            )
          }
        }),
      )
    } finally {
      this.renewing = false
    }
  }
}
