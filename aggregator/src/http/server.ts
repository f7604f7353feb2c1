/**
 * ClickHouse's HTTP interface in front of the in-process chDB engine, so curl, @clickhouse/client,
 * Grafana and other aggregator replicas use the embedded store as they would a server.
 *
 *   request ──► route (/ping, /) ──► body (limit, gunzip) ──► auth ──► access check ──► slot (≤ N, + 1 light)
 *                                                                                     │
 *   response ◄── headers (X-ClickHouse-*) ◄── gzip if asked ◄── engine.run (chDB, off the loop)
 *
 * Read-only unless the caller authenticates as the configured writer: a read-only request may run
 * one SELECT/WITH/SHOW/DESCRIBE/EXISTS/EXPLAIN statement, and runs it with ClickHouse's own
 * `readonly = 1`, which also refuses table functions (file(), url()) and in-query SETTINGS.
 *
 * Abuse must not starve the aggregator's own inserts, which share the chDB engine (and the libuv
 * threads chDB runs on) but not this server: few queries run at once (the rest queue, up to a
 * bound), a read-only query gets one engine thread, and a slow client is cut off by header, body,
 * whole-request and response deadlines. A light read (no FROM/JOIN, e.g. `SELECT 1`, capped at
 * one second) may use one slot of its own, so health checks answer while heavy queries queue.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto'
import { createGunzip, createInflate, createBrotliDecompress, gzip, deflate, brotliCompress } from 'node:zlib'
import { promisify } from 'node:util'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { EngineRequest, EngineResult, QueryEngine } from './engine.js'
import { ClickHouseHttpError, ErrorCode, fromEngineError } from './errors.js'
import { inspectSql, isReadStatement } from './sql.js'

export interface ClickHouseHttpServerOptions {
  /** `host:port` (`[::1]:8123` for IPv6); port 0 picks a free port. */
  listen: string
  engine: QueryEngine
  /** The one identity that may write (INSERT, DDL). Without it every request is read-only. */
  writer?: { user: string; password: string }
  limits?: ClickHouseHttpLimits
  logger: Logger
  /** Answers paths other than `/` and `/ping` (the built-in dashboard); resolves false to fall through to 404. */
  routes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>
}

export interface ClickHouseHttpLimits {
  /** Upper bound of `max_execution_time` for every query; callers may only lower it. Default 60 s. */
  maxExecutionTimeSecs?: number
  /** Upper bound of `max_result_bytes` (uncompressed result blocks); callers may only lower it. Default 256 MiB. */
  maxResultBytes?: number
  /** Largest request body, after decompression; larger answers 413. Default 64 MiB. */
  maxRequestBodyBytes?: number
  /**
   * Queries running in the engine at once; the rest wait their turn. Default 2: chDB runs each on a
   * libuv thread (4 by default) and the aggregator's inserts need theirs. One more light read may
   * run beside them.
   */
  maxConcurrentQueries?: number
  /** Requests waiting for a slot; more answer 503 (TOO_MANY_SIMULTANEOUS_QUERIES) at once. Default 32. */
  maxQueuedQueries?: number
  /** Upper bound of `max_threads` for read-only queries, so a heavy read cannot take every core. Default 1. */
  readerMaxThreads?: number
  /** Time to receive a request's headers (Node's `headersTimeout`); then 408. Default 10 s. */
  headersTimeoutMs?: number
  /** Time to receive a whole request, body included (Node's `requestTimeout`); then 408. Default 60 s. */
  requestTimeoutMs?: number
  /** Longest pause between two pieces of a request body; then 408. Default 10 s. */
  bodyIdleTimeoutMs?: number
  /** Time to send a response once it is ready; a client reading slower is disconnected. Default 60 s. */
  responseTimeoutMs?: number
  /** How long an idle keep-alive connection stays open. Default 5 s. */
  keepAliveTimeoutMs?: number
  /**
   * Ceilings of every read-only request (everyone but the writer, and the writer's GETs), as
   * ClickHouse's own settings; a request may lower them, never raise them. Default: none beyond
   * maxExecutionTimeSecs (config `http.reader_limits` sets all three).
   */
  reader?: ReaderLimits
}

