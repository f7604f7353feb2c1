import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { storeSchema, type StoreConfig } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import { createStore, parseStoreTarget } from './store.js'

const storeConfig = (fields: Partial<Record<keyof StoreConfig, unknown>>): StoreConfig =>
  storeSchema.parse(fields)

// This file's one chDB directory (one per process: the forks pool gives each test file a process).
const root = mkdtempSync(join(tmpdir(), 'tidewatch-store-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('parseStoreTarget', () => {
  it('resolves a relative chdb:// directory against the working directory', () => {
    expect(parseStoreTarget(storeConfig({ url: 'chdb://./data/store' }), '/srv/tw')).toEqual({
      kind: 'embedded',
      path: '/srv/tw/data/store',
    })
    expect(parseStoreTarget(storeConfig({ url: 'chdb:///var/lib/tw' }), '/srv/tw')).toEqual({
      kind: 'embedded',
      path: '/var/lib/tw',
    })
  })

  it('takes credentials from the URL, config keys winning, and strips them from the URL', () => {
    expect(parseStoreTarget(storeConfig({ url: 'http://writer:s%40cret@ch.local:8123' }))).toEqual({
      kind: 'server',
      url: 'http://ch.local:8123',
      user: 'writer',
      password: 's@cret',
    })
    expect(
      parseStoreTarget(storeConfig({ url: 'https://u:p@ch.local:8443/', user: 'ops', password: 'pw' })),
    ).toEqual({ kind: 'server', url: 'https://ch.local:8443', user: 'ops', password: 'pw' })
  })

  it('reads store.password_file', () => {
    const file = join(root, 'password')
    writeFileSync(file, 'from-file\n')
    expect(parseStoreTarget(storeConfig({ url: 'http://ch:8123', password_file: file }))).toMatchObject({
      password: 'from-file',
    })
  })

  it.each(['ftp://ch:21', 'ch.local:8123', 'chdb://', 'clickhouse://ch:9000', '', 'http://'])(
    'rejects store.url %j with a ConfigError naming store.url',
    (url) => {
      const error = (() => {
        try {
          parseStoreTarget(storeConfig({ url }))
        } catch (thrown) {
          return thrown
        }
      })()
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).keyPath).toBe('store.url')
      expect((error as ConfigError).message).toContain('store.url')
    },
  )

  it('rejects a database name that is not an identifier', () => {
    expect(() => createStore({ ...storeConfig({ url: 'http://ch:8123' }), database: 'tw; DROP' })).toThrow(
      ConfigError,
    )
  })

  it('never puts a password into a ConfigError', () => {
    expect(() => createStore(storeConfig({ url: 'ftp://u:hunter2@ch:21' }))).toThrow(ConfigError)
    try {
      createStore(storeConfig({ url: 'ftp://u:hunter2@ch:21' }))
    } catch (error) {
      expect(JSON.stringify({ ...(error as ConfigError), message: (error as Error).message })).not.toContain(
        'hunter2',
      )
    }
  })
})

describe('createStore', () => {
  it('opens a ClickHouse server lazily and never logs its password', async () => {
    const lines: string[] = []
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const logger = pino({}, destination)
    const store = createStore(storeConfig({ url: 'http://writer:hunter2@127.0.0.1:1', database: 'tw' }), {
      logger,
    })
    expect(store.kind).toBe('server')
    expect(store.database).toBe('tw')
    await store.close()
    await store.close()
    expect(lines.join('')).toContain('Store opened.')
    expect(lines.join('')).not.toContain('hunter2')
  })

  it('opens chDB in a created directory, and a setting of one call does not leak into the next', async () => {
    const dir = join(root, 'nested', 'store')
    const store = createStore(storeConfig({ url: `chdb://${dir}` }))
    try {
      expect(store.kind).toBe('embedded')
      expect(statSync(dir).isDirectory()).toBe(true)
      const { client } = store
      await client.command({ query: 'CREATE DATABASE IF NOT EXISTS t' })
      await client.command({
        query: `CREATE TABLE t.dedup (n UInt32) ENGINE = MergeTree ORDER BY n
                SETTINGS non_replicated_deduplication_window = 100`,
      })
      const insert = (n: number, token?: string) =>
        client.insert({
          table: 't.dedup',
          format: 'TabSeparated',
          values: Readable.from([`${n}\n`], { objectMode: false }),
          clickhouse_settings: token === undefined ? {} : { insert_deduplication_token: token },
        })
      await insert(1, 'a')
      await insert(2, 'a') // same token: a redelivery, skipped
      // Regression: chdb/connection SETs settings on the session, so without the reset this insert
      // inherited token 'a' and was silently dropped as a duplicate.
      await insert(3)
      await insert(4)
      const result = await client.query({
        query: 'SELECT groupArray(n) AS n FROM (SELECT n FROM t.dedup ORDER BY n)',
        format: 'JSONEachRow',
      })
      expect(await result.json()).toEqual([{ n: [1, 3, 4] }])
    } finally {
      await store.close()
    }
  })
})
