import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import type { MetricBatch } from '@tidewatch/shared'
import { hostBatch, promSample, startTestPipeline, totalsOf, waitFor, type TestPipeline } from './harness.js'

describe('aggregator admin endpoint and self metrics (real nats-server, real chDB)', () => {
  let pipeline: TestPipeline
  const baseMs = Date.now() - 10 * 60_000

  const scalar = (sql: string): Promise<number> => pipeline.scalar(sql)
  const publish = (batch: MetricBatch): Promise<void> => pipeline.publish(batch)

  beforeAll(async () => {
    pipeline = await startTestPipeline('tidewatch-agg-self-', {
      aggregator: { id: 'self.test' },
      admin: { listen: '127.0.0.1:0', self_metrics_interval: '300ms' },
    })
  })
  afterAll(() => pipeline?.stop())

  it('serves /healthz, /readyz and /metrics with the pipeline figures after some traffic', async () => {
    const url = pipeline.aggregator.adminUrl as string
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect((await fetch(`${url}/readyz`)).status).toBe(200)

    const batches = [1, 2, 3].map((seq) => hostBatch({ host: 'self-h1', seq, baseMs }))
    for (const batch of batches) await publish(batch)
    await pipeline.js.publish('metrics.in.broken', new Uint8Array([1, 2, 3, 4]), { msgID: 'broken:1' })
    const expected = totalsOf(batches).count
    await waitFor(
      async () =>
        pipeline.aggregator.counters.samplesStored >= expected &&
        pipeline.aggregator.counters.messagesDeadLettered >= 1,
      (ok) => ok,
      20_000,
      'stored and dead-lettered',
    )

    const text = await waitFor(
      async () => (await fetch(`${url}/metrics`)).text(),
      (body) => promSample(body, 'aggregator_consumer_lag_messages') !== undefined,
      10_000,
      'consumer lag',
    )
    expect(promSample(text, 'aggregator_samples_stored_total')).toBeGreaterThanOrEqual(expected)
    expect(promSample(text, 'aggregator_messages_received_total')).toBeGreaterThanOrEqual(4)
    expect(promSample(text, 'aggregator_messages_acked_total')).toBeGreaterThanOrEqual(3)
    expect(promSample(text, 'aggregator_messages_dead_lettered_total')).toBe(1)
    expect(text).toMatch(/aggregator_dead_letters_by_reason_total\{[^}]*reason="[a-z_]+"\} 1\n/)
    expect(promSample(text, 'aggregator_store_errors_total')).toBe(0)
    expect(promSample(text, 'aggregator_samples_refused_total')).toBe(0)
    expect(promSample(text, 'aggregator_in_flight_messages')).toBeGreaterThanOrEqual(0)
    expect(
      promSample(text, 'aggregator_consumer_lag_messages', 'consumer="aggregator"'),
    ).toBeGreaterThanOrEqual(0)
    expect(promSample(text, 'aggregator_commit_latency_ms_count')).toBeGreaterThanOrEqual(1)
    expect(promSample(text, 'aggregator_commit_latency_ms_max')).toBeGreaterThan(0)
    expect(promSample(text, 'aggregator_partitions_owned')).toBe(1)
    expect(text).toContain('# TYPE aggregator_rules_events_published_total counter')
    expect(text).toContain('instance="self.test"')
  })

  it('writes its own series into tidewatch.samples_raw, as agent tidewatch-aggregator-<id>', async () => {
    expect(pipeline.aggregator.selfIngest).toBeDefined()
    const stored = await waitFor(
      () =>
        scalar(
          "SELECT max(value) FROM tidewatch.samples_raw WHERE metric = 'aggregator.samples_stored_total' AND series_id IN (SELECT series_id FROM tidewatch.series WHERE metric = 'aggregator.samples_stored_total' AND labels['instance'] = 'self.test')",
        ).catch(() => 0),
      (n) => n > 0,
      15_000,
      'own series in samples_raw',
    )
    expect(stored).toBeGreaterThan(0)
    expect(pipeline.aggregator.selfIngest?.stats.published).toBeGreaterThan(0)
    expect(pipeline.aggregator.selfIngest?.stats.failures).toBe(0)
    // Its reports are batches of agent "tidewatch-aggregator-self_test" (the dot is not one subject token).
    const info = await (
      await jetstreamManager(pipeline.client)
    ).streams.info('METRICS', { subjects_filter: '>' })
    expect(Object.keys(info.state.subjects ?? {})).toContain('metrics.in.tidewatch-aggregator-self_test')
  })
})