export interface ReaderLimits {
  /** `max_execution_time`, seconds. */
  maxExecutionTimeSecs?: number
  /** `max_memory_usage`, bytes. */
  maxMemoryUsage?: number
  /** `max_rows_to_read`, rows. */
  maxRowsToRead?: number
}

export interface ClickHouseHttpServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string
  readonly port: number
  /** Stops accepting, waits for requests in flight, then returns. The engine stays open (its owner closes it). */
  close(): Promise<void>
}

const DEFAULT_LIMITS: Required<Omit<ClickHouseHttpLimits, 'reader'>> & { reader?: ReaderLimits } = {
  maxExecutionTimeSecs: 60,
  maxResultBytes: 256 * 1024 * 1024,
  maxRequestBodyBytes: 64 * 1024 * 1024,
  maxConcurrentQueries: 2,
  maxQueuedQueries: 32,
  readerMaxThreads: 1,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  bodyIdleTimeoutMs: 10_000,
  responseTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
}

/** A light read (no table, e.g. `SELECT 1`) runs at most this long, so its own slot frees quickly. */
const LIGHT_QUERY_SECS = 1

/** `os_thread_priority` (a nice value, 0..19) of read-only queries' threads. */
const READER_NICE = 10

/**
 * URL parameters that are part of the HTTP protocol, not engine settings. Those @clickhouse/client
 * or other clients send that only steer the HTTP layer are accepted and ignored: the result is
 * buffered whole anyway (as with wait_end_of_query=1), and there are no HTTP sessions.
 */
