import { describe, expect, it } from 'vitest'
import { alertEvent } from '../testing/events.js'
import { applyEvent as applyEventAt, type AlertRecord, type Transition } from './transition.js'

const NOW = 10_000
const applyEvent = (stored: AlertRecord | undefined, event: ReturnType<typeof alertEvent>): Transition =>
  applyEventAt(stored, event, NOW)

const stored = (event: ReturnType<typeof alertEvent>): AlertRecord => {
  const t = applyEvent(undefined, event)
  if (t.kind !== 'store') throw new Error('expected store')
  return t.record
}

describe('applyEvent', () => {
  const firing = alertEvent('r', { host: 'a' }, 'firing', 1_000)
  it('stores firing, then resolved keeping the activation', () => {
    const resolved = applyEvent(
      stored(firing),
      alertEvent('r', { host: 'a' }, 'resolved', 2_000, { activeSinceMs: 999 }),
    )
    expect(resolved).toMatchObject({
      kind: 'store',
      record: { state: 'resolved', activeSinceMs: 1_000, resolvedAtMs: 2_000 },
    })
  })
  it('ignores stale and duplicate events', () => {
    expect(applyEvent(stored(firing), firing)).toEqual({ kind: 'ignore', reason: 'duplicate' })
    expect(applyEvent(stored(firing), alertEvent('r', { host: 'a' }, 'resolved', 500))).toEqual({
      kind: 'ignore',
      reason: 'stale',
    })
  })
  it('closes a pending alert that resolves without firing, and a resolve of nothing, as tombstones', () => {
    const pending = stored(alertEvent('r', { host: 'a' }, 'pending', 1_000))
    const tombstone = { kind: 'store', record: { state: 'resolved', atMs: 2_000, closedAtMs: NOW } }
    expect(applyEvent(pending, alertEvent('r', { host: 'a' }, 'resolved', 2_000))).toMatchObject(tombstone)
    expect(applyEvent(undefined, alertEvent('r', { host: 'a' }, 'resolved', 2_000))).toMatchObject(tombstone)
  })
  it('does not fire for good when a resolved event is applied before its own firing or pending event', () => {
    const late = (state: 'pending' | 'firing', atMs: number) =>
      alertEvent('r', { host: 'a' }, state, atMs, { activeSinceMs: 1_000 })
    const resolvedFirst = stored(alertEvent('r', { host: 'a' }, 'resolved', 3_000, { activeSinceMs: 1_000 }))
    expect(applyEvent(resolvedFirst, late('firing', 2_000))).toEqual({ kind: 'ignore', reason: 'stale' })
    expect(applyEvent(resolvedFirst, late('pending', 1_000))).toEqual({ kind: 'ignore', reason: 'stale' })
    // From a pending record: the resolve closes it, and the firing event of that activation is stale.
    const pending = stored(late('pending', 1_000))
    const closed = applyEvent(pending, alertEvent('r', { host: 'a' }, 'resolved', 3_000))
    if (closed.kind !== 'store') throw new Error('expected store')
    expect(applyEvent(closed.record, late('firing', 2_000))).toEqual({ kind: 'ignore', reason: 'stale' })
    // A later activation fires again.
    expect(applyEvent(closed.record, alertEvent('r', { host: 'a' }, 'firing', 4_000))).toMatchObject({
      kind: 'store',
      record: { state: 'firing', firedAtMs: 4_000 },
    })
  })
  it('keeps the activation of an alert that is still firing when a firing event repeats with another one', () => {
    const open = stored(firing)
    const again = alertEvent('r', { host: 'a' }, 'firing', 1_500, { activeSinceMs: 1_400, value: 99 })
    expect(applyEvent(open, again)).toMatchObject({
      kind: 'store',
      record: { state: 'firing', activeSinceMs: 1_000, firedAtMs: 1_000, atMs: 1_500, value: 99 },
    })
  })
  it('keeps a resolved alert awaiting its message when another resolved event follows', () => {
    const resolved = { ...stored(firing), state: 'resolved' as const, atMs: 2_000, resolvedAtMs: 2_000 }
    expect(applyEvent(resolved, alertEvent('r', { host: 'a' }, 'resolved', 3_000))).toEqual({
      kind: 'ignore',
      reason: 'awaiting_resolved_notification',
    })
  })
  it('does not let a pending event overwrite a resolved alert awaiting its message', () => {
    const resolved = { ...stored(firing), state: 'resolved' as const, atMs: 2_000 }
    expect(applyEvent(resolved, alertEvent('r', { host: 'a' }, 'pending', 3_000)).kind).toBe('ignore')
  })
  it('keeps a closed tombstone against a late redelivered firing event', () => {
    const closed = { ...stored(firing), state: 'resolved' as const, atMs: 2_000, closedAtMs: 3_000 }
    expect(applyEvent(closed, firing)).toEqual({ kind: 'ignore', reason: 'stale' })
    expect(applyEvent(closed, alertEvent('r', { host: 'a' }, 'firing', 5_000)).kind).toBe('store')
  })
})
