/**
 * Measures bytes per sample of candidate column codecs for `samples_raw`, and then the real tables
 * (schemaDdl's codecs) on the same data: bytes on disk per raw sample, per 1-minute row and per
 * 1-hour row after merges. Data: bench-data.ts (per host 100 series shaped like real CPU, memory,
 * disk, network, process metrics) at 10 s. Run from shared/:
 * `npx tsx src/store/codec-bench.ts [hosts=12] [hours=24] [jitter=agent|agent_ms|uniform25|none] [cpu_decimals] [table settings]`
 * (defaults: 1,200 series x 24 h = 10.37 million samples; about 1-2 minutes on 2 cores).
 *
 *   BenchHost ──TSV──► chDB raw insert ──► bench.k_<kind>: base columns + one MATERIALIZED copy per candidate
 *                                      └─► tidewatch.samples_raw ─INSERT SELECT─► samples_1m ─MV─► samples_1h
 *   OPTIMIZE FINAL ──► system.columns (candidates), system.parts bytes_on_disk (real tables)
 *
 * Every candidate column is a MATERIALIZED copy of the same base column in the same table, so all
 * candidates see identical data in identical (metric, series_id, ts) order and identical parts.
 * One table per value kind gives the per-kind breakdown.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { retentionSchema } from '../config/schema.js'
import { seriesId } from '../series.js'
import { BenchHost, type JitterModel, type ValueKind } from './bench-data.js'
import { perCallSettings } from './chdb-settings.js'
import { rollupSql } from './rollup.js'
import { schemaDdl } from './schema.js'

const HOSTS = Number(process.argv[2] ?? 12)
const HOURS = Number(process.argv[3] ?? 24)
const JITTER = (process.argv[4] ?? 'agent') as JitterModel
/** CPU percentages rounded to this many decimals; default unrounded, as the agent sends them. */
const CPU_DECIMALS =
  process.argv[5] !== undefined && process.argv[5] !== '' ? Number(process.argv[5]) : undefined
/** Extra MergeTree settings of the candidate tables, e.g. `min_compress_block_size = 1048576`. */
const TABLE_SETTINGS = process.argv[6] !== undefined && process.argv[6] !== '' ? `, ${process.argv[6]}` : ''
const TICKS = Math.floor((HOURS * 3_600_000) / 10_000)
const START_MS = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000
const HOSTS_PER_INSERT = 2

