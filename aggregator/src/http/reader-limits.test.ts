import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { aggregatorConfigSchema } from '@tidewatch/shared'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readerLimits } from './embedded.js'
import { createChdbQueryEngine, type EngineRequest, type QueryEngine } from './engine.js'
import { startClickHouseHttpServer, type ClickHouseHttpServer } from './server.js'

/*
 * http.reader_limits: every read-only request runs with max_execution_time, max_memory_usage and
 * max_rows_to_read no higher than the configured ceilings; the writer's POSTs are not limited.
 */

const WRITER = { user: 'ingest', password: 's3cret-writer' }
const logger = pino({ level: 'silent' })
const READER = { maxExecutionTimeSecs: 5, maxMemoryUsage: 100_000_000, maxRowsToRead: 1_000 }

const seen: EngineRequest[] = []
const fakeEngine: QueryEngine = {
  version: '26.7.0.0',
  run: async (request) => {
    seen.push(request)
    return {
      body: Buffer.from('1\n'),
      readRows: 1,
      readBytes: 1,
      writtenRows: 0,
      writtenBytes: 0,
      elapsedSecs: 0,
    }
  },
  close: async () => undefined,
}

let dir: string
let engine: QueryEngine
let fake: ClickHouseHttpServer
let real: ClickHouseHttpServer

beforeAll(async () => {
  fake = await startClickHouseHttpServer({
    listen: '127.0.0.1:0',
    engine: fakeEngine,
    writer: WRITER,
    logger,
    limits: { reader: READER },
  })
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-reader-limits-'))
  engine = createChdbQueryEngine({ path: dir })
  real = await startClickHouseHttpServer({
    listen: '127.0.0.1:0',
    engine,
    writer: WRITER,
    logger,
    limits: { reader: READER },
  })
})

afterAll(async () => {
  await fake?.close()
  await real?.close()
  await engine?.close()
  rmSync(dir, { recursive: true, force: true })
})

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
})

async function lastSettings(url: string, init?: RequestInit): Promise<Readonly<Record<string, string>>> {
  const res = await fetch(url, init)
  expect(res.status).toBe(200)
  return seen.at(-1)?.settings ?? {}
}

describe('reader limits', () => {
  it('puts the ceilings on every read-only request', async () => {
    const settings = await lastSettings(`${fake.url}/?query=SELECT+1+FROM+system.one`)
    expect(settings).toMatchObject({
      max_execution_time: '5',
      max_memory_usage: '100000000',
      max_rows_to_read: '1000',
    })
    expect(settings).toMatchObject({ max_threads: '1', os_thread_priority: '10' })
    // A light read (no table) gets at most one second.
    expect(await lastSettings(`${fake.url}/?query=SELECT+1`)).toMatchObject({ max_execution_time: '1' })
    expect(seen.at(-1)?.readonly).toBe(1)
  })

  it('lets a reader lower a limit but not raise it, nor lift it with 0', async () => {
    const lowered = await lastSettings(
      `${fake.url}/?query=SELECT+1+FROM+system.one&max_rows_to_read=10&max_memory_usage=0&max_execution_time=600`,
    )
    expect(lowered).toMatchObject({
      max_rows_to_read: '10',
      max_memory_usage: '100000000',
      max_execution_time: '5',
    })
  })

  it('applies to the writer’s GETs (read-only) but not to its POSTs', async () => {
    const get = await lastSettings(`${fake.url}/?query=SELECT+1`, {
      headers: basic(WRITER.user, WRITER.password),
    })
    expect(get.max_rows_to_read).toBe('1000')
    const post = await lastSettings(`${fake.url}/`, {
      method: 'POST',
      body: 'SELECT 1',
      headers: basic(WRITER.user, WRITER.password),
    })
    expect(post.max_rows_to_read).toBeUndefined()
    expect(post.max_memory_usage).toBeUndefined()
  })

  it('is enforced by ClickHouse: a reader reading more rows than allowed fails, the writer does not', async () => {
    const sql = 'SELECT count() FROM numbers(100000)'
    const refused = await fetch(`${real.url}/`, { method: 'POST', body: sql })
    expect(refused.status).not.toBe(200)
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('158') // TOO_MANY_ROWS
    const memory = await fetch(`${real.url}/`, {
      method: 'POST',
      body: "SELECT length(groupArray(repeat('x', 1000000))) FROM numbers(500)",
    })
    expect(memory.headers.get('x-clickhouse-exception-code')).toBe('241') // MEMORY_LIMIT_EXCEEDED
    const writer = await fetch(`${real.url}/`, {
      method: 'POST',
      body: sql,
      headers: basic(WRITER.user, WRITER.password),
    })
    expect(writer.status).toBe(200)
    expect(await writer.text()).toBe('100000\n')
  })

  it('comes from http.reader_limits in the config (defaults 60 s, 2 GiB, 1e9 rows)', () => {
    expect(readerLimits(aggregatorConfigSchema.parse({}).http.reader_limits)).toEqual({
      maxExecutionTimeSecs: 60,
      maxMemoryUsage: 2 * 1024 * 1024 * 1024,
      maxRowsToRead: 1_000_000_000,
    })
    const config = aggregatorConfigSchema.parse({
      http: { reader_limits: { max_execution_time: '1500ms', max_rows_to_read: 7 } },
    })
    expect(readerLimits(config.http.reader_limits)).toMatchObject({
      maxExecutionTimeSecs: 2,
      maxRowsToRead: 7,
    })
  })
})
