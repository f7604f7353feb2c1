/*
 * npm run bench:insert — what the store work costs in the embedded store:
 *   - one micro-batch: 500,000 samples of distinct series (one tick of 5,000 hosts) into samples_raw,
 *     3 rounds (what every commit does);
 *   - the same insert through a view deriving samples_1m from every insert block, the design this
 *     project used first (for comparison);
 *   - the minute roll-up: 6 ticks of the same 500,000 series in one minute (3 million raw rows)
 *     rolled into samples_1m and, through samples_1h_mv, samples_1h (what the roll-up job does once
 *     per minute), timed once the store's merges of those parts are done.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStore, migrate, retentionSchema, rollUpMinute, storeSchema } from '@tidewatch/shared'
import { ArrowSampleSink } from '../sinks/clickhouse/arrow-sink.js'
import type { SampleColumns } from '../sinks/clickhouse/columns.js'

const ROWS = 500_000
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-insert-bench-'))
const store = createStore(storeSchema.parse({ url: `chdb://${dir}` }))
const sink = new ArrowSampleSink(dir, 'tidewatch')

function tick(n: number, base = Date.now() - 3_600_000): SampleColumns {
  const seriesIds = new BigInt64Array(ROWS)
  const words = new Uint32Array(seriesIds.buffer)
  const timestampsMs = new Float64Array(ROWS)
  const values = new Float64Array(ROWS)
  const metricIndex = new Int32Array(ROWS)
  const at = base + n * 10_000
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
    await sink.writeSamples(`bench-insert:${label}:${round}`, columns, 0)
    const ms = performance.now() - started
    process.stdout.write(
      `insert ${label}: ${ms.toFixed(0)} ms per ${ROWS} rows (${Math.round(ROWS / (ms / 1000))} rows/s)\n`,
    )
  }
}

async function mergesSettled(): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 250) {
    const result = await store.client.query({
      query: 'SELECT count() AS n FROM system.merges',
      format: 'JSONEachRow',
    })
    const [row] = await result.json<{ n: string | number }>()
    if (Number(row?.n ?? 0) === 0) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

try {
  await migrate(store, { retention: retentionSchema.parse({}) })
  await rounds('raw only (each commit)', 0)
  await store.client.command({
    query: `CREATE MATERIALIZED VIEW tidewatch.bench_1m_per_insert TO tidewatch.samples_1m AS
      SELECT metric, series_id, toStartOfMinute(ts) AS ts, count() AS count, sum(value) AS sum, min(value) AS min,
             max(value) AS max, max((ts, value)) AS last
      FROM tidewatch.samples_raw GROUP BY metric, series_id, ts`,
  })
  await rounds('raw + a 1m view per insert block (the first design)', 10)
  await store.client.command({ query: 'DROP VIEW tidewatch.bench_1m_per_insert' })
  const minuteMs = Math.floor((Date.now() - 7_200_000) / 60_000) * 60_000
  for (let n = 0; n < 6; n++) await sink.writeSamples(`bench-minute:${n}`, tick(n, minuteMs), 0)
  // Timed once the six parts' merges are done: they would share the two cores with the roll-up and
  // make the figure depend on how far they got (2.0 s instead of 1.2 s here).
  await mergesSettled()
  const started = performance.now()
  await rollUpMinute(store.client, 'tidewatch', minuteMs / 1000)
  const ms = performance.now() - started
  process.stdout.write(
    `roll-up of one minute (${6 * ROWS} raw rows -> ${ROWS} 1m rows, + samples_1h_mv): ${ms.toFixed(0)} ms (${Math.round((6 * ROWS) / (ms / 1000))} raw rows/s)\n`,
  )
} finally {
  await sink.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
