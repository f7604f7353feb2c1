import { describe, expect, it } from 'vitest'
import { QueryRuleEvaluator, rowsToConditions } from './query.js'
import type { QueryRule } from './schema.js'
import { rulesFromToml } from './testing.js'

const rules = rulesFromToml(`[[rule]]
name = "web_cpu"
kind = "query"
sql = "SELECT region, avg(value) AS value FROM t GROUP BY region"
op = ">"
threshold = 80
for = "1m"
annotations.summary = "{{ $labels.region }} web CPU {{ $value | printf \\"%.0f\\" }}%"
`)
const rule = rules[0] as QueryRule

describe('query rules (pure part)', () => {
  it('turns rows into per-group conditions', () => {
    expect(
      rowsToConditions(rule, [
        { region: 'us-west', value: 85 },
        { region: 'eu', value: '10' },
        { region: 'x', value: 'nan' },
      ]),
    ).toEqual([
      { key: '{region="us-west"}', labels: { region: 'us-west' }, value: 85, holds: true },
      { key: '{region="eu"}', labels: { region: 'eu' }, value: 10, holds: false },
      { key: '{region="x"}', labels: { region: 'x' }, value: null, holds: false },
    ])
  })

  it('applies for across runs, and resolves a group missing from the result', () => {
    const e = new QueryRuleEvaluator(rules, { source: 'alerter' })
    const run = (rows: Record<string, unknown>[], t: number) =>
      e.evaluate(rule, rows, t).map((ev) => [ev.state, ev.labels.region, ev.annotations.summary])
    expect(run([{ region: 'us-west', value: 85 }], 0)).toEqual([
      ['pending', 'us-west', 'us-west web CPU 85%'],
    ])
    expect(run([{ region: 'us-west', value: 86 }], 30_000)).toEqual([])
    expect(run([{ region: 'us-west', value: 87 }], 60_000)).toEqual([
      ['firing', 'us-west', 'us-west web CPU 87%'],
    ])
    expect(run([], 90_000)).toEqual([['resolved', 'us-west', 'us-west web CPU 87%']])
  })
})
