import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClickHouseError, createClient, type ClickHouseClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { pino } from 'pino'
import { createChdbQueryEngine, type QueryEngine } from './engine.js'
import { startClickHouseHttpServer, type ClickHouseHttpServer } from './server.js'

const WRITER = { user: 'ingest', password: 's3cret' }

let dir: string
let engine: QueryEngine
let server: ClickHouseHttpServer
let small: ClickHouseHttpServer
/** The aggregator's own path to the store: @clickhouse/client over chdb/connection, same directory. */
let local: ClickHouseClient

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-http-'))
  // chdb/connection types its Connection with @clickhouse/client-common's copy of the types; same shape.
  local = createClient({
    connection: createChdbConnection({ path: dir }) as unknown as NonNullable<
      Parameters<typeof createClient>[0]
    >['connection'],
  })
  await local.command({ query: 'CREATE DATABASE tw' })
  await local.command({
    query:
      'CREATE TABLE tw.samples (id UInt64, ts DateTime64(3), value Float64) ENGINE = MergeTree ORDER BY (id, ts)',
  })
  await local.insert({
    table: 'tw.samples',
    values: [{ id: 1, ts: 1_700_000_000_000, value: 0.5 }],
    format: 'JSONEachRow',
  })
  engine = createChdbQueryEngine({ path: dir })
  const logger = pino({ level: 'silent' })
  server = await startClickHouseHttpServer({ listen: '127.0.0.1:0', engine, writer: WRITER, logger })
  small = await startClickHouseHttpServer({
    listen: '127.0.0.1:0',
    engine,
    logger,
    limits: { maxRequestBodyBytes: 1024, maxExecutionTimeSecs: 1, maxResultBytes: 10_000 },
  })
})

afterAll(async () => {
  await server?.close()
  await small?.close()
  await engine?.close()
  await local?.close()
  rmSync(dir, { recursive: true, force: true })
})

function reader(): ClickHouseClient {
  return createClient({ url: server.url })
}

async function expectClickHouseError(p: Promise<unknown>, code: string): Promise<ClickHouseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ClickHouseError)
  expect((err as ClickHouseError).code).toBe(code)
  return err as ClickHouseError
}

