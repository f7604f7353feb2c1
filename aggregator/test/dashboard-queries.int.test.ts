import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore, migrate, retentionSchema, type Store, type Tier } from '@tidewatch/shared'
import { expandGrafanaMacros, grafanaDashboards } from '../src/dashboard/grafana.js'
import { GRAFANA_DASHBOARDS_DIR } from '../src/dashboard/grafana-write.js'
import { BUILTIN_PAGES, planPage } from '../src/dashboard/pages.js'
import { grafanaDialect, tierGuardSql, tierLimitsFor } from '../src/dashboard/sql.js'
import { generateDashboardData } from '../src/dashboard/testdata.js'
import { silentLogger, tempDir } from './harness.js'

// Every panel's SQL, Grafana's (macros expanded as the plugin expands them) and the built-in
// dashboard's (query parameters), over three ranges that pick the three tiers, against chDB holding
// generated data: 6 hosts (one silent for the last 10 minutes), 3 days of 1-minute rollups, the
// last 2 hours raw.

const retention = retentionSchema.parse({})
const RANGES: Array<{ name: string; widthMs: number; tier: Tier }> = [
  { name: '1 hour', widthMs: 3600_000, tier: 'raw' },
  { name: '3 days', widthMs: 3 * 86400_000, tier: '1m' },
  { name: '40 days', widthMs: 40 * 86400_000, tier: '1h' },
]

interface Result {
  meta: Array<{ name: string; type: string }>
  data: unknown[][]
}

interface GrafanaPanel {
  title: string
  type: 'timeseries' | 'stat' | 'table'
  targets: Array<{ rawSql: string; format: number }>
}

let dir: { path: string; remove(): void }
let store: Store
let nowMs: number

async function run(sql: string, params: Record<string, string> = {}): Promise<Result> {
  const rs = await store.client.query({ query: sql, query_params: params, format: 'JSONCompact' })
  return (await rs.json()) as Result
}

function checkShape(
  kind: string,
  result: Result,
  what: string,
  range: { fromMs: number; toMs: number },
): void {
  expect(result.data.length, `${what}: rows`).toBeGreaterThan(0)
  if (kind === 'timeseries') {
    expect(
      result.meta.map((m) => m.name),
      what,
    ).toEqual(['t', 'series', 'value'])
    expect(result.meta[0]?.type, what).toBe('DateTime')
    expect(result.meta[1]?.type, what).toMatch(/String/)
    expect(result.meta[2]?.type, what).toMatch(/Float64/)
    for (const [t, series, value] of result.data) {
      const ms = Date.parse(`${String(t).replace(' ', 'T')}Z`)
      // A bucket starts at most one bucket (≤ 1 hour here) before the range.
      expect(ms, `${what}: time ${String(t)}`).toBeGreaterThanOrEqual(range.fromMs - 3600_000)
      expect(ms, `${what}: time ${String(t)}`).toBeLessThan(range.toMs)
      expect(typeof series, what).toBe('string')
      expect(value === null || typeof value === 'number', what).toBe(true)
    }
  } else if (kind === 'stat') {
    expect(result.data.length, what).toBe(1)
    for (const m of result.meta) expect(m.type, `${what}: ${m.name}`).toMatch(/Int|Float/)
  } else {
    expect(result.meta.length, what).toBeGreaterThan(1)
  }
}

beforeAll(async () => {
  dir = tempDir('tidewatch-dashboard-sql-')
  store = createStore(
    { url: `chdb://${dir.path}`, database: 'tidewatch', request_timeout: 60_000 },
    { logger: silentLogger },
  )
  await migrate(store, { retention, logger: silentLogger })
  nowMs = Date.now()
  await generateDashboardData(store, { hosts: 6, silentHosts: 1, rollupDays: 3, rawHours: 2, nowMs })
})

afterAll(async () => {
  await store?.close()
  dir?.remove()
})

