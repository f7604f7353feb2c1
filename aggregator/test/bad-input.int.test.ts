import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { batchId, encodeBatch, type MetricBatch } from '@tidewatch/shared'
import { hostBatch, startTestPipeline, tempDir, waitFor, type TestPipeline } from './harness.js'

/** Little-endian helpers to build hostile batches by hand, where encodeBatch would refuse. */
function withVersion(bytes: Uint8Array, version: number): Uint8Array {
  const copy = bytes.slice()
  copy[4] = version
  return copy
}

describe('hostile and malformed batches (real nats-server, real chDB)', () => {
  let pipeline: TestPipeline
  const dir = tempDir('tidewatch-bad-')
  const now = Date.now()
  let seq = 0

  beforeAll(async () => {
    // NATS refuses payloads over 1 MB by default; raise it so oversized batches reach the aggregator,
    // whose own limit (max_batch_bytes, 4 MiB) must refuse them.
    const conf = join(dir.path, 'nats.conf')
    writeFileSync(conf, 'max_payload: 8388608\n')
    pipeline = await startTestPipeline(
      'tidewatch-bad-store-',
      { pipeline: { micro_batch_max_wait: '50ms', max_series_per_metric: 50 } },
      {},
      { args: ['-c', conf] },
    )
  })
  afterAll(async () => {
    await pipeline?.stop()
    dir.remove()
  })

  const publishRaw = (bytes: Uint8Array): Promise<unknown> =>
    pipeline.js.publish('metrics.in.hostile', bytes, { msgID: `hostile:${++seq}` })
  const count = (sql: string): Promise<number> => pipeline.scalar(sql)
  const good = (host: string, s: number): MetricBatch =>
    hostBatch({ host, seq: s, baseMs: now - 60_000, seriesCount: 2, samplesPerSeries: 1 })

  it('dead-letters each kind of hostile batch with its reason and stores none of it', async () => {
    const valid = encodeBatch(good('valid', 1))
    const hostile: Array<[string, Uint8Array]> = [
      ['bad_version', withVersion(valid, 9)],
      ['truncated', valid.subarray(0, valid.byteLength - 5)],
      ['batch_too_large', new Uint8Array(4 * 1024 * 1024 + 1).fill(7)],
      [
        'non_finite_value',
        encodeBatch({
          agentId: 'nan',
          seq: 1,
          createdMs: now,
          series: [{ name: 'cpu', labels: {}, timestamps: [now], values: [NaN] }],
        }),
      ],
      [
        'too_many_labels',
        encodeBatch({
          agentId: 'labels',
          seq: 1,
          createdMs: now,
          series: [
            {
              name: 'cpu',
              labels: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`l${i}`, 'v'])),
              timestamps: [now],
              values: [1],
            },
          ],
        }),
      ],
      [
        'label_value_too_long',
        encodeBatch({
          agentId: 'long',
          seq: 1,
          createdMs: now,
          series: [{ name: 'cpu', labels: { host: 'x'.repeat(1 << 20) }, timestamps: [now], values: [1] }],
        }),
      ],
      [
        'bad_metric_name',
        encodeBatch({
          agentId: 'sql',
          seq: 1,
          createdMs: now,
          series: [
            {
              name: "cpu'); DROP TABLE tidewatch.samples_raw; --",
              labels: {},
              timestamps: [now],
              values: [1],
            },
          ],
        }),
      ],
      [
        'timestamp_too_new',
        encodeBatch({
          agentId: 'future',
          seq: 1,
          createdMs: now,
          series: [{ name: 'cpu', labels: {}, timestamps: [now + 86_400_000], values: [1] }],
        }),
      ],
      [
        'timestamp_too_old',
        encodeBatch({
          agentId: 'past',
          seq: 1,
          createdMs: now,
          series: [{ name: 'cpu', labels: {}, timestamps: [now - 30 * 86_400_000], values: [1] }],
        }),
      ],
    ]
    for (const [, bytes] of hostile) await publishRaw(bytes)
    await pipeline.js.publish('metrics.in.valid', valid, { msgID: batchId('valid', 1) })
    await waitFor(
      () => count('SELECT count() FROM tidewatch.samples_raw'),
      (n) => n >= 2,
      30_000,
      'the good batch',
    )
    await waitFor(
      async () => pipeline.aggregator.counters.messagesDeadLettered,
      (n) => n >= hostile.length,
      30_000,
      'dead letters',
    )

    expect(await count('SELECT count() FROM tidewatch.samples_raw')).toBe(2)
    for (const [reason] of hostile)
      expect(pipeline.aggregator.counters.rejectedByReason[reason], reason).toBe(1)
    const manager = await jetstreamManager(pipeline.client)
    expect((await manager.streams.info('DLQ')).state.messages).toBe(hostile.length)
    // The SQL in the metric name never ran: the table is there and holds the good rows.
    expect(
      await count("SELECT count() FROM system.tables WHERE database = 'tidewatch' AND name = 'samples_raw'"),
    ).toBe(1)
  })

  it('survives random bytes and mutated valid batches, and stores every good batch sent after them', async () => {
    const before = await count('SELECT count() FROM tidewatch.samples_raw')
    let random = 987654321
    const next = (): number => (random = (Math.imul(random, 1103515245) + 12345) >>> 0)
    const template = encodeBatch(good('fuzz-template', 1))
    const deadline = Date.now() + 3_000
    let sent = 0
    while (Date.now() < deadline) {
      let bytes: Uint8Array
      if (sent % 2 === 0) {
        bytes = new Uint8Array(next() % 512)
        for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff
      } else {
        bytes = template.slice()
        for (let k = 0; k < 1 + (next() % 4); k++) bytes[next() % bytes.length] = next() & 0xff
      }
      await publishRaw(bytes)
      sent++
    }
    const goods = Array.from({ length: 20 }, (_, i) => good(`after-fuzz-${i}`, 1))
    for (const batch of goods)
      await pipeline.js.publish(`metrics.in.${batch.agentId}`, encodeBatch(batch), {
        msgID: batchId(batch.agentId, batch.seq),
      })
    // Mutated batches that are still valid are stored too (a changed value byte is a valid batch), so
    // wait for the good batches themselves, which were published last.
    const afterFuzz = `SELECT count() FROM tidewatch.samples_raw WHERE series_id IN
      (SELECT series_id FROM tidewatch.series WHERE startsWith(labels['host'], 'after-fuzz-'))`
    await waitFor(
      () => count(afterFuzz),
      (n) => n >= goods.length * 2,
      60_000,
      'the good batches after the fuzz',
    )
    expect(await count(afterFuzz)).toBe(goods.length * 2)
    expect(await count('SELECT count() FROM tidewatch.samples_raw')).toBeGreaterThan(before)
    expect(pipeline.aggregator.counters.messagesDeadLettered).toBeGreaterThan(sent / 3)
  })

  it('refuses new series past the per-metric cardinality limit, counts them, and keeps known series flowing', async () => {
    const explode: MetricBatch = {
      agentId: 'exploder',
      seq: 1,
      createdMs: now,
      series: Array.from({ length: 200 }, (_, i) => ({
        name: 'app.requests',
        labels: { request_id: `r${i}` },
        timestamps: [now - 1000],
        values: [i],
      })),
    }
    await pipeline.js.publish('metrics.in.exploder', encodeBatch(explode), { msgID: batchId('exploder', 1) })
    await waitFor(
      async () => pipeline.aggregator.counters.samplesRefused,
      (n) => n >= 150,
      30_000,
      'refused samples',
    )
    expect(pipeline.aggregator.counters.samplesRefused).toBe(150)
    await waitFor(
      () => count("SELECT count() FROM tidewatch.samples_raw WHERE metric = 'app.requests'"),
      (n) => n >= 50,
      30_000,
      'accepted series',
    )
    expect(
      await count("SELECT uniqExact(series_id) FROM tidewatch.series WHERE metric = 'app.requests'"),
    ).toBe(50)
  })
})
