import { describe, expect, it } from 'vitest'
import type { AlertEvent } from '../alerts/event.js'
import { AbsentEvaluator } from './absent.js'
import { rulesFromToml } from './testing.js'

const S = 1_000
const rules = rulesFromToml(`[[rule]]
name = "host_down"
kind = "absent"
metric = "cpu"
match = ['env="prod"']
for = "30s"
labels.severity = "page"
annotations.summary = "{{ $labels.host }} silent"
annotations.description = "silent: {{ $silent }}"
`)
const brief = (events: AlertEvent[]) =>
  events.map((e) => [e.state, e.labels.scope, e.labels.host ?? '-', e.annotations.description])

describe('AbsentEvaluator', () => {
  it('names the host that went quiet, and resolves when it reports again', () => {
    const e = new AbsentEvaluator(rules, { source: 'test' })
    e.tick(0)
    for (let t = 0; t <= 60; t += 10) {
      e.observeSample('cpu', { host: 'a', env: 'prod' }, t * S)
      if (t <= 20) e.observeSample('cpu', { host: 'b', env: 'prod' }, t * S)
      e.observeSample('cpu', { host: 'dev', env: 'dev' }, 0)
    }
    expect(e.tick(49 * S)).toEqual([])
    const fired = e.tick(50 * S)
    expect(brief(fired)).toEqual([['firing', 'group', 'b', 'silent: host="b"']])
    expect(fired[0]?.labels).toEqual({ host: 'b', scope: 'group', severity: 'page', alertname: 'host_down' })
    expect(fired[0]?.annotations.summary).toBe('b silent')
    expect(fired[0]?.value).toBeNull()
    expect(e.tick(55 * S)).toEqual([])
    e.observeSample('cpu', { host: 'b', env: 'prod' }, 60 * S)
    expect(brief(e.tick(60 * S))).toEqual([['resolved', 'group', 'b', 'silent: host="b"']])
  })

  it('tells the whole pipeline silent from one host silent: one pipeline alert, no per-host storm', () => {
    const e = new AbsentEvaluator(rules, { source: 'test' })
    e.tick(0)
    e.observeSample('cpu', { host: 'a', env: 'prod' }, 0)
    e.observeSample('cpu', { host: 'b', env: 'prod' }, 0)
    e.observeSample('mem', { host: 'c', env: 'prod' }, 10 * S)
    expect(e.tick(35 * S)).toEqual([])
    const events = e.tick(40 * S)
    expect(brief(events)).toEqual([['firing', 'pipeline', '-', 'silent: host="a", host="b"']])
    expect(events[0]?.labels).toEqual({ scope: 'pipeline', severity: 'page', alertname: 'host_down' })
    // Data flows again, from host a only: the pipeline alert resolves and b is named.
    e.observeSample('cpu', { host: 'a', env: 'prod' }, 45 * S)
    expect(brief(e.tick(45 * S))).toEqual([
      ['firing', 'group', 'b', 'silent: host="b"'],
      ['resolved', 'pipeline', '-', 'silent: host="b"'],
    ])
  })

  it('fires the pipeline alert when nothing ever arrived', () => {
    const e = new AbsentEvaluator(rules, { source: 'test' })
    expect(e.tick(1_000 * S)).toEqual([])
    expect(brief(e.tick(1_030 * S))).toEqual([['firing', 'pipeline', '-', 'silent: no data from anyone']])
  })

  it('groups by the by labels, and takes the arrival time when given', () => {
    const byDc = rulesFromToml(
      '[[rule]]\nname = "dc_down"\nkind = "absent"\nmetric = "cpu"\nby = ["dc"]\nfor = "30s"\n',
    )
    const e = new AbsentEvaluator(byDc, { source: 'test' })
    e.observeBatch(
      {
        version: 1,
        agentId: 'x',
        seq: 1,
        createdMs: 0,
        series: [
          { name: 'cpu', labels: { host: 'a', dc: 'fra' }, offset: 0, count: 1 },
          { name: 'cpu', labels: { host: 'b', dc: 'fra' }, offset: 1, count: 1 },
          { name: 'cpu', labels: { host: 'c' }, offset: 2, count: 1 },
        ],
        timestamps: new Float64Array([1, 2, 3]),
        values: new Float64Array([0, 0, 0]),
        sampleCount: 3,
      },
      500 * S,
    )
    expect(e.groups('dc_down')).toEqual([
      { labels: { dc: 'fra' }, lastSeenMs: 500 * S },
      { labels: { dc: '' }, lastSeenMs: 500 * S },
    ])
  })
})
