import { mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ClickHouseClient, createClient as CreateClient } from '@clickhouse/client'
import { createRequire } from 'node:module'
import type { createChdbConnection as CreateChdbConnection } from 'chdb/connection'
import type { Logger } from 'pino'
import type { StoreConfig } from '../config/schema.js'
import { redactUrlPassword } from '../config/secrets.js'
import { ConfigError, StoreError } from '../errors.js'
import { perCallSettings } from './chdb-settings.js'
import { assertDatabaseName } from './schema.js'

/**
 * The ClickHouse store: one `@clickhouse/client` whatever the engine. `embedded` is chDB in this
 * process (one process may open a chDB directory at a time); `server` is ClickHouse over HTTP(S).
 * Table names are always qualified with `database`; the client has no default database, so
 * `CREATE DATABASE` works before the database exists.
 */
export interface Store {
  client: ClickHouseClient
  kind: 'embedded' | 'server'
  /** The database holding tidewatch's tables (config `store.database`, default `tidewatch`). */
  database: string
  /** The ClickHouse cluster migrations run `ON CLUSTER` (config `store.cluster`); undefined on one server. */
  cluster?: string
  /** Closes the client (and the chDB session); safe to call twice. */
  close(): Promise<void>
}

export interface StoreOptions {
  logger?: Logger
}

/** Where the store is, parsed from `store.url`, with credentials resolved; internal to createStore. */
export type StoreTarget =
  | { kind: 'embedded'; path: string }
  | { kind: 'server'; url: string; user: string | undefined; password: string | undefined }

const URL_KEY = 'store.url'

/** Parses `store.url` (and the credentials beside it) without touching disk or network. */
export function parseStoreTarget(config: StoreConfig, cwd: string = process.cwd()): StoreTarget {
  const text = config.url.trim()
  if (text.startsWith('chdb://')) {
    const dir = text.slice('chdb://'.length)
    if (dir === '') {
      throw new ConfigError(
        'store.url: expected a directory after chdb://',
        undefined,
        URL_KEY,
        'chdb://<dir>',
        config.url,
      )
    }
    return { kind: 'embedded', path: dir === ':memory:' ? dir : resolve(cwd, dir) }
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw badUrl(config.url)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw badUrl(config.url)
  const urlUser = url.username === '' ? undefined : decodeURIComponent(url.username)
  const urlPassword = url.password === '' ? undefined : decodeURIComponent(url.password)
  url.username = ''
  url.password = ''
  return {
    kind: 'server',
    url: url.toString().replace(/\/$/, ''),
    user: config.user ?? urlUser,
    password: resolvePassword(config) ?? urlPassword,
  }
}

function badUrl(found: string): ConfigError {
  return new ConfigError(
    'store.url: expected chdb://<dir>, http://host:8123 or https://host:8443',
    undefined,
    URL_KEY,
    'chdb://<dir> | http(s)://[user:password@]host:port',
    redactUrlPassword(found),
  )
}

function resolvePassword(config: StoreConfig): string | undefined {
  if (config.password !== undefined) return config.password
  if (config.password_file === undefined) return undefined
  try {
    return readFileSync(config.password_file, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    throw new ConfigError(
      `store.password_file: cannot read ${config.password_file}: ${(error as Error).message}`,
      undefined,
      'store.password_file',
      'a readable file holding the password',
      config.password_file,
    )
  }
}

/** Opens the store `config.url` names. Throws ConfigError naming `store.url` for any other scheme. */
/**
 * chDB (the whole ClickHouse engine, ~140 MB resident) loads only when an embedded store is opened:
 * the agent imports this package too and never opens one.
 */
function loadClient(): typeof CreateClient {
  return (createRequire(import.meta.url)('@clickhouse/client') as { createClient: typeof CreateClient })
    .createClient
}

function loadChdbConnection(): typeof CreateChdbConnection {
  const { createChdbConnection } = createRequire(import.meta.url)('chdb/connection') as {
    createChdbConnection: typeof CreateChdbConnection
  }
  return createChdbConnection
}

export function createStore(config: StoreConfig, options: StoreOptions = {}): Store {
  const target = parseStoreTarget(config)
  assertDatabaseName(config.database)
  if (config.cluster !== undefined && target.kind === 'embedded') {
    throw new ConfigError(
      'store.cluster: a cluster needs a ClickHouse server url (http(s)://), not the embedded engine',
      undefined,
      'store.cluster',
      'no cluster with chdb://',
      config.cluster,
    )
  }
  const log = options.logger?.child({ component: 'store' })
  let client: ClickHouseClient
  if (target.kind === 'embedded') {
    try {
      if (target.path !== ':memory:') mkdirSync(target.path, { recursive: true })
      const connection = perCallSettings(loadChdbConnection()({ path: target.path }))
      // request_timeout has no effect on the in-process engine: queries are not HTTP requests.
      client = loadClient()({ connection, request_timeout: config.request_timeout })
    } catch (error) {
      throw new StoreError(`cannot open the chDB directory ${target.path}`, 'STORE_OPEN_FAILED', false, {
        cause: error,
      })
    }
    log?.info({ kind: target.kind, path: target.path, database: config.database }, 'Store opened.')
  } else {
    client = loadClient()({
      url: target.url,
      username: target.user,
      password: target.password,
      request_timeout: config.request_timeout,
      application: 'tidewatch',
    })
    log?.info(
      { kind: target.kind, url: target.url, user: target.user, database: config.database },
      'Store opened.',
    )
  }
  let closing: Promise<void> | undefined
  return {
    client,
    kind: target.kind,
    database: config.database,
    ...(config.cluster !== undefined ? { cluster: config.cluster } : {}),
    close: () => (closing ??= client.close()),
  }
}
