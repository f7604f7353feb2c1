import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retentionSchema } from '@tidewatch/shared'
import { matcherMatches } from './alerts.js'
import { expandGrafanaMacros, grafanaDashboards } from './grafana.js'
import { createDashboardHandler } from './handler.js'
import { chTime, planPage } from './pages.js'
import { bucketSecs, dashboardTier, RAW_MAX_RANGE_MS, tierLimitsFor } from './sql.js'

const retention = retentionSchema.parse({})
const HOUR = 3600_000
const DAY = 24 * HOUR
const now = Date.UTC(2026, 0, 15, 12)

describe('dashboardTier', () => {
  it('reads raw for hours, 1-minute rollups for days, 1-hour rollups beyond 30 days', () => {
    expect(dashboardTier(now - HOUR, now, now, retention)).toBe('raw')
    expect(dashboardTier(now - RAW_MAX_RANGE_MS, now, now, retention)).toBe('raw')
    expect(dashboardTier(now - RAW_MAX_RANGE_MS - 1, now, now, retention)).toBe('1m')
    expect(dashboardTier(now - 7 * DAY, now, now, retention)).toBe('1m')
    expect(dashboardTier(now - 30 * DAY, now, now, retention)).toBe('1m')
    expect(dashboardTier(now - 30 * DAY - 1, now, now, retention)).toBe('1h')
    expect(dashboardTier(now - 365 * DAY, now, now, retention)).toBe('1h')
  })

  it('never reads a tier whose retention no longer holds the start of the range', () => {
    // One hour, ten days ago: raw samples are gone (7 d), the 1-minute rollups still hold it.
    expect(dashboardTier(now - 10 * DAY - HOUR, now - 10 * DAY, now, retention)).toBe('1m')
    // One hour, 40 days ago: only the hourly tier.
    expect(dashboardTier(now - 40 * DAY - HOUR, now - 40 * DAY, now, retention)).toBe('1h')
  })

  it('the fleet page never reads raw, reads the 1-minute tier (its fleet rollup) up to 24 hours and the hourly tier beyond', () => {
    const fleet = tierLimitsFor('fleet', retention)
    expect(dashboardTier(now - 60_000, now, now, retention, fleet)).toBe('1m')
    expect(dashboardTier(now - HOUR, now, now, retention, fleet)).toBe('1m')
    expect(dashboardTier(now, now, now, retention, fleet)).toBe('1m')
    expect(dashboardTier(now - DAY, now, now, retention, fleet)).toBe('1m')
    expect(dashboardTier(now - DAY - 1, now, now, retention, fleet)).toBe('1h')
    const plan = planPage(
      'fleet',
      { fromMs: now - 6 * HOUR, toMs: now, nowMs: now },
      {},
      'tidewatch',
      retention,
    )
    expect(plan.tier).toBe('1m')
    expect(plan.step).toBe(120)
    expect(plan.panels.find((p) => p.id === 'cpu')?.sql).toMatch(/FROM tidewatch\.fleet_1m WHERE/)
    expect(plan.panels.find((p) => p.id === 'cpu')?.sql).not.toMatch(/samples_raw|samples_1m|samples_1h/)
    expect(
      planPage('fleet', { fromMs: now - 7 * DAY, toMs: now, nowMs: now }, {}, 'tidewatch', retention).tier,
    ).toBe('1h')
  })

  it('buckets aim for ~240 points, in whole multiples of the tier resolution', () => {
    expect(bucketSecs(now - HOUR, now, 'raw')).toBe(20)
    expect(bucketSecs(now - 15 * 60_000, now, 'raw')).toBe(10)
    expect(bucketSecs(now - 7 * DAY, now, '1m')).toBe(2520)
    expect(bucketSecs(now - 365 * DAY, now, '1h')).toBe(133_200)
  })
})

describe('planPage', () => {
  it('passes the range, the bucket and the variables as query parameters', () => {
    const plan = planPage(
      'host',
      { fromMs: now - 7 * DAY, toMs: now, nowMs: now },
      { host: 'web-1' },
      'tidewatch',
      retention,
    )
    expect(plan.tier).toBe('1m')
    expect(plan.params).toEqual({ from: chTime(now - 7 * DAY), to: chTime(now), step: '2520', host: 'web-1' })
    for (const panel of plan.panels) {
      expect(panel.sql).toContain('tidewatch.samples_1m')
      expect(panel.sql).not.toMatch(/samples_raw|samples_1h/)
    }
  })
})

