import { dirname, isAbsolute, resolve } from 'node:path'
import {
  ConfigError,
  formatRuleIssue,
  checkRuleFiles,
  loadConfigFile,
  StreamingRules,
  expandValues,
  parseSeries,
  ruleTestFileSchema,
  type AlertEvent,
  type RuleTestFile,
  type Labels,
} from '@tidewatch/shared'

export interface RuleTestsResult {
  ok: boolean
  /** Alert checks (one `[[test.alert]]` each) that passed and failed. */
  passed: number
  failed: number
  /** Human-readable, one line per check plus the details of each failure. */
  report: string
}

/**
 * `tidewatch-alerter test-rules <file>`: runs rule unit tests the way `promtool test rules` does.
 * Each `[[test]]` starts from empty state at t = 0, feeds its input series one step (`interval`)
 * at a time to the streaming evaluators (threshold and absent rules; absent rules are ticked at
 * every step), and at each `eval_time` compares the firing alerts of the named rule with the
 * expected ones: labels exactly (alertname implied), annotations exactly when given. Query rules
 * need the store and cannot be tested here.
 */
export function runRuleTests(file: string, options: { env?: NodeJS.ProcessEnv } = {}): RuleTestsResult {
  let spec: RuleTestFile
  try {
    spec = loadConfigFile(file, ruleTestFileSchema, { env: options.env ?? process.env })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return { ok: false, passed: 0, failed: 1, report: error.message }
  }
  const ruleFiles = spec.rule_files.map((f) => (isAbsolute(f) ? f : resolve(dirname(file), f)))
  const { rules, issues } = checkRuleFiles(ruleFiles, options)
  if (issues.length > 0)
    return { ok: false, passed: 0, failed: 1, report: issues.map(formatRuleIssue).join('\n') }

  const lines: string[] = []
  let passed = 0
  let failed = 0
  spec.test.forEach((test, testIndex) => {
    const title = test.name ?? `test #${testIndex + 1}`
    const problems: string[] = []
    let inputs: { name: string; labels: Labels; values: (number | null)[] }[] = []
    try {
      inputs = test.input.map((input) => ({
        ...parseSeries(input.series),
        values: expandValues(input.values),
      }))
    } catch (error) {
      lines.push(`FAIL ${title}: ${(error as Error).message}`)
      failed += Math.max(1, test.alert.length)
      return
    }
    const evaluator = new StreamingRules(rules, { source: 'test-rules' })
    const firing = new Map<string, AlertEvent>()
    const checks = [...test.alert].sort((a, b) => a.eval_time - b.eval_time)
    const lastStep = Math.max(0, ...checks.map((c) => Math.floor(c.eval_time / test.interval)))
    let next = 0
    const apply = (events: AlertEvent[]): void => {
      for (const event of events) {
        if (event.state === 'firing') firing.set(event.fingerprint, event)
        else firing.delete(event.fingerprint)
      }
    }
    for (let step = 0; step <= lastStep; step++) {
      const t = step * test.interval
      for (const input of inputs) {
        const value = input.values[step]
        if (value !== null && value !== undefined)
          apply(evaluator.observeSample(input.name, input.labels, t, value))
      }
      apply(evaluator.tick(t))
      while (
        next < checks.length &&
        Math.floor((checks[next] as (typeof checks)[number]).eval_time / test.interval) === step
      ) {
        const check = checks[next] as (typeof checks)[number]
        next++
        const rule = rules.find((r) => r.name === check.rule)
        const where = `${title}: ${check.rule} at ${check.eval_time / 1000}s`
        if (rule === undefined) {
          problems.push(`${where}: no rule named "${check.rule}" in ${spec.rule_files.join(', ')}`)
          continue
        }
        if (rule.kind === 'query') {
          problems.push(
            `${where}: "${check.rule}" is a query rule; it runs SQL against the store and cannot be unit tested here`,
          )
          continue
        }
        const actual = [...firing.values()]
          .filter((e) => e.rule === check.rule)
          .map((e) => ({ labels: withoutAlertname(e.labels), annotations: e.annotations }))
        const difference = compareAlerts(
          check.expected.map((x) => ({ labels: withoutAlertname(x.labels), annotations: x.annotations })),
          actual,
        )
        if (difference === undefined) lines.push(`ok   ${where}`)
        else problems.push(`${where}:\n${difference}`)
      }
    }
    for (const problem of problems) lines.push(`FAIL ${problem}`)
    failed += problems.length
    passed += test.alert.length - problems.length
  })
  lines.push(`${passed} passed, ${failed} failed`)
  return { ok: failed === 0, passed, failed, report: lines.join('\n') }
}

function withoutAlertname(labels: Labels): Record<string, string> {
  const { alertname: _alertname, ...rest } = labels
  return rest
}

const show = (x: unknown) => JSON.stringify(x, Object.keys(x as object).sort())

function canonical(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))
}

function compareAlerts(
  expected: { labels: Record<string, string>; annotations: Record<string, string> | undefined }[],
  actual: { labels: Record<string, string>; annotations: Labels }[],
): string | undefined {
  const remaining = [...actual]
  const problems: string[] = []
  for (const want of expected) {
    const index = remaining.findIndex((a) => canonical(a.labels) === canonical(want.labels))
    if (index === -1) {
      problems.push(`    missing: labels ${show(want.labels)}`)
      continue
    }
    const [got] = remaining.splice(index, 1)
    if (
      want.annotations !== undefined &&
      canonical(want.annotations) !== canonical({ ...got?.annotations })
    ) {
      problems.push(
        `    annotations of ${show(want.labels)}: expected ${show(want.annotations)}, got ${show({ ...got?.annotations })}`,
      )
    }
  }
  for (const extra of remaining) problems.push(`    unexpected: labels ${show(extra.labels)}`)
  if (problems.length === 0) return undefined
  const firing = actual.map((a) => `      ${show(a.labels)}`).join('\n')
  return `${problems.join('\n')}\n    firing then:${actual.length === 0 ? ' none' : `\n${firing}`}`
}
