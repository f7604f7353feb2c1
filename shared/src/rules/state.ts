import { alertFingerprint, type AlertEvent, type AlertState } from '../alerts/event.js'
import type { Labels } from '../series.js'
import type { FlapPolicy, Rule } from './schema.js'
import type { TemplateContext } from './template.js'

/**
 * The alert state machine every rule kind shares (streaming threshold and absent rules in the
 * aggregator, query rules in the alerter). Pure: time is the `atMs` of each observation.
 *
 *               holds, for = 0
 *   inactive ─────────────────────────────────────► firing
 *      │  ▲  holds                 holds for `for`     │  ▲
 *      │  └──────── pending ──────────────────────────►│  │ holds again (no event)
 *      │   !holds: resolved                             │  │
 *      └────────────────────────────────── resolved ◄──┘  │
 *               !holds for `keep_firing_for` and not flapping
 *
 * Events: `pending` and `firing` on entry, `resolved` when a firing (or pending) alert ends; a
 * pending alert that never fired also ends with `resolved`, so a consumer tracking pending state can
 * clear it (it must not notify for it). Flapping: each rise of the condition is remembered (at most
 * `flap_threshold` of them); while `flap_threshold` rises fall inside `flap_window`, a firing alert is
 * held firing instead of resolving, and resolves once the condition has settled.
 */

export type Phase = 'inactive' | 'pending' | 'firing'

export interface InstanceState {
  phase: Phase
  activeSinceMs: number
  lastTrueMs: number
  lastHolds: boolean
  lastValue: number | null
  /** Times of the latest rises of the condition (oldest first), at most the flap threshold. */
  rises: number[]
}

export interface StatePolicy {
  forMs: number
  keepFiringForMs: number
  flap: FlapPolicy | undefined
}

export function newInstanceState(): InstanceState {
  return { phase: 'inactive', activeSinceMs: 0, lastTrueMs: 0, lastHolds: false, lastValue: null, rises: [] }
}

/** Whether the instance is flapping at `atMs`: `threshold` rises inside the last `windowMs`. */
export function isFlapping(state: InstanceState, flap: FlapPolicy | undefined, atMs: number): boolean {
  if (flap === undefined || state.rises.length < flap.threshold) return false
  return (state.rises[state.rises.length - flap.threshold] as number) > atMs - flap.windowMs
}

/** Applies one observation; returns the state to publish, if this observation is a transition. Mutates `state`. */
export function stepState(
  policy: StatePolicy,
  state: InstanceState,
  holds: boolean,
  atMs: number,
  value: number | null,
): AlertState | undefined {
  if (holds && !state.lastHolds && policy.flap !== undefined) {
    state.rises.push(atMs)
    if (state.rises.length > policy.flap.threshold) state.rises.shift()
  }
  state.lastHolds = holds
  if (holds) {
    state.lastTrueMs = atMs
    state.lastValue = value
  }
  switch (state.phase) {
    case 'inactive':
      if (!holds) return undefined
      state.activeSinceMs = atMs
      if (policy.forMs <= 0) {
        state.phase = 'firing'
        return 'firing'
      }
      state.phase = 'pending'
      return 'pending'
    case 'pending':
      if (!holds) {
        state.phase = 'inactive'
        return 'resolved'
      }
      if (atMs - state.activeSinceMs >= policy.forMs) {
        state.phase = 'firing'
        return 'firing'
      }
      return undefined
    case 'firing':
      if (holds) return undefined
      if (atMs - state.lastTrueMs < policy.keepFiringForMs) return undefined
      if (isFlapping(state, policy.flap, atMs)) return undefined
      state.phase = 'inactive'
      return 'resolved'
  }
}

interface Instance {
  state: InstanceState
  labels: Labels
  fingerprint: string
  sourceLabels: Labels
}

/**
 * The alert instances of one rule, keyed by the caller (series key, group key, query row labels),
 * turning observations into AlertEvents with rendered labels and annotations.
 */
export class AlertTracker {
  private readonly instances = new Map<string, Instance>()

