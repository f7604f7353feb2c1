import { readFileSync } from 'node:fs'
import { parse as parseToml } from 'smol-toml'
import { ConfigError } from '../errors.js'
import { InvalidConfigError, parseConfigText, type ConfigIssue } from '../config/load.js'
import { ruleFileSchema, toRule, type Rule } from './schema.js'

/*
 * Loading rule files:
 *
 *   each file -> parseConfigText (TOML, ${VAR}, strict zod schema: matchers, templates, durations
 *                compiled here) -> issues renamed from `rule.3.for` to `rule "host_down": for`
 *   all files -> cross-file check: rule names are unique
 *
 * Every problem of every file is collected, so `check-rules` shows them all in one run.
 */

/** One problem in a rule file: where (file, rule, key, line) and what. */
export interface RuleIssue {
  file: string
  /** The rule's `name`, when the rule has a readable one. */
  rule?: string
  /** 0-based position of the `[[rule]]` table in its file. */
  ruleIndex?: number
  /** Key path inside the rule (`for`, `match.1`, `annotations.summary`); empty for the rule or file as a whole. */
  keyPath: string
  line?: number
  problem: string
}

/** `config/rules/host.toml: rule "host_down": for: expected a duration ..., found "5 minutes" (line 12)` */
export function formatRuleIssue(issue: RuleIssue): string {
  let where = issue.file
  if (issue.rule !== undefined) where += `: rule "${issue.rule}"`
  else if (issue.ruleIndex !== undefined) where += `: rule #${issue.ruleIndex + 1}`
  if (issue.keyPath !== '') where += `: ${issue.keyPath}`
  return `${where}: ${issue.problem}${issue.line === undefined ? '' : ` (line ${issue.line})`}`
}

/** Rule files that cannot be used; the message lists every problem, one a line. */
export class RuleFileError extends ConfigError {
  readonly issues: readonly RuleIssue[]
  constructor(issues: readonly RuleIssue[], options?: { cause?: unknown }) {
    const first = issues[0]
    super(issues.map(formatRuleIssue).join('\n'), first?.file, first?.keyPath ?? '')
    this.issues = issues
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

export interface RuleFileResult {
  rules: Rule[]
  issues: RuleIssue[]
}

export interface ParseRulesOptions {
  /** For `${VAR}` in strings. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** Parses one rule file's text, collecting problems instead of throwing. */
export function parseRuleText(text: string, file: string, options: ParseRulesOptions = {}): RuleFileResult {
  try {
    const parsed = parseConfigText(text, file, ruleFileSchema, { env: options.env ?? process.env })
    return { rules: parsed.rule.map((raw) => toRule(raw, file)), issues: [] }
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error
    return { rules: [], issues: error.issues.map((issue) => toRuleIssue(issue, text)) }
  }
}

function ruleNames(text: string): unknown[] {
  try {
    const data = parseToml(text) as { rule?: unknown }
    return Array.isArray(data.rule)
      ? data.rule.map((r: unknown) =>
          typeof r === 'object' && r !== null ? (r as { name?: unknown }).name : undefined,
        )
      : []
  } catch {
    return []
  }
}

function toRuleIssue(issue: ConfigIssue, text: string): RuleIssue {
  const out: RuleIssue = { file: issue.file, keyPath: issue.keyPath, problem: issue.problem }
  if (issue.line !== undefined) out.line = issue.line
  const match = /^rule\.(\d+)(?:\.(.*))?$/.exec(issue.keyPath)
  if (match) {
    const index = Number(match[1])
    out.ruleIndex = index
    out.keyPath = match[2] ?? ''
    const name = ruleNames(text)[index]
    if (typeof name === 'string' && name !== '') out.rule = name
  } else if (issue.keyPath !== '' && issue.keyPath !== 'rule') {
    out.problem =
      issue.problem === 'unknown key' ? 'unknown key (a rule file holds only [[rule]] tables)' : issue.problem
  }
  return out
}

/** Reads and checks rule files; never throws for a bad file: problems come back as issues. */
export function checkRuleFiles(files: readonly string[], options: ParseRulesOptions = {}): RuleFileResult {
  const rules: Rule[] = []
  const issues: RuleIssue[] = []
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      issues.push({
        file,
        keyPath: '',
        problem:
          code === 'ENOENT' ? 'rule file not found' : `cannot read rule file (${code ?? String(error)})`,
      })
      continue
    }
    const result = parseRuleText(text, file, options)
    rules.push(...result.rules)
    issues.push(...result.issues)
  }
  issues.push(...duplicateNames(rules))
  return { rules, issues }
}

/** Rule names are alert names and subjects: two rules with one name would share alerts. */
function duplicateNames(rules: readonly Rule[]): RuleIssue[] {
  const seen = new Map<string, Rule>()
  const issues: RuleIssue[] = []
  for (const rule of rules) {
    const first = seen.get(rule.name)
    if (first === undefined) seen.set(rule.name, rule)
    else
      issues.push({
        file: rule.file,
        rule: rule.name,
        keyPath: 'name',
        problem: `duplicate rule name (also defined in ${first.file})`,
      })
  }
  return issues
}

/** Loads rule files for an evaluator; throws RuleFileError (a ConfigError) listing every problem. */
export function loadRuleFiles(files: readonly string[], options: ParseRulesOptions = {}): Rule[] {
  const { rules, issues } = checkRuleFiles(files, options)
  if (issues.length > 0) throw new RuleFileError(issues)
  return rules
}
