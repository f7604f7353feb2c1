import type { AlertEvent } from '../alerts/event.js'
import { seriesKey, type Labels } from '../series.js'
import type { DecodedBatch } from '../wire/types.js'
import { matches } from './matchers.js'
import type { AbsentRule, Rule } from './schema.js'
import { AlertTracker, indexByMetric } from './state.js'

/**
 * Absent-data rules: a group of series (by `by`, usually the host) that stops reporting. Pure: the
 * caller reports arrivals (`observeBatch`, `observeSample`) and drives time with `tick(nowMs)`.
 *
 * Two alerts per rule, told apart by the `scope` label:
 *   scope="group"     one per group silent for `for`, with the group's labels (host="web-3"); a group
 *                     is watched from its first sample on (a host never seen cannot go quiet).
 *   scope="pipeline"  nothing at all (no sample of any metric, from anyone) for `for`: the pipeline
 *                     is down, not the hosts. While it fires no new group alerts start (one message,
 *                     not one per host); `$silent` lists the groups that were being watched.
 *                     A group alert only starts while others still deliver (something arrived in
 *                     the last for/2), so a dying pipeline gives the one pipeline alert, not a storm
 *                     of group alerts for the hosts whose last sample happened to come first.
 * A group alert resolves when the group reports again (after `keep_firing_for`).
 *
 * Time: by default a sample's own timestamp (event time, as in test-rules). The aggregator passes
 * `seenAtMs` = its clock at arrival instead, so replaying a backlog after a restart does not make every
 * host look silent, and ticks with the same clock.
 */
interface GroupState {
  labels: Labels
  lastSeenMs: number
}

interface RuleRuntime {
  rule: AbsentRule
  tracker: AlertTracker
  groups: Map<string, GroupState>
}

export const PIPELINE_KEY = '\u0000pipeline'
/** How many silent groups `$silent` names before "and N more". */
const SILENT_LIST_MAX = 20

export class AbsentEvaluator {
  private readonly byMetric: Map<string, RuleRuntime[]>
  private readonly runtimes: RuleRuntime[] = []
  private lastAnyMs: number | undefined
  private startedMs: number | undefined

  constructor(rules: readonly Rule[], options: { source: string }) {
    for (const rule of rules) {
      if (rule.kind !== 'absent') continue
      const runtime: RuleRuntime = {
        rule,
        tracker: new AlertTracker(rule, options.source),
        groups: new Map(),
      }
      this.runtimes.push(runtime)
    }
    this.byMetric = indexByMetric(this.runtimes)
  }

  get ruleCount(): number {
    return this.runtimes.length
  }

  /** Notes every series of the batch as seen; returns nothing but resolutions are found at the next tick. */
  observeBatch(batch: DecodedBatch, seenAtMs?: number): void {
    let newest = -Infinity
    if (seenAtMs === undefined)
      for (let i = 0; i < batch.sampleCount; i++) newest = Math.max(newest, batch.timestamps[i] as number)
    for (const series of batch.series) {
      if (series.count === 0) continue
      let at = seenAtMs
      if (at === undefined) {
        at = -Infinity
        for (let i = series.offset; i < series.offset + series.count; i++)
          at = Math.max(at, batch.timestamps[i] as number)
      }
      this.seen(series.name, series.labels, at)
    }
    if (batch.sampleCount > 0) this.noteAny(seenAtMs ?? newest)
  }

  observeSample(name: string, labels: Labels, ts: number): void {
    this.seen(name, labels, ts)
    this.noteAny(ts)
  }

  private noteAny(atMs: number): void {
    if (this.lastAnyMs === undefined || atMs > this.lastAnyMs) this.lastAnyMs = atMs
  }

  private seen(name: string, labels: Labels, atMs: number): void {
    const runtimes = this.byMetric.get(name)
    if (runtimes === undefined) return
    for (const runtime of runtimes) {
      if (!matches(runtime.rule.matchers, labels)) continue
      const groupLabels: Record<string, string> = {}
      for (const label of runtime.rule.by) groupLabels[label] = labels[label] ?? ''
      const key = seriesKey('', groupLabels)
      const group = runtime.groups.get(key)
      if (group === undefined) runtime.groups.set(key, { labels: groupLabels, lastSeenMs: atMs })
      else if (atMs > group.lastSeenMs) group.lastSeenMs = atMs
    }
  }

  /** Evaluates silence at `nowMs`. The first tick starts the clock for "nothing ever arrived". */
  tick(nowMs: number, out: AlertEvent[] = []): AlertEvent[] {
    this.startedMs ??= nowMs
    for (const runtime of this.runtimes) {
      const { rule, tracker } = runtime
      const quietSince = this.lastAnyMs ?? this.startedMs
      const pipelineSilent = nowMs - quietSince >= rule.silentForMs
      // When the pipeline dies, hosts whose last sample came a little earlier look silent a little
      // sooner; a group alert may only start while others still deliver (within the last for/2).
      const othersDeliver = nowMs - quietSince < rule.silentForMs / 2
      const silent: string[] = []
      for (const [key, group] of runtime.groups) {
        const isSilent = nowMs - group.lastSeenMs >= rule.silentForMs
        if (isSilent) silent.push(describe(group.labels))
        // While the whole pipeline is (going) silent, hosts are not to blame: start no group alert.
        if (!othersDeliver && isSilent && tracker.phaseOf(key) === 'inactive') continue
        const event = tracker.update(key, { ...group.labels, scope: 'group' }, isSilent, nowMs, null, {
          silent: describe(group.labels),
        })
        if (event !== undefined) out.push(event)
      }
      const list =
        silent.length > SILENT_LIST_MAX
          ? `${silent.slice(0, SILENT_LIST_MAX).join(', ')} and ${silent.length - SILENT_LIST_MAX} more`
          : silent.join(', ')
      const event = tracker.update(PIPELINE_KEY, { scope: 'pipeline' }, pipelineSilent, nowMs, null, {
        silent: list === '' ? 'no data from anyone' : list,
      })
      if (event !== undefined) out.push(event)
      tracker.prune(nowMs)
    }
    return out
  }

  /** The groups a rule watches, with when each was last seen: for debugging and tests. */
  groups(ruleName: string): { labels: Labels; lastSeenMs: number }[] {
    const runtime = this.runtimes.find((r) => r.rule.name === ruleName)
    return runtime === undefined ? [] : [...runtime.groups.values()].map((g) => ({ ...g }))
  }
}

function describe(labels: Labels): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${value}"`)
    .join(',')
}
