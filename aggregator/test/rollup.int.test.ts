import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { batchId, encodeBatch, ManualClock, type MetricBatch } from '@tidewatch/shared'
import { startTestPipeline, waitFor, type TestPipeline } from './harness.js'

/**
 * The 1-minute tier comes from a roll-up of each closed minute, and from partials for samples that
 * arrive after their minute was rolled up. Time is a ManualClock so minutes close on demand.
 */
describe('minute roll-ups and late samples (real nats-server, real chDB)', () => {
  let pipeline: TestPipeline
  const clock = new ManualClock(Date.now())
  const firstOpenMinuteMs = Math.floor((clock.now() - 10_000) / 60_000) * 60_000

  beforeAll(async () => {
    pipeline = await startTestPipeline(
      'tidewatch-rollup-',
      { pipeline: { micro_batch_max_wait: '50ms', rollup_grace: '10s', rollup_interval: '100ms' } },
      { clock },
    )
  })
  afterAll(() => pipeline?.stop())

  const scalar = (sql: string): Promise<number> => pipeline.scalar(sql)
  const batch = (seq: number, offsetsMs: number[], value: (i: number) => number): MetricBatch => ({
    agentId: 'roller',
    seq,
    createdMs: clock.now(),
    series: [0, 1, 2].map((s) => ({
      name: 'cpu.usage_percent',
      labels: { host: 'roller', cpu: String(s) },
      timestamps: offsetsMs.map((o) => firstOpenMinuteMs + o),
      values: offsetsMs.map((_, i) => value(i) + s),
    })),
  })
  const publish = (b: MetricBatch) =>
    pipeline.js.publish('metrics.in.roller', encodeBatch(b), { msgID: batchId(b.agentId, b.seq) })
  it('rolls a closed minute once, then adds late samples as partials: every tier exact', async () => {
    // On time: the minute is still open, so only the raw tier has these samples for now.
    await publish(batch(1, [5_000, 15_000, 25_000], (i) => 10 * (i + 1)))
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw'),
      (n) => n >= 9,
      30_000,
      'raw rows',
    )
    expect(await scalar('SELECT count() FROM tidewatch.samples_1m')).toBe(0)

    // The minute closes (plus grace): the roll-up writes one row per series for it.
    clock.advance(2 * 60_000)
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_1m'),
      (n) => n >= 3,
      30_000,
      'rolled-up rows',
    )
    expect(await scalar('SELECT count() FROM tidewatch.samples_1m')).toBe(3)

    // Late: same minute, after its roll-up. Written as partials with the batch, not lost, not doubled.
    await publish(batch(2, [35_000, 45_000], (i) => 100 + i))
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw'),
      (n) => n >= 15,
      30_000,
      'late raw rows',
    )
    const values = [10, 20, 30, 100, 101].flatMap((v) => [v, v + 1, v + 2])
    const expected = `${values.length}/${values.reduce((a, b) => a + b, 0)}/${Math.min(...values)}/${Math.max(...values)}`
    // One INSERT fills samples_1m and then its views' tables (samples_1h, fleet_1m), each a part of
    // its own: a reader can see the 1-minute rows a moment before the hourly ones.
    for (const tier of ['samples_1m', 'samples_1h']) {
      await waitFor(
        () => scalar(`SELECT sum(count) FROM tidewatch.${tier}`),
        (n) => n >= 15,
        30_000,
        `late partials in ${tier}`,
      )
    }
    const oneMinute = await pipeline.aggregator.store.client.query({
      query: `SELECT sum(count) AS c, sum(sum) AS s, min(min) AS mn, max(max) AS mx FROM tidewatch.samples_1m`,
      format: 'JSONEachRow',
    })
    const hour = await pipeline.aggregator.store.client.query({
      query: `SELECT sum(count) AS c, sum(sum) AS s, min(min) AS mn, max(max) AS mx FROM tidewatch.samples_1h`,
      format: 'JSONEachRow',
    })
    const shape = (r: Record<string, unknown>) =>
      `${Number(r.c)}/${Number(r.s)}/${Number(r.mn)}/${Number(r.mx)}`
    expect(shape((await oneMinute.json<Record<string, unknown>>())[0]!)).toBe(expected)
    expect(shape((await hour.json<Record<string, unknown>>())[0]!)).toBe(expected)
    // The last value of each series is the newest sample, whichever path it came by.
    expect(
      await scalar(
        `SELECT max(last).2 FROM tidewatch.samples_1m WHERE series_id IN (SELECT series_id FROM tidewatch.series WHERE labels['cpu'] = '0')`,
      ),
    ).toBe(101)

    // Later (empty) minutes roll up too and change nothing; rolling a minute twice is a no-op by its
    // token (shared/src/store/migrate.int.test.ts).
    clock.advance(60_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(
      shape(
        (
          await (
            await pipeline.aggregator.store.client.query({
              query: `SELECT sum(count) AS c, sum(sum) AS s, min(min) AS mn, max(max) AS mx FROM tidewatch.samples_1m`,
              format: 'JSONEachRow',
            })
          ).json<Record<string, unknown>>()
        )[0]!,
      ),
    ).toBe(expected)
  })
})
