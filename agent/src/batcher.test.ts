import { describe, expect, it } from 'vitest'
import { SampleBuffer } from './batcher.js'

describe('SampleBuffer', () => {
  it('groups samples by series in arrival order, whatever the label order', () => {
    const buffer = new SampleBuffer()
    buffer.add('cpu.usage_percent', { cpu: 'total', host: 'a' }, 1, 1000)
    buffer.add('mem.used_bytes', { host: 'a' }, 5, 1000)
    buffer.add('cpu.usage_percent', { host: 'a', cpu: 'total' }, 2, 2000)
    expect(buffer.sampleCount).toBe(3)
    const [chunk, ...rest] = buffer.drain({ maxSamples: 100, maxSeries: 100 })
    expect(rest).toEqual([])
    expect(chunk?.map((s) => [s.name, Array.from(s.timestamps), Array.from(s.values)])).toEqual([
      ['cpu.usage_percent', [1000, 2000], [1, 2]],
      ['mem.used_bytes', [1000], [5]],
    ])
    expect(buffer.sampleCount).toBe(0)
    expect(buffer.drain({ maxSamples: 100, maxSeries: 100 })).toEqual([])
  })

  it('cuts chunks at maxSamples, splitting a series across chunks without losing or reordering samples', () => {
    const buffer = new SampleBuffer()
    for (let i = 0; i < 5; i++) buffer.add('a', {}, i, i)
    for (let i = 0; i < 3; i++) buffer.add('b', {}, 10 + i, i)
    const chunks = buffer.drain({ maxSamples: 3, maxSeries: 100 })
    expect(chunks.map((c) => c.map((s) => `${s.name}:${Array.from(s.values).join(',')}`))).toEqual([
      ['a:0,1,2'],
      ['a:3,4', 'b:10'],
      ['b:11,12'],
    ])
    expect(chunks.every((c) => c.reduce((n, s) => n + s.values.length, 0) <= 3)).toBe(true)
  })

  it('cuts chunks at maxSeries', () => {
    const buffer = new SampleBuffer()
    for (const name of ['a', 'b', 'c', 'd', 'e']) buffer.add(name, {}, 1, 1)
    expect(buffer.drain({ maxSamples: 100, maxSeries: 2 }).map((c) => c.map((s) => s.name))).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ])
  })
})
