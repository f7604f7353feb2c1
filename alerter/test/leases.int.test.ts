import type { KV } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LeaseManager } from '../src/leases/leases.js'
import { openBuckets } from '../src/state/buckets.js'
import { systemTimers } from '../src/timers.js'

const logger = pino({ level: 'silent' })
const clock = { now: () => Date.now() }

describe('group leases (real nats-server KV)', () => {
  let nats: NatsServerHandle
  let connection: NatsConnection
  let kv: KV

  beforeAll(async () => {
    nats = await startNatsServer()
    connection = await connect({ servers: nats.url })
    kv = (await openBuckets(connection, { prefix: 'lease', replicas: 1, storage: 'memory' })).leases
  })
  afterAll(async () => {
    await connection?.close()
    await nats?.dispose()
  })

  it("keeps its own lease when its background renewal writes between a flush's read and write", async () => {
    // The renewal runs right after acquire's read, as it can when both are under way.
    let renewBetween: (() => Promise<void>) | undefined
    const racing = new Proxy(kv, {
      get(target, property, receiver) {
        if (property !== 'get') return Reflect.get(target, property, receiver) as unknown
        return async (key: string) => {
          const entry = await target.get(key)
          const renew = renewBetween
          renewBetween = undefined
          await renew?.()
          return entry
        }
      },
    })
    const leases = new LeaseManager(racing, 'replica-a/1', 30_000, clock, systemTimers, logger)
    const other = new LeaseManager(kv, 'replica-b/1', 30_000, clock, systemTimers, logger)
    try {
      expect(await leases.acquire('g1')).toEqual({ held: true })
      renewBetween = () => leases.renewAll()
      expect(await leases.acquire('g1')).toEqual({ held: true })
      expect(leases.holds('g1')).toBe(true)
      // Still held in KV: the other replica cannot take it, and our next renewal succeeds.
      expect(await other.acquire('g1')).toMatchObject({ held: false, owner: 'replica-a/1' })
      await leases.renewAll()
      expect(leases.holds('g1')).toBe(true)
    } finally {
      await leases.releaseAll()
      await other.releaseAll()
    }
  })

  it('does not take a lease another replica holds, and says who holds it', async () => {
    const leases = new LeaseManager(kv, 'replica-a/2', 30_000, clock, systemTimers, logger)
    const other = new LeaseManager(kv, 'replica-b/2', 30_000, clock, systemTimers, logger)
    try {
      expect(await other.acquire('g2')).toEqual({ held: true })
      expect(await leases.acquire('g2')).toMatchObject({ held: false, owner: 'replica-b/2' })
      expect(leases.holds('g2')).toBe(false)
    } finally {
      await leases.releaseAll()
      await other.releaseAll()
    }
  })
})
