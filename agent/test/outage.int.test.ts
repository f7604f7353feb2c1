import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { JetStreamManager } from '@nats-io/jetstream'
import {
  agentConfigSchema,
  connectNats,
  createLogger,
  ensureStreams,
  limitsFromConfig,
  natsSchema,
  streamSchema,
  type NatsConnection,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { readStream, seriesPoints, startAgent, waitFor, type AgentProcess } from './agent-process.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const limits = limitsFromConfig(agentConfigSchema.parse({}).limits)
const INTERVAL_MS = 250

/*
 * The real agent process against a real nats-server that goes away and comes back:
 *   agent --(batches)--> nats-server (stop ... start) --> METRICS stream --> read back and checked
 */
describe('agent through a NATS outage (real processes)', () => {
  let dir: string
  let server: NatsServerHandle
  let connection: NatsConnection
  let manager: JetStreamManager
  let agent: AgentProcess | undefined

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-outage-'))
    server = await startNatsServer()
    connection = await connectNats(
      natsSchema.parse({ servers: [server.url], connect_timeout: '2s', reconnect_wait: '100ms' }),
      { name: 'test', logger },
    )
    const metrics = streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({
      duplicate_window: '2m',
    })
    manager = await ensureStreams(connection, [metrics])
  })
  afterEach(async () => {
    await agent?.stop('SIGKILL')
    agent = undefined
    await connection?.close()
    await server?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  function writeConfig(agentKeys: string[] = []): string {
    const file = join(dir, 'agent.toml')
    writeFileSync(
      file,
      [
        '[agent]',
        'id = "outage-agent"',
        'hostname = "i631"',
        `data_dir = "${join(dir, 'data')}"`,
        `interval = "${INTERVAL_MS}ms"`,
        `flush_interval = "${INTERVAL_MS}ms"`,
        'flush_jitter = "0s"',
        'retry_initial_delay = "50ms"',
        'retry_max_delay = "400ms"',
        'publish_timeout = "1s"',
        'shutdown_timeout = "10s"',
        ...agentKeys,
        '[nats]',
        `servers = ["${server.url}"]`,
        'connect_timeout = "1s"',
        'reconnect_wait = "100ms"',
        '[log]',
        'level = "info"',
        // No admin port: a test must not depend on 9471 being free.
        '[admin]',
        'listen = ""',
      ].join('\n'),
    )
    return file
  }

  const stored = async (): Promise<number> =>
    (await manager.streams.info('METRICS').catch(() => undefined))?.state.messages ?? 0

  it('every sample collected during the outage arrives exactly once, in order', async () => {
    agent = startAgent(['--config', writeConfig()])
    await waitFor(async () => (await stored()) >= 4, 20_000, 'batches before the outage')

    await server.stop()
    const outageStart = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const outageEnd = Date.now()
    await server.start()

    // the spool replays; then a few more rounds flow live
    await waitFor(
      async () => {
        const info = await manager.streams.info('METRICS').catch(() => undefined)
        return info !== undefined && info.state.messages >= 4 + Math.floor(3_000 / INTERVAL_MS) + 4
      },
      30_000,
      'the spool to replay',
    )
    expect(await agent.stop('SIGTERM')).toBe(0)
    agent.child.removeAllListeners()
    const logs = agent.logs()
    agent = undefined

    const messages = await readStream(connection, manager, 'METRICS', limits)
    const seqs = messages.map((m) => m.batch.seq)
    // exactly once: batch ids unique; in order: the stream holds seq 1..N in order, with no gap
    expect(new Set(messages.map((m) => m.msgId)).size).toBe(messages.length)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(messages.every((m) => m.msgId === `outage-agent:${m.batch.seq}`)).toBe(true)

    // every round of an input: one mem.total_bytes sample per interval, none missing, none twice, across the outage
    const points = seriesPoints(messages, 'mem.total_bytes')
    const times = points.map((p) => p.t)
    const during = times.filter((t) => t > outageStart && t < outageEnd)
    expect(during.length).toBeGreaterThanOrEqual(Math.floor(3_000 / INTERVAL_MS) - 2)
    for (let i = 1; i < times.length; i++) {
      const step = times[i]! - times[i - 1]!
      expect(step, `gap between round ${i} and ${i + 1}`).toBeGreaterThan(0)
      expect(step, `gap between round ${i} and ${i + 1}`).toBeLessThan(INTERVAL_MS * 2.5)
    }

    // batches built during the outage went through the spool and were reported as such
    const failures = logs.filter((l) => l.msg === 'publish failed; will retry')
    expect(failures.length).toBeGreaterThan(0)
    expect(logs.filter((l) => l.level === 50 || l.level === 60)).toEqual([])
    const lastSent = seriesPoints(messages, 'agent.samples_sent_total').at(-1)!.v
    const lastSpooled = seriesPoints(messages, 'agent.spool_batches')
    expect(Math.max(...lastSpooled.map((p) => p.v))).toBeGreaterThan(3)
    expect(lastSent).toBeGreaterThan(0)
    expect(seriesPoints(messages, 'agent.batches_dropped_total').every((p) => p.v === 0)).toBe(true)
  })

  it('a long outage with a small spool_max_bytes drops the oldest first, and the dropped count is exact', async () => {
    agent = startAgent(['--config', writeConfig(['spool_max_bytes = 16384'])])
    await waitFor(async () => (await stored()) >= 3, 20_000, 'batches before the outage')
    await server.stop()
    await new Promise((resolve) => setTimeout(resolve, 6_000))
    await server.start()
    // wait until the agent has reported on itself after the spool drained (its counters are final then)
    await waitFor(
      async () => {
        const messages = await stored()
        return messages > 0 && agent!.logs().some((l) => l.msg === 'publishing works again')
      },
      30_000,
      'replay',
    )
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 8))
    expect(await agent.stop('SIGTERM')).toBe(0)
    const logs = agent.logs()
    agent = undefined

    const messages = await readStream(connection, manager, 'METRICS', limits)
    const seqs = messages.map((m) => m.batch.seq)
    const built = Math.max(...seqs)
    const missing = Array.from({ length: built }, (_, i) => i + 1).filter((seq) => !seqs.includes(seq))
    expect(missing.length).toBeGreaterThan(0)
    // oldest first: the lost batches are one contiguous run from the start of the outage
    expect(missing).toEqual(Array.from({ length: missing.length }, (_, i) => missing[0]! + i))
    expect(new Set(seqs).size).toBe(seqs.length)
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)

    // exact: the ERROR logs, and the agent's own counter, add up to what is missing
    const dropLogs = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('batches dropped'))
    expect(dropLogs.every((l) => l.level === 50)).toBe(true)
    expect(dropLogs.reduce((sum, l) => sum + (l.batches as number), 0)).toBe(missing.length)
    expect(seriesPoints(messages, 'agent.batches_dropped_total').at(-1)!.v).toBe(missing.length)
    const droppedSamples = dropLogs.reduce((sum, l) => sum + (l.samples as number), 0)
    expect(seriesPoints(messages, 'agent.samples_dropped_total').at(-1)!.v).toBe(droppedSamples)
  })
})
