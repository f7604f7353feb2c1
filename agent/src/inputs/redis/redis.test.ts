import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedisServer, type ServiceHandle } from '../../testing/services.js'
import { recorder, testDeps } from '../testing.js'
import { parseAddress, parseKeyspace, RedisInput } from './index.js'
import { encodeCommand, parseReply, pipeline, RespError } from './resp.js'

describe('RESP', () => {
  it('encodes commands and parses every reply type, also split across reads', () => {
    expect(encodeCommand(['LLEN', 'q']).toString()).toBe('*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n')
    const data = Buffer.from('+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n')
    const values = []
    let at = 0
    while (at < data.length) {
      const reply = parseReply(data, at)!
      values.push(reply.value)
      at = reply.next
    }
    expect(values).toEqual(['OK', new RespError('ERR no'), 42, 'abc', null, [1, 'x']])
    expect(parseReply(Buffer.from('$3\r\nab'))).toBeUndefined()
    expect(parseReply(Buffer.from('*2\r\n:1\r\n'))).toBeUndefined()
  })

  it('parses INFO keyspace and addresses', () => {
    expect(
      parseKeyspace('# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n'),
    ).toEqual([
      { db: '0', keys: 3, expires: 1 },
      { db: '2', keys: 1, expires: 0 },
    ])
    expect(parseAddress('[::1]:6380')).toEqual({ host: '::1', port: 6380 })
    expect(() => parseAddress('localhost')).toThrow(/host:port/)
  })
})

describe('redis input against a real redis-server', () => {
  let redis: ServiceHandle
  let secured: ServiceHandle
  const run = (port: number, ...commands: string[][]) =>
    pipeline(commands, { host: '127.0.0.1', port, timeoutMs: 5_000 })
  const config = (port: number) => ({
    enabled: true,
    timeout: 5_000,
    address: `127.0.0.1:${port}`,
    db: 0,
    lists: ['jobs', 'missing'],
    streams: ['events'],
  })

  beforeAll(async () => {
    ;[redis, secured] = await Promise.all([startRedisServer(), startRedisServer({ password: 's3cret' })])
    await run(
      redis.port,
      ['RPUSH', 'jobs', 'a', 'b', 'c'],
      ['XADD', 'events', '*', 'f', '1'],
      ['XADD', 'events', '*', 'f', '2'],
      ['SET', 'plain', 'v', 'EX', '3600'],
      ['SELECT', '3'],
      ['SET', 'other', 'v'],
    )
  })
  afterAll(async () => {
    await Promise.all([redis?.stop(), secured?.stop()])
  })

  it('reports LLEN, XLEN (0 for a missing key) and key counts per database', async () => {
    const input = new RedisInput(config(redis.port), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const view = samples.map((s) => [s.name, s.labels, s.value])
    expect(view).toEqual([
      ['redis.list_length', { db: '0', key: 'jobs' }, 3],
      ['redis.list_length', { db: '0', key: 'missing' }, 0],
      ['redis.stream_length', { db: '0', key: 'events' }, 2],
      ['redis.keys', { db: '0' }, 3],
      ['redis.expires', { db: '0' }, 1],
      ['redis.keys', { db: '3' }, 1],
      ['redis.expires', { db: '3' }, 0],
    ])
  })

  it('leaves out a key of the wrong type, sends the rest, and fails the round', async () => {
    const input = new RedisInput({ ...config(redis.port), lists: ['jobs', 'events'], streams: [] }, testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await expect(input.gather(acc)).rejects.toThrow(/events/)
    expect(samples.filter((s) => s.name === 'redis.list_length').map((s) => s.labels.key)).toEqual(['jobs'])
    expect(samples.some((s) => s.name === 'redis.keys')).toBe(true)
  })

  it('authenticates, and fails without the password (never echoing it)', async () => {
    const good = new RedisInput({ ...config(secured.port), password: 's3cret' }, testDeps)
    await good.init()
    const { acc, samples } = recorder()
    await good.gather(acc)
    expect(samples.find((s) => s.labels.key === 'jobs')?.value).toBe(0)
    const bad = new RedisInput({ ...config(secured.port), password: 'wrong-pass' }, testDeps)
    const error = await bad.gather(recorder().acc).catch((e: Error) => e)
    expect(String(error)).toMatch(/refused AUTH/)
    expect(String(error)).not.toContain('wrong-pass')
    await expect(new RedisInput(config(secured.port), testDeps).gather(recorder().acc)).rejects.toThrow(
      /NOAUTH|refused/,
    )
  })

  it('fails fast when nothing listens', async () => {
    const input = new RedisInput({ ...config(1), address: '127.0.0.1:1' }, testDeps)
    await expect(input.gather(recorder().acc)).rejects.toThrow(/ECONNREFUSED/)
  })
})
