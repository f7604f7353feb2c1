import { readFileSync } from 'node:fs'
import { totalmem } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createLogger, systemClock } from '@tidewatch/shared'
import { MemoryInput } from './index.js'

const deps = { clock: systemClock, logger: createLogger({ service: 'test', level: 'silent' }) }

describe('memory input', () => {
  it('reports total, used and available bytes of this machine, used = total - available', async () => {
    const input = new MemoryInput({ enabled: true }, deps)
    await input.init()
    const samples: { name: string; labels: object; value: number; ts: number }[] = []
    await input.gather({ add: (name, labels, value, ts) => samples.push({ name, labels, value, ts }) })
    expect(samples.map((s) => s.name)).toEqual(['mem.total_bytes', 'mem.used_bytes', 'mem.available_bytes'])
    const [total, used, available] = samples.map((s) => s.value) as [number, number, number]
    expect(total).toBe(totalmem())
    expect(used + available).toBe(total)
    expect(available).toBeGreaterThan(0)
    expect(used).toBeGreaterThan(0)
    // /proc/meminfo is the source on Linux; MemAvailable moves a little between the two reads
    const memAvailableKb = Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1])
    expect(Math.abs(available - memAvailableKb * 1024)).toBeLessThan(total * 0.05)
    for (const s of samples) {
      expect(s.labels).toEqual({})
      expect(Number.isInteger(s.value)).toBe(true)
      expect(Math.abs(s.ts - Date.now())).toBeLessThan(5_000)
    }
  })

  it('clamps an available figure above the total instead of reporting negative used bytes', async () => {
    const input = new MemoryInput({ enabled: true }, deps, {
      read: async () => ({ total: 100, available: 120 }),
    })
    const values: number[] = []
    await input.gather({ add: (_n, _l, value) => values.push(value) })
    expect(values).toEqual([100, 0, 100])
  })
})
