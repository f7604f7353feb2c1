import type { ClickHouseClientConfigOptions } from '@clickhouse/client'
import type { ChdbConnection } from 'chdb/connection'

/**
 * chdb 3.4.0's `chdb/connection` applies a call's `clickhouse_settings` as `SET k = v` statements on
 * the one chDB session, and a SET outlives the call. Without this wrapper an insert carrying
 * `insert_deduplication_token: 'a'` makes every later insert without a token reuse 'a', and
 * ClickHouse silently drops those inserts as duplicates (data loss). Over HTTP a setting lives for
 * one request, and this wrapper gives the embedded store the same semantics: every setting a
 * previous call set and this call does not is reset with `SET k = DEFAULT` before the statement.
 *
 * Calls are serialized so one call's SETs cannot leak into another call running at the same time
 * on the same session (chDB runs queries off the event loop).
 */

/** Settings chdb drops instead of SETting (mirrors chdb 3.4.0's HTTP_ONLY_SETTINGS and default_format). */
const NOT_SET_BY_CHDB = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'default_format',
])

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The Connection type `createClient({ connection })` takes. */
export type ClientConnection = NonNullable<ClickHouseClientConfigOptions['connection']>
type WithSettings = { query: string; clickhouse_settings?: object }

export function perCallSettings(chdb: ChdbConnection): ClientConnection {
  // chdb 3.4.0 types its Connection against @clickhouse/client-common 1.23.0, the client 1.23.1
  // bundles its own copy of the same interface; the shapes agree at runtime, only the declared
  // settings types differ, so the one cast lives here.
  const inner = chdb as unknown as ClientConnection
  const touched = new Set<string>()
  let queue: Promise<unknown> = Promise.resolve()

  function prepare<P extends WithSettings>(params: P): P {
    const given = (params.clickhouse_settings ?? {}) as Record<string, unknown>
    const resets: string[] = []
    for (const name of touched) {
      if (given[name] === undefined) resets.push(`SET ${name} = DEFAULT; `)
    }
    for (const [name, value] of Object.entries(given)) {
      if (value !== undefined && !NOT_SET_BY_CHDB.has(name) && SETTING_NAME.test(name)) touched.add(name)
    }
    return resets.length === 0 ? params : { ...params, query: resets.join('') + params.query }
  }

  function serialized<T>(run: () => Promise<T>): Promise<T> {
    const result = queue.then(run, run)
    queue = result.catch(() => undefined)
    return result
  }

  return {
    ping: (params) => inner.ping(params),
    query: (params) => serialized(() => inner.query(prepare(params))),
    insert: (params) => serialized(() => inner.insert(prepare(params))),
    command: (params) => serialized(() => inner.command(prepare(params))),
    exec: (params) => serialized(() => inner.exec(prepare(params))),
    close: () => serialized(() => inner.close()),
  }
}
