import { describe, expect, it } from 'vitest'
import { alertEvent } from '../../testing/events.js'
import { parseAlertEvent } from './consumer.js'

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const at = 1_700_000_000_000

describe('parseAlertEvent', () => {
  it('accepts an event with millisecond times', () => {
    const event = alertEvent('r', { host: 'a' }, 'firing', at)
    expect(parseAlertEvent(encode(event))).toEqual({ ok: true, event })
  })

  it('refuses times in seconds or nanoseconds, naming both fields and what they held', () => {
    for (const [activeSinceMs, atMs] of [
      [at * 1e6, at * 1e6],
      [at / 1000, at],
      [at, -1],
      [at, '1700000000000'],
    ]) {
      const result = parseAlertEvent(
        encode({ ...alertEvent('r', { host: 'a' }, 'firing', at), activeSinceMs, atMs }),
      )
      expect(result.ok).toBe(false)
      if (!result.ok) {
        expect(result.reason).toContain('activeSinceMs and atMs must be Unix milliseconds')
        expect(result.reason).toContain(JSON.stringify(atMs))
      }
    }
  })
})
