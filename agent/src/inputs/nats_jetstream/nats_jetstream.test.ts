import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectNats, type NatsConnection } from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { recorder, testDeps } from '../testing.js'
import { NatsJetstreamInput } from './index.js'

describe('nats_jetstream input against a real nats-server', () => {
  let server: NatsServerHandle
  let nc: NatsConnection
  const config = (servers: string[], streams: string[] = [], consumers = true) => ({
    enabled: true,
    timeout: 5_000,
    servers,
    streams,
    consumers,
  })

  beforeAll(async () => {
    server = await startNatsServer()
    nc = await connectNats(
      { servers: [server.url], connect_timeout: 5_000, reconnect_wait: 500, tls: {} },
      { name: 'test', logger: testDeps.logger },
    )
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] })
    await jsm.streams.add({ name: 'EMPTY', subjects: ['empty.>'] })
    const js = jetstream(nc)
    for (let i = 0; i < 10; i++) await js.publish(`orders.${i}`, `order ${i}`)
    // "idle" has consumed nothing: all 10 pending. "worker" takes 4 and never acks them; after
    // ack_wait it takes them again, so 4 are redelivered and still waiting for an ack.
    await jsm.consumers.add('ORDERS', { durable_name: 'idle', ack_policy: AckPolicy.Explicit })
    await jsm.consumers.add('ORDERS', {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 300_000_000, // nanoseconds
      max_deliver: -1,
    })
    const worker = await js.consumers.get('ORDERS', 'worker')
    for (let round = 0; round < 2; round++) {
      const batch = await worker.fetch({ max_messages: 4, expires: 1_000 })
      let got = 0
      for await (const _m of batch) if (++got === 4) break
      // well past ack_wait (300 ms), so the server has made the 4 due again on a busy machine too
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
    const again = await worker.fetch({ max_messages: 4, expires: 1_000 })
    let got = 0
    for await (const _m of again) if (++got === 4) break
  }, 60_000)

  afterAll(async () => {
    await nc?.close()
    await server?.dispose()
  })

  it('reports messages and bytes per stream and pending, ack pending and redelivered per consumer', async () => {
    const input = new NatsJetstreamInput(config([server.url]), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value
    expect(value('jetstream.stream_messages', { stream: 'ORDERS' })).toBe(10)
    expect(value('jetstream.stream_bytes', { stream: 'ORDERS' })).toBeGreaterThan(10 * 'order 0'.length)
    expect(value('jetstream.stream_consumers', { stream: 'ORDERS' })).toBe(2)
    expect(value('jetstream.stream_messages', { stream: 'EMPTY' })).toBe(0)
    expect(value('jetstream.consumer_num_pending', { stream: 'ORDERS', consumer: 'idle' })).toBe(10)
    expect(value('jetstream.consumer_num_ack_pending', { stream: 'ORDERS', consumer: 'idle' })).toBe(0)
    expect(value('jetstream.consumer_num_pending', { stream: 'ORDERS', consumer: 'worker' })).toBe(6)
    expect(value('jetstream.consumer_num_ack_pending', { stream: 'ORDERS', consumer: 'worker' })).toBe(4)
    expect(value('jetstream.consumer_num_redelivered', { stream: 'ORDERS', consumer: 'worker' })).toBe(4)
    expect(
      value('jetstream.consumer_num_waiting', { stream: 'ORDERS', consumer: 'worker' }),
    ).toBeGreaterThanOrEqual(0)
  })

  it('reports only the configured streams, and no consumers when asked not to', async () => {
    const input = new NatsJetstreamInput(config([server.url], ['EMPTY'], false), testDeps)
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(samples.map((s) => [s.name, s.labels.stream])).toEqual([
      ['jetstream.stream_messages', 'EMPTY'],
      ['jetstream.stream_bytes', 'EMPTY'],
      ['jetstream.stream_consumers', 'EMPTY'],
    ])
  })

  it('fails the round for a stream that does not exist, and when the server is down', async () => {
    await expect(
      new NatsJetstreamInput(config([server.url], ['NOPE']), testDeps).gather(recorder().acc),
    ).rejects.toThrow(/stream not found/)
    const down = new NatsJetstreamInput({ ...config(['nats://127.0.0.1:1']), timeout: 1_000 }, testDeps)
    await expect(down.gather(recorder().acc)).rejects.toThrow()
  })
})
