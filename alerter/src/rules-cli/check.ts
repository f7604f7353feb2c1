import { checkRuleFiles, formatRuleIssue, type Rule } from '@tidewatch/shared'

export interface CheckRulesResult {
  ok: boolean
  /** One line per problem (`<file>: rule "<name>": <key>: <problem> (line N)`), then one per good file. */
  messages: string[]
  rules: Rule[]
}

/**
 * `tidewatch-alerter check-rules <files>`: reads and validates rule files (schema, durations,
 * matchers, templates, duplicate names) and reports every problem at once. Exit status: 0 when ok.
 */
export function checkRules(
  files: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): CheckRulesResult {
  if (files.length === 0) return { ok: false, messages: ['check-rules: no rule files given'], rules: [] }
  // `config/rules/*.toml` also matches the rule tests beside the rules: those are test-rules' input.
  const tests = files.filter((file) => file.endsWith('.test.toml'))
  const ruleFiles = files.filter((file) => !file.endsWith('.test.toml'))
  const { rules, issues } = checkRuleFiles(ruleFiles, options)
  const messages = issues.map(formatRuleIssue)
  for (const file of tests) messages.push(`${file}: skipped, a rule test file (run it with test-rules)`)
  for (const file of ruleFiles) {
    if (issues.some((issue) => issue.file === file)) continue
    const own = rules.filter((rule) => rule.file === file)
    const kinds = (['threshold', 'absent', 'query'] as const).map(
      (kind) => `${own.filter((r) => r.kind === kind).length} ${kind}`,
    )
    messages.push(`${file}: OK, ${own.length} rule${own.length === 1 ? '' : 's'} (${kinds.join(', ')})`)
  }
  if (ruleFiles.length === 0)
    return { ok: false, messages: [...messages, 'check-rules: no rule files given'], rules }
  return { ok: issues.length === 0, messages, rules }
}