const HTTP_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'user',
  'password',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'role',
  'quota_key',
  'stacktrace',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'http_response_buffer_size',
  'http_wait_end_of_query',
  'http_native_compression_disable_checksumming_on_decompress',
  'add_http_cors_header',
  'cancel_http_readonly_queries_on_client_close',
  'max_query_size',
])

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export async function startClickHouseHttpServer(
  options: ClickHouseHttpServerOptions,
): Promise<ClickHouseHttpServer> {
  const limits = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) }
  const logger = options.logger
  const { host, port } = parseListen(options.listen)
  const version = options.engine.version
  const displayName = hostname()
  const slots = new Slots(limits.maxConcurrentQueries, limits.maxQueuedQueries)
  const writer = options.writer

  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs)
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two deadlines above on this interval (30 s unless told).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      const started = performance.now()
      const queryId = new URL(req.url ?? '/', 'http://x').searchParams.get('query_id') || randomUUID()
      const ctx: RequestContext = { queryId, user: 'default', format: 'TabSeparated' }
      handle(req, res, ctx).then(
        (status) => logDone(ctx, status),
        (err: unknown) => {
          const error = fromEngineError(err)
          sendError(res, error, ctx)
          logDone(ctx, error.status, error)
        },
      )
      function logDone(c: RequestContext, status: number, error?: ClickHouseHttpError): void {
        const fields = {
          query_id: c.queryId,
          user: c.user,
          status,
          duration_ms: Math.round(performance.now() - started),
          ...(error !== undefined ? { code: error.code, error: error.message } : {}),
        }
        logger.debug(fields, 'served a ClickHouse HTTP request')
      }
    },
  )

  async function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://x')
    const method = req.method ?? 'GET'
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      if (method !== 'GET' && method !== 'HEAD')
        throw ClickHouseHttpError.of(ErrorCode.STD_EXCEPTION, 'method not allowed', 405)
      return sendText(res, 200, 'Ok.\n')
    }
    if (url.pathname !== '/' && options.routes !== undefined && (await options.routes(req, res)))
      return res.statusCode
    if (url.pathname !== '/') {
      req.resume()
      throw new ClickHouseHttpError(
        ErrorCode.STD_EXCEPTION,
        'STD_EXCEPTION',
        `There is no handle ${url.pathname}. Use / or /ping`,
        404,
      )
    }
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
      req.resume()
      throw ClickHouseHttpError.of(ErrorCode.STD_EXCEPTION, `HTTP method ${method} is not allowed`, 405)
    }
    const params = url.searchParams
    const queryParam = params.get('query')
    if (method !== 'POST' && queryParam === null) return sendText(res, 200, 'Ok.\n')

    const identity = authenticate(req, params, writer)
    ctx.user = identity.user
    const body =
      method === 'POST'
        ? await readBody(req, limits.maxRequestBodyBytes, limits.bodyIdleTimeoutMs)
        : Buffer.alloc(0)

    const statement = queryParam ?? ''
    const probe = inspectSql(statement !== '' ? statement : body.subarray(0, 64 * 1024).toString('utf8'))
    let request: EngineRequest
    const settings = requestSettings(params, limits)
    const database = params.get('database') ?? undefined
    const defaultFormat = params.get('default_format') || 'TabSeparated'
    if (probe.keyword === 'INSERT' && statement !== '' && body.length > 0) {
      // The statement is in the URL and the body holds its rows.
      request = {
        sql: statement,
        data: body,
        format: defaultFormat,
        settings,
        readonly: 0,
        ...(database ? { database } : {}),
      }
    } else {
      const sql =
        statement !== '' && body.length > 0
          ? `${statement}\n${body.toString('utf8')}`
          : statement || body.toString('utf8')
      if (sql.trim() === '') throw ClickHouseHttpError.of(ErrorCode.SYNTAX_ERROR, 'Empty query')
      request = { sql, format: defaultFormat, settings, readonly: 0, ...(database ? { database } : {}) }
    }
    const shape = request.data !== undefined ? probe : inspectSql(request.sql)
    if (shape.multiStatement)
      throw ClickHouseHttpError.of(ErrorCode.SYNTAX_ERROR, 'Multi-statements are not allowed')
    ctx.format = shape.keyword === 'INSERT' ? defaultFormat : (shape.format ?? defaultFormat)

    // GET is read-only for everyone (ClickHouse sets readonly=2 there); everyone but the writer is
    // read-only everywhere, with readonly=1 so not even the query's own SETTINGS can lift it.
    const mayWrite = identity.writer && method === 'POST'
    let light = false
    if (!mayWrite) {
      if (!isReadStatement(shape)) {
        await rejectUnparsable(request)
        throw ClickHouseHttpError.of(
          ErrorCode.READONLY,
          `${identity.user}: Cannot execute query in readonly mode${identity.writer ? ' (a GET request is read-only; use POST)' : ''}`,
        )
      }
      request.readonly = identity.writer ? 2 : 1
      applyReaderLimits(settings, limits.reader)
      settings.max_threads = String(capped(settings.max_threads, limits.readerMaxThreads))
      // Reader threads run niced, so the OS schedules the aggregator's inserts first when the cores are busy.
      settings.os_thread_priority = String(READER_NICE)
      light = !shape.readsTables
      if (light) settings.max_execution_time = String(capped(settings.max_execution_time, LIGHT_QUERY_SECS))
    }

    const abort = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) abort.abort()
    })
    const result = await slots.run(abort.signal, light, () => options.engine.run(request))
    if (abort.signal.aborted) return 499
    return sendResult(req, res, ctx, result, params.get('enable_http_compression') === '1')
  }

  /** A refused statement that does not even parse gets ClickHouse's syntax error, not READONLY. */
  async function rejectUnparsable(request: EngineRequest): Promise<void> {
    if (request.data !== undefined) return
    // EXPLAIN AST parses without running anything; the prefix's length is taken off the position
    // the error reports, so it points into the caller's own text.
    const prefix = 'EXPLAIN AST '
    try {
      await slots.run(new AbortController().signal, true, () =>
        options.engine.run({ sql: prefix + request.sql, format: 'TabSeparated', settings: {}, readonly: 1 }),
      )
    } catch (err) {
      const error = fromEngineError(err)
      if (error.code !== ErrorCode.SYNTAX_ERROR) return
      const detail = error.detail
        .replace(/position (\d+)/, (_, n: string) => `position ${Math.max(0, Number(n) - prefix.length)}`)
        .replace(
          /\(line 1, col (\d+)\)/,
          (_, n: string) => `(line 1, col ${Math.max(1, Number(n) - prefix.length)})`,
        )
      throw new ClickHouseHttpError(error.code, error.type, detail)
    }
  }

  function sendResult(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    result: EngineResult,
    compress: boolean,
  ): Promise<number> {
    const summary = {
      read_rows: String(result.readRows),
      read_bytes: String(result.readBytes),
      written_rows: String(result.writtenRows),
      written_bytes: String(result.writtenBytes),
      total_rows_to_read: String(result.readRows),
      result_rows: '0',
      result_bytes: String(result.body.length),
      elapsed_ns: String(Math.round(result.elapsedSecs * 1e9)),
    }
    res.setHeader('Content-Type', contentType(ctx.format))
    res.setHeader('X-ClickHouse-Summary', JSON.stringify(summary))
    return sendBody(req, res, ctx, 200, result.body, compress)
  }

  async function sendBody(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    status: number,
    body: Buffer,
    compress: boolean,
  ): Promise<number> {
    setCommonHeaders(res, ctx)
    let payload = body
    const encoding = compress ? pickEncoding(req.headers['accept-encoding']) : undefined
    if (encoding !== undefined && body.length > 0) {
      payload = await ENCODERS[encoding](body)
      res.setHeader('Content-Encoding', encoding)
    }
    res.statusCode = status
    res.setHeader('Content-Length', payload.length)
    // A client reading the response slower than this is cut off: its buffered result is let go.
    const deadline = setTimeout(() => res.destroy(), limits.responseTimeoutMs)
    deadline.unref()
    res.once('close', () => clearTimeout(deadline))
    res.end(req.method === 'HEAD' ? undefined : payload)
    return status
  }

  function sendText(res: ServerResponse, status: number, text: string): number {
    res.statusCode = status
    res.setHeader('Content-Type', 'text/html; charset=UTF-8')
    res.end(text)
    return status
  }

  function setCommonHeaders(res: ServerResponse, ctx: RequestContext): void {
    res.setHeader('X-ClickHouse-Server-Display-Name', displayName)
    res.setHeader('X-ClickHouse-Query-Id', ctx.queryId)
    res.setHeader('X-ClickHouse-Format', ctx.format)
    res.setHeader('X-ClickHouse-Timezone', 'UTC')
  }

  function sendError(res: ServerResponse, error: ClickHouseHttpError, ctx: RequestContext): void {
    if (res.headersSent || res.destroyed) {
      res.destroy()
      return
    }
    setCommonHeaders(res, ctx)
    res.statusCode = error.status
    res.setHeader('Content-Type', 'text/plain; charset=UTF-8')
    res.setHeader('X-ClickHouse-Exception-Code', String(error.code))
    // The request body may be unread (413, 408, refused early): close rather than drain it.
    if (error.status === 413 || error.status === 408) res.setHeader('Connection', 'close')
    res.end(error.body(version))
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address() as AddressInfo
  const urlHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
  const url = `http://${urlHost}:${bound.port}`
  logger.info(
    { url, writer: writer !== undefined ? writer.user : null },
    'serving the embedded store over the ClickHouse HTTP interface',
  )

  return {
    url,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeIdleConnections()
      }),
  }
}

