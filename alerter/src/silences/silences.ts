import { randomUUID } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import type { Clock, Labels, Logger } from '@tidewatch/shared'
import { SilenceError } from '../errors.js'
import { watchBucket } from '../state/alert-store.js'
import { sweepBucket } from '../state/buckets.js'
import { formatMatcher, matchesAll, parseMatcher, type Matcher } from '../routing/matchers.js'

/** A silence mutes every alert all its matchers match, from `startsAtMs` until `endsAtMs`. */
export interface Silence {
  id: string
  matchers: Matcher[]
  startsAtMs: number
  endsAtMs: number
  createdBy: string
  comment: string
  createdAtMs: number
  updatedAtMs: number
}

export type SilenceStatus = 'pending' | 'active' | 'expired'

export function silenceStatus(silence: Silence, nowMs: number): SilenceStatus {
  if (nowMs < silence.startsAtMs) return 'pending'
  if (nowMs >= silence.endsAtMs) return 'expired'
  return 'active'
}

/** Pure: whether an active silence among `silences` matches `labels` now. */
export function isSilenced(labels: Labels, silences: Iterable<Silence>, nowMs: number): boolean {
  for (const silence of silences) {
    if (silenceStatus(silence, nowMs) === 'active' && matchesAll(silence.matchers, labels)) return true
  }
  return false
}

export interface NewSilence {
  /** Matcher texts such as `alertname="HighCPU"`; at least one. */
  matchers: string[]
  durationMs: number
  startsAtMs?: number
  createdBy: string
  comment: string
}

const KEY_PREFIX = 's.'

/** How long an expired silence stays listed before the sweep deletes it (Alertmanager keeps 120 h). */
export const EXPIRED_SILENCE_RETENTION_MS = 120 * 3_600_000

/**
 * Silences in JetStream KV, shared by every alerter replica and the CLI. Expired silences are kept
 * (for `list`) until `sweepExpired` deletes them, a retention after their end, so the bucket and
 * every flush's silence check do not grow for ever.
 */
export class SilenceStore {
  private readonly cache = new Map<string, Silence>()

  constructor(
    private readonly kv: KV,
    private readonly clock: Clock,
  ) {}

  async add(input: NewSilence): Promise<Silence> {
    if (input.matchers.length === 0)
      throw new SilenceError('a silence needs at least one matcher', 'SILENCE_INVALID')
    const matchers = input.matchers.map((text) => {
      try {
        return parseMatcher(text)
      } catch (error) {
        throw new SilenceError((error as Error).message, 'SILENCE_INVALID', false, { cause: error })
      }
    })
    if (!(input.durationMs > 0))
      throw new SilenceError('a silence needs a positive duration', 'SILENCE_INVALID')
    const now = this.clock.now()
    const startsAtMs = input.startsAtMs ?? now
    const silence: Silence = {
      id: randomUUID(),
      matchers,
      startsAtMs,
      endsAtMs: startsAtMs + input.durationMs,
      createdBy: input.createdBy,
      comment: input.comment,
      createdAtMs: now,
      updatedAtMs: now,
    }
    await this.kv.create(KEY_PREFIX + silence.id, JSON.stringify(silence))
    this.cache.set(silence.id, silence)
    return silence
  }

  /** Ends a silence now; an already expired one is left as it is. */
  async expire(id: string): Promise<Silence> {
    const entry = await this.kv.get(KEY_PREFIX + id)
    if (entry === null || entry.operation !== 'PUT')
      throw new SilenceError(`no silence with id ${id}`, 'SILENCE_NOT_FOUND')
    const silence = entry.json<Silence>()
    const now = this.clock.now()
    if (silenceStatus(silence, now) === 'expired') return silence
    const expired: Silence = {
      ...silence,
      endsAtMs: now,
      startsAtMs: Math.min(silence.startsAtMs, now),
      updatedAtMs: now,
    }
    await this.kv.update(KEY_PREFIX + id, JSON.stringify(expired), entry.revision)
    this.cache.set(id, expired)
    return expired
  }

  /** Deletes silences that ended at least `retentionMs` ago. */
  async sweepExpired(retentionMs: number, logger: Logger): Promise<number> {
    const now = this.clock.now()
    const deleted = await sweepBucket<Silence>(
      this.kv,
      KEY_PREFIX,
      (silence) => now - silence.endsAtMs >= retentionMs,
      (error, key) => logger.warn({ err: error, key }, 'cannot sweep an expired silence'),
    )
    for (const key of deleted) this.cache.delete(key.slice(KEY_PREFIX.length))
    return deleted.length
  }

  async list(): Promise<Silence[]> {
    const out: Silence[] = []
    for await (const key of await this.kv.keys(`${KEY_PREFIX}>`)) {
      const entry = await this.kv.get(key)
      if (entry !== null && entry.operation === 'PUT') out.push(entry.json<Silence>())
    }
    return out.sort((a, b) => a.startsAtMs - b.startsAtMs || a.id.localeCompare(b.id))
  }

  /** The silences known to this process: kept current by `watch`. */
  current(): Iterable<Silence> {
    return this.cache.values()
  }

  isSilenced(labels: Labels, nowMs = this.clock.now()): boolean {
    return isSilenced(labels, this.cache.values(), nowMs)
  }

  /** Follows changes from every replica and the CLI; `onChange` runs after the cache is updated. */
  async watch(
    signal: AbortSignal,
    onChange: (silence: Silence | undefined) => void,
  ): Promise<{ ready: Promise<void>; done: Promise<void> }> {
    return watchBucket(this.kv, `${KEY_PREFIX}>`, signal, (entry) => {
      const id = entry.key.slice(KEY_PREFIX.length)
      if (entry.operation !== 'PUT') {
        this.cache.delete(id)
        onChange(undefined)
        return
      }
      const silence = entry.json<Silence>()
      this.cache.set(id, silence)
      onChange(silence)
    })
  }
}

export function describeSilence(silence: Silence, nowMs: number): string {
  const matchers = silence.matchers.map(formatMatcher).join(',')
  return [
    silence.id,
    silenceStatus(silence, nowMs),
    new Date(silence.startsAtMs).toISOString(),
    new Date(silence.endsAtMs).toISOString(),
    `{${matchers}}`,
    silence.createdBy,
    JSON.stringify(silence.comment),
  ].join('  ')
}
