import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { natsSchema } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import { startNatsServer, type NatsServerHandle } from '../testing/nats-server.js'
import { connectNats, natsTlsOptions } from './connect.js'

/*
 * TLS for client connections (nats.tls.*): a CA and a server certificate (subjectAltName
 * IP:127.0.0.1) made at test time by the committed config/nats/gen-certs.sh, a nats-server that
 * requires TLS, and one that also requires client certificates (verify: true).
 */

const GEN_CERTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config/nats/gen-certs.sh')
const logger = pino({ level: 'silent' })

let dir: string
let certs: string
let otherCa: string
let tlsServer: NatsServerHandle
let mtlsServer: NatsServerHandle

function serverConf(name: string, verify: boolean): string {
  const file = join(dir, name)
  writeFileSync(
    file,
    `tls {\n  cert_file: "${join(certs, 'server.pem')}"\n  key_file: "${join(certs, 'server-key.pem')}"\n  ca_file: "${join(certs, 'ca.pem')}"\n  verify: ${verify}\n  timeout: 2\n}\n`,
  )
  return file
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-nats-tls-'))
  certs = join(dir, 'certs')
  otherCa = join(dir, 'other')
  execFileSync('sh', [GEN_CERTS, certs])
  execFileSync('sh', [GEN_CERTS, otherCa])
  tlsServer = await startNatsServer({ args: ['-c', serverConf('tls.conf', false)] })
  mtlsServer = await startNatsServer({ args: ['-c', serverConf('mtls.conf', true)] })
}, 30_000)

afterAll(async () => {
  await tlsServer?.dispose()
  await mtlsServer?.dispose()
  rmSync(dir, { recursive: true, force: true })
})

const config = (server: NatsServerHandle, tls: Record<string, string> = {}) =>
  natsSchema.parse({ servers: [server.url], connect_timeout: '2s', tls })

async function roundTrip(nats: Awaited<ReturnType<typeof connectNats>>): Promise<string> {
  const sub = nats.subscribe('tls.check', { max: 1 })
  nats.publish('tls.check', 'over tls')
  for await (const message of sub) return message.string()
  return ''
}

async function refusedMessage(work: Promise<unknown>): Promise<string> {
  return work.then(
    () => 'connected',
    (error: unknown) => String((error as Error).message),
  )
}

describe('NATS over TLS', () => {
  it('connects with nats.tls.ca_file and carries messages', async () => {
    const nats = await connectNats(config(tlsServer, { ca_file: join(certs, 'ca.pem') }), {
      name: 'tls-test',
      logger,
    })
    try {
      expect(nats.info?.tls_required).toBe(true)
      expect(await roundTrip(nats)).toBe('over tls')
    } finally {
      await nats.close()
    }
  })

  it('is refused without the CA and with another CA', async () => {
    // No tls keys: the client follows the server into TLS but cannot verify a private CA.
    expect(await refusedMessage(connectNats(config(tlsServer), { name: 'no-ca', logger }))).not.toBe(
      'connected',
    )
    expect(
      await refusedMessage(
        connectNats(config(tlsServer, { ca_file: join(otherCa, 'ca.pem') }), { name: 'other-ca', logger }),
      ),
    ).not.toBe('connected')
  })

  it('requires a client certificate when the server verifies clients', async () => {
    const caOnly = { ca_file: join(certs, 'ca.pem') }
    expect(
      await refusedMessage(connectNats(config(mtlsServer, caOnly), { name: 'no-client-cert', logger })),
    ).not.toBe('connected')
    // A certificate from another CA is refused too.
    const foreign = {
      ...caOnly,
      cert_file: join(otherCa, 'client.pem'),
      key_file: join(otherCa, 'client-key.pem'),
    }
    expect(
      await refusedMessage(connectNats(config(mtlsServer, foreign), { name: 'foreign-cert', logger })),
    ).not.toBe('connected')

    const withCert = {
      ...caOnly,
      cert_file: join(certs, 'client.pem'),
      key_file: join(certs, 'client-key.pem'),
    }
    const nats = await connectNats(config(mtlsServer, withCert), { name: 'client-cert', logger })
    try {
      expect(await roundTrip(nats)).toBe('over tls')
    } finally {
      await nats.close()
    }
  })
})

describe('natsTlsOptions', () => {
  it('is off when no key is set, and maps the keys to the client options', () => {
    expect(natsTlsOptions(natsSchema.parse({}))).toBeUndefined()
    expect(natsTlsOptions(natsSchema.parse({ tls: { ca_file: '/ca.pem' } }))).toEqual({ caFile: '/ca.pem' })
    expect(natsTlsOptions(natsSchema.parse({ tls: { cert_file: '/c.pem', key_file: '/k.pem' } }))).toEqual({
      certFile: '/c.pem',
      keyFile: '/k.pem',
    })
  })

  it('refuses a client certificate without its key: at config load, and when built without the schema', () => {
    expect(natsSchema.safeParse({ tls: { cert_file: '/c.pem' } }).error?.issues[0]).toMatchObject({
      path: ['tls', 'key_file'],
      message: expect.stringContaining('cert_file and key_file go together') as unknown,
    })
    const defaults = natsSchema.parse({})
    expect(() => natsTlsOptions({ ...defaults, tls: { cert_file: '/c.pem' } })).toThrow(ConfigError)
    expect(() => natsTlsOptions({ ...defaults, tls: { key_file: '/k.pem' } })).toThrow(
      /cert_file and key_file go together/,
    )
  })
})
