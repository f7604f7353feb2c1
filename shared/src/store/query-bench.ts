/**
 * Query latency with the store warm, on chDB in a temporary directory. From the repo root:
 * `npm run bench:query` (or `npx tsx shared/src/store/query-bench.ts [runs=50] [rollup_series=200]`).
 *
 *   BenchHost x 4,000 (1,000 of them role=web, region=us-west) ── 11 min of raw samples, 21 series a host
 *   1-minute rows for 30 days x rollup_series (CPU series of those web hosts), generated in SQL ──► samples_1m ──MV──► samples_1h
 *   OPTIMIZE FINAL, warm-up runs, then `runs` timed runs of each query: end to end (query + rows
 *   decoded from JSON) and the engine alone (the same query with FORMAT Null)
 *
 * Questions (DESIGN.md): 2. average CPU of role=web, region=us-west over the last 10 minutes
 * (1,000 series x 10 min = 60,000 samples, raw tier); 1. one host's CPU over 30 days from the
 * 1-minute tier (43,200 rows). Each also through the samples_range view (tier picked by range).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { retentionSchema } from '../config/schema.js'
import { seriesId } from '../series.js'
import { BenchHost, HOSTS_PER_POOL, REGIONS, ROLES } from './bench-data.js'
import { perCallSettings } from './chdb-settings.js'
import {
  groupAverageQuery,
  groupAverageRangeQuery,
  hostSeriesQuery,
  hostSeriesRangeQuery,
  tierFor,
} from './queries.js'
import { schemaDdl } from './schema.js'

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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-query-bench-'))
  const connection = createChdbConnection({ path: dir })
  const client = createClient({ connection: perCallSettings(connection) })
  try {
    await client.command({ query: `CREATE DATABASE ${DB}` })
    for (const table of schemaDdl(DB, retention)) await client.command({ query: table.create })
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
      await connection.chdb.rawInsert({
        table: `${DB}.samples_raw`,
        columns: ['metric', 'series_id', 'ts', 'value'],
        format: 'TSV',
        values: Buffer.from(lines.join('')),
      })
    }
    await client.insert({ table: `${DB}.series`, format: 'JSONEachRow', values: seriesRows })
    console.log(
      `loaded raw: ${rawRows.toLocaleString('en-US')} samples of ${seriesRows.length.toLocaleString('en-US')} series ` +
        `(11 min) in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
    )
    if (target === undefined) throw new Error('no prod web host in us-west among the bench hosts')

    // 1-minute tier: 30 days of one CPU-like row a minute for each of ROLLUP_SERIES series.
    loadStarted = performance.now()
    const minutes = 30 * 24 * 60
    const first = Math.floor((now - 30 * DAY) / MIN) * MIN + MIN
    await client.command({
      query: `INSERT INTO ${DB}.samples_1m
        SELECT '${CPU}', toUInt64({ids:Array(String)}[1 + intDiv(number, ${minutes})]) AS sid,
          toDateTime({first:UInt32} + (number % ${minutes}) * 60) AS minute,
          6, v * 6, v - 1.5, v + 1.5, (toDateTime64(minute, 3) + 50, v)
        FROM (SELECT number, round(20 + 30 * sin(number / 500) + 5 * randCanonical(), 2) AS v
              FROM numbers(${rollupIds.length * minutes}))`,
      query_params: { ids: rollupIds, first: first / 1000 },
    })
    for (const table of ['series', 'samples_raw', 'samples_1m', 'samples_1h'])
      await client.command({ query: `OPTIMIZE TABLE ${DB}.${table} FINAL` })
    console.log(
      `loaded 1m: ${(rollupIds.length * minutes).toLocaleString('en-US')} rows (${rollupIds.length} series x 30 days) ` +
        `in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
    )

    const q2Params = { metric: CPU, role: 'web', region: 'us-west', now: secs(now) }
    const q2Range = { ...q2Params, from: secs(now - 10 * MIN), to: secs(now) }
    const from30 = now - 30 * DAY
    const tier30 = tierFor(from30, now, retention)
    const q1Params = { metric: CPU, ...target, from: secs(from30), to: secs(now), now: secs(now) }
    const cases: [
      label: string,
      query: string,
      params: Record<string, string>,
      expectRows?: (rows: unknown[]) => string,
    ][] = [
      [
        'question 2, 1,000 series x 10 min, samples_raw',
        groupAverageQuery(DB, 'raw'),
        q2Params,
        (rows) => `${JSON.stringify(rows[0])}`,
      ],
      [
        'question 2 through samples_range',
        groupAverageRangeQuery(DB),
        q2Range,
        (rows) => `${JSON.stringify(rows[0])}`,
      ],
      [
        `question 1, one series x 30 days, samples_${tier30}`,
        hostSeriesQuery(DB, tier30),
        q1Params,
        (rows) => `${rows.length} rows`,
      ],
      [
        'question 1 x 30 days through samples_range',
        hostSeriesRangeQuery(DB),
        q1Params,
        (rows) => `${rows.length} rows`,
      ],
    ]
    for (const [label, query, params, describe] of cases) {
      const plan = await (
        await client.query({
          query: `EXPLAIN ESTIMATE ${query}`,
          query_params: params,
          format: 'JSONEachRow',
        })
      ).json<{ table: string; rows: number }>()
      let answer = ''
      // End to end (query, rows out of chDB, JSON decoded in JS), then the engine alone (FORMAT Null:
      // the same query, nothing formatted or moved), interleaved so both see the same machine load.
      const times: number[] = []
      const compact: number[] = []
      const engine: number[] = []
      for (let i = 0; i < WARMUP + RUNS; i++) {
        let t0 = performance.now()
        const rows = await (await client.query({ query, query_params: params, format: 'JSONEachRow' })).json()
        const elapsed = performance.now() - t0
        // A compact format (one array per row, no repeated keys), as a dashboard would fetch it.
        t0 = performance.now()
        await (await client.query({ query, query_params: params, format: 'JSONCompact' })).json()
        const compactElapsed = performance.now() - t0
        t0 = performance.now()
        await client.command({ query: `${query}\nFORMAT Null`, query_params: params })
        if (i >= WARMUP) {
          times.push(elapsed)
          compact.push(compactElapsed)
          engine.push(performance.now() - t0)
        }
        answer = describe?.(rows) ?? ''
      }
      times.sort((a, b) => a - b)
      engine.sort((a, b) => a - b)
      compact.sort((a, b) => a - b)
      console.log(
        `${label}: ${answer}; planned reads ${plan.map((p) => `${p.table} ${p.rows} rows`).join(', ')}`,
      )
      console.log(`  p50 ${percentile(times, 50).toFixed(1)} ms`)
      console.log(`  p99 ${percentile(times, 99).toFixed(1)} ms`)
      console.log(`  JSONCompact p50 ${percentile(compact, 50).toFixed(1)} ms`)
      console.log(`  JSONCompact p99 ${percentile(compact, 99).toFixed(1)} ms`)
      console.log(`  engine only (FORMAT Null) p50 ${percentile(engine, 50).toFixed(1)} ms`)
      console.log(`  engine only (FORMAT Null) p99 ${percentile(engine, 99).toFixed(1)} ms`)
    }
    // Other processes on the machine skew the figures: print how busy it was.
    console.log(`load average during the runs: ${loadavg()[0]?.toFixed(2)} (${cpus().length} cores)`)
  } finally {
    await client.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