/** Candidates: column name -> [type, expression of the base column or '' for the base, codec]. */
type Candidate = [type: string, expression: string, codec: string]
const TS_CODECS: Record<string, Candidate> = {
  ts: ['DateTime64(3)', '', 'LZ4'],
  ts_delta_zstd1: ['DateTime64(3)', 'ts', 'Delta, ZSTD(1)'],
  ts_delta_zstd3: ['DateTime64(3)', 'ts', 'Delta, ZSTD(3)'],
  ts_doubledelta: ['DateTime64(3)', 'ts', 'DoubleDelta'],
  ts_doubledelta_zstd1: ['DateTime64(3)', 'ts', 'DoubleDelta, ZSTD(1)'],
  ts_doubledelta_lz4: ['DateTime64(3)', 'ts', 'DoubleDelta, LZ4'],
  ts_t64_zstd1: ['DateTime64(3)', 'ts', 'T64, ZSTD(1)'],
}
/** ts split into DateTime seconds + UInt16 milliseconds: the two columns add up. */
const SPLIT_TS: Record<string, Candidate> = {
  ts_sec_doubledelta_zstd1: ['DateTime', 'toDateTime(ts)', 'DoubleDelta, ZSTD(1)'],
  ts_ms_zstd1: ['UInt16', 'toUInt16(toUnixTimestamp64Milli(ts) % 1000)', 'ZSTD(1)'],
  ts_ms_delta_zstd1: ['UInt16', 'toUInt16(toUnixTimestamp64Milli(ts) % 1000)', 'Delta, ZSTD(1)'],
  ts_ms_t64_zstd1: ['UInt16', 'toUInt16(toUnixTimestamp64Milli(ts) % 1000)', 'T64, ZSTD(1)'],
}
const VALUE_CODECS: Record<string, Candidate> = {
  value: ['Float64', '', 'LZ4'],
  value_zstd1: ['Float64', 'value', 'ZSTD(1)'],
  value_zstd3: ['Float64', 'value', 'ZSTD(3)'],
  value_zstd6: ['Float64', 'value', 'ZSTD(6)'],
  value_zstd9: ['Float64', 'value', 'ZSTD(9)'],
  value_gorilla: ['Float64', 'value', 'Gorilla'],
  value_gorilla_zstd1: ['Float64', 'value', 'Gorilla, ZSTD(1)'],
  value_gorilla_zstd3: ['Float64', 'value', 'Gorilla, ZSTD(3)'],
  value_fpc: ['Float64', 'value', 'FPC'],
  value_fpc_zstd1: ['Float64', 'value', 'FPC, ZSTD(1)'],
  value_delta_zstd1: ['Float64', 'value', 'Delta, ZSTD(1)'],
  value_delta_zstd3: ['Float64', 'value', 'Delta, ZSTD(3)'],
  value_delta_zstd6: ['Float64', 'value', 'Delta, ZSTD(6)'],
  value_delta_zstd9: ['Float64', 'value', 'Delta, ZSTD(9)'],
  value_gorilla_zstd9: ['Float64', 'value', 'Gorilla, ZSTD(9)'],
  value_doubledelta_zstd1: ['Float64', 'value', 'DoubleDelta, ZSTD(1)'],
}
/** What a type change would pay: the value as an integer of hundredths (lossless for 2 decimals). */
const TYPE_CHANGE: Record<string, Candidate> = {
  value_x100_t64_zstd1: ['Int64', 'toInt64(round(value * 100))', 'T64, ZSTD(1)'],
  value_x100_delta_zstd1: ['Int64', 'toInt64(round(value * 100))', 'Delta, ZSTD(1)'],
  value_x100_doubledelta_zstd1: ['Int64', 'toInt64(round(value * 100))', 'DoubleDelta, ZSTD(1)'],
}
/**
 * The value split by what it holds (VictoriaMetrics-style decimal scaling): `decimals` is the fewest
 * decimals (0-6) that hold it exactly, `scaled` the value times 10^decimals as an integer, `rest` the
 * value itself when no such decimals exist (full-precision ratios). The three add up.
 */
const HOLDS_EXACTLY = 'e -> abs(value) < 1e15 AND round(value * exp10(e)) / exp10(e) = value'
const EXACT_DECIMALS = `arrayFirst(${HOLDS_EXACTLY}, range(0, 7))`
const HAS_DECIMALS = `arrayExists(${HOLDS_EXACTLY}, range(0, 7))`
const SCALED = `if(${HAS_DECIMALS}, toInt64(round(value * exp10(${EXACT_DECIMALS}))), 0)`
const SPLIT_VALUE: Record<string, Candidate> = {
  split_decimals_zstd1: ['UInt8', `if(${HAS_DECIMALS}, ${EXACT_DECIMALS}, 255)`, 'ZSTD(1)'],
  split_scaled_delta_zstd3: ['Int64', SCALED, 'Delta, ZSTD(3)'],
  split_scaled_doubledelta_zstd3: ['Int64', SCALED, 'DoubleDelta, ZSTD(3)'],
  split_scaled_t64_zstd3: ['Int64', SCALED, 'T64, ZSTD(3)'],
  split_scaled_delta_t64_zstd3: ['Int64', SCALED, 'Delta, T64, ZSTD(3)'],
  split_scaled_zstd3: ['Int64', SCALED, 'ZSTD(3)'],
  split_rest_zstd3: ['Float64', `if(${HAS_DECIMALS}, 0, value)`, 'ZSTD(3)'],
  split_rest_gorilla_zstd3: ['Float64', `if(${HAS_DECIMALS}, 0, value)`, 'Gorilla, ZSTD(3)'],
}
const ID_CODECS: Record<string, Candidate> = {
  series_id: ['UInt64', '', 'LZ4'],
  series_id_zstd1: ['UInt64', 'series_id', 'ZSTD(1)'],
  series_id_doubledelta_zstd1: ['UInt64', 'series_id', 'DoubleDelta, ZSTD(1)'],
}
const ALL = { ...ID_CODECS, ...TS_CODECS, ...SPLIT_TS, ...VALUE_CODECS, ...TYPE_CHANGE, ...SPLIT_VALUE }

