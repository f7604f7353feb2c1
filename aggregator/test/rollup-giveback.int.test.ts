/*
 * A roll-up that gives its claim back (a batch of the minute is not committed yet) and fails to
 * write that: the claim must not stay open until it expires, holding every batch of the minute
 * waiting. Real chDB; one insert into the log is made to fail.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseClient } from '@clickhouse/client'
import {
  createStore,
  ManualClock,
  migrate,
  readRollupFrontier,
  retentionSchema,
  storeSchema,
  type Store,
} from '@tidewatch/shared'
import { RollupCoordinator } from '../src/rollups/coordinator.js'
import { IntentLog } from '../src/sinks/clickhouse/intent-log.js'
import { silentLogger } from './harness.js'

const MINUTE = 60_000
const GRACE_MS = 10_000
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-rollup-giveback-'))
const M = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE
const clock = new ManualClock(M + 30_000)
let store: Store
let rollups: RollupCoordinator
/** When set, the next resolved-claim insert fails as a store error would. */
let failNextGiveBack = false

/** The store's client, with inserts of resolved claims failing on demand. */
function flakyClient(client: ClickHouseClient): ClickHouseClient {
  const insert: ClickHouseClient['insert'] = (params) => {
    const rows = Array.isArray(params.values) ? (params.values as { committed?: number }[]) : []
    if (failNextGiveBack && rows.some((row) => row.committed === 1)) {
      failNextGiveBack = false
      return Promise.reject(new Error('store unavailable'))
    }
    return client.insert(params)
  }
  return new Proxy(client, {
    get: (target, key) =>
      key === 'insert'
        ? insert
        : (Reflect.get(target, key) as unknown as ClickHouseClient[keyof ClickHouseClient]),
  })
}

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}` }))
  await migrate(store, { retention: retentionSchema.parse({}) })
  rollups = new RollupCoordinator({
    store: { ...store, client: flakyClient(store.client) },
    clock,
    logger: silentLogger,
    graceMs: GRACE_MS,
    intervalMs: 3_600_000,
    startupHoldMs: 0,
    replicaId: 'X',
  })
  await rollups.start()
})

afterAll(async () => {
  await rollups?.stop()
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

const openClaims = async (): Promise<number[]> =>
  (await readRollupFrontier(store.client, store.database, M / 1000, M / 1000, 300)).claimed

describe('a roll-up claim given back while the store fails (real chDB)', () => {
  it('is written again on the next pass, so batches of the minute stop waiting', async () => {
    // A batch of another replica with on-time samples of M, not committed: M is held back.
    const log = new IntentLog(store.client, store.database, 'METRICS/other-replica')
    await log.recordIntent('pending', [1], { watermarkMs: M, minTsMs: M + 1_000, maxTsMs: M + 2_000 })
    clock.set(M + MINUTE + GRACE_MS + 1_000)

    failNextGiveBack = true
    await rollups.rollUpClosedMinutes()
    expect(rollups.rollupsHeldBack).toBe(1)
    expect(failNextGiveBack).toBe(false)
    // The give-back did not land: a batch of M would wait on this claim.
    expect(await openClaims()).toEqual([M / 1000])

    // Next pass: the claim is given back first, then M is claimed, checked and given back again.
    await rollups.rollUpClosedMinutes()
    expect(rollups.rollupsHeldBack).toBe(2)
    expect(await openClaims()).toEqual([])
  })
})
