/**
 * `npm run bench:dashboard [-- hosts=1000 full_hosts=50 days=7 raw_hours=6 runs=30]`: how long
 * each built-in dashboard page's queries take on a fleet-sized embedded store, measured the way the
 * browser runs them: plan from GET /dashboard/api/page, then every panel's SQL at once through the
 * read-only ClickHouse HTTP endpoint (POST /, JSONCompact), timed until the last panel's rows are
 * parsed. Target: p50 under 200 ms per page.
 *
 *   generate (chDB, INSERT ... SELECT) ──► OPTIMIZE FINAL ──► HTTP endpoint + dashboard handler ──► N page loads per range
 *
 * The store holds (see testdata.ts): 1,000 hosts' cpu.usage_percent (the one series the fleet page
 * reads of every host) for 7 days; the 17 series of the host page for the first 50 hosts; queue
 * series on one host; raw samples for the last 6 hours at 10 s, 1-minute rollups for the days
 * before, 1-hour rollups over all of it, and the fleet rollup (fleet_1m) its view derives.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createStore, migrate, retentionSchema } from '@tidewatch/shared'
import { createChdbQueryEngine } from '../http/engine.js'
import { startClickHouseHttpServer } from '../http/server.js'
import { createDashboardHandler } from './handler.js'
import { BUILTIN_PAGES, type PagePlan } from './pages.js'
import { generateDashboardData } from './testdata.js'

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]))
const num = (name: string, fallback: number): number =>
  args[name] !== undefined ? Number(args[name]) : fallback
const hosts = num('hosts', 1000)
const fullHosts = num('full_hosts', 50)
const days = num('days', 7)
const rawHours = num('raw_hours', 6)
const runs = num('runs', 30)
const TARGET_MS = 200

const RANGES = [
  { name: '1 h', ms: 3600_000 },
  { name: '6 h', ms: 6 * 3600_000 },
  { name: '24 h', ms: 86400_000 },
  { name: '7 d', ms: 7 * 86400_000 },
]

const logger = pino({ level: 'warn' })
// `dir=<path>` keeps the generated store there and reuses it on the next run (generation takes a minute).
const keep = args.dir !== undefined
const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'tidewatch-dashboard-bench-'))
const retention = retentionSchema.parse({})
const store = createStore(
  { url: `chdb://${dir}`, database: 'tidewatch', request_timeout: 600_000 },
  { logger },
)
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number

try {
  await migrate(store, { retention, logger })
  const existing = await (
    await store.client.query({
      query: 'SELECT max(ts) AS last FROM tidewatch.samples_raw',
      format: 'JSONEachRow',
    })
  ).json<{ last: string }>()
  const reuse = keep && existing[0] !== undefined && !existing[0].last.startsWith('1970')
  // A reused store keeps its own "now": ranges end at its newest sample.
  const nowMs = reuse ? Date.parse(`${existing[0]?.last.replace(' ', 'T')}Z`) + 10_000 : Date.now()
  let started = performance.now()
  const generated = reuse
    ? { series: NaN }
    : await generateDashboardData(store, {
        hosts,
        fullHosts,
        rollupDays: days - rawHours / 24,
        rawHours,
        nowMs,
      })
  const generateSecs = (performance.now() - started) / 1000
  started = performance.now()
  if (!reuse) {
    for (const table of ['samples_raw', 'samples_1m', 'samples_1h', 'fleet_1m', 'series']) {
      await store.client.command({ query: `OPTIMIZE TABLE tidewatch.${table} FINAL` })
    }
  }
  const optimizeSecs = (performance.now() - started) / 1000
  const counts = await (
    await store.client.query({
      query: `SELECT (SELECT count() FROM tidewatch.samples_raw) AS raw, (SELECT count() FROM tidewatch.samples_1m) AS m1,
        (SELECT count() FROM tidewatch.samples_1h) AS h1, (SELECT count() FROM tidewatch.fleet_1m) AS fleet,
        (SELECT count() FROM tidewatch.series) AS series`,
      format: 'JSONEachRow',
    })
  ).json<{ raw: number; m1: number; h1: number; fleet: number; series: number }>()
  const c = counts[0] as { raw: number; m1: number; h1: number; fleet: number; series: number }
  console.log(
    `store: ${hosts} hosts (${fullHosts} with all 17 series), ${generated.series} series; ${Number(c.raw).toLocaleString('en')} raw samples (last ${rawHours} h), ` +
      `${Number(c.m1).toLocaleString('en')} 1-minute rows, ${Number(c.h1).toLocaleString('en')} 1-hour rows, ` +
      `${Number(c.fleet).toLocaleString('en')} fleet rollup rows over ${days} days; ` +
      `generated in ${generateSecs.toFixed(1)} s, OPTIMIZE FINAL ${optimizeSecs.toFixed(1)} s`,
  )

  const engine = createChdbQueryEngine({ path: dir })
  const server = await startClickHouseHttpServer({
    listen: '127.0.0.1:0',
    engine,
    logger,
    routes: createDashboardHandler({ database: 'tidewatch', retention, now: () => nowMs }),
  })
  const runQuery = async (sql: string, params: Record<string, string>): Promise<number> => {
    const search = new URLSearchParams({ default_format: 'JSONCompact' })
    for (const [k, v] of Object.entries(params)) search.set(`param_${k}`, v)
    const res = await fetch(`${server.url}/?${search}`, { method: 'POST', body: sql })
    const text = await res.text()
    if (!res.ok) throw new Error(`query failed (${res.status}): ${text.slice(0, 300)}`)
    return (JSON.parse(text) as { data: unknown[] }).data.length
  }

  console.log(`\n| page | range | tier | panels | p50 ms | p95 ms | max ms | slowest panel (p50 ms) |`)
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`)
  let worst = 0
  for (const page of BUILTIN_PAGES) {
    for (const range of RANGES) {
      const toMs = nowMs
      const search = new URLSearchParams({
        page,
        from: String(toMs - range.ms),
        to: String(toMs),
        var_host: 'i7',
      })
      const plan = (await (await fetch(`${server.url}/dashboard/api/page?${search}`)).json()) as PagePlan
      const times: number[] = []
      const perPanel = new Map<string, number[]>()
      for (let i = 0; i < runs + 3; i++) {
        const t0 = performance.now()
        const rows = await Promise.all(
          plan.panels.map(async (p) => {
            const p0 = performance.now()
            const n = await runQuery(p.sql, plan.params)
            if (i >= 3) perPanel.set(p.id, [...(perPanel.get(p.id) ?? []), performance.now() - p0])
            return n
          }),
        )
        if (i === 0 && rows.some((n) => n === 0))
          console.warn(`${page} ${range.name}: a panel returned no rows (${rows.join(',')})`)
        if (i >= 3) times.push(performance.now() - t0)
      }
      times.sort((a, b) => a - b)
      const slowest = [...perPanel.entries()]
        .map(
          ([id, ts]) =>
            [
              id,
              quantile(
                ts.sort((a, b) => a - b),
                0.5,
              ),
            ] as const,
        )
        .sort((a, b) => b[1] - a[1])[0]
      const p50 = quantile(times, 0.5)
      worst = Math.max(worst, p50)
      console.log(
        `| ${page} | ${range.name} | ${plan.tier} | ${plan.panels.length} | ${p50.toFixed(0)} | ${quantile(times, 0.95).toFixed(0)} | ${(times.at(-1) ?? 0).toFixed(0)} | ${slowest?.[0]} (${slowest?.[1].toFixed(0)}) |`,
      )
    }
  }
  console.log(
    `\nworst page p50: ${worst.toFixed(0)} ms (target < ${TARGET_MS} ms: ${worst < TARGET_MS ? 'met' : 'NOT met'})`,
  )
  await server.close()
  await engine.close()
} finally {
  await store.close()
  if (!keep) rmSync(dir, { recursive: true, force: true })
}
