import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
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
import { readStream, startAgent, waitFor, type AgentProcess } from './agent-process.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const limits = limitsFromConfig(agentConfigSchema.parse({}).limits)

/*
 * The NATS client closes a connection for good after repeated authorization errors (a password
 * rotated on the server before the agent's). The agent must connect again once the credentials
 * work, not spool until it drops data:
 *   agent (password pw1) -> nats-server (pw1 ... pw2 ... pw1 again) -> METRICS
 */
describe('agent after the NATS client gave up on its connection (real processes)', () => {
  let dir: string
  let serverConfig: string
  let server: NatsServerHandle
  let agent: AgentProcess | undefined

  const writeServerConfig = (password: string): void =>
    writeFileSync(serverConfig, `authorization {\n  user: "agent"\n  password: "${password}"\n}\n`)
  const client = () =>
    connectNats(
      natsSchema.parse({ servers: [server.url], user: 'agent', password: 'pw1', connect_timeout: '2s' }),
      { name: 'test', logger },
    )
  /** A fresh connection each time: one made before the password changed would be closed by now. */
  const withStream = async <T>(
    read: (connection: NatsConnection, manager: JetStreamManager) => Promise<T>,
  ) => {
    const connection = await client()
    try {
      return await read(connection, await jetstreamManager(connection))
    } finally {
      await connection.close()
    }
  }
  const stored = () =>
    withStream(async (_, manager) => (await manager.streams.info('METRICS')).state.messages)

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-nats-closed-'))
    serverConfig = join(dir, 'nats.conf')
    writeServerConfig('pw1')
    server = await startNatsServer({ args: ['-c', serverConfig] })
    const connection = await client()
    const metrics = streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({})
    await ensureStreams(connection, [metrics])
    await connection.close()
  })
  afterAll(async () => {
    await agent?.stop('SIGKILL')
    await server?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it('connects again once the credentials work, and every batch arrives once, in order', async () => {
    const config = join(dir, 'agent.toml')
    writeFileSync(
      config,
      [
        '[agent]',
        'id = "closed-agent"',
        `data_dir = "${join(dir, 'data')}"`,
        'interval = "250ms"',
        'flush_interval = "250ms"',
        'flush_jitter = "0s"',
        'retry_initial_delay = "50ms"',
        'retry_max_delay = "400ms"',
        'publish_timeout = "1s"',
        '[nats]',
        `servers = ["${server.url}"]`,
        'user = "agent"',
        'password = "pw1"',
        'connect_timeout = "1s"',
        'reconnect_wait = "100ms"',
        '[log]',
        'level = "info"',
        '[admin]',
        'listen = ""',
      ].join('\n'),
    )
    agent = startAgent(['--config', config])
    await waitFor(async () => (await stored()) >= 3, 20_000, 'batches before the rotation')

    // The server's password changes: the agent's reconnects are refused until the client gives up.
    await server.stop()
    writeServerConfig('pw2')
    await server.start()
    // The client closes for good after two authorization errors in a row; give it time to.
    const refusals = () =>
      agent!.logs().filter((l) => l.nats_status === 'error' && String(l.msg) === 'NATS status changed').length
    await waitFor(() => refusals() >= 2, 20_000, 'the server to refuse the old password')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    // The agent's credentials work again.
    await server.stop()
    writeServerConfig('pw1')
    await server.start()
    const before = await stored()
    await waitFor(
      async () => (await stored()) >= before + 4,
      20_000,
      'batches after the credentials work again',
    )

    expect(await agent.stop('SIGTERM')).toBe(0)
    agent = undefined
    const messages = await withStream((connection, manager) =>
      readStream(connection, manager, 'METRICS', limits),
    )
    const seqs = messages.map((m) => m.batch.seq)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
  }, 90_000)
})
