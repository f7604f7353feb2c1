import { describe, expect, it } from 'vitest'
import type { AlertRecord } from '../state/transition.js'
import { nextFlushAtMs, planFlush, type GroupAlert } from './plan.js'

const rec = (fp: string, state: AlertRecord['state'], activeSinceMs = 1_000): AlertRecord => ({
  fingerprint: fp,
  rule: 'r',
  state,
  labels: { alertname: 'r', host: fp },
  annotations: {},
  value: 1,
  activeSinceMs,
  atMs: activeSinceMs,
})
const a = (record: AlertRecord, muted = false): GroupAlert => ({ stored: { record, revision: 1 }, muted })
const opts = { nowMs: 10_000, repeatIntervalMs: 60_000, sendResolved: true }

describe('planFlush', () => {
  it('sends new firing alerts and records them', () => {
    const plan = planFlush([a(rec('x', 'firing'))], undefined, opts)
    expect(plan.notification?.kind).toBe('firing')
    expect(plan.nextFiring).toEqual({ x: 1_000 })
  })

  it('sends nothing when the log already has them (a restart, or the other replica sent)', () => {
    const plan = planFlush(
      [a(rec('x', 'firing'))],
      { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 9_000 },
      opts,
    )
    expect(plan.notification).toBeUndefined()
  })

  it('repeats after repeat_interval', () => {
    const plan = planFlush(
      [a(rec('x', 'firing'))],
      { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 9_000 },
      { ...opts, nowMs: 70_000 },
    )
    expect(plan.notification).toMatchObject({ kind: 'firing', repeat: true })
  })

  it('sends resolved only for alerts notified as firing, and closes every resolved record', () => {
    const log = { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 9_000 }
    const plan = planFlush([a(rec('x', 'resolved')), a(rec('y', 'resolved'))], log, opts)
    expect(plan.notification?.kind).toBe('resolved')
    expect(plan.notification?.resolved.map((r) => r.fingerprint)).toEqual(['x'])
    expect(plan.close).toHaveLength(2)
    expect(plan.groupDone).toBe(true)
    expect(plan.nextFiring).toEqual({})
  })

  it('does not notify muted alerts, but keeps a notified one in the log so its resolve is not lost', () => {
    expect(planFlush([a(rec('x', 'firing'), true)], undefined, opts).notification).toBeUndefined()
    const plan = planFlush(
      [a(rec('x', 'firing'), true)],
      { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 0 },
      { ...opts, nowMs: 1e9 },
    )
    expect(plan.notification).toBeUndefined()
    expect(plan.nextFiring).toEqual({ x: 1_000 })
  })

  it('treats a new activation of a notified alert as new', () => {
    const plan = planFlush(
      [a(rec('x', 'firing', 5_000))],
      { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 9_000 },
      opts,
    )
    expect(plan.notification?.kind).toBe('firing')
  })

  it('sends no resolved message when send_resolved is off', () => {
    const plan = planFlush(
      [a(rec('x', 'resolved'))],
      { groupKey: 'g', firing: { x: 1_000 }, lastSentMs: 0 },
      { ...opts, sendResolved: false },
    )
    expect(plan.notification).toBeUndefined()
    expect(plan.nflogChanged).toBe(true)
  })
})

describe('nextFlushAtMs', () => {
  it('waits group_wait for a new group, then group_interval after each flush', () => {
    const timing = { groupWaitMs: 30_000, groupIntervalMs: 300_000 }
    expect(nextFlushAtMs({ createdAtMs: 1_000, lastFlushMs: undefined }, timing)).toBe(31_000)
    expect(nextFlushAtMs({ createdAtMs: 1_000, lastFlushMs: 31_000 }, timing)).toBe(331_000)
  })
})
