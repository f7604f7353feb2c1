/**
 * The built-in dashboard, served under /dashboard/ by the embedded store's HTTP endpoint (same port):
 *
 *   browser ──GET /dashboard/            ──► index.html, app.js, app.css, uPlot (all from this package: works offline)
 *           ──GET /dashboard/api/page     ──► the page's plan: tier, bucket, each panel's SQL + parameters (no query runs here)
 *           ──POST /?param_...            ──► the ClickHouse HTTP endpoint, read-only: the browser runs each panel's SQL
 *           ──GET /dashboard/api/alerts   ──► the alerter's KV buckets, read through NATS
 *
 * So the store is only ever read through the read-only query path, exactly as Grafana or curl read it.
 */
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RetentionConfig } from '@tidewatch/shared'
import type { AlertsSource } from './alerts.js'
import { BUILTIN_PAGES, planPage } from './pages.js'
import type { PageId } from './sql.js'

export interface DashboardOptions {
  database: string
  retention: RetentionConfig
  /** Where the alerts page reads from; without it the page says alerts are unavailable. */
  alerts?: AlertsSource
  now?: () => number
}

/** Handles a request under /dashboard; resolves false for any other path (the caller answers it). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

export const DASHBOARD_PATH = '/dashboard/'

/** The static files: next to this module in the sources, or under src/ when running from dist/. */
function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, 'static'), join(here, '..', '..', 'src', 'dashboard', 'static')]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? (candidates[0] as string)
}

function uplotDir(): string {
  const require = createRequire(import.meta.url)
  return dirname(require.resolve('uplot/package.json'))
}

const STATIC: Record<string, { file: () => string; type: string }> = {
  '': { file: () => join(staticDir(), 'index.html'), type: 'text/html; charset=utf-8' },
  'app.js': { file: () => join(staticDir(), 'app.js'), type: 'text/javascript; charset=utf-8' },
  'app.css': { file: () => join(staticDir(), 'app.css'), type: 'text/css; charset=utf-8' },
  'vendor/uPlot.iife.min.js': {
    file: () => join(uplotDir(), 'dist', 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'vendor/uPlot.min.css': {
    file: () => join(uplotDir(), 'dist', 'uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
}

const RANGE_LIMIT_MS = 2 * 365 * 86400_000

export function createDashboardHandler(options: DashboardOptions): DashboardHandler {
  const now = options.now ?? Date.now
  const cache = new Map<string, Buffer>()

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    cacheable = false,
  ): void => {
    res.statusCode = status
    res.setHeader('Content-Type', type)
    res.setHeader('Cache-Control', cacheable ? 'max-age=300' : 'no-store')
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.end(body)
  }
  const json = (res: ServerResponse, status: number, value: unknown): void =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value))

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/dashboard') {
      res.statusCode = 302
      res.setHeader('Location', DASHBOARD_PATH)
      res.end()
      return true
    }
    if (!url.pathname.startsWith(DASHBOARD_PATH)) return false
    req.resume()
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'method not allowed' })
      return true
    }
    const rest = url.pathname.slice(DASHBOARD_PATH.length)
    const asset = STATIC[rest]
    if (asset !== undefined) {
      let body = cache.get(rest)
      if (body === undefined) {
        body = await readFile(asset.file())
        cache.set(rest, body)
      }
      send(res, 200, asset.type, body, rest.startsWith('vendor/'))
      return true
    }
    if (rest === 'api/page') {
      const page = url.searchParams.get('page') as PageId | null
      if (page === null || !BUILTIN_PAGES.includes(page)) {
        json(res, 400, { error: `page must be one of ${BUILTIN_PAGES.join(', ')}` })
        return true
      }
      const nowMs = now()
      const toMs = Number(url.searchParams.get('to') ?? nowMs)
      const fromMs = Number(url.searchParams.get('from') ?? toMs - 3600_000)
      if (
        !Number.isFinite(fromMs) ||
        !Number.isFinite(toMs) ||
        fromMs >= toMs ||
        toMs - fromMs > RANGE_LIMIT_MS
      ) {
        json(res, 400, { error: 'from and to must be milliseconds with from < to, at most two years apart' })
        return true
      }
      const variables: Record<string, string> = {}
      for (const [name, value] of url.searchParams)
        if (name.startsWith('var_')) variables[name.slice(4)] = value
      json(res, 200, planPage(page, { fromMs, toMs, nowMs }, variables, options.database, options.retention))
      return true
    }
    if (rest === 'api/alerts') {
      if (options.alerts === undefined) {
        json(res, 200, {
          available: false,
          reason: 'this process has no alert source',
          nowMs: now(),
          alerts: [],
          silences: [],
          notifications: [],
        })
        return true
      }
      json(res, 200, await options.alerts.snapshot())
      return true
    }
    json(res, 404, { error: `no such dashboard path: ${url.pathname}` })
    return true
  }
}
