import { describe, expect, it } from 'vitest'
import { SlidingWindow } from './window.js'

describe('SlidingWindow', () => {
  it('aggregates exactly over (at - window, at] for samples a bucket apart or more', () => {
    const w = new SlidingWindow(60_000)
    for (let i = 0; i <= 12; i++) w.add(i * 10_000, i * 10)
    // At 120s the window (60s, 120s] holds samples 7..12 (70..120).
    expect(w.value('count', 120_000)).toBe(6)
    expect(w.value('sum', 120_000)).toBe(70 + 80 + 90 + 100 + 110 + 120)
    expect(w.value('avg', 120_000)).toBe(95)
    expect(w.value('min', 120_000)).toBe(70)
    expect(w.value('max', 120_000)).toBe(120)
    // 10 per 10 s = 1 per second, between the first (70s) and last (120s) samples.
    expect(w.value('rate', 120_000)).toBe(1)
    expect(w.value('avg', 500_000)).toBeNull()
  })

  it('treats a counter decrease as a reset', () => {
    const w = new SlidingWindow(60_000)
    w.add(0, 100)
    w.add(10_000, 110)
    w.add(20_000, 5) // reset: +5
    w.add(30_000, 15)
    expect(w.value('rate', 30_000)).toBe((10 + 5 + 10) / 30)
  })

  it('keeps fixed memory however dense the series', () => {
    const w = new SlidingWindow(10_000, 10)
    for (let ts = 0; ts < 1_000_000; ts += 7) w.add(ts, 1)
    expect(w.value('count', 999_999)).toBeGreaterThan(1_400)
    expect(w.value('count', 999_999)).toBeLessThan(1_600)
    expect((w as unknown as { slots: unknown[] }).slots).toHaveLength(11)
  })

  it('needs two samples for a rate', () => {
    const w = new SlidingWindow(60_000)
    w.add(0, 1)
    expect(w.value('rate', 0)).toBeNull()
    expect(w.value('count', 0)).toBe(1)
  })
})
