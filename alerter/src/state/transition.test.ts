import { describe, expect, it } from 'vitest'
import { alertEvent } from '../testing/events.js'
import { applyEvent, type AlertRecord } from './transition.js'

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
  it('drops a pending alert that resolves without firing; ignores a resolve of nothing', () => {
    const pending = stored(alertEvent('r', { host: 'a' }, 'pending', 1_000))
    expect(applyEvent(pending, alertEvent('r', { host: 'a' }, 'resolved', 2_000))).toEqual({ kind: 'delete' })
    expect(applyEvent(undefined, alertEvent('r', { host: 'a' }, 'resolved', 2_000)).kind).toBe('ignore')
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
