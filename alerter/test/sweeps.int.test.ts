import { connect, type NatsConnection } from '@nats-io/transport-node'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXPIRED_SILENCE_RETENTION_MS, SilenceStore } from '../src/silences/silences.js'
import { AlertStore } from '../src/state/alert-store.js'
import { openBuckets, type AlerterBuckets } from '../src/state/buckets.js'
import { alertEvent } from '../src/testing/events.js'

const HOUR = 3_600_000
const logger = pino({ level: 'silent' })

describe('sweeps of alert tombstones and expired silences (real nats-server KV)', () => {
  let nats: NatsServerHandle
  let connection: NatsConnection
  let buckets: AlerterBuckets
  let nowMs = 1_700_000_000_000
  const clock = { now: () => nowMs }

  beforeAll(async () => {
    nats = await startNatsServer()
    connection = await connect({ servers: nats.url })
    buckets = await openBuckets(connection, { prefix: 'sweep', replicas: 1, storage: 'memory' })
  })
  afterAll(async () => {
    await connection?.close()
    await nats?.dispose()
  })

  it('deletes silences a retention after their end, and keeps active and recently expired ones', async () => {
    const silences = new SilenceStore(buckets.silences, clock)
    const add = (durationMs: number, comment: string) =>
      silences.add({ matchers: ['host="a"'], durationMs, createdBy: 'test', comment })
    await add(HOUR, 'ends in an hour')
    const expiredEarly = await add(HOUR, 'expired early')
    await silences.expire(expiredEarly.id)
    await add(30 * 24 * HOUR, 'a month')

    nowMs += EXPIRED_SILENCE_RETENTION_MS
    expect(await silences.sweepExpired(EXPIRED_SILENCE_RETENTION_MS, logger)).toBe(1)
    expect((await silences.list()).map((s) => s.comment).sort()).toEqual(['a month', 'ends in an hour'])
    nowMs += HOUR
    expect(await silences.sweepExpired(EXPIRED_SILENCE_RETENTION_MS, logger)).toBe(1)
    expect((await silences.list()).map((s) => s.comment)).toEqual(['a month'])
  })

  it('keeps the tombstone of a resolve applied before its firing event until the sweep, so the late firing is stale', async () => {
    const store = new AlertStore(buckets.alerts, clock)
    const at = nowMs
    const resolved = alertEvent('Out', { host: 'a' }, 'resolved', at + 2_000, { activeSinceMs: at })
    const firing = alertEvent('Out', { host: 'a' }, 'firing', at + 1_000, { activeSinceMs: at })
    expect((await store.apply(resolved)).kind).toBe('store')
    expect(await store.apply(firing)).toEqual({ kind: 'ignore', reason: 'stale' })
    expect((await store.get(firing.fingerprint))?.record).toMatchObject({ state: 'resolved', closedAtMs: at })

    expect(await store.sweepClosed(HOUR, logger)).toBe(0)
    nowMs += HOUR
    expect(await store.sweepClosed(HOUR, logger)).toBe(1)
    expect(await store.get(firing.fingerprint)).toBeUndefined()
  })
})
