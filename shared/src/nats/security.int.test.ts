import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { natsSchema, streamSchema } from '../config/schema.js'
import { startNatsServer, type NatsServerHandle } from '../testing/nats-server.js'
import { connectNats, type NatsConnection } from './connect.js'
import { ensureStreams } from './streams.js'

/*
 * config/nats/accounts.conf against a real nats-server: each component's credential may do what the
 * component does (with the real helpers where shared/ has them) and nothing else. The server runs
 * the committed accounts file unchanged, included from a test config that only sets the store dir.
 */

const ACCOUNTS_CONF = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config/nats/accounts.conf')
const PASSWORDS = {
  NATS_AGENT_PASSWORD: 'agent-pw',
  NATS_AGGREGATOR_PASSWORD: 'aggregator-pw',
  NATS_ALERTER_PASSWORD: 'alerter-pw',
  NATS_MONITOR_PASSWORD: 'monitor-pw',
  NATS_SYS_PASSWORD: 'sys-pw',
}
const logger = pino({ level: 'silent' })
const metrics = streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '24h' }).parse({})
const dlq = streamSchema({ name: 'DLQ', subjects: ['metrics.dlq.>'], max_age: '7d' }).parse({})
const alerts = streamSchema({ name: 'ALERTS', subjects: ['alerts.>'], max_age: '7d' }).parse({})

let dir: string
let server: NatsServerHandle
const open: NatsConnection[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-nats-security-'))
  copyFileSync(ACCOUNTS_CONF, join(dir, 'accounts.conf'))
  const conf = join(dir, 'server.conf')
  // JetStream and its store dir come from startNatsServer's -js -sd flags.
  writeFileSync(conf, 'include ./accounts.conf\n')
  // nats-server reads $VAR references the file leaves undefined from its environment.
  Object.assign(process.env, PASSWORDS)
  server = await startNatsServer({ dataDir: join(dir, 'js'), args: ['-c', conf] })
})

afterAll(async () => {
  await Promise.all(open.map((connection) => connection.close().catch(() => undefined)))
  await server?.dispose()
  rmSync(dir, { recursive: true, force: true })
})

async function as(user: string, password: string): Promise<NatsConnection> {
  const config = natsSchema.parse({ servers: [server.url], user, password, connect_timeout: '2s' })
  const connection = await connectNats(config, { name: `test-${user}`, logger })
  open.push(connection)
  return connection
}

/** The first permission error the server reports to this connection after `action`. */
async function permissionError(connection: NatsConnection, action: () => unknown): Promise<string> {
  const seen = (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'error') return String((status as { error?: Error }).error?.message ?? '')
    }
    return ''
  })()
  await action()
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no error reported'), 2_000))
  return Promise.race([seen, timeout])
}

async function refused(work: Promise<unknown>): Promise<string> {
  const outcome = await work.then(
    () => 'allowed',
    (error: unknown) => String((error as Error).message),
  )
  // Refused by the server's permissions, not by a timeout or a missing stream.
  expect(outcome).toMatch(/Permissions Violation|Authorization Violation/)
  return outcome
}