function column(name: string, [type, expression, codec]: Candidate): string {
  return expression === ''
    ? `${name} ${type} CODEC(${codec})`
    : `${name} ${type} MATERIALIZED ${expression} CODEC(${codec})`
}

// Wide parts only: compact parts (the default for small parts) report no per-column sizes.
const createBenchTable = (table: string): string =>
  `CREATE TABLE ${table} (metric LowCardinality(String), ${Object.entries(ALL)
    .map(([name, candidate]) => column(name, candidate))
    .join(', ')}) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (metric, series_id, ts)
    SETTINGS min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0${TABLE_SETTINGS}`

const formatMs = (ms: number): string => (ms / 1000).toFixed(3)

/** TSV lines per value kind for a few hosts, all ticks. */
function hostsTsv(first: number, count: number): Map<ValueKind, string[]> {
  const byKind = new Map<ValueKind, string[]>()
  for (let h = first; h < first + count; h++) {
    const host = new BenchHost(h, {
      jitter: JITTER,
      ...(CPU_DECIMALS !== undefined ? { cpuDecimals: CPU_DECIMALS } : {}),
    })
    const ids = host.series.map((s) => seriesId(s.name, s.labels))
    const columns = host.series.map(() => [] as string[])
    const values = new Float64Array(host.series.length)
    for (let tick = 0; tick < TICKS; tick++) {
      const ts = formatMs(host.timestampAt(START_MS, tick))
      host.next(values)
      for (let i = 0; i < values.length; i++) (columns[i] as string[]).push(`${ts}\t${values[i]}`)
    }
    host.series.forEach((s, i) => {
      const prefix = `${s.name}\t${ids[i]}\t`
      const lines = byKind.get(s.kind) ?? []
      lines.push((columns[i] as string[]).map((line) => prefix + line).join('\n') + '\n')
      byKind.set(s.kind, lines)
    })
  }
  return byKind
}

