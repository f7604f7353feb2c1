/*
 * The 1-minute roll-up with several replicas: each replica has its own clock and roll-up job, the
 * roll-up of a minute is global (one store). Two orderings used to break exactness:
 *
 *   (a) replica A rolls minute M; replica B, whose job is behind, then commits a sample of M as on
 *       time (raw only), and its own roll-up of M is a no-op by the minute's token: the sample never
 *       reaches samples_1m;
 *   (b) replica C inserts a batch of minute M1 and dies before its commit record; A rolls M1 with C's
 *       raw rows; replica D takes C's consumer over and re-sends the batch, now calling it late:
 *       its samples are counted twice in samples_1m.
 *
 * Time is a ManualClock per replica, so the orderings are forced, not raced. C is a real committer
 * on a real store that dies (its signal aborted) when it writes its commit record.
 */
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import {
  aggregatorConfigSchema,
  batchId,
  createStore,
  decodeBatch,
  ensureStreams,
  encodeBatch,
  limitsFromConfig,
  ManualClock,
  type AggregatorConfig,
  type MetricBatch,
  type Store,
} from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import { BatchCommitter } from '../src/pipeline/committer.js'
import { createCounters } from '../src/pipeline/counters.js'
import { ensureMetricsConsumer } from '../src/sources/nats/metrics-consumer.js'
import { IntentLog } from '../src/sinks/clickhouse/intent-log.js'
import { createSampleSink } from '../src/sinks/clickhouse/create-sink.js'
import { SeriesResolver } from '../src/sinks/clickhouse/series-resolver.js'
import { writeSeriesRows } from '../src/sinks/clickhouse/series-writer.js'
import { RollupCoordinator } from '../src/rollups/coordinator.js'
import {
  expectedTotals,
  killHard,
  queryScalar,
  silentLogger,
  spawnStore,
  storedTotals,
  tempDir,
  waitFor,
} from './harness.js'

const WRITER = { user: 'writer', password: 'rollup-replicas-secret' }
const GRACE_MS = 10_000
const MINUTE = 60_000

/** The intent log of a replica that dies when it writes a commit record (power cut after the insert). */
class DyingIntentLog extends IntentLog {
  constructor(
    client: ClickHouseClient,
    database: string,
    consumer: string,
    private readonly die: () => void,
  ) {
    super(client, database, consumer)
  }
  override async recordCommit(): Promise<void> {
    this.die()
    throw new Error('replica died before its commit record')
  }
}

