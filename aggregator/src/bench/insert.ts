/*
 * npm run bench:insert — what one micro-batch insert costs in the embedded store, with and without
 * the materialized views that derive samples_1m and samples_1h from each raw insert block.
 * 500,000 samples of distinct series (one sample each, as one tick of 5,000 hosts), 3 rounds each.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStore, migrate, retentionSchema, storeSchema } from '@tidewatch/shared'
import { ArrowSampleSink } from '../sinks/clickhouse/arrow-sink.js'
import type { SampleColumns } from '../sinks/clickhouse/columns.js'

const ROWS = 500_000
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-insert-bench-'))
const store = createStore(storeSchema.parse({ url: `chdb://${dir}` }))
const sink = new ArrowSampleSink(dir, 'tidewatch')

function tick(n: number): SampleColumns {
  const seriesIds = new BigInt64Array(ROWS)
  const words = new Uint32Array(seriesIds.buffer)
  const timestampsMs = new Float64Array(ROWS)
  const values = new Float64Array(ROWS)
  const metricIndex = new Int32Array(ROWS)
  const at = Date.now() - 3_600_000 + n * 10_000
  for (let i = 0; i < ROWS; i++) {
    words[2 * i] = Math.imul(i, 2654435761) >>> 0
    words[2 * i + 1] = i % 977
    timestampsMs[i] = at
    values[i] = ((i * 7 + n) % 1000) / 10
    metricIndex[i] = i % 100
  }
  return {
    length: ROWS,
    seriesIds,
    timestampsMs,
    values,
    metricIndex,
    metrics: Array.from({ length: 100 }, (_, i) => `bench.metric_${i}`),
  }
}

async function rounds(label: string, first: number): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const columns = tick(first + round)
    const started = performance.now()
    await sink.writeSamples(`bench-insert:${label}:${round}`, columns)
    const ms = performance.now() - started
    process.stdout.write(
      `insert ${label}: ${ms.toFixed(0)} ms per ${ROWS} rows (${Math.round(ROWS / (ms / 1000))} rows/s)\n`,
    )
  }
}

try {
  await migrate(store, { retention: retentionSchema.parse({}) })
  await rounds('with the 1m and 1h views', 0)
  await store.client.command({ query: 'DROP VIEW tidewatch.samples_1h_mv' })
  await rounds('with the 1m view only', 10)
  await store.client.command({ query: 'DROP VIEW tidewatch.samples_1m_mv' })
  await rounds('raw only', 20)
} finally {
  await sink.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
