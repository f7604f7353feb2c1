import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRabbitmqServer, type RabbitmqHandle } from '../../testing/services.js'
import { recorder, testDeps, type Recorded } from '../testing.js'
import { RabbitmqInput } from './index.js'

const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`

async function api(base: string, method: 'PUT' | 'POST', path: string, body: unknown): Promise<void> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`)
}

const publish = (base: string, queue: string): Promise<void> =>
  api(base, 'POST', '/api/exchanges/%2F/amq.default/publish', {
    properties: {},
    routing_key: queue,
    payload: 'x',
    payload_encoding: 'string',
  })

// One broker for the whole file: rabbitmq-server takes several seconds to start.
describe('rabbitmq input against a real rabbitmq-server with the management plugin', () => {
  let rabbit: RabbitmqHandle
  beforeAll(async () => {
    rabbit = await startRabbitmqServer()
    const base = rabbit.managementUrl
    for (const q of ['orders', 'idle', 'busy'])
      await api(base, 'PUT', `/api/queues/%2F/${q}`, { durable: false, auto_delete: false, arguments: {} })
    for (let i = 0; i < 5; i++) await publish(base, 'orders')
  }, 90_000)
  afterAll(async () => {
    await rabbit?.stop()
  }, 60_000)

  const config = (url: string, queues: string[] = []) => ({
    enabled: true,
    timeout: 5_000,
    url,
    username: 'guest',
    password: 'guest',
    queues,
  })

  it('reports messages, ready, unacked, consumers and rates per queue', async () => {
    const input = new RabbitmqInput(config(rabbit.managementUrl), testDeps)
    await input.init()
    // The management API shows figures after its next statistics tick (500 ms here); a publish rate
    // takes ~10 s (two of its rate samples), longer on a busy machine.
    let samples: Recorded[] = []
    const value = (name: string, queue: string) =>
      samples.find((s) => s.name === name && s.labels.queue === queue)?.value
    const deadline = Date.now() + 45_000
    while (Date.now() < deadline) {
      // a steady trickle into "busy" gives it a publish rate above zero
      for (let i = 0; i < 5; i++) await publish(rabbit.managementUrl, 'busy')
      const r = recorder()
      await input.gather(r.acc)
      samples = r.samples
      if (
        value('rabbitmq.queue_messages', 'orders') === 5 &&
        (value('rabbitmq.queue_publish_per_second', 'busy') ?? 0) > 0
      )
        break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(samples.find((s) => s.labels.queue === 'orders')?.labels).toEqual({ vhost: '/', queue: 'orders' })
    expect(value('rabbitmq.queue_messages', 'orders')).toBe(5)
    expect(value('rabbitmq.queue_messages_ready', 'orders')).toBe(5)
    expect(value('rabbitmq.queue_messages_unacked', 'orders')).toBe(0)
    expect(value('rabbitmq.queue_consumers', 'orders')).toBe(0)
    expect(value('rabbitmq.queue_published_total', 'orders')).toBe(5)
    expect(value('rabbitmq.queue_deliver_per_second', 'orders')).toBe(0)
    expect(value('rabbitmq.queue_publish_per_second', 'busy')).toBeGreaterThan(0)
    expect(value('rabbitmq.queue_published_total', 'busy')).toBeGreaterThanOrEqual(5)
    expect(value('rabbitmq.queue_messages', 'idle')).toBe(0)
    expect(value('rabbitmq.queue_publish_per_second', 'idle')).toBe(0)
  })

  it('reports only the configured queues', async () => {
    const input = new RabbitmqInput(config(rabbit.managementUrl, ['idle']), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(new Set(samples.map((s) => s.labels.queue))).toEqual(new Set(['idle']))
  })

  it('fails the round on wrong credentials', async () => {
    const input = new RabbitmqInput({ ...config(rabbit.managementUrl), password: 'nope' }, testDeps)
    await input.init()
    await expect(input.gather(recorder().acc)).rejects.toThrow(/HTTP 401/)
  })
})
