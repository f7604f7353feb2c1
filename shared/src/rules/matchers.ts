import type { Labels } from '../series.js'

/**
 * Label matchers, as PromQL writes them: `host="web-1"`, `env!="dev"`, `role=~"web|api"`,
 * `region!~"eu-.*"`. Regexes are anchored (`=~"web"` matches only "web", not "web-1"), and a label a
 * series does not have matches as the empty string, so `dc!="x"` selects series without `dc`.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~'

export interface LabelMatcher {
  label: string
  op: MatchOp
  value: string
  /** The anchored regex, for `=~` and `!~`. */
  regex?: RegExp
}

const MATCHER_PATTERN = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/

/** A matcher that cannot be parsed; `message` says why, without location (the loader adds it). */
export class MatcherSyntaxError extends Error {
  override readonly name = 'MatcherSyntaxError'
}

/** Parses one matcher such as `role=~"web|api"`; throws MatcherSyntaxError. */
export function parseMatcher(text: string): LabelMatcher {
  const match = MATCHER_PATTERN.exec(text)
  if (!match) {
    throw new MatcherSyntaxError(
      `invalid matcher ${JSON.stringify(text)}: expected <label><op>"<value>" with op one of =, !=, =~, !~ (e.g. role=~"web|api")`,
    )
  }
  const label = match[1] as string
  const op = match[2] as MatchOp
  let value: string
  try {
    value = JSON.parse(`"${match[3] as string}"`) as string
  } catch {
    throw new MatcherSyntaxError(`invalid matcher ${JSON.stringify(text)}: bad escape in the quoted value`)
  }
  if (op === '=~' || op === '!~') {
    try {
      return { label, op, value, regex: new RegExp(`^(?:${value})$`, 'u') }
    } catch (error) {
      throw new MatcherSyntaxError(
        `invalid matcher ${JSON.stringify(text)}: bad regex (${(error as Error).message})`,
      )
    }
  }
  return { label, op, value }
}

export function matches(matchers: readonly LabelMatcher[], labels: Labels): boolean {
  for (const m of matchers) {
    const actual = labels[m.label] ?? ''
    switch (m.op) {
      case '=':
        if (actual !== m.value) return false
        break
      case '!=':
        if (actual === m.value) return false
        break
      case '=~':
        if (!(m.regex as RegExp).test(actual)) return false
        break
      case '!~':
        if ((m.regex as RegExp).test(actual)) return false
        break
    }
  }
  return true
}

export function formatMatcher(m: LabelMatcher): string {
  return `${m.label}${m.op}${JSON.stringify(m.value)}`
}