describe('ClickHouse HTTP endpoint over chDB', () => {
  it('answers /ping and a bare GET / with Ok.', async () => {
    for (const path of ['/ping', '/']) {
      const res = await fetch(`${server.url}${path}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('Ok.\n')
    }
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
  })

  it('runs a GET ?query= like curl, TabSeparated by default', async () => {
    const res = await fetch(`${server.url}/?query=SELECT+1`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('1\n')
    expect(res.headers.get('x-clickhouse-format')).toBe('TabSeparated')
    expect(res.headers.get('content-type')).toContain('text/tab-separated-values')
    expect(res.headers.get('x-clickhouse-query-id')).toBeTruthy()
    expect(JSON.parse(res.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({ read_rows: '1' })
  })

  it('honours a FORMAT clause, default_format, database and query_id', async () => {
    const res = await fetch(
      `${server.url}/?query=${encodeURIComponent('SELECT count() AS n FROM samples FORMAT JSON')}&database=tw&query_id=q-1`,
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('x-clickhouse-format')).toBe('JSON')
    expect(res.headers.get('x-clickhouse-query-id')).toBe('q-1')
    expect(res.headers.get('content-type')).toContain('application/json')
    const json = (await res.json()) as { data: Array<{ n: unknown }>; meta: unknown[] }
    expect(Number(json.data[0]?.n)).toBe(1)

    const csv = await fetch(`${server.url}/?default_format=CSVWithNames`, {
      method: 'POST',
      body: 'SELECT 2 AS x',
    })
    expect(await csv.text()).toBe('"x"\n2\n')
    expect(csv.headers.get('x-clickhouse-format')).toBe('CSVWithNames')
  })

  it('serves @clickhouse/client queries, with settings and query parameters', async () => {
    const client = reader()
    try {
      const rs = await client.query({
        query: 'SELECT id, value, {tag:String} AS tag FROM tw.samples WHERE id = {id:UInt64}',
        query_params: { id: 1, tag: "it's" },
        format: 'JSONEachRow',
        clickhouse_settings: { max_result_rows: '10', output_format_json_quote_64bit_integers: 1 },
      })
      expect(await rs.json()).toEqual([{ id: '1', value: 0.5, tag: "it's" }])
      const js = await client.query({ query: 'SELECT 1 AS one', format: 'JSON' })
      expect(((await js.json()) as { data: unknown[] }).data).toEqual([{ one: 1 }])
      expect((await client.ping()).success).toBe(true)
    } finally {
      await client.close()
    }
  })

  it('lets the writer insert through @clickhouse/client and refuses everyone else with READONLY', async () => {
    const writer = createClient({ url: server.url, username: WRITER.user, password: WRITER.password })
    const anon = reader()
    try {
      const rows = [
        { id: 2, ts: 1_700_000_001_000, value: 1.5 },
        { id: 3, ts: 1_700_000_002_000, value: 2.5 },
      ]
      const summary = await writer.insert({
        table: 'tw.samples',
        values: rows,
        format: 'JSONEachRow',
        columns: ['id', 'ts', 'value'],
      })
      expect(summary.summary?.written_rows).toBe('2')
      await writer.insert({
        table: 'tw.samples',
        values: [{ id: 4, ts: 1_700_000_003_000, value: 3 }],
        format: 'JSONEachRow',
      })
      await writer.command({ query: 'CREATE TABLE tw.made_by_writer (a UInt8) ENGINE = Memory' })

      const err = await expectClickHouseError(
        anon.insert({ table: 'tw.samples', values: [{ id: 9, ts: 0, value: 0 }], format: 'JSONEachRow' }),
        '164',
      )
      expect(err.type).toBe('READONLY')
      await expectClickHouseError(
        anon.command({ query: 'CREATE TABLE tw.nope (a UInt8) ENGINE = Memory' }),
        '164',
      )
      await expectClickHouseError(anon.command({ query: 'DROP TABLE tw.samples' }), '164')

      // The aggregator's own connection on the same directory sees the writes.
      const rs = await local.query({ query: 'SELECT count() AS n FROM tw.samples', format: 'JSONEachRow' })
      expect(Number((await rs.json<{ n: unknown }>())[0]?.n)).toBe(4)
    } finally {
      await writer.close()
      await anon.close()
    }
  })

  it('refuses writes over GET even for the writer, and refuses non-writers over POST', async () => {
    const auth = {
      Authorization: `Basic ${Buffer.from(`${WRITER.user}:${WRITER.password}`).toString('base64')}`,
    }
    const get = await fetch(
      `${server.url}/?query=${encodeURIComponent('INSERT INTO tw.samples VALUES (9, 0, 0)')}`,
      { headers: auth },
    )
    expect(get.status).toBe(403)
    expect(get.headers.get('x-clickhouse-exception-code')).toBe('164')
    expect(await get.text()).toMatch(/^Code: 164\. DB::Exception: .*\(READONLY\) \(version [\d.]+\)\n$/)

    const create = await fetch(`${server.url}/`, {
      method: 'POST',
      body: 'CREATE TABLE tw.x (a UInt8) ENGINE = Memory',
    })
    expect(create.status).toBe(403)
    expect(create.headers.get('x-clickhouse-exception-code')).toBe('164')
  })

  it('runs reads with the engine readonly=1: no table functions, no SETTINGS that lift limits', async () => {
    const file = await fetch(
      `${server.url}/?query=${encodeURIComponent("SELECT * FROM file('/etc/passwd', 'LineAsString')")}`,
    )
    expect(file.headers.get('x-clickhouse-exception-code')).toBe('164')
    const lift = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT 1 SETTINGS readonly = 0')}`)
    expect(lift.headers.get('x-clickhouse-exception-code')).toBe('164')
    const multi = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT 1; DROP TABLE tw.samples')}`)
    expect(multi.status).toBe(400)
    expect(multi.headers.get('x-clickhouse-exception-code')).toBe('62')
  })

  it('reports a syntax error as ClickHouseError 62 through the client', async () => {
    const client = reader()
    try {
      const err = await expectClickHouseError(client.query({ query: 'SELEC 1', format: 'JSONEachRow' }), '62')
      expect(err.type).toBe('SYNTAX_ERROR')
      const raw = await fetch(`${server.url}/?query=SELEC+1`)
      expect(raw.status).toBe(400)
    } finally {
      await client.close()
    }
  })

  it('rejects a wrong writer password with 516 AUTHENTICATION_FAILED, in every credential form', async () => {
    const client = createClient({ url: server.url, username: WRITER.user, password: 'wrong' })
    try {
      const err = await expectClickHouseError(client.query({ query: 'SELECT 1' }), '516')
      expect(err.type).toBe('AUTHENTICATION_FAILED')
    } finally {
      await client.close()
    }
    const viaParams = await fetch(`${server.url}/?query=SELECT+1&user=${WRITER.user}&password=nope`)
    expect(viaParams.status).toBe(403)
    expect(viaParams.headers.get('x-clickhouse-exception-code')).toBe('516')
    const viaHeaders = await fetch(`${server.url}/?query=SELECT+1`, {
      headers: { 'X-ClickHouse-User': WRITER.user, 'X-ClickHouse-Key': 'x' },
    })
    expect(viaHeaders.status).toBe(403)
    const ok = await fetch(`${server.url}/?user=${WRITER.user}&password=${WRITER.password}`, {
      method: 'POST',
      body: 'INSERT INTO tw.samples FORMAT TabSeparated\n10\t2024-01-01 00:00:00.000\t1\n',
    })
    expect(ok.status).toBe(200)
  })

  it('refuses a body over the limit with 413, and honours gzip request bodies', async () => {
    const big = await fetch(`${small.url}/`, { method: 'POST', body: `SELECT '${'x'.repeat(5000)}'` })
    expect(big.status).toBe(413)
    expect(big.headers.get('x-clickhouse-exception-code')).toBe('229')
    const gz = await fetch(`${small.url}/`, {
      method: 'POST',
      body: gzipSync('SELECT 42'),
      headers: { 'Content-Encoding': 'gzip' },
    })
    expect(await gz.text()).toBe('42\n')
    const bomb = await fetch(`${small.url}/`, {
      method: 'POST',
      body: gzipSync(`SELECT '${'y'.repeat(100_000)}'`),
      headers: { 'Content-Encoding': 'gzip' },
    })
    expect(bomb.status).toBe(413)
  })

  it('applies max_result_bytes and max_execution_time as ceilings', async () => {
    const bytes = await fetch(
      `${small.url}/?query=${encodeURIComponent('SELECT * FROM numbers(100000)')}&max_result_bytes=0`,
    )
    expect(bytes.headers.get('x-clickhouse-exception-code')).toBe('396')
    const time = await fetch(
      `${small.url}/?query=${encodeURIComponent('SELECT count() FROM numbers(100000000000)')}&max_execution_time=100`,
    )
    expect(time.headers.get('x-clickhouse-exception-code')).toBe('159')
  })

  it('compresses the response when the client asks for it', async () => {
    const client = createClient({ url: server.url, compression: { response: true } })
    try {
      const rs = await client.query({ query: 'SELECT number FROM numbers(3)', format: 'JSONEachRow' })
      expect((await rs.json<{ number: unknown }>()).map((r) => Number(r.number))).toEqual([0, 1, 2])
      expect(rs.response_headers['content-encoding']).toBe('gzip')
    } finally {
      await client.close()
    }
  })

  it('runs concurrent queries and keeps them apart', async () => {
    const client = reader()
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          client
            .query({
              query: "SELECT getSetting('max_result_rows') AS v",
              format: 'JSONEachRow',
              clickhouse_settings: { max_result_rows: String(100 + i) },
            })
            .then((rs) => rs.json<{ v: unknown }>()),
        ),
      )
      expect(results.map((r) => Number(r[0]?.v))).toEqual(Array.from({ length: 12 }, (_, i) => 100 + i))
      // The aggregator's connection is unaffected by readonly and settings of HTTP requests.
      const rs = await local.query({ query: "SELECT getSetting('readonly') AS r", format: 'JSONEachRow' })
      expect(await rs.json()).toEqual([{ r: 0 }])
    } finally {
      await client.close()
    }
  })
})

describe('syntax errors of refused statements', () => {
  it('point into the caller text', async () => {
    const res = await fetch(`${server.url}/?query=${encodeURIComponent('SELEC 1')}`)
    const text = await res.text()
    expect(text).toContain('failed at position 7')
    expect(text).toContain('(SYNTAX_ERROR)')
  })
})

describe('writer inserts', () => {
  it('carry URL settings such as insert_deduplication_token into the raw insert', async () => {
    const writer = createClient({ url: server.url, username: WRITER.user, password: WRITER.password })
    try {
      await writer.command({
        query:
          'CREATE TABLE tw.dedup (a UInt32) ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 100',
      })
      for (let i = 0; i < 2; i++) {
        await writer.insert({
          table: 'tw.dedup',
          values: [{ a: 1 }, { a: 2 }],
          format: 'JSONEachRow',
          clickhouse_settings: { insert_deduplication_token: 'batch-1' },
        })
      }
      const rs = await writer.query({ query: 'SELECT count() AS n FROM tw.dedup', format: 'JSONEachRow' })
      expect(Number((await rs.json<{ n: unknown }>())[0]?.n)).toBe(2)
    } finally {
      await writer.close()
    }
  })
})