interface RequestContext {
  queryId: string
  user: string
  format: string
}

interface Identity {
  user: string
  writer: boolean
}

/**
 * Credentials from X-ClickHouse-User/Key, HTTP Basic, or `user`/`password` URL parameters. Naming
 * the writer with a wrong password fails like ClickHouse (516, 403); any other name (or none) is a
 * read-only caller, whatever its password, since the embedded store has no other accounts.
 */
function authenticate(
  req: IncomingMessage,
  params: URLSearchParams,
  writer: { user: string; password: string } | undefined,
): Identity {
  let user: string | undefined
  let password = ''
  const headerUser = req.headers['x-clickhouse-user']
  const authorization = req.headers.authorization
  if (typeof headerUser === 'string') {
    user = headerUser
    password = String(req.headers['x-clickhouse-key'] ?? '')
  } else if (authorization !== undefined && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    user = colon < 0 ? decoded : decoded.slice(0, colon)
    password = colon < 0 ? '' : decoded.slice(colon + 1)
  } else if (params.has('user')) {
    user = params.get('user') ?? undefined
    password = params.get('password') ?? ''
  }
  const name = user === undefined || user === '' ? 'default' : user
  if (writer === undefined || name !== writer.user) return { user: name, writer: false }
  if (!sameSecret(password, writer.password)) {
    throw ClickHouseHttpError.of(
      ErrorCode.AUTHENTICATION_FAILED,
      `${name}: Authentication failed: password is incorrect, or there is no user with such name`,
    )
  }
  return { user: name, writer: true }
}