  constructor(
    readonly rule: Rule,
    private readonly source: string,
  ) {}

  get size(): number {
    return this.instances.size
  }

  phaseOf(key: string): Phase {
    return this.instances.get(key)?.state.phase ?? 'inactive'
  }

  /** Observes the condition of the instance `key` at `atMs`; `sourceLabels` are the series' (or group's) labels. */
  update(
    key: string,
    sourceLabels: Labels,
    holds: boolean,
    atMs: number,
    value: number | null,
    extra: Pick<TemplateContext, 'silent'> = {},
  ): AlertEvent | undefined {
    let instance = this.instances.get(key)
    if (instance === undefined) {
      // An instance that is not alerting is not worth remembering.
      if (!holds) return undefined
      const labels = this.alertLabels(sourceLabels)
      instance = {
        state: newInstanceState(),
        labels,
        fingerprint: alertFingerprint(this.rule.name, labels),
        sourceLabels,
      }
      this.instances.set(key, instance)
    }
    const transition = stepState(this.rule, instance.state, holds, atMs, value)
    if (instance.state.phase === 'inactive' && instance.state.rises.length === 0) this.instances.delete(key)
    if (transition === undefined) return undefined
    return this.event(
      instance,
      transition,
      atMs,
      transition === 'resolved' ? (value ?? instance.state.lastValue) : value,
      extra,
    )
  }

  /** Forgets an instance (its series went stale); an active alert resolves. */
  remove(key: string, atMs: number): AlertEvent | undefined {
    const instance = this.instances.get(key)
    if (instance === undefined) return undefined
    this.instances.delete(key)
    if (instance.state.phase === 'inactive') return undefined
    instance.state.phase = 'inactive'
    return this.event(instance, 'resolved', atMs, instance.state.lastValue, {})
  }

  /** Drops inactive instances kept only for their flap history once it can no longer matter. */
  prune(atMs: number): void {
    const windowMs = this.rule.flap?.windowMs ?? 0
    for (const [key, instance] of this.instances) {
      if (instance.state.phase !== 'inactive') continue
      const lastRise = instance.state.rises[instance.state.rises.length - 1] ?? -Infinity
      if (lastRise <= atMs - windowMs) this.instances.delete(key)
    }
  }

  keys(): IterableIterator<string> {
    return this.instances.keys()
  }

  private alertLabels(sourceLabels: Labels): Labels {
    const labels: Record<string, string> = { ...sourceLabels }
    const context: TemplateContext = { value: null, labels: sourceLabels, rule: this.rule.name }
    for (const [name, template] of Object.entries(this.rule.labels)) labels[name] = template.render(context)
    labels.alertname = this.rule.name
    return labels
  }

  private event(
    instance: Instance,
    state: AlertState,
    atMs: number,
    value: number | null,
    extra: Pick<TemplateContext, 'silent'>,
  ): AlertEvent {
    const rule = this.rule
    const context: TemplateContext = {
      value,
      labels: instance.sourceLabels,
      rule: rule.name,
      threshold: rule.kind === 'absent' ? null : (rule.threshold ?? null),
      ...extra,
    }
    const annotations: Record<string, string> = {}
    for (const [name, template] of Object.entries(rule.annotations))
      annotations[name] = template.render(context)
    return {
      v: 1,
      fingerprint: instance.fingerprint,
      rule: rule.name,
      ruleKind: rule.kind,
      state,
      labels: instance.labels,
      annotations,
      value,
      activeSinceMs: instance.state.activeSinceMs,
      atMs,
      source: this.source,
    }
  }
}

/** Rule runtimes indexed by the metric their rule watches, so a sample only meets its own rules. */
export function indexByMetric<T extends { rule: { metric: string } }>(
  runtimes: readonly T[],
): Map<string, T[]> {
  const byMetric = new Map<string, T[]>()
  for (const runtime of runtimes) {
    const list = byMetric.get(runtime.rule.metric) ?? []
    list.push(runtime)
    byMetric.set(runtime.rule.metric, list)
  }
  return byMetric
}
