/**
 * Measures bytes per sample of candidate column codecs for `samples_raw`, on generated data shaped
 * like what the agent sends. Run from shared/: `npx tsx src/store/codec-bench.ts [series] [hours]`
 * (defaults: 2,000 series x 24 h at 10 s = 17.28 million samples; takes about a minute).
 *
 *   generate (per kind, a chunk of series at a time) ──TSV──► chDB raw insert ──► bench_<kind>
 *   bench_<kind>: base columns + one MATERIALIZED copy per candidate codec
 *   OPTIMIZE FINAL ──► system.columns.data_compressed_bytes / rows = bytes per sample
 *
 * Every candidate column is a MATERIALIZED copy of the same base column in the same table, so all
 * candidates see identical data in identical (metric, series_id, ts) order and identical parts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { perCallSettings } from './chdb-settings.js'

const SERIES = Number(process.argv[2] ?? 2_000)
const HOURS = Number(process.argv[3] ?? 24)
const INTERVAL_MS = 10_000
const SAMPLES_PER_SERIES = Math.floor((HOURS * 3_600_000) / INTERVAL_MS)
const START_MS = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000
const SERIES_PER_INSERT = 100

/** Candidates: column name suffix -> codec. The base columns (`ts`, `value`) use plain LZ4. */
const TS_CODECS: Record<string, string> = {
  ts: 'LZ4',
  ts_doubledelta_zstd: 'DoubleDelta, ZSTD(1)',
  ts_delta_zstd: 'Delta, ZSTD(1)',
  ts_delta_zstd3: 'Delta, ZSTD(3)',
  ts_t64_zstd: 'T64, ZSTD(1)',
}
const VALUE_CODECS: Record<string, string> = {
  value: 'LZ4',
  value_zstd1: 'ZSTD(1)',
  value_zstd3: 'ZSTD(3)',
  value_gorilla_zstd: 'Gorilla, ZSTD(1)',
  value_gorilla: 'Gorilla',
}
const SERIES_ID_CODECS: Record<string, string> = {
  series_id: 'LZ4',
  series_id_zstd: 'ZSTD(1)',
}

type Kind = 'cpu' | 'memory' | 'counter'
const KINDS: Record<Kind, { metric: string; share: number }> = {
  cpu: { metric: 'cpu.usage_percent', share: 0.4 },
  memory: { metric: 'mem.used_bytes', share: 0.3 },
  counter: { metric: 'net.bytes_recv_total', share: 0.3 },
}

/** Deterministic PRNG (mulberry32), so every run measures the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * One series' samples as TSV lines. Timestamps: a per-host phase within the 10 s interval, then
 * 10 s steps with 0-25 ms of scheduling jitter. Values:
 * - cpu: a mean-reverting random walk around a host baseline, 0-100, rounded to 1 or 2 decimals;
 * - memory: used bytes of a 4-64 GiB host, a slow walk in 4 KiB pages;
 * - counter: a cumulative byte counter growing by a noisy rate (never decreasing).
 */
