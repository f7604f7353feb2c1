import { readFileSync } from 'node:fs'
import { totalmem } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createLogger, systemClock } from '@tidewatch/shared'
import { MemoryInput, parseMeminfo, systeminformationReader } from './index.js'

const deps = { clock: systemClock, logger: createLogger({ service: 'test', level: 'silent' }) }
const config = { enabled: true, timeout: 5000 }
const NAMES = [
  'mem.total_bytes',
  'mem.used_bytes',
  'mem.available_bytes',
  'mem.cached_bytes',
  'mem.swap_total_bytes',
  'mem.swap_used_bytes',
]

describe('memory input', () => {
  it('parses /proc/meminfo into bytes', () => {
    const text =
      'MemTotal:       16000 kB\nMemFree:   1000 kB\nMemAvailable:   8000 kB\nCached:  3000 kB\nActive(anon):  5 kB\nSwapTotal: 2000 kB\nSwapFree: 500 kB\nHugePages_Total:       0\n'
    expect(parseMeminfo(text)).toEqual({
      total: 16000 * 1024,
      available: 8000 * 1024,
      cached: 3000 * 1024,
      swapTotal: 2000 * 1024,
      swapFree: 500 * 1024,
    })
    expect(() => parseMeminfo('MemTotal: 1 kB\n')).toThrow(/MemAvailable/)
  })

  it('reports memory and swap of this machine from /proc/meminfo, used = total - available', async () => {
    const input = new MemoryInput(config, deps)
    await input.init()
    const samples: { name: string; labels: object; value: number; ts: number }[] = []
    await input.gather({ add: (name, labels, value, ts) => samples.push({ name, labels, value, ts }) })
    expect(samples.map((s) => s.name)).toEqual(NAMES)
    const v = Object.fromEntries(samples.map((s) => [s.name, s.value])) as Record<string, number>
    expect(v['mem.total_bytes']).toBe(totalmem())
    expect(v['mem.used_bytes']! + v['mem.available_bytes']!).toBe(v['mem.total_bytes'])
    expect(v['mem.available_bytes']).toBeGreaterThan(0)
    expect(v['mem.used_bytes']).toBeGreaterThan(0)
    const meminfo = readFileSync('/proc/meminfo', 'utf8')
    const kb = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1]) * 1024
    expect(Math.abs(v['mem.available_bytes']! - kb('MemAvailable'))).toBeLessThan(
      v['mem.total_bytes']! * 0.05,
    )
    expect(Math.abs(v['mem.cached_bytes']! - kb('Cached'))).toBeLessThan(v['mem.total_bytes']! * 0.05)
    expect(v['mem.swap_total_bytes']).toBe(kb('SwapTotal'))
    expect(v['mem.swap_used_bytes']).toBeGreaterThanOrEqual(0)
    expect(v['mem.swap_used_bytes']).toBeLessThanOrEqual(v['mem.swap_total_bytes']!)
    for (const s of samples) {
      expect(s.labels).toEqual({})
      expect(Number.isInteger(s.value)).toBe(true)
      expect(Math.abs(s.ts - Date.now())).toBeLessThan(5_000)
    }
  })

  it('agrees with systeminformation, the source on other platforms', async () => {
    const si = await systeminformationReader()
    const input = new MemoryInput(config, deps)
    const values: number[] = []
    await input.gather({ add: (_n, _l, value) => values.push(value) })
    expect(values[0]).toBe(si.total)
    expect(values[4]).toBe(si.swapTotal)
  })

  it('clamps an available figure above the total instead of reporting negative used bytes', async () => {
    const input = new MemoryInput(config, deps, {
      read: async () => ({ total: 100, available: 120, cached: 10, swapTotal: 50, swapFree: 60 }),
    })
    const values: number[] = []
    await input.gather({ add: (_n, _l, value) => values.push(value) })
    expect(values).toEqual([100, 0, 100, 10, 50, 0])
  })
})
