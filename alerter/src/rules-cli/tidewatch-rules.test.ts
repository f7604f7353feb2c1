import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkRules, runRuleTests } from './index.js'

const RULES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config/rules')

/** config/rules/tidewatch.toml: the pipeline watching itself, over the components' own series. */
describe('config/rules/tidewatch.toml', () => {
  it('loads: lag, DLQ, notifications, spool and silent-aggregator rules over the self series', () => {
    const result = checkRules([join(RULES_DIR, 'tidewatch.toml')], { env: {} })
    expect(result.messages.join('\n')).not.toMatch(/error|expected/i)
    expect(result.ok).toBe(true)
    expect(
      result.rules.map((rule) => [rule.name, rule.kind, 'metric' in rule ? rule.metric : undefined]),
    ).toEqual([
      ['tidewatch_aggregator_lag_high', 'threshold', 'aggregator.consumer_lag_messages'],
      ['tidewatch_dlq_rate', 'threshold', 'aggregator.messages_dead_lettered_total'],
      ['tidewatch_alerter_cannot_notify', 'threshold', 'alerter.notification_errors_total'],
      ['tidewatch_agent_spool_filling', 'threshold', 'agent.spool_fill_ratio'],
      ['tidewatch_aggregator_silent', 'absent', 'aggregator.messages_received_total'],
    ])
  })

  it('passes its rule tests (tidewatch.test.toml)', () => {
    const result = runRuleTests(join(RULES_DIR, 'tidewatch.test.toml'), { env: {} })
    expect(result.failed).toBe(0)
    expect(result.passed).toBeGreaterThanOrEqual(6)
    expect(result.ok).toBe(true)
  })
})
