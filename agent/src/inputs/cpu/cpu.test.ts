import { cpus } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createLogger, systemClock } from '@tidewatch/shared'
import type { Accumulator } from '../types.js'
import {
  CpuInput,
  cpuPercents,
  parseProcStat,
  parseProcStatAll,
  procStatSource,
  systeminformationSource,
  type CpuSource,
} from './index.js'

const deps = { clock: systemClock, logger: createLogger({ service: 'test', level: 'silent' }) }

function collect(): {
  acc: Accumulator
  samples: { name: string; labels: Record<string, string>; value: number; ts: number }[]
} {
  const samples: { name: string; labels: Record<string, string>; value: number; ts: number }[] = []
  return {
    acc: { add: (name, labels, value, ts) => samples.push({ name, labels: { ...labels }, value, ts }) },
    samples,
  }
}

const STAT_BEFORE =
  'cpu  5834 10 2301 91755 198 0 39 6 0 0\ncpu0 2204 0 1090 46736 15 0 11 2 0 0\nintr 1 2 3\n'
const STAT_AFTER =
  'cpu  5934 10 2351 91905 248 0 39 6 7 0\ncpu0 2254 0 1110 46800 40 0 11 2 0 0\nintr 1 2 3\n'

describe('cpu input: the math', () => {
  it('parses the aggregate line of /proc/stat', () => {
    expect(parseProcStat(STAT_BEFORE)).toEqual({
      user: 5834,
      nice: 10,
      system: 2301,
      idle: 91755,
      iowait: 198,
      irq: 0,
      softirq: 39,
      steal: 6,
    })
    expect(() => parseProcStat('intr 1 2 3\n')).toThrow(/no aggregate/)
  })

  it('computes percentages of all ticks between two readings, iowait included in the total', () => {
    // deltas: user 100, system 50, idle 150, iowait 50 (guest 7 is inside user already): total 350
    const p = cpuPercents(parseProcStat(STAT_BEFORE), parseProcStat(STAT_AFTER))!
    expect(p.user).toBeCloseTo((100 / 350) * 100)
    expect(p.system).toBeCloseTo((50 / 350) * 100)
    expect(p.iowait).toBeCloseTo((50 / 350) * 100)
    expect(p.usage).toBeCloseTo((150 / 350) * 100)
    expect(p.idle).toBeCloseTo((150 / 350) * 100)
    expect(p.steal).toBe(0)
  })

  it('parses every core line beside the aggregate', () => {
    const all = parseProcStatAll(STAT_AFTER)
    expect([...all.keys()]).toEqual(['total', '0'])
    expect(all.get('0')).toMatchObject({ user: 2254, system: 1110, idle: 46800, iowait: 40 })
  })

  it('skips a window where no tick passed or a counter went backwards', () => {
    const t = parseProcStat(STAT_BEFORE)
    expect(cpuPercents(t, t)).toBeUndefined()
    expect(cpuPercents(t, { ...t, user: t.user + 5, iowait: t.iowait - 1 })).toBeUndefined()
  })
})

describe('cpu input on this machine', () => {
  const sources: [string, CpuSource][] = [
    ['/proc/stat', procStatSource()],
    ['systeminformation', systeminformationSource],
  ]
  it.each(sources)('reports sane percentages, total and per core, from %s', async (_, source) => {
    const input = new CpuInput({ enabled: true, timeout: 5000, per_cpu: true }, deps, { source })
    await input.init()
    const started = Date.now()
    const { acc, samples } = collect()
    await input.gather(acc)
    // the first gather measures over a real window (not since boot), so it waits a moment
    expect(Date.now() - started).toBeGreaterThanOrEqual(200)
    const expected = ['cpu.usage_percent', 'cpu.user_percent', 'cpu.system_percent', 'cpu.idle_percent']
    if (source.kind === 'proc_stat') expected.push('cpu.iowait_percent')
    expected.push('cpu.steal_percent')
    const cores = cpus().length
    const byCpu = new Map<string, typeof samples>()
    for (const s of samples) byCpu.set(s.labels.cpu!, [...(byCpu.get(s.labels.cpu!) ?? []), s])
    expect([...byCpu.keys()]).toEqual(['total', ...Array.from({ length: cores }, (_x, i) => String(i))])
    for (const [, group] of byCpu) {
      expect(group.map((s) => s.name)).toEqual(expected)
      for (const s of group) {
        expect(Object.keys(s.labels)).toEqual(['cpu'])
        expect(s.value).toBeGreaterThanOrEqual(0)
        expect(s.value).toBeLessThanOrEqual(100 + 1e-9)
        expect(Math.abs(s.ts - Date.now())).toBeLessThan(5_000)
      }
      const v = Object.fromEntries(group.map((s) => [s.name, s.value]))
      expect(v['cpu.user_percent']! + v['cpu.system_percent']!).toBeLessThanOrEqual(
        v['cpu.usage_percent']! + 1e-9,
      )
      if (source.kind === 'proc_stat') {
        // idle + iowait + usage is the whole window
        expect(v['cpu.usage_percent']! + v['cpu.idle_percent']! + v['cpu.iowait_percent']!).toBeCloseTo(
          100,
          6,
        )
      }
    }

    // later rounds measure since the previous one
    const second = collect()
    await input.gather(second.acc)
    expect(second.samples.filter((s) => s.labels.cpu === 'total').map((s) => s.name)).toEqual(expected)
  })

  it('sends only cpu="total" with per_cpu = false', async () => {
    const input = new CpuInput({ enabled: true, timeout: 5000, per_cpu: false }, deps, {
      source: procStatSource(),
    })
    await input.init()
    const { acc, samples } = collect()
    await input.gather(acc)
    expect(new Set(samples.map((s) => s.labels.cpu))).toEqual(new Set(['total']))
    expect(samples).toHaveLength(6)
  })
})
