import { describe, expect, it } from 'vitest'
import {
  decodeBatch,
  encodeBatch,
  limitsFromConfig,
  wireLimitsSchema,
  type DecodedBatch,
} from '@tidewatch/shared'
import { buildColumns, ColumnBuffers } from './columns.js'
import { SeriesResolver } from './series-resolver.js'

const NOW = Date.now()
const LIMITS = limitsFromConfig(wireLimitsSchema.parse({}))

function decoded(agentId: string, values: number[]): DecodedBatch {
  const series = values.map((value, i) => ({
    name: `m${i % 3}`,
    labels: { host: agentId, n: String(i) },
    timestamps: [NOW - i],
    values: [value],
  }))
  return decodeBatch(encodeBatch({ agentId, seq: 1, createdMs: NOW, series }), LIMITS, NOW)
}

describe('buildColumns with reused buffers', () => {
  it('hands the same arrays to the next batch once released, each view exactly its length', () => {
    const resolver = new SeriesResolver({ maxSeriesPerMetric: 1_000 })
    const buffers = new ColumnBuffers()
    const first = buildColumns([decoded('a', [1, 2, 3, 4, 5])], resolver, 0, buffers)
    expect([...first.columns.values]).toEqual([1, 2, 3, 4, 5])
    buffers.release(first.columns)
    const second = buildColumns([decoded('b', [7, 8])], resolver, 0, buffers)
    expect(second.columns.length).toBe(2)
    expect([...second.columns.values]).toEqual([7, 8])
    expect([...second.columns.timestampsMs]).toEqual([NOW, NOW - 1])
    expect(second.columns.values.buffer).toBe(first.columns.values.buffer)
    expect(second.columns.seriesIds.buffer).toBe(first.columns.seriesIds.buffer)
    // The series ids are those of batch b, not left over from batch a.
    const fresh = buildColumns([decoded('b', [7, 8])], resolver, 0)
    expect([...second.columns.seriesIds]).toEqual([...fresh.columns.seriesIds])
    expect([...second.columns.metricIndex]).toEqual([...fresh.columns.metricIndex])
  })

  it('never shares arrays with a batch whose lease is still out', () => {
    const resolver = new SeriesResolver({ maxSeriesPerMetric: 1_000 })
    const buffers = new ColumnBuffers()
    const held = buildColumns([decoded('a', [1, 2, 3])], resolver, 0, buffers)
    const other = buildColumns([decoded('b', [4, 5, 6])], resolver, 0, buffers)
    expect(other.columns.values.buffer).not.toBe(held.columns.values.buffer)
    expect([...held.columns.values]).toEqual([1, 2, 3])
    expect([...other.columns.values]).toEqual([4, 5, 6])
    // Releasing the second lease's fresh arrays leaves the first lease out.
    buffers.release(other.columns)
    const third = buildColumns([decoded('c', [9])], resolver, 0, buffers)
    expect(third.columns.values.buffer).not.toBe(held.columns.values.buffer)
    expect([...held.columns.values]).toEqual([1, 2, 3])
  })

  it('grows the arrays for a larger batch', () => {
    const resolver = new SeriesResolver({ maxSeriesPerMetric: 1_000 })
    const buffers = new ColumnBuffers()
    const small = buildColumns([decoded('a', [1])], resolver, 0, buffers)
    buffers.release(small.columns)
    const values = Array.from({ length: 50 }, (_, i) => i * 1.5)
    const large = buildColumns([decoded('b', values)], resolver, 0, buffers)
    expect([...large.columns.values]).toEqual(values)
  })
})
