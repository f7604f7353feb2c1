/*
 * "Redeliver by hand": reset the consumer's ack state so JetStream hands out again, as first
 * deliveries (redelivered = false, new groupings), messages whose batches were committed long
 * ago; once while the aggregator runs and once across a restart. Nothing may be counted twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { batchId, type MetricBatch } from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import {
  encodeBatch,
  expectedTotals,
  hostBatch,
  silentLogger,
  storedTotals,
  tempDir,
  testAggregatorConfig,
  waitFor,
  queryScalar,
} from './harness.js'

describe('a committed message delivered again by hand is not counted twice (real nats-server, real chDB)', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  let js: JetStreamClient
  let aggregator: RunningAggregator | undefined
  const store = tempDir('tidewatch-redeliver-')
  const config = () =>
    testAggregatorConfig(nats.url, store.path, {
      pipeline: { micro_batch_max_wait: '50ms', micro_batch_max_samples: 70 },
    })

  beforeAll(async () => {
    nats = await startNatsServer()
    client = await connect({ servers: nats.url })
    js = jetstream(client)
  })
  afterAll(async () => {
    await aggregator?.stop()
    await client?.close()
    await nats?.dispose()
    store.remove()
  })

  const scalar = (sql: string): Promise<number> => queryScalar(aggregator!.store.client, sql)
  /** Deletes the durable consumer and creates it again from the stream's first message: every ack forgotten. */
  const resetConsumer = async (): Promise<void> => {
    const manager = await jetstreamManager(client)
    const info = await manager.consumers.info('METRICS', 'aggregator')
    await manager.consumers.delete('METRICS', 'aggregator')
    await manager.consumers.add('METRICS', {
      durable_name: 'aggregator',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: info.config.ack_wait ?? nanos(20_000),
      max_ack_pending: info.config.max_ack_pending ?? 2_000,
      max_deliver: -1,
    })
  }

  it('stores each sample once after the consumer is reset while running and again across a restart', async () => {
    aggregator = await startAggregator(config(), { logger: silentLogger })
    const baseMs = Date.now() - 2 * 3_600_000
    const batches: MetricBatch[] = []
    const publish = async (from: number, to: number): Promise<void> => {
      for (let seq = from; seq <= to; seq++) {
        for (const host of ['a', 'b', 'c']) {
          const batch = hostBatch({
            host,
            seq,
            baseMs,
            seriesCount: 5,
            samplesPerSeries: 2,
            valueAt: (s, i) => seq * 10 + s + i,
          })
          batches.push(batch)
          await js.publish(`metrics.in.${host}`, encodeBatch(batch), { msgID: batchId(host, seq) })
        }
      }
    }
    const settled = async (): Promise<void> => {
      const want = expectedTotals(batches).raw_count!
      await waitFor(
        () => scalar('SELECT count() FROM tidewatch.samples_raw'),
        (n) => n >= want,
        30_000,
        'raw rows',
      )
      const manager = await jetstreamManager(client)
      await waitFor(
        async () =>
          (await manager.consumers.info('METRICS', 'aggregator')).num_ack_pending +
          (await manager.consumers.info('METRICS', 'aggregator')).num_pending,
        (n) => n === 0,
        30_000,
        'everything acked',
      )
    }

    await publish(1, 20)
    await settled()
    expect(await storedTotals(scalar)).toEqual(expectedTotals(batches))

    // 1. While running: the same 60 messages come back as first deliveries, plus new ones.
    const skippedBefore = aggregator.counters.duplicateMessagesSkipped
    await resetConsumer()
    await publish(21, 30)
    await settled()
    expect(aggregator.counters.duplicateMessagesSkipped - skippedBefore).toBeGreaterThanOrEqual(60)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await storedTotals(scalar)).toEqual(expectedTotals(batches))

    // 2. Across a restart: the intent log's high-water mark flags them.
    await aggregator.stop()
    await resetConsumer()
    aggregator = await startAggregator(config(), { logger: silentLogger })
    await publish(31, 35)
    await settled()
    expect(aggregator.counters.duplicateMessagesSkipped).toBeGreaterThanOrEqual(90)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await storedTotals(scalar)).toEqual(expectedTotals(batches))
    expect(await scalar('SELECT uniqExact(series_id, ts) FROM tidewatch.samples_raw')).toBe(
      expectedTotals(batches).raw_count,
    )
  })
})
