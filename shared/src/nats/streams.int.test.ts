import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { streamSchema } from '../config/schema.js'
import { startNatsServer, type NatsServerHandle } from '../testing/nats-server.js'
import { connectNats, type NatsConnection } from './connect.js'
import { ensureStreams } from './streams.js'

describe('ensureStreams against a real nats-server', () => {
  let server: NatsServerHandle
  let connection: NatsConnection
  beforeAll(async () => {
    server = await startNatsServer()
    connection = await connectNats(
      { servers: [server.url], connect_timeout: 2000, reconnect_wait: 200 },
      { name: 'test', logger: pino({ level: 'silent' }) },
    )
  })
  afterAll(async () => {
    await connection?.close()
    await server?.dispose()
  })

  it('creates a stream, then updates its limits idempotently', async () => {
    const config = streamSchema({ name: 'METRICS_T1', subjects: ['t1.>'], max_age: '1h' }).parse({})
    const manager = await ensureStreams(connection, [config])
    const first = await manager.streams.info('METRICS_T1')
    expect(first.config.subjects).toEqual(['t1.>'])
    expect(first.config.max_age).toBe(3_600_000_000_000)

    await ensureStreams(connection, [config])
    const changed = { ...config, max_age: 7_200_000, max_bytes: 1_000_000 }
    await ensureStreams(connection, [changed])
    const second = await manager.streams.info('METRICS_T1')
    expect(second.config.max_age).toBe(7_200_000_000_000)
    expect(second.config.max_bytes).toBe(1_000_000)
    expect((await manager.streams.list().next()).length).toBe(1)
  })

  it('keeps the duplicate window so a re-sent message id is dropped', async () => {
    const config = streamSchema({ name: 'DUP_T', subjects: ['dup.>'], max_age: '1h' }).parse({
      duplicate_window: '1m',
    })
    const manager = await ensureStreams(connection, [config])
    const js = manager.jetstream()
    const first = await js.publish('dup.a', 'x', { msgID: 'agent:1' })
    const again = await js.publish('dup.a', 'x', { msgID: 'agent:1' })
    expect(again.duplicate).toBe(true)
    expect(again.seq).toBe(first.seq)
    expect((await manager.streams.info('DUP_T')).state.messages).toBe(1)
  })
})