function sameSecret(given: string, expected: string): boolean {
  // Hash both so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** Engine settings from the URL, with the server's limits as ceilings. */
function requestSettings(params: URLSearchParams, limits: typeof DEFAULT_LIMITS): Record<string, string> {
  const settings: Record<string, string> = {}
  for (const [name, value] of params) {
    if (HTTP_PARAMS.has(name)) continue
    if (!SETTING_NAME.test(name)) {
      throw ClickHouseHttpError.of(ErrorCode.UNKNOWN_SETTING, `Unknown setting ${JSON.stringify(name)}`)
    }
    settings[name] = value
  }
  settings.max_execution_time = String(capped(settings.max_execution_time, limits.maxExecutionTimeSecs))
  settings.max_result_bytes = String(capped(settings.max_result_bytes, limits.maxResultBytes))
  return settings
}

/** Caps a read-only request's settings at the reader ceilings (before `readonly` locks them). */
function applyReaderLimits(settings: Record<string, string>, reader: ReaderLimits | undefined): void {
  if (reader === undefined) return
  const ceilings: [string, number | undefined][] = [
    ['max_execution_time', reader.maxExecutionTimeSecs],
    ['max_memory_usage', reader.maxMemoryUsage],
    ['max_rows_to_read', reader.maxRowsToRead],
  ]
  for (const [name, ceiling] of ceilings) {
    if (ceiling !== undefined) settings[name] = String(capped(settings[name], ceiling))
  }
}

/** The caller's value when it is a positive number under the ceiling; 0 means "no limit" in ClickHouse, so it gets the ceiling. */
function capped(given: string | undefined, ceiling: number): number {
  const n = given === undefined ? NaN : Number(given)
  return Number.isFinite(n) && n > 0 && n < ceiling ? n : ceiling
}

async function readBody(req: IncomingMessage, maxBytes: number, idleTimeoutMs: number): Promise<Buffer> {
  const tooLarge = () =>
    ClickHouseHttpError.of(ErrorCode.QUERY_IS_TOO_LARGE, `Request body is larger than ${maxBytes} bytes`)
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge()
  let source: Readable = req
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase()
  if (encoding === 'gzip') source = req.pipe(createGunzip())
  else if (encoding === 'deflate') source = req.pipe(createInflate())
  else if (encoding === 'br') source = req.pipe(createBrotliDecompress())
  else if (encoding !== '' && encoding !== 'identity') {
    throw new ClickHouseHttpError(
      89,
      'UNKNOWN_COMPRESSION_METHOD',
      `Unknown HTTP Content-Encoding ${encoding}`,
      400,
    )
  }
  const chunks: Buffer[] = []
  let total = 0
  // A body that stops arriving fails the request instead of holding it (and its buffer) open.
  let idle = false
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      idle = true
      source.destroy()
    }, idleTimeoutMs)
  }
  try {
    arm()
    for await (const chunk of source) {
      arm()
      total += (chunk as Buffer).length
      if (total > maxBytes) throw tooLarge()
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    if (err instanceof ClickHouseHttpError) throw err
    if (idle)
      throw new ClickHouseHttpError(
        209,
        'SOCKET_TIMEOUT',
        `No request body data for ${idleTimeoutMs} ms`,
        408,
      )
    throw new ClickHouseHttpError(
      354,
      'ZLIB_INFLATE_FAILED',
      `Cannot read the request body: ${(err as Error).message}`,
      400,
    )
  } finally {
    clearTimeout(timer)
  }
  return Buffer.concat(chunks, total)
}