function seriesTsv(kind: Kind, seriesIndex: number): string {
  const random = prng(seriesIndex * 7919 + kind.length)
  const metric = KINDS[kind].metric
  const seriesId = (BigInt(seriesIndex + 1) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn
  const phase = Math.floor(random() * INTERVAL_MS)
  const decimals = random() < 0.5 ? 1 : 2
  const scale = 10 ** decimals
  const baseline = 5 + random() * 60
  let cpu = baseline
  const memTotal = (4 + Math.floor(random() * 61)) * 1024 ** 3
  let mem = memTotal * (0.2 + random() * 0.5)
  let counter = Math.floor(random() * 1e12)
  const rate = 1e3 + random() * 1e7
  const lines: string[] = new Array(SAMPLES_PER_SERIES)
  for (let i = 0; i < SAMPLES_PER_SERIES; i++) {
    const ts = START_MS + phase + i * INTERVAL_MS + Math.floor(random() * 25)
    let value: number
    switch (kind) {
      case 'cpu':
        cpu += (baseline - cpu) * 0.1 + (random() - 0.5) * 8
        cpu = Math.min(100, Math.max(0, cpu))
        value = Math.round(cpu * scale) / scale
        break
      case 'memory':
        mem += (random() - 0.5) * 64 * 1024 * 1024
        mem = Math.min(memTotal, Math.max(memTotal * 0.05, mem))
        value = Math.floor(mem / 4096) * 4096
        break
      case 'counter':
        counter += Math.floor(rate * 10 * (0.5 + random()))
        value = counter
        break
    }
    lines[i] = `${metric}\t${seriesId}\t${(ts / 1000).toFixed(3)}\t${value}`
  }
  return lines.join('\n') + '\n'
}

// Wide parts only: compact parts (the default for small parts) report no per-column sizes.
function createTableSql(table: string): string {
  const columns = [
    'metric LowCardinality(String)',
    ...Object.entries(SERIES_ID_CODECS).map(([name, codec]) =>
      name === 'series_id'
        ? `series_id UInt64 CODEC(${codec})`
        : `${name} UInt64 MATERIALIZED series_id CODEC(${codec})`,
    ),
    ...Object.entries(TS_CODECS).map(([name, codec]) =>
      name === 'ts'
        ? `ts DateTime64(3) CODEC(${codec})`
        : `${name} DateTime64(3) MATERIALIZED ts CODEC(${codec})`,
    ),
    ...Object.entries(VALUE_CODECS).map(([name, codec]) =>
      name === 'value'
        ? `value Float64 CODEC(${codec})`
        : `${name} Float64 MATERIALIZED value CODEC(${codec})`,
    ),
  ]
  return `CREATE TABLE ${table} (${columns.join(', ')}) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (metric, series_id, ts)
    SETTINGS min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0`
}

interface ColumnSize {
  table: string
  name: string
  compressed: number
  uncompressed: number
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-codec-bench-'))
  const connection = createChdbConnection({ path: dir })
  const client = createClient({ connection: perCallSettings(connection) })
  const started = Date.now()
  try {
    await client.command({ query: 'CREATE DATABASE bench' })
    const rowsByTable = new Map<string, number>()
    let seriesOffset = 0
    for (const [kind, { share }] of Object.entries(KINDS) as [Kind, { share: number }][]) {
      const table = `bench.bench_${kind}`
      await client.command({ query: createTableSql(table) })
      const count = Math.round(SERIES * share)
      for (let first = 0; first < count; first += SERIES_PER_INSERT) {
        const chunks: string[] = []
        for (let s = first; s < Math.min(count, first + SERIES_PER_INSERT); s++) {
          chunks.push(seriesTsv(kind, seriesOffset + s))
        }
        await connection.chdb.rawInsert({
          table,
          columns: ['metric', 'series_id', 'ts', 'value'],
          format: 'TSV',
          values: Buffer.from(chunks.join('')),
        })
      }
      seriesOffset += count
      rowsByTable.set(table, count * SAMPLES_PER_SERIES)
      await client.command({ query: `OPTIMIZE TABLE ${table} FINAL` })
    }
    const result = await client.query({
      query: `SELECT concat(database, '.', table) AS table, name,
                toUInt64(data_compressed_bytes) AS compressed, toUInt64(data_uncompressed_bytes) AS uncompressed
              FROM system.columns WHERE database = 'bench' ORDER BY table, name`,
      format: 'JSONEachRow',
    })
    const sizes = (await result.json<ColumnSize>()).map((row) => ({
      ...row,
      compressed: Number(row.compressed),
      uncompressed: Number(row.uncompressed),
    }))
    const totalRows = [...rowsByTable.values()].reduce((a, b) => a + b, 0)
    const perSample = (table: string | undefined, name: string): number => {
      const matching = sizes.filter(
        (row) => row.name === name && (table === undefined || row.table === table),
      )
      const rows = table === undefined ? totalRows : (rowsByTable.get(table) ?? 0)
      return matching.reduce((a, row) => a + row.compressed, 0) / rows
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `data: ${SERIES} series x ${HOURS} h at 10 s = ${totalRows.toLocaleString('en-US')} samples ` +
        `(cpu ${KINDS.cpu.share * 100}%, memory ${KINDS.memory.share * 100}%, counters ${KINDS.counter.share * 100}%), ${seconds} s`,
    )
    const report = (label: string, candidates: Record<string, string>): void => {
      for (const [name, codec] of Object.entries(candidates)) {
        const parts = [...rowsByTable.keys()].map(
          (table) => `${table.replace('bench.bench_', '')} ${perSample(table, name).toFixed(3)}`,
        )
        console.log(
          `${label} CODEC(${codec}): ${perSample(undefined, name).toFixed(3)} bytes/sample (${parts.join(', ')} bytes/sample)`,
        )
      }
    }
    report('series_id', SERIES_ID_CODECS)
    report('ts', TS_CODECS)
    report('value', VALUE_CODECS)
    console.log(
      `metric LowCardinality(String) LZ4: ${perSample(undefined, 'metric').toFixed(3)} bytes/sample`,
    )
    const best = (candidates: Record<string, string>): [string, number] =>
      Object.keys(candidates)
        .map((name): [string, number] => [name, perSample(undefined, name)])
        .sort((a, b) => a[1] - b[1])[0] as [string, number]
    const [bestSeries, seriesBytes] = best(SERIES_ID_CODECS)
    const [bestTs, tsBytes] = best(TS_CODECS)
    const [bestValue, valueBytes] = best(VALUE_CODECS)
    const total = perSample(undefined, 'metric') + seriesBytes + tsBytes + valueBytes
    console.log(
      `total with the best of each (metric LZ4, series_id ${SERIES_ID_CODECS[bestSeries]}, ts ${TS_CODECS[bestTs]}, ` +
        `value ${VALUE_CODECS[bestValue]}): ${total.toFixed(3)} bytes/sample`,
    )
    const plain =
      perSample(undefined, 'metric') +
      perSample(undefined, 'series_id') +
      perSample(undefined, 'ts') +
      perSample(undefined, 'value')
    console.log(
      `total with plain LZ4 everywhere: ${plain.toFixed(3)} bytes/sample (uncompressed: 8 + 8 + 8 bytes/sample + metric)`,
    )
  } finally {
    await client.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