describe('Grafana dashboards', () => {
  it('the files in grafana/dashboards are what grafana.ts generates', () => {
    const generated = grafanaDashboards()
    expect(readdirSync(GRAFANA_DASHBOARDS_DIR).sort()).toEqual([...generated.keys()].sort())
    for (const [name, text] of generated) {
      expect(
        readFileSync(join(GRAFANA_DASHBOARDS_DIR, name), 'utf8'),
        `${name} is stale: run npx tsx aggregator/src/dashboard/grafana-write.ts`,
      ).toBe(text)
    }
  })

  for (const range of RANGES) {
    it(`over ${range.name}, the guards pick ${range.tier} and every panel returns rows of its shape`, async () => {
      const window = {
        fromMs: nowMs - range.widthMs,
        toMs: nowMs,
        intervalSecs: Math.ceil(range.widthMs / 1000 / 1000),
      }
      const dialect = grafanaDialect('tidewatch', retention)
      const guards = await run(
        expandGrafanaMacros(
          `SELECT ${(['raw', '1m', '1h'] as const).map((t) => `toUInt8(${tierGuardSql(dialect, t)}) AS \`${t}\``).join(', ')}`,
          window,
        ),
      )
      expect(guards.data[0]).toEqual((['raw', '1m', '1h'] as const).map((t) => (t === range.tier ? 1 : 0)))
      // The fleet page reads its 1-minute rollup up to 24 hours, the hourly tier beyond.
      const fleet = grafanaDialect('tidewatch', retention, tierLimitsFor('fleet', retention))
      const fleetTier = range.tier === 'raw' ? '1m' : range.tier === '1m' ? '1h' : range.tier
      const fleetGuards = await run(
        expandGrafanaMacros(
          `SELECT ${(['raw', '1m', '1h'] as const).map((t) => `toUInt8(${tierGuardSql(fleet, t)}) AS \`${t}\``).join(', ')}`,
          window,
        ),
      )
      expect(fleetGuards.data[0]).toEqual(
        (['raw', '1m', '1h'] as const).map((t) => (t === fleetTier ? 1 : 0)),
      )

      const files = [...grafanaDashboards().entries()]
      let panels = 0
      for (const [name, text] of files) {
        const dashboard = JSON.parse(text) as {
          panels: GrafanaPanel[]
          templating: { list: Array<{ name: string; query: string }> }
        }
        const variables: Record<string, string> = {}
        for (const v of dashboard.templating.list) {
          const values = await run(expandGrafanaMacros(v.query, window))
          expect(values.data.length, `${name} variable ${v.name}`).toBeGreaterThan(0)
          variables[v.name] = String(values.data[1]?.[0] ?? values.data[0]?.[0])
        }
        for (const panel of dashboard.panels) {
          const target = panel.targets[0] as { rawSql: string; format: number }
          expect(target.format, `${name} / ${panel.title}: format`).toBe(panel.type === 'timeseries' ? 0 : 1)
          const result = await run(expandGrafanaMacros(target.rawSql, window, variables))
          checkShape(panel.type, result, `${name} / ${panel.title} / ${range.name}`, window)
          panels++
        }
      }
      expect(panels).toBeGreaterThanOrEqual(18)
    })
  }
})

describe('built-in dashboard pages', () => {
  for (const range of RANGES) {
    it(`over ${range.name}, each page's plan reads ${range.tier} (fleet: 1m up to 24 h, 1h beyond) and every panel returns rows of its shape`, async () => {
      const window = { fromMs: nowMs - range.widthMs, toMs: nowMs, nowMs }
      for (const page of BUILTIN_PAGES) {
        const plan = planPage(page, window, { host: 'i1' }, 'tidewatch', retention)
        const fleetTier = range.tier === 'raw' ? '1m' : range.tier === '1m' ? '1h' : range.tier
        expect(plan.tier).toBe(page === 'fleet' ? fleetTier : range.tier)
        for (const panel of plan.panels) {
          const result = await run(panel.sql, plan.params)
          checkShape(panel.kind, result, `${page} / ${panel.id} / ${range.name}`, window)
        }
      }
    })
  }

  it('the fleet page counts the silent host', async () => {
    const plan = planPage(
      'fleet',
      { fromMs: nowMs - 3600_000, toMs: nowMs, nowMs },
      {},
      'tidewatch',
      retention,
    )
    const hosts = plan.panels.find((p) => p.id === 'hosts')
    const result = await run(hosts?.sql ?? '', plan.params)
    expect(result.data[0]).toEqual([5, 1])
  })
})
