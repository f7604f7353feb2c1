import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.js'
import { checkRuleFiles, formatRuleIssue, loadRuleFiles, parseRuleText, RuleFileError } from './load.js'

const dir = mkdtempSync(join(tmpdir(), 'tidewatch-rules-load-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, text: string) => {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const GOOD = `
[[rule]]
name = "host_cpu_high"
kind = "threshold"
metric = "cpu.usage_percent"
match = ['env="prod"', 'role=~"web|api"']
aggregate = "avg"
window = "5m"
op = ">"
threshold = 90
for = "2m"
keep_firing_for = "1m"
flap_window = "10m"
flap_threshold = 4
labels = { severity = "page", team = "{{ $labels.role }}" }
annotations.summary = "CPU {{ $value | printf \\"%.1f\\" }}% on {{ $labels.host }}"
annotations.runbook_url = "https://runbooks.example/cpu"

[[rule]]
name = "host_down"
kind = "absent"
metric = "cpu.usage_percent"
for = "1m"

[[rule]]
name = "web_cpu"
kind = "query"
sql = "SELECT 1 AS value"
interval = "30s"
op = ">"
threshold = 80
`

const problems = (text: string) => parseRuleText(text, 'r.toml', { env: {} }).issues.map(formatRuleIssue)
const rule = (body: string) =>
  `[[rule]]\nname = "r1"\nkind = "threshold"\nmetric = "cpu"\nop = ">"\nthreshold = 1\n${body}`

describe('rule files', () => {
  it('compiles every kind into the tagged Rule union', () => {
    const { rules, issues } = parseRuleText(GOOD, 'good.toml', { env: {} })
    expect(issues).toEqual([])
    const [cpu, down, query] = rules
    if (cpu?.kind !== 'threshold' || down?.kind !== 'absent' || query?.kind !== 'query')
      throw new Error('kinds')
    expect(cpu).toMatchObject({
      name: 'host_cpu_high',
      file: 'good.toml',
      forMs: 120_000,
      keepFiringForMs: 60_000,
      op: '>',
      threshold: 90,
    })
    expect(cpu.aggregate).toEqual({ fn: 'avg', windowMs: 300_000 })
    expect(cpu.flap).toEqual({ windowMs: 600_000, threshold: 4 })
    expect(cpu.matchers.map((m) => m.op)).toEqual(['=', '=~'])
    expect(cpu.annotations.summary?.render({ value: 91.24, labels: { host: 'a' } })).toBe('CPU 91.2% on a')
    expect(down).toMatchObject({ by: ['host'], silentForMs: 60_000 })
    expect(query).toMatchObject({ intervalMs: 30_000, valueColumn: 'value', labelColumns: undefined })
  })

  it.each([
    ['an unknown key', rule('treshold = 2\n'), 'r.toml: rule "r1": treshold: unknown key (line 7)'],
    [
      'a bad duration',
      rule('for = "5 minutes"\n'),
      'r.toml: rule "r1": for: expected a duration such as "10s", "500ms" or "5m", found "5 minutes" (line 7)',
    ],
    [
      'a bad matcher',
      rule("match = ['host=web']\n"),
      'r.toml: rule "r1": match.0: invalid matcher "host=web": expected <label><op>"<value>"',
    ],
    [
      'a bad regex',
      rule('match = [\'host=~"("\']\n'),
      'r.toml: rule "r1": match.0: invalid matcher "host=~\\"(\\"": bad regex',
    ],
    [
      'a bad template',
      rule('annotations.summary = "{{ $valeu }}"\n'),
      'r.toml: rule "r1": annotations.summary: invalid template "{{ $valeu }}": unknown variable $valeu',
    ],
    [
      '$value in a label',
      rule('labels.v = "{{ $value }}"\n'),
      'r.toml: rule "r1": labels.v: invalid template "{{ $value }}": $value cannot be used here',
    ],
    [
      'a bad kind',
      '[[rule]]\nname = "r1"\nkind = "treshold"\n',
      'r.toml: rule "r1": kind: expected kind = "threshold", "absent" or "query", found "treshold" (line 3)',
    ],
    [
      'a bad op',
      rule('').replace('">"', '"=>"'),
      'r.toml: rule "r1": op: expected one of ">", ">=", "<", "<=", "==", "!=", found "=>" (line 5)',
    ],
    [
      'a missing metric',
      '[[rule]]\nname = "r1"\nkind = "threshold"\nop = ">"\nthreshold = 1\n',
      'r.toml: rule "r1": metric: missing required key',
    ],
    [
      'aggregate without window',
      rule('aggregate = "avg"\n'),
      'r.toml: rule "r1": window: aggregate = "avg" needs a window',
    ],
    [
      'an unknown aggregate',
      rule('aggregate = "median"\nwindow = "1m"\n'),
      'r.toml: rule "r1": aggregate: expected one of "avg"',
    ],
    [
      'half a flap policy',
      rule('flap_window = "5m"\n'),
      'r.toml: rule "r1": flap_threshold: flap_window and flap_threshold go together',
    ],
    [
      'an absent rule without for',
      '[[rule]]\nname = "d"\nkind = "absent"\nmetric = "cpu"\n',
      'r.toml: rule "d": for: missing required key',
    ],
    [
      'a query rule without sql',
      '[[rule]]\nname = "q"\nkind = "query"\n',
      'r.toml: rule "q": sql: missing required key',
    ],
    [
      'a bad rule name',
      '[[rule]]\nname = "cpu high"\nkind = "absent"\nmetric = "cpu"\nfor = "1m"\n',
      'r.toml: rule "cpu high": name: expected a rule name',
    ],
    [
      'a key outside [[rule]]',
      'rules = 1\n',
      'r.toml: rules: unknown key (a rule file holds only [[rule]] tables) (line 1)',
    ],
    ['bad TOML', '[[rule]\n', 'r.toml: invalid TOML at line 1'],
  ])('names file, rule and key for %s', (_what, text, message) => {
    const found = problems(text)
    expect(found.length).toBeGreaterThan(0)
    expect(found[0]).toContain(message)
  })

  it('lists every problem of every file, and duplicate names across files', () => {
    const a = write('a.toml', GOOD)
    const b = write(
      'b.toml',
      `[[rule]]\nname = "other"\nkind = "absent"\nmetric = "cpu"\nfor = "2m"\n\n${rule('for = "x"\nbogus = 1\n')}`,
    )
    const c = write('c.toml', '[[rule]]\nname = "host_down"\nkind = "absent"\nmetric = "cpu"\nfor = "2m"\n')
    const missing = join(dir, 'missing.toml')
    const { issues } = checkRuleFiles([a, b, c, missing], { env: {} })
    expect(issues.map(formatRuleIssue)).toEqual([
      `${b}: rule "r1": for: expected a duration such as "10s", "500ms" or "5m", found "x" (line 13)`,
      `${b}: rule "r1": bogus: unknown key (line 14)`,
      `${missing}: rule file not found`,
      `${c}: rule "host_down": name: duplicate rule name (also defined in ${a})`,
    ])
    expect(() => loadRuleFiles([a, b], { env: {} })).toThrow(RuleFileError)
    try {
      loadRuleFiles([b], { env: {} })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as RuleFileError).issues[0]).toMatchObject({
        file: b,
        rule: 'r1',
        keyPath: 'for',
        line: 13,
      })
    }
    expect(loadRuleFiles([a], { env: {} })).toHaveLength(3)
  })
})
