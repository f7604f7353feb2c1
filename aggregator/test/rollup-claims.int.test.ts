/*
 * The two halves of the roll-up's agreement between replicas (src/rollups/coordinator.ts), against a
 * real chDB store: which intents hold a minute's roll-up back, and how a batch waits on a claim
 * another replica holds on one of its minutes, then classifies by its outcome.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createStore,
  lastRolledMinute,
  ManualClock,
  migrate,
  recordRollupClaim,
  retentionSchema,
  rollUpMinute,
  storeSchema,
  type Store,
} from '@tidewatch/shared'
import { RollupCoordinator } from '../src/rollups/coordinator.js'
import { IntentLog } from '../src/sinks/clickhouse/intent-log.js'
import { silentLogger } from './harness.js'

const MINUTE = 60_000
const GRACE_MS = 10_000
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-rollup-claims-'))
let store: Store
// The first open minute when the coordinator starts.
const M = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE
const clock = new ManualClock(M + 30_000)
let rollups: RollupCoordinator

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}` }))
  await migrate(store, { retention: retentionSchema.parse({}) })
  rollups = new RollupCoordinator({
    store,
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

const rolled = () => lastRolledMinute(store.client, store.database)
const sec = (ms: number) => ms / 1000

describe('roll-up claims and intents across replicas (real chDB)', () => {
  it('a fresh store rolls the minute before the first open one on start, so every batch has a frontier', async () => {
    expect(await rolled()).toBe(sec(M - MINUTE))
    expect(rollups.lateBeforeMs).toBe(M)
  })

  it('holds a minute back only for uncommitted batches classified with on-time samples of it', async () => {
    const log = new IntentLog(store.client, store.database, 'METRICS/other-replica')
    // Committed: its raw rows are in before the roll-up. Late for M (watermark after it): partials.
    // Legacy (no watermark). Samples only after M. None of them holds M back.
    await log.recordIntent('committed', [1], { watermarkMs: M, minTsMs: M + 1_000, maxTsMs: M + 2_000 })
    await log.recordCommit('committed', [1], { watermarkMs: M, minTsMs: M + 1_000, maxTsMs: M + 2_000 })
    await log.recordIntent('late', [2], { watermarkMs: M + MINUTE, minTsMs: M + 1_000, maxTsMs: M + 2_000 })
    await log.recordIntent('legacy', [3], { watermarkMs: 0, minTsMs: 0, maxTsMs: 0 })
    await log.recordIntent('next-minute', [4], { watermarkMs: M, minTsMs: M + 61_000, maxTsMs: M + 62_000 })
    clock.set(M + MINUTE + GRACE_MS + 1_000)
    await rollups.rollUpClosedMinutes()
    expect(rollups.rollupsHeldBack).toBe(0)
    expect(await rolled()).toBe(sec(M))

    // 'next-minute' is on time in M + 1 and not committed: M + 1 waits for it.
    clock.set(M + 2 * MINUTE + GRACE_MS + 1_000)
    await rollups.rollUpClosedMinutes()
    expect(await rolled()).toBe(sec(M))
    expect(rollups.rollupsHeldBack).toBe(1)
    await log.recordCommit('next-minute', [4], { watermarkMs: M, minTsMs: M + 61_000, maxTsMs: M + 62_000 })
    await rollups.rollUpClosedMinutes()
    expect(await rolled()).toBe(sec(M + MINUTE))
  })

  it("waits on another replica's open claim on one of its minutes, then classifies by the claim's outcome", async () => {
    const N = M + 2 * MINUTE // the next minute to roll up
    expect(rollups.lateBeforeMs).toBe(N)
    const span = { minTsMs: N + 5_000, maxTsMs: N + 65_000 }
    const rewrites: number[] = []
    const rewrite = async (watermarkMs: number) => void rewrites.push(watermarkMs)

    // Withdrawn (its check found a batch in the way): the batch keeps its watermark.
    await recordRollupClaim(store.client, store.database, sec(N), `${sec(N)}:Y:1`, false)
    let settled: number | undefined
    const first = rollups.settleWatermark(N, span, rewrite).then((w) => (settled = w))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBeUndefined()
    await recordRollupClaim(store.client, store.database, sec(N), `${sec(N)}:Y:1`, true)
    expect(await first).toBe(N)
    expect(rewrites).toEqual([])

    // Rolled up (its check passed before this batch's intent was written): the batch's samples of
    // that minute are late, and its intent is rewritten with the raised watermark first.
    await recordRollupClaim(store.client, store.database, sec(N), `${sec(N)}:Y:2`, false)
    settled = undefined
    const second = rollups.settleWatermark(N, span, rewrite).then((w) => (settled = w))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBeUndefined()
    await rollUpMinute(store.client, store.database, sec(N))
    await recordRollupClaim(store.client, store.database, sec(N), `${sec(N)}:Y:2`, true)
    expect(await second).toBe(N + MINUTE)
    expect(rewrites).toEqual([N + MINUTE])
    expect(rollups.watermarksRaised).toBe(1)
    expect(rollups.claimWaits).toBeGreaterThan(1)

    // A claim on a minute the batch has no samples in does not hold it up.
    await recordRollupClaim(store.client, store.database, sec(N + MINUTE), `${sec(N + MINUTE)}:Y:3`, false)
    expect(
      await rollups.settleWatermark(N + 2 * MINUTE, { minTsMs: N + 125_000, maxTsMs: N + 126_000 }, rewrite),
    ).toBe(N + 2 * MINUTE)
  })
})