const ENCODERS = {
  gzip: promisify(gzip),
  deflate: promisify(deflate),
  br: promisify(brotliCompress),
} as const

function pickEncoding(accept: string | undefined): keyof typeof ENCODERS | undefined {
  if (accept === undefined) return undefined
  const offered = accept
    .toLowerCase()
    .split(',')
    .map((s) => s.trim().split(';')[0])
  return (['gzip', 'deflate', 'br'] as const).find((e) => offered.includes(e))
}

/** Content-Type as ClickHouse sends it for the common formats. */
function contentType(format: string): string {
  const f = format.toLowerCase()
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8'
  if (f.startsWith('csv'))
    return `text/csv; charset=UTF-8; header=${f.includes('withnames') ? 'present' : 'absent'}`
  if (f.endsWith('eachrow') || f.includes('eachrowwith') || f === 'jsonlines' || f === 'ndjson')
    return 'application/x-ndjson; charset=UTF-8'
  if (f.startsWith('json')) return 'application/json; charset=UTF-8'
  if (f === 'xml') return 'application/xml; charset=UTF-8'
  if (['parquet', 'arrow', 'arrowstream', 'orc', 'native', 'avro'].includes(f) || f.startsWith('rowbinary'))
    return 'application/octet-stream'
  return 'text/plain; charset=UTF-8'
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim())
  if (m === null) throw new Error(`listen must be host:port, got ${JSON.stringify(listen)}`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * At most `size` queries in the engine at once, first come first served, so a burst of heavy
 * dashboard queries waits its turn instead of taking every libuv thread from the aggregator's
 * inserts. A light query (no table, at most a second) may also take one slot of its own, and is
 * served before the heavy ones when a slot frees, so `SELECT 1` answers during a burst. At most
 * `maxQueued` requests wait; the next is refused at once. A request whose client went away while
 * waiting never starts.
 */
class Slots {
  private active = 0
  private lightActive = 0
  private readonly waiting: Array<(kind: SlotKind) => void> = []
  private readonly lightWaiting: Array<(kind: SlotKind) => void> = []
  constructor(
    private readonly size: number,
    private readonly maxQueued: number,
  ) {}

  async run<T>(signal: AbortSignal, light: boolean, task: () => Promise<T>): Promise<T> {
    const kind = await this.acquire(light)
    try {
      if (signal.aborted)
        throw ClickHouseHttpError.of(ErrorCode.STD_EXCEPTION, 'the client closed the connection', 499)
      return await task()
    } finally {
      this.release(kind)
    }
  }

  private acquire(light: boolean): Promise<SlotKind> {
    if (this.active < this.size) {
      this.active++
      return Promise.resolve('shared')
    }
    if (light && this.lightActive < 1) {
      this.lightActive++
      return Promise.resolve('light')
    }
    if (this.waiting.length + this.lightWaiting.length >= this.maxQueued) {
      return Promise.reject(
        ClickHouseHttpError.of(
          ErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES,
          `Too many simultaneous queries: ${this.size} running and ${this.maxQueued} waiting`,
          503,
        ),
      )
    }
    return new Promise((resolve) => (light ? this.lightWaiting : this.waiting).push(resolve))
  }

  /** Hands the slot to the next waiter (light ones first), or frees it. */
  private release(kind: SlotKind): void {
    const next = this.lightWaiting.shift() ?? (kind === 'shared' ? this.waiting.shift() : undefined)
    if (next !== undefined) next(kind)
    else if (kind === 'shared') this.active--
    else this.lightActive--
  }
}

type SlotKind = 'shared' | 'light'
