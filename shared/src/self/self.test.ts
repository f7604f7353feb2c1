import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { MetricsRegistry } from './registry.js'
import { startAdminServer } from './admin-server.js'

describe('MetricsRegistry', () => {
  it('renders counters, gauges and collected values in the Prometheus text format', () => {
    const registry = new MetricsRegistry({ component: 'aggregator' })
    const stored = registry.counter('aggregator.samples_stored_total', 'Samples committed to the store.')
    stored.inc(5)
    stored.inc(2)
    registry.counter('aggregator.dlq_total', 'Batches dead-lettered.').inc(1, { reason: 'bad_magic' })
    registry.gauge('aggregator.lag_messages', 'Messages not yet delivered.').set(42)
    registry.collect('agent.spool_bytes', 'Bytes in the spool.', 'gauge', () => 1024)
    expect(registry.renderPrometheus()).toBe(
      [
        '# HELP aggregator_samples_stored_total Samples committed to the store.',
        '# TYPE aggregator_samples_stored_total counter',
        'aggregator_samples_stored_total{component="aggregator"} 7',
        '# HELP aggregator_dlq_total Batches dead-lettered.',
        '# TYPE aggregator_dlq_total counter',
        'aggregator_dlq_total{component="aggregator",reason="bad_magic"} 1',
        '# HELP aggregator_lag_messages Messages not yet delivered.',
        '# TYPE aggregator_lag_messages gauge',
        'aggregator_lag_messages{component="aggregator"} 42',
        '# HELP agent_spool_bytes Bytes in the spool.',
        '# TYPE agent_spool_bytes gauge',
        'agent_spool_bytes{component="aggregator"} 1024',
        '',
      ].join('\n'),
    )
  })

  it('refuses a counter going down and a name reused with another kind', () => {
    const registry = new MetricsRegistry()
    const counter = registry.counter('x_total', 'x')
    expect(() => counter.inc(-1)).toThrow(/cannot go down/)
    expect(() => registry.gauge('x_total', 'x')).toThrow(/is a counter/)
  })

  it('turns values into series for writing into tidewatch', () => {
    const registry = new MetricsRegistry({ component: 'alerter' })
    registry.counter('alerter.notifications_sent_total', 'sent').inc(3, { receiver: 'slack' })
    expect(registry.toSeries(1_000, { host: 'h1' })).toEqual([
      {
        name: 'alerter.notifications_sent_total',
        labels: { component: 'alerter', host: 'h1', receiver: 'slack' },
        timestamps: [1_000],
        values: [3],
      },
    ])
  })
})

describe('admin server', () => {
  it('serves /healthz, /readyz and /metrics', async () => {
    const registry = new MetricsRegistry()
    registry.counter('t_total', 'test').inc(2)
    let ready = false
    let reason: string | undefined
    const server = await startAdminServer({
      listen: '127.0.0.1:0',
      registry,
      ready: () => ready,
      notReadyReason: () => reason,
      logger: pino({ level: 'silent' }),
    })
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
      const notReady = await fetch(`${server.url}/readyz`)
      expect(notReady.status).toBe(503)
      expect(await notReady.text()).toBe('not ready\n')
      reason = 'partition counts differ'
      expect(await (await fetch(`${server.url}/readyz`)).text()).toBe('not ready: partition counts differ\n')
      ready = true
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
      const metrics = await fetch(`${server.url}/metrics`)
      expect(metrics.headers.get('content-type')).toContain('version=0.0.4')
      expect(await metrics.text()).toContain('t_total 2')
      expect((await fetch(`${server.url}/nope`)).status).toBe(404)
    } finally {
      await server.close()
    }
  })
})
