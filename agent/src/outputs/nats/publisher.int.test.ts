import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectNats,
  createLogger,
  ensureStreams,
  natsSchema,
  streamSchema,
  type NatsConnection,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { headerBytes, NatsPublisher, PublishError } from './publisher.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const MAX_PAYLOAD = 4096

describe("NatsPublisher at the server's max_payload (real nats-server, max_payload 4096)", () => {
  let dir: string
  let server: NatsServerHandle
  let connection: NatsConnection
  let publisher: NatsPublisher

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-max-payload-'))
    const conf = join(dir, 'nats.conf')
    writeFileSync(conf, `max_payload: ${MAX_PAYLOAD}\n`)
    server = await startNatsServer({ args: ['-c', conf] })
    connection = await connectNats(natsSchema.parse({ servers: [server.url] }), { name: 'test', logger })
    await ensureStreams(connection, [
      streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({}),
    ])
    publisher = new NatsPublisher({ connection, logger, timeoutMs: 2_000 })
  })
  afterAll(async () => {
    await connection?.close()
    await server?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  const batch = (seq: number, bytes: number) => ({
    id: `mp-agent:${seq}`,
    seq,
    subject: 'metrics.in.mp-agent',
    data: new Uint8Array(bytes),
    sampleCount: 1,
  })

  it('stores a batch whose payload and headers fill max_payload exactly', async () => {
    const id = 'mp-agent:1'
    expect(await publisher.send(batch(1, MAX_PAYLOAD - headerBytes(id)))).toEqual({ duplicate: false })
  })

  it('refuses for good, not for a retry, a batch that fits max_payload only without its headers', async () => {
    const error = await publisher.send(batch(2, MAX_PAYLOAD - 10)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PublishError)
    expect((error as PublishError).retryable).toBe(false)
    expect((error as PublishError).message).toContain(`over the server's max_payload ${MAX_PAYLOAD}`)
  })
})