describe('config/nats/accounts.conf', () => {
  let aggregator: NatsConnection
  let agent: NatsConnection

  beforeAll(async () => {
    aggregator = await as('aggregator', PASSWORDS.NATS_AGGREGATOR_PASSWORD)
    agent = await as('agent', PASSWORDS.NATS_AGENT_PASSWORD)
  })

  it('refuses a wrong password', async () => {
    await refused(as('agent', 'not-the-password'))
  })

  it('lets the aggregator create its streams and consumer, read what an agent published, and write DLQ and ALERTS', async () => {
    const manager = await ensureStreams(aggregator, [metrics, dlq, alerts])
    await manager.consumers.add('METRICS', { durable_name: 'aggregator', ack_policy: AckPolicy.Explicit })

    // The agent publishes through its own account; JetStream's ack comes back to it.
    const ack = await jetstream(agent).publish('metrics.in.web-1', 'batch-1', {
      msgID: 'web-1:1',
      timeout: 2_000,
    })
    expect(ack.stream).toBe('METRICS')

    const consumer = await jetstream(aggregator).consumers.get('METRICS', 'aggregator')
    const message = await consumer.next({ expires: 2_000 })
    expect(message?.string()).toBe('batch-1')
    expect(message?.headers?.get('Nats-Msg-Id')).toBe('web-1:1')
    await message?.ackAck()

    await jetstream(aggregator).publish('metrics.dlq.web-1', 'bad batch')
    await jetstream(aggregator).publish('alerts.events.cpu_high', '{}')
  })

  it('lets the aggregator use its partition lease bucket and no other', async () => {
    const kv = await new Kvm(aggregator).create('tidewatch_partitions', { ttl: 10_000, history: 1 })
    const revision = await kv.create('p.0', 'aggregator-1')
    await kv.update('p.0', 'aggregator-1', revision)
    await kv.put('r.aggregator-1', '1')
    const keys: string[] = []
    for await (const key of await kv.keys('r.*')) keys.push(key)
    expect(keys).toEqual(['r.aggregator-1'])
    expect((await kv.get('p.0'))?.string()).toBe('aggregator-1')
    await kv.delete('p.0', { previousSeq: (await kv.get('p.0'))?.revision ?? 0 })

    await refused(new Kvm(aggregator).create('tidewatch_alerter_alerts', { history: 1 }))
    await refused(jetstreamManager(aggregator).then((manager) => manager.streams.delete('METRICS')))
  })

  it('lets the alerter read ALERTS and own its four KV buckets', async () => {
    const alerter = await as('alerter', PASSWORDS.NATS_ALERTER_PASSWORD)
    const manager = await ensureStreams(alerter, [alerts])
    await manager.consumers.add('ALERTS', { durable_name: 'alerter', ack_policy: AckPolicy.Explicit })
    const consumer = await jetstream(alerter).consumers.get('ALERTS', 'alerter')
    const message = await consumer.next({ expires: 2_000 })
    expect(message?.subject).toBe('alerts.events.cpu_high')
    await message?.ackAck()

    // The names alerter/src/state/buckets.ts opens (default bucket_prefix).
    const kvm = new Kvm(alerter)
    for (const name of ['alerts', 'nflog', 'silences', 'leases']) {
      const kv = await kvm.create(`tidewatch_alerter_${name}`, { history: name === 'silences' ? 5 : 1 })
      await kv.put('a.x', 'v')
      expect((await kv.get('a.x'))?.string()).toBe('v')
      const keys: string[] = []
      for await (const key of await kv.keys('a.>')) keys.push(key)
      expect(keys).toEqual(['a.x'])
    }
    await refused(new Kvm(alerter).open('tidewatch_partitions').then((kv) => kv.get('p.0')))
    // Its own metrics go to METRICS ([admin] self_metrics_interval); dead letters are not its business.
    expect(
      (await jetstream(alerter).publish('metrics.in.tidewatch-alerter-alerter-1', 'x', { timeout: 2_000 }))
        .stream,
    ).toBe('METRICS')
    expect(await permissionError(alerter, () => alerter.publish('metrics.dlq.web-1', 'x'))).toMatch(
      /Permissions Violation for Publish/,
    )
  })

  describe('an agent credential', () => {
    it('may publish metric batches', async () => {
      const js = jetstream(agent)
      const ack = await js.publish('metrics.in.3.web-2', 'batch-2', { msgID: 'web-2:1', timeout: 2_000 })
      expect(ack.duplicate).toBe(false)
      // A re-send with the same id is dropped by the stream's duplicate window, and the agent is told.
      expect(
        (await js.publish('metrics.in.3.web-2', 'batch-2', { msgID: 'web-2:1', timeout: 2_000 })).duplicate,
      ).toBe(true)
    })

    it('may not subscribe to metrics (nor to anything but its inbox)', async () => {
      for (const subject of ['metrics.in.>', 'metrics.dlq.>', 'alerts.>', '>']) {
        const error = await permissionError(agent, () => agent.subscribe(subject))
        expect(error).toMatch(/Permissions Violation for Subscription/)
      }
    })

    it('may not publish alerts, dead letters or anything outside metrics.in.>', async () => {
      for (const subject of [
        'alerts.events.fake',
        'metrics.dlq.x',
        '$KV.tidewatch_partitions.p.0',
        'metricsXin',
      ]) {
        const error = await permissionError(agent, () => agent.publish(subject, 'x'))
        expect(error).toMatch(/Permissions Violation for Publish/)
      }
    })

    it('may not use KV buckets', async () => {
      await refused(new Kvm(agent).create('tidewatch_partitions', { history: 1 }))
      await refused(new Kvm(agent).open('tidewatch_alerter_alerts').then((kv) => kv.get('a.x')))
    })

    it('may not create, read or delete streams and consumers', async () => {
      const manager = await jetstreamManager(agent, { checkAPI: false, timeout: 1_000 })
      await refused(manager.streams.add({ name: 'EVIL', subjects: ['evil.>'] }))
      await refused(manager.streams.info('METRICS'))
      await refused(manager.streams.delete('METRICS'))
      await refused(
        manager.consumers.add('METRICS', { durable_name: 'evil', ack_policy: AckPolicy.Explicit }),
      )
      // The stream the agent's batches went to is untouched.
      const info = await (await jetstreamManager(aggregator)).streams.info('METRICS')
      // (two agent batches, and the alerter's self-metrics report)
      expect(info.state.messages).toBe(3)
    })
  })
})
