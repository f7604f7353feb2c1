import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { batchId, type MetricBatch } from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { encodeBatch, hostBatch, tempDir, totalsOf, waitFor, queryScalar } from './harness.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const mainTs = join(repoRoot, 'aggregator', 'src', 'main.ts')

/** The aggregator as its own process, so it can be killed with SIGKILL like a crashed host. */
function spawnAggregator(configFile: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', mainTs, '--config', configFile],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TIDEWATCH_TEST_CHILD: '1' },
    },
  )
  child.stderr?.on('data', (chunk: Buffer) => process.env.TEST_LOG_LEVEL && process.stderr.write(chunk))
  return child
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

describe('kill -9 the aggregator mid-stream and restart it (real nats-server, real chDB)', () => {
  let nats: NatsServerHandle
  let natsClient: NatsConnection
  let js: JetStreamClient
  let store: ClickHouseClient
  let child: ChildProcess | undefined
  const dir = tempDir('tidewatch-crash-')
  let configFile = ''

  beforeAll(async () => {
    nats = await startNatsServer()
    const httpPort = await freePort()
    configFile = join(dir.path, 'aggregator.toml')
    writeFileSync(
      configFile,
      `[aggregator]
id = "crash-test"
[log]
level = "warn"
[nats]
servers = ["${nats.url}"]
[store]
url = "chdb://${join(dir.path, 'store')}"
[http]
listen = "127.0.0.1:${httpPort}"
[pipeline]
micro_batch_max_samples = 400
micro_batch_max_wait = "50ms"
[consumer]
ack_wait = "2s"
[admin]
listen = ""
self_metrics_interval = "0s"
`,
    )
    store = createClient({ url: `http://127.0.0.1:${httpPort}`, log: { level: ClickHouseLogLevel.OFF } })
    natsClient = await connect({ servers: nats.url })
    js = jetstream(natsClient)
  })

  afterAll(async () => {
    if (child) await killHard(child)
    await store?.close()
    await natsClient?.close()
    await nats?.dispose()
    dir.remove()
  })

  const scalar = (sql: string): Promise<number> => queryScalar(store, sql)

  it('loses no sample and stores none twice, in every tier', async () => {
    const baseMs = Date.now() - 3 * 3_600_000
    const batches: MetricBatch[] = []
    for (let seq = 1; seq <= 60; seq++) {
      for (const host of ['a', 'b', 'c', 'd']) {
        batches.push(
          hostBatch({
            host,
            seq,
            baseMs,
            seriesCount: 8,
            samplesPerSeries: 2,
            valueAt: (s, i) => seq * 100 + s * 10 + i,
          }),
        )
      }
    }
    const expected = totalsOf(batches)

    child = spawnAggregator(configFile)
    // The aggregator creates the streams; wait until it serves queries.
    await waitFor(
      () => scalar('SELECT 1').catch(() => 0),
      (n) => n === 1,
      30_000,
      'the aggregator to start',
    )
    let published = 0
    // Kill at a few random points while publishing steadily; restart right after each kill.
    const killAt = new Set([30, 90, 150, 200].map((n) => n + Math.floor(Math.random() * 20)))
    for (const batch of batches) {
      await js.publish(`metrics.in.${batch.agentId}`, encodeBatch(batch), {
        msgID: batchId(batch.agentId, batch.seq),
      })
      published++
      if (killAt.has(published)) {
        // Let the aggregator get into the middle of something first.
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 400))
        await killHard(child)
        child = spawnAggregator(configFile)
      } else if (published % 10 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 30))
      }
    }

    await waitFor(
      () => scalar('SELECT count() FROM tidewatch.samples_raw').catch(() => -1),
      (n) => n >= expected.count,
      60_000,
      'every raw row',
    )
    // Give a duplicate, if any, the time to land before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(await scalar('SELECT count() FROM tidewatch.samples_raw')).toBe(expected.count)
    expect(await scalar('SELECT sum(value) FROM tidewatch.samples_raw')).toBe(expected.sum)
    expect(await scalar('SELECT uniqExact(series_id, ts) FROM tidewatch.samples_raw')).toBe(expected.count)
    for (const tier of ['samples_1m', 'samples_1h']) {
      expect(await scalar(`SELECT sum(count) FROM tidewatch.${tier}`)).toBe(expected.count)
      expect(await scalar(`SELECT sum(sum) FROM tidewatch.${tier}`)).toBe(expected.sum)
      expect(await scalar(`SELECT min(min) FROM tidewatch.${tier}`)).toBe(expected.min)
      expect(await scalar(`SELECT max(max) FROM tidewatch.${tier}`)).toBe(expected.max)
    }
  })
})
