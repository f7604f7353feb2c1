import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkRules } from './check.js'
import { runRuleTests } from './test-rules.js'

const CONFIG = resolve(import.meta.dirname, '../../../config/rules')
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-rules-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, text: string) => {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}
const env = {}

const RULE = `[[rule]]
name = "cpu_high"
kind = "threshold"
metric = "cpu"
op = ">"
threshold = 90
for = "1m"
annotations.summary = "{{ $labels.host }} {{ $value }}"
`

describe('check-rules', () => {
  it('accepts the example rule files', () => {
    const files = [join(CONFIG, 'host.toml'), join(CONFIG, 'web.toml')]
    const result = checkRules(files, { env })
    expect(result.ok).toBe(true)
    expect(result.messages).toEqual([
      `${files[0]}: OK, 2 rules (1 threshold, 1 absent, 0 query)`,
      `${files[1]}: OK, 1 rule (0 threshold, 0 absent, 1 query)`,
    ])
  })

  it.each([
    ['unknown key', 'thresold = 1\n', 'rule "cpu_high": thresold: unknown key (line 9)'],
    [
      'bad duration',
      'keep_firing_for = "1 minute"\n',
      'rule "cpu_high": keep_firing_for: expected a duration such as "10s", "500ms" or "5m", found "1 minute" (line 9)',
    ],
    ['bad matcher', 'match = [\'host~"x"\']\n', 'rule "cpu_high": match.0: invalid matcher "host~\\"x\\""'],
    [
      'bad template',
      'annotations.description = "{{ $value | round }}"\n',
      'rule "cpu_high": annotations.description: invalid template "{{ $value | round }}": unknown function "round"',
    ],
  ])('names file and rule for a %s', (_what, extra, message) => {
    const file = write('bad.toml', RULE + extra)
    const result = checkRules([file], { env })
    expect(result.ok).toBe(false)
    expect(result.messages).toHaveLength(1)
    expect(result.messages[0]).toContain(`${file}: ${message}`)
  })

  it('lists every mistake of a file at once, each naming file, rule and key', () => {
    const file = write(
      'many.toml',
      `[[rule]]\nname = "a"\nkind = "threshold"\nmetric = "cpu"\nop = "=>"\nthreshold = 1\nlabels = { v = "{{ $value }}" }\n\n` +
        `[[rule]]\nname = "b"\nkind = "treshold"\n\n[[rule]]\nname = "c"\nkind = "query"\nfor = "-5s"\n\n` +
        // Cross-key checks of a rule run once its keys are each valid.
        `[[rule]]\nname = "d"\nkind = "threshold"\nmetric = "cpu"\naggregate = "avg"\nop = ">"\nthreshold = 1\nflap_window = "5m"\n`,
    )
    const result = checkRules([file], { env })
    expect(result.ok).toBe(false)
    expect(result.messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          `${file}: rule "a": op: expected one of ">", ">=", "<", "<=", "==", "!=", found "=>" (line 5)`,
        ),
        expect.stringContaining(`${file}: rule "d": window: aggregate = "avg" needs a window`),
        expect.stringContaining(
          `${file}: rule "d": flap_threshold: flap_window and flap_threshold go together`,
        ),
        expect.stringContaining(
          `${file}: rule "a": labels.v: invalid template "{{ $value }}": $value cannot be used here`,
        ),
        expect.stringContaining(
          `${file}: rule "b": kind: expected kind = "threshold", "absent" or "query", found "treshold"`,
        ),
        expect.stringContaining(`${file}: rule "c": sql: missing required key`),
        expect.stringContaining(`${file}: rule "c": for: expected a duration`),
      ]),
    )
  })

  it('skips the rule test files a glob such as config/rules/*.toml also matches', () => {
    const files = [join(CONFIG, 'host.test.toml'), join(CONFIG, 'host.toml'), join(CONFIG, 'web.toml')]
    const result = checkRules(files, { env })
    expect(result.ok).toBe(true)
    expect(result.messages[0]).toBe(`${files[0]}: skipped, a rule test file (run it with test-rules)`)
    expect(checkRules([files[0] as string], { env }).ok).toBe(false)
  })

  it('reports a missing file and no files', () => {
    expect(checkRules([join(dir, 'nope.toml')], { env }).messages).toEqual([
      `${join(dir, 'nope.toml')}: rule file not found`,
    ])
    expect(checkRules([], { env }).ok).toBe(false)
  })
})

describe('test-rules', () => {
  it('passes the example test file', () => {
    const result = runRuleTests(join(CONFIG, 'host.test.toml'), { env })
    expect(result.report).toContain('5 passed, 0 failed')
    expect(result).toMatchObject({ ok: true, passed: 5, failed: 0 })
  })

  it('reports a missing, an unexpected and a wrongly annotated alert', () => {
    write('r.toml', RULE)
    const file = write(
      't.toml',
      `rule_files = ["r.toml"]
[[test]]
name = "t"
interval = "30s"
[[test.input]]
series = 'cpu{host="a"}'
values = "95x4"
[[test.input]]
series = 'cpu{host="b"}'
values = "10 95+1x3"
[[test.alert]]
eval_time = "30s"
rule = "cpu_high"
[[test.alert]]
eval_time = "1m"
rule = "cpu_high"
[[test.alert.expected]]
labels = { host = "a" }
annotations = { summary = "a 96" }
[[test.alert]]
eval_time = "2m"
rule = "cpu_high"
[[test.alert.expected]]
labels = { host = "a" }
[[test.alert]]
eval_time = "2m"
rule = "nope"
`,
    )
    const result = runRuleTests(file, { env })
    expect(result).toMatchObject({ ok: false, passed: 1, failed: 3 })
    expect(result.report).toContain('ok   t: cpu_high at 30s')
    expect(result.report).toContain(
      'annotations of {"host":"a"}: expected {"summary":"a 96"}, got {"summary":"a 95"}',
    )
    expect(result.report).toContain('unexpected: labels {"host":"b"}')
    expect(result.report).toContain('no rule named "nope"')
  })

  it('reports a bad test file or bad rule file with file and key', () => {
    const bad = write('bad-test.toml', 'rule_files = ["r.toml"]\n[[test]]\ninterval = "often"\n')
    expect(runRuleTests(bad, { env }).report).toBe(
      `${bad}: test.0.interval: expected a duration such as "1m", "10s" or "0s", found "often" (line 3)`,
    )
    write('broken.toml', RULE + 'bogus = 1\n')
    const t = write('t2.toml', 'rule_files = ["broken.toml"]\n[[test]]\n')
    expect(runRuleTests(t, { env })).toMatchObject({
      ok: false,
      report: `${join(dir, 'broken.toml')}: rule "cpu_high": bogus: unknown key (line 9)`,
    })
    const values = write(
      't3.toml',
      'rule_files = ["r.toml"]\n[[test]]\n[[test.input]]\nseries = "cpu"\nvalues = "1 two"\n',
    )
    expect(runRuleTests(values, { env }).report).toContain('invalid value "two"')
  })
})
