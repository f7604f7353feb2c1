import type { Labels } from '@tidewatch/shared'

/**
 * Label matchers in Alertmanager's syntax: `name="value"`, `name!="value"`, `name=~"regex"`,
 * `name!~"regex"`. Regexes are anchored. A label that is absent matches as the empty string, so
 * `env=""` selects alerts without `env`.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~'

export interface Matcher {
  name: string
  op: MatchOp
  value: string
}

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))\s*$/

/** Parses one matcher; throws an Error naming what is wrong (the caller adds where it came from). */
export function parseMatcher(text: string): Matcher {
  const match = MATCHER.exec(text)
  if (!match)
    throw new Error(
      `expected a matcher such as severity="critical" or env=~"prod|staging", found ${JSON.stringify(text)}`,
    )
  const value = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : (match[4] ?? '')
  const matcher: Matcher = { name: match[1] as string, op: match[2] as MatchOp, value }
  if (matcher.op === '=~' || matcher.op === '!~') {
    try {
      new RegExp(`^(?:${value})$`)
    } catch {
      throw new Error(`invalid regular expression in matcher ${JSON.stringify(text)}`)
    }
  }
  return matcher
}

export function formatMatcher(matcher: Matcher): string {
  return `${matcher.name}${matcher.op}${JSON.stringify(matcher.value)}`
}

const regexCache = new Map<string, RegExp>()
function anchored(pattern: string): RegExp {
  let regex = regexCache.get(pattern)
  if (regex === undefined) {
    regex = new RegExp(`^(?:${pattern})$`)
    if (regexCache.size > 1000) regexCache.clear()
    regexCache.set(pattern, regex)
  }
  return regex
}

export function matches(matcher: Matcher, labels: Labels): boolean {
  const value = labels[matcher.name] ?? ''
  switch (matcher.op) {
    case '=':
      return value === matcher.value
    case '!=':
      return value !== matcher.value
    case '=~':
      return anchored(matcher.value).test(value)
    case '!~':
      return !anchored(matcher.value).test(value)
  }
}

/** True when every matcher matches (an empty list matches everything). */
export function matchesAll(matchers: readonly Matcher[], labels: Labels): boolean {
  return matchers.every((matcher) => matches(matcher, labels))
}
