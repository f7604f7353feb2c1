/*
 * Scale-out: three aggregator replicas on one partitioned METRICS stream, writing over ClickHouse's
 * HTTP protocol to the embedded store served by its own process (the same code path as against a
 * ClickHouse server). One replica is killed with SIGKILL mid-stream; its partitions' leases expire
 * and the survivors take them over, recovering its uncommitted batches from the intent log.
 */
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { batchId, type MetricBatch } from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import {
  encodeBatch,
  expectedTotals,
  hostBatch,
  killHard,
  partitionOf,
  spawnAggregator,
  spawnStore,
  storedTotals,
  tempDir,
  waitFor,
  queryScalar,
} from './harness.js'

const PARTITIONS = 6
const WRITER = { user: 'writer', password: 'scale-out-secret' }

describe('3 aggregator replicas on a partitioned stream, one killed mid-stream (real nats-server, chDB over HTTP)', () => {
  let nats: NatsServerHandle
  let natsClient: NatsConnection
  let js: JetStreamClient
  let reader: ClickHouseClient
  let storeProcess: ChildProcess | undefined
  const replicas = new Map<string, ChildProcess>()
  const claims: Array<{ replica: string; partition: number }> = []
  const dir = tempDir('tidewatch-scale-')

  const configFor = (id: string, storePort: number): string => {
    const file = join(dir.path, `${id}.toml`)
    writeFileSync(
      file,
      `[aggregator]
id = "${id}"
[log]
level = "info"
[nats]
servers = ["${nats.url}"]
[store]
url = "http://${WRITER.user}:${WRITER.password}@127.0.0.1:${storePort}"
[http]
enabled = false
[admin]
listen = ""
self_metrics_interval = "0s"
[pipeline]
micro_batch_max_samples = 400
micro_batch_max_wait = "50ms"
[consumer]
ack_wait = "3s"
partitions = ${PARTITIONS}
lease_ttl = "3s"
`,
    )
    return file
  }
  const start = (id: string, storePort: number): void => {
    replicas.set(
      id,
      spawnAggregator(configFor(id, storePort), (line) => {
        if (!line.includes('claimed a partition')) return
        const entry = JSON.parse(line) as { partition: number }
        claims.push({ replica: id, partition: entry.partition })
      }),
    )
  }

  beforeAll(async () => {
    nats = await startNatsServer()
    const storePort = await freePort()
    storeProcess = await spawnStore(join(dir.path, 'store'), storePort, WRITER)
    reader = createClient({ url: `http://127.0.0.1:${storePort}`, log: { level: ClickHouseLogLevel.OFF } })
    natsClient = await connect({ servers: nats.url })
    js = jetstream(natsClient)
    for (const id of ['r1', 'r2', 'r3']) start(id, storePort)
  })

  afterAll(async () => {
    for (const child of replicas.values()) await killHard(child)
    await killHard(storeProcess)
    await reader?.close()
    await natsClient?.close()
    await nats?.dispose()
    dir.remove()
  })

  const scalar = (sql: string): Promise<number> => queryScalar(reader, sql)
  const owners = async (kv: KV): Promise<Map<number, string>> => {
    const found = new Map<number, string>()
    for (let k = 0; k < PARTITIONS; k++) {
      const entry = await kv.get(`p.${k}`)
      if (entry !== null && entry.operation === 'PUT') found.set(k, entry.string())
    }
    return found
  }
  const spread = (map: Map<number, string>): Record<string, number> => {
    const count: Record<string, number> = {}
    for (const owner of map.values()) count[owner] = (count[owner] ?? 0) + 1
    return count
  }

  it("shares the partitions, moves a dead replica's partitions, and stores every sample once in every tier", async () => {
    // Every partition owned, two per replica, once all three have joined and rebalanced.
    const kv = await waitFor(
      () =>
        new Kvm(natsClient)
          .open('tidewatch_partitions')
          .then(async (bucket) => {
            await bucket.status()
            return bucket
          })
          .catch(() => undefined),
      (bucket) => bucket !== undefined,
      30_000,
      'the lease bucket',
    )
    await waitFor(
      async () => spread(await owners(kv!)),
      (s) => Object.keys(s).length === 3 && Object.values(s).every((n) => n === 2),
      30_000,
      'two partitions per replica',
    )

    const hosts = Array.from({ length: 24 }, (_, i) => `host-${i}`)
    expect(new Set(hosts.map((h) => partitionOf(h, PARTITIONS))).size).toBe(PARTITIONS)
    const baseMs = Date.now() - 2 * 3_600_000
    const batches: MetricBatch[] = []
    for (let seq = 1; seq <= 15; seq++) {
      for (const host of hosts) {
        batches.push(
          hostBatch({
            host,
            seq,
            baseMs,
            seriesCount: 6,
            samplesPerSeries: 2,
            valueAt: (s, i) => seq * 100 + s * 10 + i,
          }),
        )
      }
    }
    const killAt = Math.floor(batches.length / 3) + Math.floor(Math.random() * 40)
    let published = 0
    for (const batch of batches) {
      const subject = `metrics.in.${partitionOf(batch.agentId, PARTITIONS)}.${batch.agentId}`
      await js.publish(subject, encodeBatch(batch), { msgID: batchId(batch.agentId, batch.seq) })
      published++
      if (published === killAt) {
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 300))
        await killHard(replicas.get('r2'))
      } else if (published % 24 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }

    const expected = expectedTotals(batches)
    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw').catch(() => -1),
      (n) => n >= expected.raw_count!,
      60_000,
      'every raw row',
    )
    // r2's leases expired and the survivors own all six partitions between them.
    const after = await waitFor(
      async () => owners(kv!),
      (m) => m.size === PARTITIONS && ![...m.values()].includes('r2'),
      30_000,
      "r2's partitions taken over",
    )
    expect(new Set(after.values())).toEqual(new Set(['r1', 'r3']))
    // Partitions r2 held were claimed again by a survivor: that is where recovery ran.
    const r2Partitions = claims.filter((c) => c.replica === 'r2').map((c) => c.partition)
    expect(r2Partitions.length).toBeGreaterThan(0)
    for (const partition of r2Partitions) {
      expect(claims.some((c) => c.partition === partition && c.replica !== 'r2')).toBe(true)
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(await storedTotals(scalar)).toEqual(expected)
    expect(await scalar('SELECT uniqExact(series_id, ts) FROM tidewatch.samples_raw')).toBe(
      expected.raw_count,
    )
    // Each partition's consumer only ever stored its own hosts: no series split across consumers
    // (the other rows of the log are the roll-up's: minutes rolled up and claims on them).
    expect(
      await scalar(
        `SELECT uniqExact(consumer) FROM tidewatch.ingest_batches WHERE consumer LIKE 'METRICS/%'`,
      ),
    ).toBe(PARTITIONS)
  })
})
