import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectNats,
  createLogger,
  ensureStreams,
  streamSchema,
  type NatsConnection,
} from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAgent, waitFor, type AgentProcess } from './agent-process.js'

const logger = createLogger({ service: 'test', level: 'silent' })

/** The value of the first Prometheus sample line of `name`, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('agent admin endpoint (the real agent process, a real nats-server)', () => {
  let server: NatsServerHandle
  let connection: NatsConnection
  let agent: AgentProcess | undefined
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-agent-admin-'))

  beforeAll(async () => {
    server = await startNatsServer()
    connection = await connectNats(
      { servers: [server.url], connect_timeout: 2000, reconnect_wait: 200 },
      { name: 'test', logger },
    )
    await ensureStreams(connection, [
      streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({}),
    ])
  })
  afterAll(async () => {
    await agent?.stop('SIGKILL')
    await connection?.close()
    await server?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves /healthz, /readyz once batches move, and its self metrics on /metrics', async () => {
    const port = await freePort()
    const config = join(dir, 'agent.toml')
    writeFileSync(
      config,
      [
        '[agent]',
        'id = "admin-agent"',
        'hostname = "i631"',
        `data_dir = "${join(dir, 'data')}"`,
        'interval = "300ms"',
        'flush_interval = "300ms"',
        'flush_jitter = "0s"',
        '[admin]',
        `listen = "127.0.0.1:${port}"`,
        '[inputs.disk]',
        'enabled = false',
        '[inputs.net]',
        'enabled = false',
        '[nats]',
        `servers = ["${server.url}"]`,
        '[log]',
        'level = "warn"',
      ].join('\n'),
    )
    agent = startAgent(['--config', config])
    const url = `http://127.0.0.1:${port}`
    const status = (path: string) =>
      fetch(`${url}${path}`).then(
        (r) => r.status,
        () => 0,
      )
    await waitFor(async () => (await status('/healthz')) === 200, 15_000, '/healthz')
    await waitFor(async () => (await status('/readyz')) === 200, 10_000, '/readyz')
    let text = ''
    await waitFor(
      async () => {
        text = await (await fetch(`${url}/metrics`)).text()
        return (sample(text, 'agent_batches_sent_total') ?? 0) >= 1
      },
      10_000,
      'a batch sent',
    )
    expect(sample(text, 'agent_samples_collected_total')).toBeGreaterThan(0)
    expect(sample(text, 'agent_samples_dropped_total')).toBe(0)
    expect(sample(text, 'agent_spool_bytes')).toBeGreaterThanOrEqual(0)
    expect(sample(text, 'agent_spool_fill_ratio')).toBeLessThan(0.5)
    expect(text).toContain('# TYPE agent_publish_failures_total counter')
    expect(text).toContain('host="i631"')
    expect(await agent.stop()).toBe(0)
    agent = undefined
  })
})