interface Sized {
  table: string
  name: string
  compressed: number
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-codec-bench-'))
  const connection = createChdbConnection({ path: dir })
  const client = createClient({ connection: perCallSettings(connection) })
  const started = Date.now()
  const command = (query: string) => client.command({ query })
  const rows = async <T>(query: string): Promise<T[]> =>
    (await client.query({ query, format: 'JSONEachRow' })).json<T>()
  try {
    await command('CREATE DATABASE bench')
    await command('CREATE DATABASE tidewatch')
    for (const table of schemaDdl(
      'tidewatch',
      retentionSchema.parse({ raw: '3650d', rollup_1m: '3650d', rollup_1h: '3650d' }),
    ))
      await command(table.create)
    const tables = new Set<string>()
    for (let first = 0; first < HOSTS; first += HOSTS_PER_INSERT) {
      const byKind = hostsTsv(first, Math.min(HOSTS_PER_INSERT, HOSTS - first))
      for (const [kind, lines] of byKind) {
        const table = `bench.k_${kind}`
        if (!tables.has(table)) {
          // Delta / DoubleDelta on Float64 bits are "suspicious" to ClickHouse: measured anyway.
          await client.command({
            query: createBenchTable(table),
            clickhouse_settings: { allow_suspicious_codecs: 1 },
          })
          tables.add(table)
        }
        const values = Buffer.from(lines.join(''))
        const columns = ['metric', 'series_id', 'ts', 'value']
        await connection.chdb.rawInsert({ table, columns, format: 'TSV', values })
        await connection.chdb.rawInsert({ table: 'tidewatch.samples_raw', columns, format: 'TSV', values })
      }
    }
    // The 1-minute tier as it looks after merges (one row per series and minute); the view fills 1h.
    // When the schema derives samples_1m from raw inserts (samples_1m_mv), it is filled already.
    const derived = await rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = 'tidewatch' AND name = 'samples_1m_mv'`,
    )
    if (derived.length === 0) {
      const fromSec = Math.floor(START_MS / 60_000) * 60
      const toSec = Math.ceil((START_MS + (TICKS + 1) * 10_000) / 60_000) * 60 + 60
      await command(rollupSql('tidewatch', fromSec, toSec))
    }
    for (const table of [...tables, 'tidewatch.samples_raw', 'tidewatch.samples_1m', 'tidewatch.samples_1h'])
      await command(`OPTIMIZE TABLE ${table} FINAL`)

    const sizes = (
      await rows<{ table: string; name: string; compressed: string }>(
        `SELECT table, name, toString(data_compressed_bytes) AS compressed FROM system.columns
         WHERE database = 'bench' ORDER BY table, name`,
      )
    ).map((r): Sized => ({ ...r, compressed: Number(r.compressed) }))
    const counts = new Map(
      (
        await rows<{ table: string; n: string }>(
          `SELECT table, toString(sum(rows)) AS n FROM system.parts WHERE active AND database = 'bench' GROUP BY table`,
        )
      ).map((r) => [r.table, Number(r.n)]),
    )
    const kinds = [...counts.keys()].sort()
    const totalRows = [...counts.values()].reduce((a, b) => a + b, 0)
    const perSample = (name: string, table?: string): number =>
      sizes
        .filter((s) => s.name === name && (table === undefined || s.table === table))
        .reduce((a, s) => a + s.compressed, 0) / (table === undefined ? totalRows : (counts.get(table) ?? 1))
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `data: ${HOSTS} hosts x 100 series x ${HOURS} h at 10 s = ${totalRows.toLocaleString('en-US')} samples, jitter ${JITTER}, ${seconds} s`,
    )
    console.log(
      `share of samples: ${kinds.map((t) => `${t.slice(2)} ${(((counts.get(t) ?? 0) / totalRows) * 100).toFixed(0)}%`).join(', ')}`,
    )
    console.log(`| column | codec | bytes/sample (all) | ${kinds.map((t) => t.slice(2)).join(' | ')} |`)
    for (const [name, [type, , codec]] of Object.entries(ALL)) {
      console.log(
        `| ${name} | ${type} ${codec} | ${perSample(name).toFixed(3)} | ${kinds.map((t) => perSample(name, t).toFixed(3)).join(' | ')} |`,
      )
    }
    console.log(`| metric | LowCardinality(String) LZ4 | ${perSample('metric').toFixed(3)} |`)

    const parts = await rows<{ table: string; rows: string; bytes: string; marks: string; primary: string }>(
      `SELECT table, toString(sum(rows)) AS rows, toString(sum(bytes_on_disk)) AS bytes, toString(sum(marks_bytes)) AS marks,
         toString(sum(primary_key_size)) AS primary
       FROM system.parts WHERE active AND database = 'tidewatch' AND table LIKE 'samples_%' GROUP BY table ORDER BY table`,
    )
    const columns = await rows<{ table: string; name: string; compressed: string }>(
      `SELECT table, name, toString(data_compressed_bytes) AS compressed FROM system.columns
       WHERE database = 'tidewatch' AND table LIKE 'samples_%' ORDER BY table, position`,
    )
    const rawRows = Number(parts.find((p) => p.table === 'samples_raw')?.rows ?? 1)
    for (const part of parts) {
      const n = Number(part.rows)
      const perColumn = columns
        .filter((c) => c.table === part.table)
        .map((c) => `${c.name} ${(Number(c.compressed) / n).toFixed(3)}`)
        .join(', ')
      console.log(
        `${part.table}: ${n.toLocaleString('en-US')} rows, ${(Number(part.bytes) / n).toFixed(3)} bytes/row on disk ` +
          `(${(Number(part.bytes) / rawRows).toFixed(3)} bytes per raw sample; marks ${(Number(part.marks) / n).toFixed(4)}, ` +
          `primary index ${(Number(part.primary) / n).toFixed(4)} bytes/row; columns: ${perColumn})`,
      )
    }
  } finally {
    await client.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
