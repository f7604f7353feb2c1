import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  decodeBatch,
  limitsFromConfig,
  seriesId,
  wireLimitsSchema,
  type DecodedBatch,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import { silentLogger, tempDir, testAggregatorConfig, waitFor } from './harness.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const agentMain = join(repoRoot, 'agent', 'src', 'main.ts')

function runAgentOnce(configFile: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', agentMain, '--config', configFile, '--once'],
      {
        cwd: repoRoot,
        stdio: 'ignore',
      },
    )
    child.once('error', reject)
    child.once('close', resolve)
  })
}

describe('the real agent -> JetStream -> aggregator -> samples_raw', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  let aggregator: RunningAggregator
  const dir = tempDir('tidewatch-e2e-')

  beforeAll(async () => {
    nats = await startNatsServer()
    aggregator = await startAggregator(testAggregatorConfig(nats.url, join(dir.path, 'store')), {
      logger: silentLogger,
    })
    client = await connect({ servers: nats.url })
  })
  afterAll(async () => {
    await client?.close()
    await aggregator?.stop()
    await nats?.dispose()
    dir.remove()
  })

  it('stores exactly the samples the agent published, with their labels', async () => {
    const configFile = join(dir.path, 'agent.toml')
    writeFileSync(
      configFile,
      `[agent]
id = "e2e-agent"
hostname = "i631"
data_dir = "${join(dir.path, 'agent')}"
[global_labels]
env = "prod"
region = "us-west"
[nats]
servers = ["${nats.url}"]
`,
    )
    expect(await runAgentOnce(configFile)).toBe(0)

    // What the agent sent is still in the stream (limits retention): decode it as the reference.
    const manager = await jetstreamManager(client)
    const info = await manager.streams.info('METRICS')
    expect(info.state.messages).toBe(1)
    const stored = await manager.streams.getMessage('METRICS', { seq: info.state.first_seq })
    const sent: DecodedBatch = decodeBatch(
      stored!.data,
      limitsFromConfig(wireLimitsSchema.parse({})),
      Date.now(),
    )
    expect(sent.agentId).toBe('e2e-agent')
    const names = new Set(sent.series.map((s) => s.name))
    for (const name of [
      'cpu.usage_percent',
      'cpu.user_percent',
      'cpu.system_percent',
      'mem.total_bytes',
      'mem.used_bytes',
      'mem.available_bytes',
    ]) {
      expect(names).toContain(name)
    }

    const expected = sent.series
      .flatMap((s) =>
        Array.from({ length: s.count }, (_, i) => ({
          series_id: seriesId(s.name, s.labels),
          ts: sent.timestamps[s.offset + i]!,
          value: sent.values[s.offset + i]!,
        })),
      )
      .sort((a, b) => (a.series_id + a.ts < b.series_id + b.ts ? -1 : 1))
    await waitFor(
      async () => {
        const r = await aggregator.store.client.query({
          query: 'SELECT count() AS n FROM tidewatch.samples_raw',
          format: 'JSONEachRow',
        })
        return Number((await r.json<{ n: string }>())[0]?.n)
      },
      (n) => n >= expected.length,
      30_000,
      'the agent batch to be stored',
    )
    const result = await aggregator.store.client.query({
      query: `SELECT toString(series_id) AS series_id, toUnixTimestamp64Milli(ts) AS ts, value FROM tidewatch.samples_raw`,
      format: 'JSONEachRow',
    })
    const rows = (await result.json<{ series_id: string; ts: string | number; value: number }>())
      .map((r) => ({ series_id: r.series_id, ts: Number(r.ts), value: r.value }))
      .sort((a, b) => (a.series_id + a.ts < b.series_id + b.ts ? -1 : 1))
    expect(rows).toEqual(expected)

    // Every series carries host and the global labels, queryable through the series table.
    const labels = await aggregator.store.client.query({
      query: `SELECT DISTINCT labels['host'] AS host, labels['env'] AS env, labels['region'] AS region FROM tidewatch.series`,
      format: 'JSONEachRow',
    })
    expect(await labels.json()).toEqual([{ host: 'i631', env: 'prod', region: 'us-west' }])
  })
})
