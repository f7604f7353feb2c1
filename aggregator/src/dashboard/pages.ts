import type { RetentionConfig, Tier } from '@tidewatch/shared'
import {
  bucketSecs,
  builtinDialect,
  dashboardTier,
  PAGES,
  tierLimitsFor,
  type PageId,
  type PanelKind,
} from './sql.js'

/** What the browser needs to draw one page for one range: the tier, and each panel's SQL with its parameters. */
export interface PagePlan {
  page: PageId
  title: string
  tier: Tier
  /** Bucket width, seconds. */
  step: number
  fromMs: number
  toMs: number
  /** `param_<name>` values for every query of the page (ClickHouse HTTP query parameters). */
  params: Record<string, string>
  variables: { name: string; label: string; sql: string }[]
  panels: { id: string; title: string; kind: PanelKind; unit: string; sql: string }[]
}

export const BUILTIN_PAGES: readonly PageId[] = ['fleet', 'host', 'queues']

/** DateTime64(3) text in UTC, as a query parameter value. */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

/**
 * The plan of `page` over [fromMs, toMs) at `nowMs`. Variables (e.g. `host`) become parameters;
 * a missing one is passed as '' (the page then shows no series until one is picked).
 */
export function planPage(
  page: PageId,
  range: { fromMs: number; toMs: number; nowMs: number },
  variables: Record<string, string>,
  database: string,
  retention: RetentionConfig,
): PagePlan {
  const limits = tierLimitsFor(page, retention)
  const tier = dashboardTier(range.fromMs, range.toMs, range.nowMs, retention, limits)
  const step = bucketSecs(range.fromMs, range.toMs, tier)
  const built = PAGES[page](builtinDialect(database, tier, retention, limits))
  const params: Record<string, string> = {
    from: chTime(range.fromMs),
    to: chTime(range.toMs),
    step: String(step),
  }
  for (const v of built.variables) params[v.name] = variables[v.name] ?? ''
  return {
    page,
    title: built.title,
    tier,
    step,
    fromMs: range.fromMs,
    toMs: range.toMs,
    params,
    variables: built.variables,
    panels: built.panels.map((p) => ({ id: p.id, title: p.title, kind: p.kind, unit: p.unit, sql: p.sql })),
  }
}
