/**
 * Query latency with the store warm, end to end through the aggregator's embedded ClickHouse HTTP
 * endpoint, on chDB in a temporary directory. From the repo root: `npm run bench:query`
 * (or `node --conditions=source --import tsx aggregator/src/bench/query.ts [runs=50] [rollup_series=200]`).
 *
 *   BenchHost x 4,000 (1,000 of them role=web, region=us-west) ── 11 min of raw samples, 21 series a host
 *   1-minute rows for 30 days x rollup_series (CPU series of those web hosts), generated in SQL ──► samples_1m ──MV──► samples_1h
 *   OPTIMIZE FINAL, then the HTTP endpoint (createChdbQueryEngine + startClickHouseHttpServer, a
 *   read-only caller, default limits: one engine thread, niced) and @clickhouse/client against it
 *   warm-up runs, then `runs` timed runs of each query, interleaved: the engine alone (FORMAT Null:
 *   nothing formatted or moved), and end to end (request -> rows parsed in JS) with JSONEachRow,
 *   JSONCompact and RowBinaryWithNamesAndTypes (queryRowBinary). The three must give the same rows.
 *
 * Questions (DESIGN.md): 2. average CPU of role=web, region=us-west over the last 10 minutes
 * (1,000 series x 10 min = 60,000 samples, raw tier); 1. one host's CPU over 30 days from the
 * 1-minute tier (43,200 rows). Each also through the samples_range view (tier picked by range).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { createClient } from '@clickhouse/client'
import { pino } from 'pino'
import {
  aggregatorConfigSchema,
  createStore,
  groupAverageQuery,
  groupAverageRangeQuery,
  hostSeriesQuery,
  hostSeriesRangeQuery,
  queryRowBinary,
  retentionSchema,
  schemaDdl,
  seriesId,
  storeSchema,
  tierFor,
  rowOf,
} from '@tidewatch/shared'
import { BenchHost, HOSTS_PER_POOL, REGIONS, ROLES } from '@tidewatch/shared/bench-data'
import { readerLimits } from '../http/embedded.js'
import { createChdbQueryEngine } from '../http/engine.js'
import { startClickHouseHttpServer } from '../http/server.js'

const RUNS = Number(process.argv[2] ?? 50)
const ROLLUP_SERIES = Number(process.argv[3] ?? 200)
const WARMUP = 5
const DB = 'tidewatch'
const CPU = 'cpu.usage_percent'
const MIN = 60_000
const DAY = 86_400_000
const RAW_TICKS = 66 // 11 minutes at 10 s
const SERIES_PER_HOST = 21 // the host's CPU (18) and load (3) series
const retention = retentionSchema.parse({})

/** Pools of web servers in each region: 10 per region, 4,000 hosts, 1,000 in us-west. */
function benchPools(): number[] {
  const pools: number[] = []
  const poolsPerCycle = REGIONS.length * ROLES.length // every (role, region) pair once
  for (let cycle = 0; cycle < 10; cycle++) {
    for (let region = 0; region < REGIONS.length; region++) pools.push(cycle * poolsPerCycle + region)
  }
  return pools
}

