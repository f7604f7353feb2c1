import { describe, expect, it } from 'vitest'
import { createMinuteRollup, mergePartials, minuteOf, recordSample } from './minute.js'

describe('minute rollups', () => {
  it('puts a sample in the minute its timestamp names, not the arrival minute', () => {
    expect(minuteOf(Date.UTC(2026, 0, 1, 10, 5, 59, 999))).toBe(Date.UTC(2026, 0, 1, 10, 5) / 1000)
    expect(minuteOf(Date.UTC(2026, 0, 1, 10, 6, 0, 0))).toBe(Date.UTC(2026, 0, 1, 10, 6) / 1000)
  })

  it('keeps count, sum, min, max and the latest value per series and minute', () => {
    const rollup = createMinuteRollup()
    const t0 = Date.UTC(2026, 0, 1, 10, 5, 0)
    recordSample(rollup, 'cpu', '1', t0 + 20_000, 5)
    recordSample(rollup, 'cpu', '1', t0 + 10_000, 9)
    recordSample(rollup, 'cpu', '1', t0 + 30_000, 2)
    recordSample(rollup, 'cpu', '1', t0 + 60_000, 7)
    recordSample(rollup, 'cpu', '2', t0, 1)
    expect(rollup.size).toBe(3)
    const first = rollup.get('1@' + t0 / 1000)
    expect(first).toMatchObject({ count: 3, sum: 16, min: 2, max: 9, lastMs: t0 + 30_000, lastValue: 2 })
    expect(rollup.get('1@' + (t0 / 1000 + 60))).toMatchObject({ count: 1, sum: 7, lastValue: 7 })
  })

  it('merges partials the way the store merges parts, in any order', () => {
    const left = createMinuteRollup()
    const right = createMinuteRollup()
    const whole = createMinuteRollup()
    const samples: Array<[number, number]> = [
      [1_000, 4],
      [2_000, -1],
      [3_000, 8],
      [4_000, 3],
    ]
    samples.forEach(([ts, v], i) => {
      recordSample(i % 2 === 0 ? left : right, 'm', 's', ts, v)
      recordSample(whole, 'm', 's', ts, v)
    })
    const key = 's@0'
    const a = left.get(key)!
    const b = right.get(key)!
    expect(mergePartials(a, b)).toEqual(whole.get(key))
    expect(mergePartials(b, a)).toEqual(whole.get(key))
  })
})
