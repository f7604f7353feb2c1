import { Session } from 'chdb'

/**
 * What the HTTP server needs from a ClickHouse engine: run one statement with per-request
 * settings and give back the formatted bytes. Implemented over chDB below; a test can fake it.
 */
export interface QueryEngine {
  /** ClickHouse version of the engine, e.g. `26.7.2.1`, for error bodies. */
  readonly version: string
  run(request: EngineRequest): Promise<EngineResult>
  /** Releases what the engine holds; the data directory stays usable by its other users. */
  close(): Promise<void>
}

export interface EngineRequest {
  /** One statement. For an INSERT with `data`, the statement up to and including `FORMAT <name>`. */
  sql: string
  /** Rows for `INSERT ... FORMAT <name>`, in that format. */
  data?: Buffer
  /** Output format when the statement has no FORMAT clause, e.g. `TabSeparated`. */
  format: string
  /** Default database for unqualified names; `default` when absent. */
  database?: string
  /**
   * ClickHouse's `readonly` setting for this statement: 0 = may write, 1 = read only and no
   * setting may change afterwards (the request's own settings are applied before it), 2 = read
   * only but settings may change.
   */
  readonly: 0 | 1 | 2
  /** ClickHouse settings for this statement only (`param_<name>` binds a `{name:Type}` placeholder). */
  settings: Readonly<Record<string, string>>
}

export interface EngineResult {
  body: Buffer
  readRows: number
  readBytes: number
  writtenRows: number
  writtenBytes: number
  elapsedSecs: number
}

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** `INSERT INTO [db.]table [(c1, c2)] FORMAT <fmt>`, the shape @clickhouse/client sends. */
const SIMPLE_INSERT =
  /^\s*INSERT\s+INTO\s+((?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([A-Za-z0-9_,\s]*)\))?\s*FORMAT\s+(JSONEachRow|JSONCompactEachRow|CSV|CSVWithNames|TSV|TabSeparated|TSVWithNames|TabSeparatedWithNames)\s*$/i
const RAW_FORMAT_CASE: Record<
  string,
  | 'JSONEachRow'
  | 'JSONCompactEachRow'
  | 'CSV'
  | 'CSVWithNames'
  | 'TSV'
  | 'TabSeparated'
  | 'TSVWithNames'
  | 'TabSeparatedWithNames'
> = {
  jsoneachrow: 'JSONEachRow',
  jsoncompacteachrow: 'JSONCompactEachRow',
  csv: 'CSV',
  csvwithnames: 'CSVWithNames',
  tsv: 'TSV',
  tabseparated: 'TabSeparated',
  tsvwithnames: 'TSVWithNames',
  tabseparatedwithnames: 'TabSeparatedWithNames',
}

export interface ChdbQueryEngineOptions {
  /** The chDB data directory; the same one the aggregator's `createChdbConnection({ path })` uses. */
  path: string
}

/**
 * Each request runs on its own chDB `Session` on the shared data directory. Sessions on one path
 * share the engine (chdb reference-counts it) but each has its own ClickHouse session context, so
 * a request's `SET`s, `readonly` and `USE` cannot leak into another request or into the
 * aggregator's own connection; opening one costs about 1 ms. One session is held for the engine's
 * lifetime so the store is not torn down and reopened between requests.
 */
export function createChdbQueryEngine(options: ChdbQueryEngineOptions): QueryEngine {
  const anchor = new Session(options.path)
  // Not chdb's version(): it queries the process-default connection, which fails (or opens a
  // second data directory) while a path session is live.
  const version = anchor.query('SELECT version()', 'TabSeparated').trim()
  let closed = false
  const running = new Set<Promise<unknown>>()

  async function run(request: EngineRequest): Promise<EngineResult> {
    if (closed) throw new Error('the query engine is closed')
    const session = new Session(options.path)
    const work = execute(session, request)
    running.add(work)
    try {
      return await work
    } finally {
      running.delete(work)
      session.close()
    }
  }

  return {
    version,
    run,
    async close() {
      if (closed) return
      closed = true
      await Promise.allSettled([...running])
      anchor.close()
    },
  }
}

async function execute(session: Session, request: EngineRequest): Promise<EngineResult> {
  // Settings go in their own statement, before the query, so the query's error positions are its
  // own, and `readonly` goes last so the request's settings apply but the query cannot undo them.
  const prelude: string[] = []
  if (request.database !== undefined && request.database !== '')
    prelude.push(`USE ${quoteIdentifier(request.database)}`)
  const assignments: string[] = []
  for (const [name, value] of Object.entries(request.settings)) {
    if (!SETTING_NAME.test(name)) throw new Error(`invalid setting name ${JSON.stringify(name)}`)
    assignments.push(`${name} = ${quoteString(value)}`)
  }
  if (request.readonly !== 0) assignments.push(`readonly = ${request.readonly}`)
  if (assignments.length > 0) prelude.push(`SET ${assignments.join(', ')}`)
  if (prelude.length > 0) await session.queryAsync(prelude.join('; '), { format: 'TabSeparated' })

  if (request.data !== undefined) {
    if (request.data.length === 0) return emptyResult()
    const simple = SIMPLE_INSERT.exec(request.sql)
    if (simple !== null) {
      // chdb's raw insert hands the Buffer to the engine without a copy into a JS string.
      const columns = simple[2]
        ?.split(',')
        .map((c) => c.trim())
        .filter((c) => c !== '')
      const summary = await session.insert({
        table: simple[1]!,
        values: request.data,
        format: RAW_FORMAT_CASE[simple[3]!.toLowerCase()]!,
        ...(columns !== undefined && columns.length > 0 ? { columns } : {}),
      })
      return {
        ...emptyResult(),
        writtenRows: summary.rowsWritten,
        writtenBytes: summary.bytesWritten,
        elapsedSecs: summary.elapsed,
      }
    }
    // Any other INSERT shape: ClickHouse's own inline-data form, statement and rows as one text.
    // Text formats only; binary payloads (RowBinary, Native, Parquet) would not survive as a string.
    const result = await session.queryAsync(`${request.sql}\n${request.data.toString('utf8')}`, {
      format: request.format,
    })
    return { ...emptyResult(), elapsedSecs: result.elapsed }
  }

  const result = await session.queryAsync(request.sql, { format: request.format })
  const bytes = result.bytes()
  return {
    body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    readRows: result.rowsRead,
    readBytes: result.bytesRead,
    writtenRows: 0,
    writtenBytes: 0,
    elapsedSecs: result.elapsed,
  }
}

function emptyResult(): EngineResult {
  return { body: Buffer.alloc(0), readRows: 0, readBytes: 0, writtenRows: 0, writtenBytes: 0, elapsedSecs: 0 }
}

/** A ClickHouse string literal: backslash and quote escaped. */
function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``
}
