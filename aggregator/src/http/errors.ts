/**
 * ClickHouse exceptions as the HTTP interface reports them: body
 * `Code: <n>. DB::Exception: <message>. (<NAME>) (version <v>)\n`, header
 * `X-ClickHouse-Exception-Code`, and the status from ClickHouse's exceptionCodeToHTTPStatus.cpp,
 * so `@clickhouse/client` raises a `ClickHouseError` with the same `code` and `type` as against a
 * server. One deviation, on purpose: READONLY (164) answers 403 rather than 500, because here it
 * is always an access refusal.
 */

export const ErrorCode = {
  SYNTAX_ERROR: 62,
  UNKNOWN_SETTING: 115,
  TIMEOUT_EXCEEDED: 159,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  READONLY: 164,
  QUERY_IS_TOO_LARGE: 229,
  TOO_MANY_ROWS_OR_BYTES: 396,
  AUTHENTICATION_FAILED: 516,
  STD_EXCEPTION: 1001,
} as const

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name]),
)

// Transcribed from ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp (codes from ErrorCodes.cpp).
const FORBIDDEN = new Set([192, 193, 516, 512, 497, ErrorCode.READONLY])
const BAD_REQUEST = new Set([
  36, 427, 6, 25, 26, 38, 41, 72, 441, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321,
])
const NOT_FOUND = new Set([60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511])
const OTHER: Record<number, number> = { 229: 413, 48: 501, 209: 503, 76: 503, 381: 411, 159: 408, 439: 503 }

export function httpStatusFor(code: number): number {
  if (code === 194) return 401 // REQUIRED_PASSWORD
  if (FORBIDDEN.has(code)) return 403
  if (BAD_REQUEST.has(code)) return 400
  if (NOT_FOUND.has(code)) return 404
  return OTHER[code] ?? 500
}

/** An error to report to the HTTP caller in ClickHouse's shape. */
export class ClickHouseHttpError extends Error {
  override readonly name = 'ClickHouseHttpError'
  constructor(
    /** ClickHouse exception code, e.g. 62. */
    readonly code: number,
    /** ClickHouse exception name, e.g. SYNTAX_ERROR. */
    readonly type: string,
    /** The message without the `Code: n. DB::Exception:` prefix and the `(NAME)` suffix. */
    readonly detail: string,
    /** HTTP status; defaults to ClickHouse's mapping of `code`. */
    readonly status: number = httpStatusFor(code),
    options?: { cause?: unknown },
  ) {
    super(`Code: ${code}. DB::Exception: ${detail}. (${type})`, options)
  }

  static of(code: number, detail: string, status?: number): ClickHouseHttpError {
    return new ClickHouseHttpError(code, NAMES[code] ?? 'UNKNOWN_EXCEPTION', detail, status)
  }

  /** The response body ClickHouse would send. */
  body(version: string): string {
    return `${this.message} (version ${version})\n`
  }
}

const ENGINE_MESSAGE =
  /^Code: (\d+)\. DB::Exception: ([\s\S]*?)\.? \(([A-Z0-9_]+)\)(?: \(version [^)]*\))?\s*$/

/** chDB raises `Code: n. DB::Exception: ... (NAME)`; anything else is an internal error (code 1001, STD_EXCEPTION). */
export function fromEngineError(err: unknown): ClickHouseHttpError {
  if (err instanceof ClickHouseHttpError) return err
  const message = err instanceof Error ? err.message : String(err)
  const m = ENGINE_MESSAGE.exec(message)
  if (m !== null) return new ClickHouseHttpError(Number(m[1]), m[3]!, m[2]!, undefined, { cause: err })
  const code = (err as { clickhouseCode?: unknown } | null)?.clickhouseCode
  if (typeof code === 'number')
    return new ClickHouseHttpError(code, NAMES[code] ?? 'UNKNOWN_EXCEPTION', message, undefined, {
      cause: err,
    })
  return new ClickHouseHttpError(ErrorCode.STD_EXCEPTION, 'STD_EXCEPTION', message, 500, { cause: err })
}
