import type { Labels } from '@tidewatch/shared'
import { matchesAll, type Matcher } from './matchers.js'

/** How a route groups and paces notifications; all durations in ms. */
export interface RouteTiming {
  /** Labels that split alerts into groups; `['...']` means every label. */
  groupBy: readonly string[]
  groupWaitMs: number
  groupIntervalMs: number
  repeatIntervalMs: number
}

/** A resolved route: a child inherits what it leaves out from the root. */
export interface Route extends RouteTiming {
  /** `root` or `routes[<index>]`: stable while the config does not change; part of the group key. */
  id: string
  receiver: string
  matchers: readonly Matcher[]
  continue: boolean
}

export interface RouteTree {
  root: Route
  children: readonly Route[]
}

/**
 * The routes an alert takes: the first matching child, and after it every further match while the
 * matched route says `continue`; the root when no child matches.
 */
export function routesFor(tree: RouteTree, labels: Labels): Route[] {
  const taken: Route[] = []
  for (const child of tree.children) {
    if (!matchesAll(child.matchers, labels)) continue
    taken.push(child)
    if (!child.continue) break
  }
  return taken.length > 0 ? taken : [tree.root]
}

/** The labels an alert is grouped by on this route. */
export function groupLabels(route: RouteTiming, labels: Labels): Record<string, string> {
  if (route.groupBy.includes('...')) return { ...labels }
  const out: Record<string, string> = {}
  for (const name of route.groupBy) {
    const value = labels[name]
    if (value !== undefined) out[name] = value
  }
  return out
}
