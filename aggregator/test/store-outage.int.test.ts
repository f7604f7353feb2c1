/*
 * Stop the store while data flows, and backpressure: the aggregator writes over ClickHouse's HTTP
 * protocol to the embedded store served by its own process (shaped like a ClickHouse server). The
 * store is killed mid-stream; while it is down a backlog builds in the stream and the aggregator
 * must hold no more than max_ack_pending messages, pull nothing more, and keep its heap flat. The
 * store comes back on the same directory and port; the committer's in-place retries finish, and
 * every tier holds exactly what was sent.
 */
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import { aggregatorConfigSchema, batchId, type MetricBatch } from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import {
  encodeBatch,
  expectedTotals,
  hostBatch,
  killHard,
  silentLogger,
  spawnStore,
  storedTotals,
  tempDir,
  waitFor,
  queryScalar,
} from './harness.js'

const WRITER = { user: 'writer', password: 'outage-secret' }
const MAX_ACK_PENDING = 20

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapUsed = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

describe('the store stops while data flows, then starts again (real nats-server, chDB over HTTP in its own process)', () => {
  let nats: NatsServerHandle
  let natsClient: NatsConnection
  let js: JetStreamClient
  let reader: ClickHouseClient
  let storeProcess: ChildProcess | undefined
  let aggregator: RunningAggregator | undefined
  let storePort = 0
  const dir = tempDir('tidewatch-outage-')

  beforeAll(async () => {
    nats = await startNatsServer()
    storePort = await freePort()
    storeProcess = await spawnStore(join(dir.path, 'store'), storePort, WRITER)
    reader = createClient({ url: `http://127.0.0.1:${storePort}`, log: { level: ClickHouseLogLevel.OFF } })
    natsClient = await connect({ servers: nats.url })
    js = jetstream(natsClient)
  })
  afterAll(async () => {
    await aggregator?.stop()
    await killHard(storeProcess)
    await reader?.close()
    await natsClient?.close()
    await nats?.dispose()
    dir.remove()
  })

  const scalar = (sql: string): Promise<number> => queryScalar(reader, sql)

  it('holds at most max_ack_pending messages and a flat heap while the store is down, and stores every sample once', async () => {
    const config = aggregatorConfigSchema.parse({
      aggregator: { id: 'outage' },
      nats: { servers: [nats.url], connect_timeout: '2s', reconnect_wait: '200ms' },
      store: {
        url: `http://${WRITER.user}:${WRITER.password}@127.0.0.1:${storePort}`,
        request_timeout: '2s',
      },
      http: { enabled: false },
      admin: { listen: '', self_metrics_interval: '0s' },
      pipeline: { micro_batch_max_wait: '50ms', micro_batch_max_samples: 2_000 },
      consumer: { ack_wait: '5s', max_ack_pending: MAX_ACK_PENDING, pull_max_messages: 10 },
    })
    aggregator = await startAggregator(config, { logger: silentLogger })
    const manager = await jetstreamManager(natsClient)
    // Running totals, not the batches: the test's own heap must stay flat too.
    let expected: Record<string, number> | undefined
    const account = (batch: MetricBatch): void => {
      const one = expectedTotals([batch])
      if (expected === undefined) expected = one
      else {
        for (const [key, value] of Object.entries(one)) {
          expected[key] = key.endsWith('_min')
            ? Math.min(expected[key]!, value)
            : key.endsWith('_max')
              ? Math.max(expected[key]!, value)
              : expected[key]! + value
        }
      }
    }
    const baseMs = Date.now() - 2 * 3_600_000
    let backlogBytes = 0
    const publish = async (seq: number): Promise<void> => {
      for (const host of ['a', 'b']) {
        const batch = hostBatch({
          host,
          seq,
          baseMs,
          seriesCount: 50,
          samplesPerSeries: 4,
          valueAt: (s, i) => (seq % 97) * 100 + s + i,
        })
        account(batch)
        const data = encodeBatch(batch)
        backlogBytes += data.length
        await js.publish(`metrics.in.${host}`, data, { msgID: batchId(host, seq) })
      }
    }

    for (let seq = 1; seq <= 40; seq++) {
      await publish(seq)
      if (seq % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // Kill the store mid-stream, while inserts are in flight.
    await killHard(storeProcess)

    // A backlog builds while the store is down; sample what the aggregator holds meanwhile.
    let peakAckPending = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const info = await manager.consumers.info('METRICS', 'aggregator')
        peakAckPending = Math.max(peakAckPending, info.num_ack_pending)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    const heapBefore = heapUsed()
    backlogBytes = 0
    for (let seq = 41; seq <= 600; seq++) await publish(seq)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const heapGrowth = heapUsed() - heapBefore
    const info = await manager.consumers.info('METRICS', 'aggregator')
    sampling = false
    await sampler

    expect(info.num_pending).toBeGreaterThan(500) // the backlog waits in the stream...
    expect(peakAckPending).toBeLessThanOrEqual(MAX_ACK_PENDING) // ...not in the aggregator
    expect(aggregator.inFlight.peakMessages).toBeLessThanOrEqual(MAX_ACK_PENDING)
    expect(heapGrowth).toBeLessThan(backlogBytes / 2)
    expect(aggregator.counters.storeErrors).toBeGreaterThan(0)

    // The store comes back on the same directory and port: the aggregator resumes by itself.
    storeProcess = await spawnStore(join(dir.path, 'store'), storePort, WRITER)
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw').catch(() => -1),
      (n) => n >= expected!.raw_count!,
      60_000,
      'every raw row',
    )
    await waitFor(
      async () => {
        const i = await manager.consumers.info('METRICS', 'aggregator')
        return i.num_pending + i.num_ack_pending
      },
      (n) => n === 0,
      30_000,
      'everything acked',
    )
    expect(await storedTotals(scalar)).toEqual(expected)
    expect(await scalar('SELECT uniqExact(series_id, ts) FROM tidewatch.samples_raw')).toBe(
      expected!.raw_count,
    )
  })
})
