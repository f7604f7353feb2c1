import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import type { MetricBatch } from '@tidewatch/shared'
import { hostBatch, startTestPipeline, totalsOf, waitFor, type TestPipeline } from './harness.js'

describe('agent batches -> JetStream -> aggregator -> ClickHouse (real nats-server, real chDB)', () => {
  let pipeline: TestPipeline
  const baseMs = Date.now() - 30 * 60_000

  const scalar = (sql: string): Promise<number> => pipeline.scalar(sql)
  const publish = (batch: MetricBatch): Promise<void> => pipeline.publish(batch)

  beforeAll(async () => {
    pipeline = await startTestPipeline('tidewatch-agg-')
  })
  afterAll(() => pipeline?.stop())

  it('stores exactly what was sent, in the raw, 1-minute and 1-hour tiers', async () => {
    const batches: MetricBatch[] = []
    for (const host of ['h1', 'h2', 'h3']) {
      for (let seq = 1; seq <= 4; seq++) batches.push(hostBatch({ host, seq, baseMs }))
    }
    for (const batch of batches) await publish(batch)
    // A re-send of the same batch id is dropped by JetStream's duplicate window.
    await publish(batches[0]!)
    const expected = totalsOf(batches)

    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw'),
      (n) => n >= expected.count,
      30_000,
      'raw rows',
    )
    // The tiers are written by separate inserts (raw, then 1-minute partials and their views' parts).
    for (const tier of ['samples_1m', 'samples_1h']) {
      await waitFor(
        () => scalar(`SELECT sum(count) FROM tidewatch.${tier}`),
        (n) => n >= expected.count,
        30_000,
        `${tier} rows`,
      )
    }
    expect(await scalar('SELECT count() FROM tidewatch.samples_raw')).toBe(expected.count)
    expect(await scalar('SELECT sum(value) FROM tidewatch.samples_raw')).toBeCloseTo(expected.sum, 6)
    expect(await scalar('SELECT sum(count) FROM tidewatch.samples_1m')).toBe(expected.count)
    expect(await scalar('SELECT sum(sum) FROM tidewatch.samples_1m')).toBeCloseTo(expected.sum, 6)
    expect(await scalar('SELECT min(min) FROM tidewatch.samples_1m')).toBe(expected.min)
    expect(await scalar('SELECT max(max) FROM tidewatch.samples_1m')).toBe(expected.max)
    expect(await scalar('SELECT sum(count) FROM tidewatch.samples_1h')).toBe(expected.count)
    expect(await scalar('SELECT sum(sum) FROM tidewatch.samples_1h')).toBeCloseTo(expected.sum, 6)
    expect(await scalar('SELECT uniqExact(series_id) FROM tidewatch.series')).toBe(30)

    // Labels come back through the series table, and a sample keeps its timestamp to the millisecond.
    const rows = await pipeline.aggregator.store.client.query({
      query: `SELECT toUnixTimestamp64Milli(r.ts) AS ts, r.value AS value
        FROM tidewatch.samples_raw AS r
        WHERE r.metric = 'cpu.usage_percent' AND r.series_id IN (
          SELECT series_id FROM tidewatch.series WHERE labels['host'] = 'h2' AND labels['slot'] = '2')
        ORDER BY ts`,
      format: 'JSONEachRow',
    })
    const points = await rows.json<{ ts: string; value: number }>()
    const sent = batches
      .filter((b) => b.agentId === 'h2')
      .flatMap((b) => {
        const series = b.series[2]!
        return Array.from(series.timestamps).map((ts, i) => ({ ts: Number(ts), value: series.values[i] }))
      })
    expect(points.map((p) => ({ ts: Number(p.ts), value: p.value }))).toEqual(sent)
  })

  it('sends a malformed message to the DLQ with its reason and stores the next good one', async () => {
    const before = await scalar('SELECT count() FROM tidewatch.samples_raw')
    await pipeline.js.publish('metrics.in.broken', new TextEncoder().encode('{"not":"a batch"}'), {
      msgID: 'broken:1',
    })
    const good = hostBatch({ host: 'after-dlq', seq: 1, baseMs, seriesCount: 2, samplesPerSeries: 1 })
    await publish(good)
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw'),
      (n) => n >= before + 2,
      30_000,
      'good batch',
    )
    expect(await scalar('SELECT count() FROM tidewatch.samples_raw')).toBe(before + 2)

    const manager = await jetstreamManager(pipeline.client)
    const dlq = await manager.streams.info('DLQ')
    expect(dlq.state.messages).toBe(1)
    const dead = await manager.streams.getMessage('DLQ', { seq: dlq.state.first_seq })
    expect(dead?.header.get('Tidewatch-Reason')).toBe('bad_magic')
    expect(dead?.header.get('Tidewatch-Original-Subject')).toBe('metrics.in.broken')
    expect(new TextDecoder().decode(dead?.data)).toBe('{"not":"a batch"}')
    expect(pipeline.aggregator.counters.rejectedByReason['bad_magic']).toBe(1)
  })
})