describe('roll-up exact across replicas: late sample after another replica rolled, dead replica batch re-sent (real nats-server, chDB over HTTP)', () => {
  let nats: NatsServerHandle
  let natsClient: NatsConnection
  let js: JetStreamClient
  let reader: ClickHouseClient
  let storeProcess: ChildProcess | undefined
  let storeUrl = ''
  const running: RunningAggregator[] = []
  const extraStores: Store[] = []
  const dir = tempDir('tidewatch-rollup-replicas-')
  // Minute M is five minutes ago; every replica starts at M + 30 s, so each one's first open minute is M.
  const M = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE
  const M1 = M + MINUTE
  const M2 = M + 2 * MINUTE
  const T0 = M + 30_000

  const configFor = (id: string, stream: string): AggregatorConfig =>
    aggregatorConfigSchema.parse({
      aggregator: { id },
      nats: { servers: [nats.url], connect_timeout: '2s', reconnect_wait: '200ms' },
      store: { url: storeUrl },
      http: { enabled: false },
      admin: { listen: '', self_metrics_interval: '0s' },
      streams: { metrics: { name: stream, subjects: [`metrics.${stream.toLowerCase()}.>`] } },
      pipeline: { micro_batch_max_wait: '50ms', rollup_grace: '10s', rollup_interval: '100ms' },
      consumer: { ack_wait: '2s' },
    })
  const startReplica = async (id: string, stream: string, clock: ManualClock): Promise<RunningAggregator> => {
    const replica = await startAggregator(configFor(id, stream), { logger: silentLogger, clock })
    running.push(replica)
    return replica
  }

  beforeAll(async () => {
    nats = await startNatsServer()
    const port = await freePort()
    storeProcess = await spawnStore(join(dir.path, 'store'), port, WRITER)
    storeUrl = `http://${WRITER.user}:${WRITER.password}@127.0.0.1:${port}`
    reader = createClient({ url: `http://127.0.0.1:${port}`, log: { level: ClickHouseLogLevel.OFF } })
    natsClient = await connect({ servers: nats.url })
    js = jetstream(natsClient)
  })

  afterAll(async () => {
    for (const replica of running) await replica.stop().catch(() => undefined)
    for (const store of extraStores) await store.close().catch(() => undefined)
    await natsClient?.close()
    await reader?.close()
    await killHard(storeProcess)
    await nats?.dispose()
    dir.remove()
  })

  const scalar = (sql: string): Promise<number> => queryScalar(reader, sql)
  const batchOf = (host: string, seq: number, timestamps: number[], value: (i: number) => number) =>
    ({
      agentId: host,
      seq,
      createdMs: timestamps[0]!,
      series: [0, 1].map((s) => ({
        name: 'cpu.usage_percent',
        labels: { host, cpu: String(s) },
        timestamps,
        values: timestamps.map((_, i) => value(i) + s),
      })),
    }) satisfies MetricBatch
  const publish = (stream: string, batch: MetricBatch) =>
    js.publish(`metrics.${stream.toLowerCase()}.${batch.agentId}`, encodeBatch(batch), {
      msgID: batchId(batch.agentId, batch.seq),
    })
  const rawCount = () => scalar('SELECT count() FROM tidewatch.samples_raw')
  const oneMinuteCount = (minuteMs: number) =>
    scalar(`SELECT sum(count) FROM tidewatch.samples_1m WHERE ts = toDateTime(${minuteMs / 1000})`)
  const rawCountIn = (minuteMs: number) =>
    scalar(
      `SELECT count() FROM tidewatch.samples_raw WHERE toStartOfMinute(ts) = toDateTime(${minuteMs / 1000})`,
    )

  it('counts every sample once in every tier', async () => {
    const clockA = new ManualClock(T0)
    const clockB = new ManualClock(T0)
    const sent: MetricBatch[] = []
    const replicaA = await startReplica('A', 'METRICS_A', clockA)
    const replicaB = await startReplica('B', 'METRICS_B', clockB)

    // On time in minute M, through A.
    const onTime = batchOf('host-a', 1, [M + 1_000, M + 2_000, M + 3_000], (i) => 10 + i)
    sent.push(onTime)
    await publish('METRICS_A', onTime)
    await waitFor(rawCount, (n) => n >= 6, 30_000, 'A stores its batch')

    // Replica C takes a batch of minute M1 from its consumer, inserts it (on time: nothing of M1 is
    // rolled) and dies before its commit record; its message is redelivered after ack_wait.
    const clockC = new ManualClock(M1 + 20_000)
    const configC = configFor('C', 'METRICS_C')
    const ofDeadReplica = batchOf('host-c', 1, [M1 + 1_000, M1 + 2_000, M1 + 4_000], (i) => 50 + i)
    sent.push(ofDeadReplica)
    await ensureStreams(natsClient, [configC.streams.metrics])
    await publish('METRICS_C', ofDeadReplica)
    const consumerOptions = {
      stream: 'METRICS_C',
      durableName: configC.consumer.durable_name,
      filterSubject: undefined,
      maxAckPending: configC.consumer.max_ack_pending,
      ackWaitMs: configC.consumer.ack_wait,
      pullMaxMessages: configC.consumer.pull_max_messages,
    }
    const manager = await js.jetstreamManager()
    await ensureMetricsConsumer(manager, consumerOptions)
    const consumer = await js.consumers.get('METRICS_C', consumerOptions.durableName)
    const delivered = await consumer.next({ expires: 5_000 })
    expect(delivered).not.toBeNull()
    const storeC = createStore(configC.store, { logger: silentLogger })
    extraStores.push(storeC)
    const death = new AbortController()
    const rollupsC = new RollupCoordinator({
      store: storeC,
      clock: clockC,
      logger: silentLogger,
      graceMs: GRACE_MS,
      intervalMs: 3_600_000,
      startupHoldMs: 0,
    })
    await rollupsC.start()
    const committerC = new BatchCommitter({
      consumerName: `METRICS_C/${consumerOptions.durableName}`,
      intentLog: new DyingIntentLog(
        storeC.client,
        storeC.database,
        `METRICS_C/${consumerOptions.durableName}`,
        () => death.abort(),
      ),
      sink: createSampleSink(configC.store, storeC),
      writeSeries: (rows) => writeSeriesRows(storeC.client, storeC.database, rows),
      resolver: new SeriesResolver({ maxSeriesPerMetric: 1_000 }),
      rollups: rollupsC,
      clock: clockC,
      logger: silentLogger,
      counters: createCounters(),
      signal: death.signal,
      workingIntervalMs: 60_000,
      retryBaseDelayMs: 10,
      recoveryRecheckMs: 5_000,
    })
    const decoded = decodeBatch(delivered!.data, limitsFromConfig(configC.limits), clockC.now())
    await expect(
      committerC.commit([{ kind: 'accepted', message: delivered!, batch: decoded }]),
    ).rejects.toThrow()
    await rollupsC.stop()
    expect(await rawCountIn(M1)).toBe(6)

    // A's minute M closes: A rolls it up.
    clockA.set(M1 + GRACE_MS + 5_000)
    await waitFor(
      () => oneMinuteCount(M),
      (n) => n >= 6,
      30_000,
      'A rolls minute M',
    )

    // (a) A sample of M more than grace late, through B, whose own roll-up job is behind.
    const late = batchOf('host-b', 1, [M + 20_000, M + 25_000], (i) => 200 + i)
    sent.push(late)
    await publish('METRICS_B', late)
    await waitFor(
      () => rawCountIn(M),
      (n) => n >= 10,
      30_000,
      'B stores the late batch',
    )
    clockB.set(M1 + GRACE_MS + 5_000)
    await new Promise((resolve) => setTimeout(resolve, 500))

    // (b) Minute M1 closes for A; C's batch is neither committed nor re-sent yet.
    clockA.set(M2 + GRACE_MS + 5_000)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const rolledWithPendingBatch = await oneMinuteCount(M1)

    // D takes C's consumer over: the message comes back after ack_wait and is re-sent as C sent it.
    const clockD = new ManualClock(M2 + GRACE_MS + 5_000)
    const replicaD = await startReplica('D', 'METRICS_C', clockD)
    clockD.advance(5_000)
    await waitFor(
      async () => replicaD.counters.recoveredBatches,
      (n) => n >= 1,
      30_000,
      'D re-sends the dead replica batch',
    )

    // Everything closes everywhere; every tier must hold each sample exactly once.
    for (const clock of [clockA, clockB, clockD]) clock.set(M + 5 * MINUTE + GRACE_MS)
    const expected = expectedTotals(sent)
    await waitFor(
      () => scalar('SELECT sum(count) FROM tidewatch.samples_1m'),
      (n) => n >= expected['1m_count']!,
      10_000,
      'every minute rolled',
    ).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const perMinute = {
      M: [await rawCountIn(M), await oneMinuteCount(M)],
      M1: [await rawCountIn(M1), await oneMinuteCount(M1)],
    }
    expect.soft(perMinute).toEqual({ M: [10, 10], M1: [6, 6] })
    expect.soft(await storedTotals(scalar)).toEqual(expected)
    // Minute M1 was not rolled while C's batch, inserted on time, was neither committed nor given up.
    expect.soft(rolledWithPendingBatch).toBe(0)
    expect.soft(replicaA.rollups.rollupsHeldBack).toBeGreaterThan(0)
    // B classified the late batch against A's roll-up of M, not its own job's watermark.
    expect.soft(replicaB.rollups.watermarksRaised).toBe(1)
  })
})