describe('Grafana SQL', () => {
  it('expands the plugin macros and template variables', () => {
    const sql = expandGrafanaMacros(
      "SELECT $__fromTime, $__toTime, $__interval_s WHERE host = '${host}'",
      { fromMs: 1_700_000_000_123, toMs: 1_700_003_600_999, intervalSecs: 15 },
      { host: "o'brien" },
    )
    expect(sql).toBe(
      "SELECT toDateTime(intDiv(1700000000123,1000)), toDateTime(intDiv(1700003600999,1000)), 15 WHERE host = 'o\\'brien'",
    )
  })

  it('every time series carries the three tiers under guards, and nothing is left unexpanded after expansion', () => {
    for (const [name, text] of grafanaDashboards()) {
      const dashboard = JSON.parse(text) as {
        panels: Array<{ type: string; title: string; targets: Array<{ rawSql: string }> }>
      }
      for (const panel of dashboard.panels) {
        const sql = panel.targets[0]?.rawSql ?? ''
        expect(
          expandGrafanaMacros(sql, { fromMs: 0, toMs: HOUR, intervalSecs: 10 }, { host: 'x' }),
          `${name} / ${panel.title}`,
        ).not.toMatch(/\$__|\$\{/)
        if (panel.type !== 'timeseries') continue
        // The fleet chart: its rollup up to 24 h, the hourly tier beyond, never raw.
        expect(sql, `${name} / ${panel.title}`).toMatch(
          name === 'fleet.json'
            ? /^(?![\s\S]*samples_raw)[\s\S]*fleet_1m[\s\S]*UNION ALL[\s\S]*samples_1h/
            : /samples_raw[\s\S]*UNION ALL[\s\S]*samples_1m[\s\S]*UNION ALL[\s\S]*samples_1h/,
        )
      }
    }
  })
})

describe('silence matchers (as the alerter evaluates them)', () => {
  it('matches equality, negation and anchored regexes; an absent label is the empty string', () => {
    const labels = { host: 'web-12', env: 'prod' }
    expect(matcherMatches({ name: 'host', op: '=', value: 'web-12' }, labels)).toBe(true)
    expect(matcherMatches({ name: 'host', op: '!=', value: 'web-12' }, labels)).toBe(false)
    expect(matcherMatches({ name: 'host', op: '=~', value: 'web-1' }, labels)).toBe(false)
    expect(matcherMatches({ name: 'host', op: '=~', value: 'web-1.*' }, labels)).toBe(true)
    expect(matcherMatches({ name: 'env', op: '!~', value: 'staging|dev' }, labels)).toBe(true)
    expect(matcherMatches({ name: 'team', op: '=', value: '' }, labels)).toBe(true)
  })
})

describe('dashboard HTTP handler', () => {
  let server: Server
  let base = ''
  beforeAll(async () => {
    const handler = createDashboardHandler({ database: 'tidewatch', retention, now: () => now })
    server = createServer((req, res) => {
      handler(req, res).then(
        (handled) => {
          if (!handled) {
            res.statusCode = 418
            res.end()
          }
        },
        () => {
          res.statusCode = 500
          res.end()
        },
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('serves the page, its script, its stylesheet and uPlot from the package (no CDN)', async () => {
    const index = await fetch(`${base}/dashboard/`)
    expect(index.status).toBe(200)
    const html = await index.text()
    expect(html).not.toMatch(/https?:\/\//)
    for (const path of ['app.js', 'app.css', 'vendor/uPlot.iife.min.js', 'vendor/uPlot.min.css']) {
      const res = await fetch(`${base}/dashboard/${path}`)
      expect(res.status, path).toBe(200)
      expect((await res.text()).length, path).toBeGreaterThan(100)
    }
    expect((await fetch(`${base}/dashboard`, { redirect: 'manual' })).status).toBe(302)
  })

  it('plans pages and refuses bad ranges and unknown pages', async () => {
    const res = await fetch(`${base}/dashboard/api/page?page=fleet&from=${now - HOUR}&to=${now}`)
    expect(res.status).toBe(200)
    const plan = (await res.json()) as { tier: string; panels: unknown[] }
    // The fleet chart reads its 1-minute rollup, never raw.
    expect(plan.tier).toBe('1m')
    expect(plan.panels.length).toBeGreaterThan(0)
    expect((await fetch(`${base}/dashboard/api/page?page=nope`)).status).toBe(400)
    expect((await fetch(`${base}/dashboard/api/page?page=fleet&from=${now}&to=${now - 1}`)).status).toBe(400)
    expect((await fetch(`${base}/dashboard/nothing`)).status).toBe(404)
  })

  it('says alerts are unavailable without an alert source, and leaves other paths to the caller', async () => {
    const alerts = (await (await fetch(`${base}/dashboard/api/alerts`)).json()) as { available: boolean }
    expect(alerts.available).toBe(false)
    expect((await fetch(`${base}/other`)).status).toBe(418)
  })
})