const secs = (ms: number) => (ms / 1000).toFixed(3)

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/** A row as comparable numbers and strings: times as epoch ms, 64-bit ids as decimal text. */
function normalizeRow(names: string[], row: readonly unknown[]): string {
  return JSON.stringify(
    row.map((value, i) => {
      const name = names[i]
      if ((name === 'ts' || name === 'last_ts') && typeof value === 'string')
        return Date.parse(`${value.replace(' ', 'T')}Z`)
      // JSON carries UInt64 as a bare number (ClickHouse 26 default), rounded by JSON.parse.
      if (name === 'series_id' || name === 'samples' || name === 'series') return Number(value)
      return value
    }),
  )
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-query-bench-'))
  const store = createStore(storeSchema.parse({ url: `chdb://${dir}`, database: DB }))
  const loader = store.client
  const engine = createChdbQueryEngine({ path: dir })
  try {
    await loader.command({ query: `CREATE DATABASE ${DB}` })
    for (const table of schemaDdl(DB, retention)) await loader.command({ query: table.create })
    const now = Math.floor(Date.now() / 1000) * 1000
    const start = now - RAW_TICKS * 10_000

    // Raw tier and series table.
    let loadStarted = performance.now()
    let rawRows = 0
    const seriesRows: object[] = []
    let target: { host: string; env: string } | undefined
    const rollupIds: string[] = []
    for (const pool of benchPools()) {
      const lines: string[] = []
      for (let h = pool * HOSTS_PER_POOL; h < (pool + 1) * HOSTS_PER_POOL; h++) {
        const host = new BenchHost(h)
        const series = host.series.slice(0, SERIES_PER_HOST)
        const ids = series.map((s) => seriesId(s.name, s.labels))
        series.forEach((s, i) => {
          seriesRows.push({
            series_id: ids[i],
            metric: s.name,
            labels: s.labels,
            first_seen: start / 1000,
            last_seen: now / 1000,
          })
        })
        if (host.labels.role === 'web' && host.labels.region === 'us-west' && host.labels.env === 'prod') {
          target ??= { host: host.labels.host as string, env: 'prod' }
          if (rollupIds.length < ROLLUP_SERIES) rollupIds.push(ids[0] as string)
        }
        const values = new Float64Array(host.series.length)
        for (let tick = 0; tick < RAW_TICKS; tick++) {
          const ts = secs(host.timestampAt(start, tick))
          host.next(values)
          for (let i = 0; i < SERIES_PER_HOST; i++)
            lines.push(`${series[i]?.name}\t${ids[i]}\t${ts}\t${values[i]}\n`)
        }
      }
      rawRows += lines.length
      await loader.insert({
        table: `${DB}.samples_raw`,
        columns: ['metric', 'series_id', 'ts', 'value'],
        format: 'TabSeparated',
        values: Readable.from([Buffer.from(lines.join(''))], { objectMode: false }),
      })
    }
    await loader.insert({ table: `${DB}.series`, format: 'JSONEachRow', values: seriesRows })
    console.log(
      `loaded raw: ${rawRows.toLocaleString('en-US')} samples of ${seriesRows.length.toLocaleString('en-US')} series ` +
        `(11 min) in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
    )
    if (target === undefined) throw new Error('no prod web host in us-west among the bench hosts')

    // 1-minute tier: 30 days of one CPU-like row a minute for each of ROLLUP_SERIES series.
    loadStarted = performance.now()
    const minutes = 30 * 24 * 60
    const first = Math.floor((now - 30 * DAY) / MIN) * MIN + MIN
    await loader.command({
      query: `INSERT INTO ${DB}.samples_1m
        SELECT '${CPU}', toUInt64({ids:Array(String)}[1 + intDiv(number, ${minutes})]) AS sid,
          toDateTime({first:UInt32} + (number % ${minutes}) * 60) AS minute,
          6, v * 6, v - 1.5, v + 1.5, (toDateTime64(minute, 3) + 50, v)
        FROM (SELECT number, round(20 + 30 * sin(number / 500) + 5 * randCanonical(), 2) AS v
              FROM numbers(${rollupIds.length * minutes}))`,
      query_params: { ids: rollupIds, first: first / 1000 },
    })
    for (const table of ['series', 'samples_raw', 'samples_1m', 'samples_1h'])
      await loader.command({ query: `OPTIMIZE TABLE ${DB}.${table} FINAL` })
    console.log(
      `loaded 1m: ${(rollupIds.length * minutes).toLocaleString('en-US')} rows (${rollupIds.length} series x 30 days) ` +
        `in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
    )

    // The endpoint as the aggregator serves it (embedded.ts): default reader limits, no writer.
    const http = aggregatorConfigSchema.parse({}).http
    const server = await startClickHouseHttpServer({
      listen: '127.0.0.1:0',
      engine,
      limits: { reader: readerLimits(http.reader_limits) },
      logger: pino({ level: 'warn' }),
    })
    const client = createClient({ url: server.url, database: DB })

    const q2Params = { metric: CPU, role: 'web', region: 'us-west', now: secs(now) }
    const q2Range = { ...q2Params, from: secs(now - 10 * MIN), to: secs(now) }
    const from30 = now - 30 * DAY
    const tier30 = tierFor(from30, now, retention)
    const q1Params = { metric: CPU, ...target, from: secs(from30), to: secs(now), now: secs(now) }
    const cases: [label: string, query: string, params: Record<string, string>][] = [
      ['question 2, 1,000 series x 10 min, samples_raw', groupAverageQuery(DB, 'raw'), q2Params],
      ['question 2 through samples_range', groupAverageRangeQuery(DB), q2Range],
      [`question 1, one series x 30 days, samples_${tier30}`, hostSeriesQuery(DB, tier30), q1Params],
      ['question 1 x 30 days through samples_range', hostSeriesRangeQuery(DB), q1Params],
    ]
    const ms = (t: number[], p: number) => percentile(t, p).toFixed(1)
    for (const [label, query, params] of cases) {
      const plan = await (
        await client.query({
          query: `EXPLAIN ESTIMATE ${query}`,
          query_params: params,
          format: 'JSONEachRow',
        })
      ).json<{ table: string; rows: number }>()
      type Parsed = { names: string[]; rows: () => readonly (readonly unknown[])[] }
      const modes: Record<string, () => Promise<Parsed>> = {
        // The engine alone: the same query, nothing formatted or moved.
        'engine (FORMAT Null)': async () => {
          await client.command({ query: `${query}\nFORMAT Null`, query_params: params })
          return { names: [], rows: () => [] }
        },
        JSONEachRow: async () => {
          const rows = await (
            await client.query({ query, query_params: params, format: 'JSONEachRow' })
          ).json<Record<string, unknown>>()
          const names = Object.keys(rows[0] ?? {})
          return { names, rows: () => rows.map((r) => names.map((n) => r[n])) }
        },
        JSONCompact: async () => {
          const result = await (
            await client.query({ query, query_params: params, format: 'JSONCompact' })
          ).json<unknown[]>()
          return { names: result.meta?.map((m) => m.name) ?? [], rows: () => result.data }
        },
        // Columns: a Float64Array per number column (what a chart draws from).
        RowBinaryWithNamesAndTypes: async () => {
          const result = await queryRowBinary(client, { query, query_params: params })
          return {
            names: result.names,
            rows: () => Array.from({ length: result.rowCount }, (_, r) => rowOf(result, r)),
          }
        },
      }
      // Interleaved so every mode sees the same machine load.
      const times = new Map<string, number[]>(Object.keys(modes).map((m) => [m, []]))
      const answers = new Map<string, string[]>()
      for (let i = 0; i < WARMUP + RUNS; i++) {
        for (const [mode, run] of Object.entries(modes)) {
          const t0 = performance.now()
          const { names, rows } = await run()
          const elapsed = performance.now() - t0
          if (i >= WARMUP) times.get(mode)?.push(elapsed)
          if (i === 0 && names.length > 0)
            answers.set(
              mode,
              rows().map((row) => normalizeRow(names, row)),
            )
        }
      }
      // The formats must carry the same rows (times and 64-bit ids compared as numbers).
      const [reference, ...others] = [...answers.entries()]
      for (const [mode, rows] of others) {
        if (JSON.stringify(rows) !== JSON.stringify(reference?.[1]))
          throw new Error(`${label}: ${mode} rows differ from ${reference?.[0]}`)
      }
      const rowCount = reference?.[1].length ?? 0
      const sample = rowCount === 1 ? ` ${reference?.[1][0]}` : ''
      console.log(
        `${label}: ${rowCount} rows${sample}, identical in every format; planned reads ${plan.map((p) => `${p.table} ${p.rows} rows`).join(', ')}`,
      )
      for (const [mode, t] of times) {
        t.sort((a, b) => a - b)
        console.log(
          `  ${mode}: p50 ${ms(t, 50)} ms, p99 ${ms(t, 99)} ms, best ${(t[0] ?? NaN).toFixed(1)} ms`,
        )
      }
    }
    await client.close()
    await server.close()
    // Other processes on the machine skew the figures: print how busy it was.
    console.log(`load average during the runs: ${loadavg()[0]?.toFixed(2)} (${cpus().length} cores)`)
  } finally {
    await engine.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
