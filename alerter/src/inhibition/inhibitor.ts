import type { Labels } from '@tidewatch/shared'
import { matchesAll, type Matcher } from '../routing/matchers.js'

export interface InhibitRule {
  sourceMatchers: readonly Matcher[]
  targetMatchers: readonly Matcher[]
  /** Labels source and target must share (both absent counts as equal, as in Alertmanager). */
  equal: readonly string[]
}

export interface InhibitionCandidate {
  fingerprint: string
  labels: Labels
}

/**
 * Whether `target` is muted by one of `firing` (the alerts firing now, silenced or not). An alert
 * never inhibits itself, so a rule whose source and target matchers overlap cannot mute its own source.
 */
export function isInhibited(
  target: InhibitionCandidate,
  firing: Iterable<InhibitionCandidate>,
  rules: readonly InhibitRule[],
): boolean {
  const applicable = rules.filter((rule) => matchesAll(rule.targetMatchers, target.labels))
  if (applicable.length === 0) return false
  for (const source of firing) {
    if (source.fingerprint === target.fingerprint) continue
    for (const rule of applicable) {
      if (!matchesAll(rule.sourceMatchers, source.labels)) continue
      if (rule.equal.every((name) => (source.labels[name] ?? '') === (target.labels[name] ?? ''))) return true
    }
  }
  return false
}
