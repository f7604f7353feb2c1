import {
  alerterConfigSchema,
  loadConfigFile,
  type AlerterConfig,
  type LoadConfigOptions,
} from '@tidewatch/shared'
import { AlerterConfigError } from './errors.js'
import type { InhibitRule } from './inhibition/inhibitor.js'
import { receiverSpec, type ReceiverSpec } from './notifiers/index.js'
import { parseMatcher, type Matcher } from './routing/matchers.js'
import type { Route, RouteTree } from './routing/route.js'

export type { AlerterConfig }

/** The config's cross-field part, checked after the schema: what the dispatcher runs on. */
export interface AlerterPlan {
  routes: RouteTree
  inhibitRules: InhibitRule[]
  receivers: ReceiverSpec[]
}

export function loadAlerterConfig(file: string, options?: LoadConfigOptions): AlerterConfig {
  return loadConfigFile(file, alerterConfigSchema, options)
}

/**
 * Checks what the schema cannot: matchers parse, routes name receivers that exist, each receiver sets
 * exactly one notifier. Throws AlerterConfigError naming the key path (the caller adds the file).
 */
export function planAlerter(config: AlerterConfig): AlerterPlan {
  const matchersAt = (texts: readonly string[], keyPath: string): Matcher[] =>
    texts.map((text, index) => {
      try {
        return parseMatcher(text)
      } catch (error) {
        throw new AlerterConfigError(
          `${keyPath}[${index}]: ${(error as Error).message}`,
          `${keyPath}[${index}]`,
        )
      }
    })

  const names = new Set<string>()
  const receivers = config.receivers.map((receiver, index) => {
    if (names.has(receiver.name))
      throw new AlerterConfigError(
        `receivers[${index}].name: duplicate receiver "${receiver.name}"`,
        `receivers[${index}].name`,
      )
    names.add(receiver.name)
    return receiverSpec(receiver, `receivers[${index}]`)
  })
  const needReceiver = (name: string, keyPath: string) => {
    if (!names.has(name)) {
      const known = [...names].map((n) => `"${n}"`).join(', ') || 'none'
      throw new AlerterConfigError(`${keyPath}: no receiver named "${name}" (receivers: ${known})`, keyPath)
    }
  }

  if (config.store.url.startsWith('chdb:')) {
    // One process at a time may open a chDB directory, and the aggregator owns it.
    throw new AlerterConfigError(
      `store.url: expected an http(s):// URL (the aggregator's read-only endpoint or a ClickHouse server), found "${config.store.url}"`,
      'store.url',
    )
  }
  const r = config.route
  needReceiver(r.receiver, 'route.receiver')
  const root: Route = {
    id: 'root',
    receiver: r.receiver,
    matchers: [],
    continue: false,
    groupBy: r.group_by,
    groupWaitMs: r.group_wait,
    groupIntervalMs: r.group_interval,
    repeatIntervalMs: r.repeat_interval,
  }
  const children = r.routes.map((child, index): Route => {
    const keyPath = `route.routes[${index}]`
    const receiver = child.receiver ?? root.receiver
    needReceiver(receiver, `${keyPath}.receiver`)
    return {
      id: `routes[${index}]`,
      receiver,
      matchers: matchersAt(child.matchers, `${keyPath}.matchers`),
      continue: child.continue,
      groupBy: child.group_by ?? root.groupBy,
      groupWaitMs: child.group_wait ?? root.groupWaitMs,
      groupIntervalMs: child.group_interval ?? root.groupIntervalMs,
      repeatIntervalMs: child.repeat_interval ?? root.repeatIntervalMs,
    }
  })
  const inhibitRules = config.inhibit_rules.map((rule, index) => ({
    sourceMatchers: matchersAt(rule.source_matchers, `inhibit_rules[${index}].source_matchers`),
    targetMatchers: matchersAt(rule.target_matchers, `inhibit_rules[${index}].target_matchers`),
    equal: rule.equal,
  }))
  return { routes: { root, children }, inhibitRules, receivers }
}
