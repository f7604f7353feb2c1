import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstream, type JetStreamManager } from '@nats-io/jetstream'
import {
  agentConfigSchema,
  connectNats,
  createLogger,
  decodeBatch,
  ensureStreams,
  limitsFromConfig,
  streamSchema,
  type NatsConnection,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { RetryingDelivery } from './delivery.js'
import { NatsPublisher } from './outputs/nats/publisher.js'
import { MemoryQueue } from './spool/memory.js'
import type { QueuedBatch } from './spool/types.js'
import { runAgentCli } from './testing/index.js'
import { systemTimers } from './timers.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const limits = limitsFromConfig(agentConfigSchema.parse({}).limits)

describe('agent -> JetStream, against a real nats-server', () => {
  let server: NatsServerHandle
  let connection: NatsConnection
  let manager: JetStreamManager
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-agent-int-'))
    server = await startNatsServer()
    connection = await connectNats(
      { servers: [server.url], connect_timeout: 2000, reconnect_wait: 200 },
      { name: 'test', logger },
    )
    // The aggregator owns this stream in production; the agent never creates it.
    const metrics = streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({
      duplicate_window: '2m',
    })
    manager = await ensureStreams(connection, [metrics])
  })
  afterAll(async () => {
    await connection?.close()
    await server?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  async function readAll(
    stream: string,
  ): Promise<{ subject: string; msgId: string | undefined; data: Uint8Array }[]> {
    const count = (await manager.streams.info(stream)).state.messages
    const consumer = await jetstream(connection).consumers.get(stream)
    const out: { subject: string; msgId: string | undefined; data: Uint8Array }[] = []
    for (let i = 0; i < count; i++) {
      const msg = await consumer.next({ expires: 5_000 })
      if (msg === null) throw new Error(`expected ${count} messages, got ${i}`)
      out.push({ subject: msg.subject, msgId: msg.headers?.get('Nats-Msg-Id'), data: msg.data })
    }
    await consumer.delete()
    return out
  }

  it('tidewatch-agent --once publishes one batch with a stable Nats-Msg-Id; a second run continues the sequence', async () => {
    const config = join(dir, 'agent.toml')
    writeFileSync(
      config,
      [
        '[agent]',
        'id = "int-agent"',
        'hostname = "i631"',
        `data_dir = "${join(dir, 'data')}"`,
        // the agent's own series are tested in test/self.test.ts
        'self_metrics = false',
        '[global_labels]',
        'env = "prod"',
        'region = "us-west"',
        '[nats]',
        `servers = ["${server.url}"]`,
        '[log]',
        'level = "warn"',
        // only the cpu total and memory series, so the batch's content is known
        '[inputs.cpu]',
        'per_cpu = false',
        '[inputs.disk]',
        'enabled = false',
        '[inputs.net]',
        'enabled = false',
        '[inputs.system]',
        'enabled = false',
      ].join('\n'),
    )
    const first = await runAgentCli(['--config', config, '--once'])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const second = await runAgentCli(['--config', config, '--once'])
    expect(second.code).toBe(0)

    const messages = await readAll('METRICS')
    expect(messages.map((m) => [m.subject, m.msgId])).toEqual([
      ['metrics.in.int-agent', 'int-agent:1'],
      ['metrics.in.int-agent', 'int-agent:2'],
    ])
    const batch = decodeBatch(messages[0]!.data, limits, Date.now())
    expect(batch).toMatchObject({ agentId: 'int-agent', seq: 1, sampleCount: 12 })
    const byName = new Map(batch.series.map((s) => [s.name, s]))
    expect([...byName.keys()].sort()).toEqual([
      'cpu.idle_percent',
      'cpu.iowait_percent',
      'cpu.steal_percent',
      'cpu.system_percent',
      'cpu.usage_percent',
      'cpu.user_percent',
      'mem.available_bytes',
      'mem.cached_bytes',
      'mem.swap_total_bytes',
      'mem.swap_used_bytes',
      'mem.total_bytes',
      'mem.used_bytes',
    ])
    expect(byName.get('cpu.usage_percent')!.labels).toEqual({
      cpu: 'total',
      host: 'i631',
      env: 'prod',
      region: 'us-west',
    })
    expect(byName.get('mem.total_bytes')!.labels).toEqual({ host: 'i631', env: 'prod', region: 'us-west' })
    const total = batch.values[byName.get('mem.total_bytes')!.offset]!
    const used = batch.values[byName.get('mem.used_bytes')!.offset]!
    expect(used).toBeGreaterThan(0)
    expect(used).toBeLessThan(total)
  })

  it('publishing the same batch twice stores it once (duplicate detection by Nats-Msg-Id)', async () => {
    const publisher = new NatsPublisher({ connection, logger, timeoutMs: 5_000 })
    const before = (await manager.streams.info('METRICS')).state.messages
    const batch: QueuedBatch = {
      id: 'dup-agent:7',
      seq: 7,
      subject: 'metrics.in.dup-agent',
      data: new Uint8Array([1, 2, 3]),
      sampleCount: 1,
    }
    expect(await publisher.send(batch)).toEqual({ duplicate: false })
    expect(await publisher.send(batch)).toEqual({ duplicate: true })
    expect((await manager.streams.info('METRICS')).state.messages).toBe(before + 1)
  })

  it('keeps a batch queued while no stream takes it, and delivers it once one does', async () => {
    const publisher = new NatsPublisher({ connection, logger, timeoutMs: 1_000 })
    const delivery = new RetryingDelivery({
      queue: new MemoryQueue(1_000_000),
      sink: publisher,
      timers: systemTimers,
      logger,
      retryInitialDelayMs: 50,
      retryMaxDelayMs: 200,
    })
    const batch: QueuedBatch = {
      id: 'late:1',
      seq: 1,
      subject: 'late.in.late',
      data: new Uint8Array([9]),
      sampleCount: 1,
    }
    await delivery.enqueue([batch])
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(delivery.pending).toBe(1)
    expect(delivery.stats.failedAttempts).toBeGreaterThan(0)
    await ensureStreams(connection, [
      streamSchema({ name: 'LATE', subjects: ['late.in.>'], max_age: '1h' }).parse({}),
    ])
    expect(await delivery.drain(10_000)).toBe(0)
    expect(delivery.stats.sent).toBe(1)
    expect((await readAll('LATE')).map((m) => m.msgId)).toEqual(['late:1'])
  })
})
