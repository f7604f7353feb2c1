import { describe, expect, it } from 'vitest'
import type { AlertEvent } from '../alerts/event.js'
import type { DecodedBatch } from '../wire/types.js'
import { StreamingRuleEvaluator } from './streaming.js'
import { rulesFromToml } from './testing.js'

const S = 1_000
const web1 = { host: 'web-1', env: 'prod' }
const web2 = { host: 'web-2', env: 'prod' }

function evaluator(extra: string, match = `match = ['env="prod"']`, threshold = 80) {
  const rules = rulesFromToml(`[[rule]]
name = "cpu_high"
kind = "threshold"
metric = "cpu"
${match}
op = ">"
threshold = ${threshold}
labels.severity = "page"
annotations.summary = "{{ $labels.host }} at {{ $value }}"
${extra}`)
  return new StreamingRuleEvaluator(rules, { source: 'test' })
}

/** Feeds values 10 s apart from t = 0 and returns `[t, state, value]` of every event. */
function run(e: StreamingRuleEvaluator, values: number[], labels = web1): [number, string, number | null][] {
  const out: AlertEvent[] = []
  values.forEach((v, i) => e.observeSample('cpu', labels, i * 10 * S, v, out))
  return out.map((ev) => [ev.atMs / S, ev.state, ev.value])
}

describe('StreamingRuleEvaluator: threshold rules', () => {
  it('fires at once without for, resolves on recovery, with rendered labels and annotations', () => {
    const e = evaluator('')
    const out = e.observeSample('cpu', web1, 0, 95)
    expect(out).toEqual([
      {
        v: 1,
        fingerprint: expect.any(String),
        rule: 'cpu_high',
        ruleKind: 'threshold',
        state: 'firing',
        labels: { host: 'web-1', env: 'prod', severity: 'page', alertname: 'cpu_high' },
        annotations: { summary: 'web-1 at 95' },
        value: 95,
        activeSinceMs: 0,
        atMs: 0,
        source: 'test',
      },
    ])
    expect(e.observeSample('cpu', web1, 10 * S, 96)).toEqual([])
    const [resolved] = e.observeSample('cpu', web1, 20 * S, 50)
    expect(resolved).toMatchObject({
      state: 'resolved',
      value: 50,
      activeSinceMs: 0,
      atMs: 20 * S,
      fingerprint: out[0]?.fingerprint,
    })
  })

  it('goes pending, then firing after for; a dip before then resolves the pending alert', () => {
    expect(run(evaluator('for = "30s"'), [90, 90, 90, 90, 90])).toEqual([
      [0, 'pending', 90],
      [30, 'firing', 90],
    ])
    expect(run(evaluator('for = "30s"'), [90, 90, 10, 90])).toEqual([
      [0, 'pending', 90],
      [20, 'resolved', 10],
      [30, 'pending', 90],
    ])
  })

  it('keeps firing for keep_firing_for after the condition stops', () => {
    expect(run(evaluator('keep_firing_for = "20s"'), [90, 10, 10, 10, 90, 10, 10, 10])).toEqual([
      [0, 'firing', 90],
      [20, 'resolved', 10],
      [40, 'firing', 90],
      [60, 'resolved', 10],
    ])
  })

  it('holds a flapping alert firing instead of a message per flip, and resolves once it settles', () => {
    const flips = [90, 10, 90, 10, 90, 10, 90, 10, 10, 10, 10, 10, 10, 10, 10]
    expect(run(evaluator(''), flips.slice(0, 4))).toEqual([
      [0, 'firing', 90],
      [10, 'resolved', 10],
      [20, 'firing', 90],
      [30, 'resolved', 10],
    ])
    // 3 rises in 60 s make it flapping: from the 3rd rise (40 s) on, the alert is held firing through
    // the flips at 50-70 s, and resolves once fewer than 3 rises fall in the last 60 s (80 s).
    expect(run(evaluator('flap_window = "60s"\nflap_threshold = 3'), flips)).toEqual([
      [0, 'firing', 90],
      [10, 'resolved', 10],
      [20, 'firing', 90],
      [30, 'resolved', 10],
      [40, 'firing', 90],
      [80, 'resolved', 10],
    ])
  })

  it('compares a windowed aggregate per series', () => {
    const e = evaluator('aggregate = "avg"\nwindow = "30s"')
    // Averages over the last 3 samples: 70, 80, 90 (fires), 90, 70 (resolves).
    expect(run(e, [70, 90, 110, 70, 30])).toEqual([
      [20, 'firing', 90],
      [40, 'resolved', 70],
    ])
    const rate = evaluator('aggregate = "rate"\nwindow = "1m"', 'match = []', 0.5)
    expect(run(rate, [0, 1, 2, 20, 40])).toEqual([[30, 'firing', 20 / 30]])
  })

  it('keeps one alert per series, selected by matchers', () => {
    const e = evaluator('')
    const out = [
      ...e.observeSample('cpu', web1, 0, 95),
      ...e.observeSample('cpu', web2, 0, 95),
      ...e.observeSample('cpu', { host: 'dev-1', env: 'dev' }, 0, 95),
      ...e.observeSample('mem', web1, 0, 95),
    ]
    expect(out.map((ev) => ev.labels.host)).toEqual(['web-1', 'web-2'])
    expect(out[0]?.fingerprint).not.toBe(out[1]?.fingerprint)
    expect(e.seriesCount).toBe(2)
  })

  it('ignores samples not newer than the last one, so a redelivered batch changes nothing', () => {
    const e = evaluator('for = "10s"')
    const batch: DecodedBatch = {
      version: 1,
      agentId: 'web-1',
      seq: 1,
      createdMs: 0,
      series: [
        { name: 'cpu', labels: web1, offset: 0, count: 2 },
        { name: 'disk', labels: web1, offset: 2, count: 1 },
      ],
      timestamps: new Float64Array([0, 10 * S, 10 * S]),
      values: new Float64Array([90, 95, 99]),
      sampleCount: 3,
    }
    expect(e.observeBatch(batch).map((ev) => ev.state)).toEqual(['pending', 'firing'])
    expect(e.observeBatch(batch)).toEqual([])
    expect(e.observeSample('cpu', web1, 5 * S, 10)).toEqual([])
  })

  it('forgets a series silent for stale_after, resolving its alert', () => {
    const e = evaluator('stale_after = "1m"')
    e.observeSample('cpu', web1, 0, 95)
    expect(e.tick(59 * S)).toEqual([])
    expect(e.tick(60 * S).map((ev) => [ev.state, ev.atMs, ev.value])).toEqual([['resolved', 60 * S, 95]])
    expect(e.seriesCount).toBe(0)
  })
})
