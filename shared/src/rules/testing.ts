import { parseRuleText, formatRuleIssue } from './load.js'
import type { Rule } from './schema.js'

/** Rules from TOML text, for tests: throws with every problem when the text is not a valid rule file. */
export function rulesFromToml(text: string, file = 'test.toml'): Rule[] {
  const result = parseRuleText(text, file, { env: {} })
  if (result.issues.length > 0) throw new Error(result.issues.map(formatRuleIssue).join('\n'))
  return result.rules
}
