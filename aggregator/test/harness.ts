import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { ClickHouseClient } from '@clickhouse/client'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import {
  startNatsServer,
  type NatsServerHandle,
  type StartNatsServerOptions,
} from '@tidewatch/shared/testing'
import { startAggregator, type AggregatorOptions, type RunningAggregator } from '../src/index.js'
import {
  aggregatorConfigSchema,
  batchId,
  encodeBatch,
  type AggregatorConfig,
  type MetricBatch,
  type SeriesSamples,
} from '@tidewatch/shared'

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** An aggregator config for tests: the given NATS and chDB dir, quick micro-batches, HTTP on a free port. */
export function testAggregatorConfig(
  natsUrl: string,
  storeDir: string,
  overrides: Record<string, unknown> = {},
): AggregatorConfig {
  return aggregatorConfigSchema.parse({
    aggregator: { id: 'test-aggregator' },
    nats: { servers: [natsUrl], connect_timeout: '2s', reconnect_wait: '200ms' },
    store: { url: `chdb://${storeDir}` },
    http: { listen: '127.0.0.1:0' },
    pipeline: { micro_batch_max_wait: '100ms' },
    consumer: { ack_wait: '20s' },
    // No admin port (parallel tests) and no self metrics (they would add to the counts tests check).
    admin: { listen: '', self_metrics_interval: '0s' },
    ...overrides,
  })
}

/** A batch shaped like one host's collection: `seriesCount` series with `samplesPerSeries` samples each. */
export function hostBatch(options: {
  host: string
  seq: number
  baseMs: number
  seriesCount?: number
  samplesPerSeries?: number
  valueAt?: (series: number, sample: number) => number
}): MetricBatch {
  const seriesCount = options.seriesCount ?? 10
  const samplesPerSeries = options.samplesPerSeries ?? 3
  const valueAt = options.valueAt ?? ((s, i) => (options.seq * 7 + s * 13 + i * 3) % 100)
  const series: SeriesSamples[] = []
  for (let s = 0; s < seriesCount; s++) {
    series.push({
      name: s % 2 === 0 ? 'cpu.usage_percent' : 'mem.used_bytes',
      labels: { host: options.host, env: 'test', region: 'us-west', slot: String(s) },
      timestamps: Array.from(
        { length: samplesPerSeries },
        (_, i) => options.baseMs + options.seq * 10_000 + i * 1_000,
      ),
      values: Array.from({ length: samplesPerSeries }, (_, i) => valueAt(s, i)),
    })
  }
  return { agentId: options.host, seq: options.seq, createdMs: options.baseMs, series }
}

export function totalsOf(batches: MetricBatch[]): { count: number; sum: number; min: number; max: number } {
  let count = 0
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (const batch of batches) {
    for (const series of batch.series) {
      for (let i = 0; i < series.values.length; i++) {
        const v = series.values[i] as number
        count++
        sum += v
        if (v < min) min = v
        if (v > max) max = v
      }
    }
  }
  return { count, sum, min, max }
}

export { encodeBatch }

export async function waitFor<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T = await probe()
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await probe()
  }
  return last
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A TypeScript entry point as its own process (so it can be killed with SIGKILL like a crashed host). */
export function spawnTs(
  entry: string,
  args: string[],
  options: { stdout?: (line: string) => void } = {},
): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TIDEWATCH_TEST_CHILD: '1' },
  })
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let newline
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline)
      if (process.env.TEST_LOG_LEVEL) process.stderr.write(line + '\n')
      options.stdout?.(line)
      buffered = buffered.slice(newline + 1)
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => process.env.TEST_LOG_LEVEL && process.stderr.write(chunk))
  return child
}

/** `tidewatch-aggregator --config <file>`; each stdout line (pino JSON) goes to `onLog`. */
export function spawnAggregator(configFile: string, onLog?: (line: string) => void): ChildProcess {
  return spawnTs(
    join(repoRoot, 'aggregator', 'src', 'main.ts'),
    ['--config', configFile],
    onLog ? { stdout: onLog } : {},
  )
}

/** The embedded store served over HTTP with a writer credential, in its own process; resolves once it serves. */
export async function spawnStore(
  dir: string,
  port: number,
  writer: { user: string; password: string },
): Promise<ChildProcess> {
  let ready: () => void = () => undefined
  const listening = new Promise<void>((resolve) => {
    ready = resolve
  })
  const child = spawnTs(
    join(repoRoot, 'aggregator', 'test', 'fixtures', 'store-process.ts'),
    [dir, String(port), writer.user, writer.password],
    {
      stdout: (line) => line.startsWith('listening ') && ready(),
    },
  )
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the store process exited (${code})`))),
  )
  await Promise.race([listening, exited])
  exited.catch(() => undefined)
  return child
}

export async function killHard(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/**
 * The agent's partition of an agent id (agent/src/outputs/nats/publisher.ts, partitionOf): FNV-1a
 * of the UTF-8 bytes mod P. Copied, not imported, so the aggregator's tests do not reach into the
 * agent package; the scale-out test checks the two agree through the subjects they route.
 */
export function partitionOf(agentId: string, partitions: number): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(agentId, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % partitions
}

/** Raw count and sum, and count/sum/min/max of both rollup tiers, as the store has them. */
export async function storedTotals(
  query: (sql: string) => Promise<number>,
  database = 'tidewatch',
): Promise<Record<string, number>> {
  const totals: Record<string, number> = {
    raw_count: await query(`SELECT count() FROM ${database}.samples_raw`),
    raw_sum: await query(`SELECT sum(value) FROM ${database}.samples_raw`),
  }
  for (const tier of ['1m', '1h']) {
    totals[`${tier}_count`] = await query(`SELECT sum(count) FROM ${database}.samples_${tier}`)
    totals[`${tier}_sum`] = await query(`SELECT sum(sum) FROM ${database}.samples_${tier}`)
    totals[`${tier}_min`] = await query(`SELECT min(min) FROM ${database}.samples_${tier}`)
    totals[`${tier}_max`] = await query(`SELECT max(max) FROM ${database}.samples_${tier}`)
  }
  return totals
}

/** What `storedTotals` must equal for the batches sent. */
export function expectedTotals(batches: MetricBatch[]): Record<string, number> {
  const t = totalsOf(batches)
  return {
    raw_count: t.count,
    raw_sum: t.sum,
    '1m_count': t.count,
    '1m_sum': t.sum,
    '1m_min': t.min,
    '1m_max': t.max,
    '1h_count': t.count,
    '1h_sum': t.sum,
    '1h_min': t.min,
    '1h_max': t.max,
  }
}

/** The first column of the first row of `sql`, as a number (NaN when there is no row). */
export async function queryScalar(client: ClickHouseClient, sql: string): Promise<number> {
  const result = await client.query({ query: sql, format: 'JSONEachRow' })
  const rows = await result.json<Record<string, unknown>>()
  return Number(Object.values(rows[0] ?? { v: NaN })[0])
}

/** Publishes a batch the way an (unpartitioned) agent does: its subject and its batch id. */
export async function publishBatch(js: JetStreamClient, batch: MetricBatch): Promise<void> {
  await js.publish(`metrics.in.${batch.agentId}`, encodeBatch(batch), {
    msgID: batchId(batch.agentId, batch.seq),
  })
}

/** A nats-server, an in-process aggregator on its own chDB dir, and a JetStream client publishing to it. */
export interface TestPipeline {
  nats: NatsServerHandle
  aggregator: RunningAggregator
  client: NatsConnection
  js: JetStreamClient
  /** The first column of the first row of `sql` in the aggregator's store. */
  scalar(sql: string): Promise<number>
  /** Publishes a batch as an unpartitioned agent does. */
  publish(batch: MetricBatch): Promise<void>
  /** Closes the client, stops the aggregator and the server, removes the store dir. */
  stop(): Promise<void>
}

/** Starts a TestPipeline: `config` overrides testAggregatorConfig's sections, `options` startAggregator's. */
export async function startTestPipeline(
  prefix: string,
  config: Record<string, unknown> = {},
  options: Partial<AggregatorOptions> = {},
  natsOptions: StartNatsServerOptions = {},
): Promise<TestPipeline> {
  const store = tempDir(prefix)
  const nats = await startNatsServer(natsOptions)
  const aggregator = await startAggregator(testAggregatorConfig(nats.url, store.path, config), {
    logger: silentLogger,
    ...options,
  })
  const client = await connect({ servers: nats.url })
  const js = jetstream(client)
  return {
    nats,
    aggregator,
    client,
    js,
    scalar: (sql) => queryScalar(aggregator.store.client, sql),
    publish: (batch) => publishBatch(js, batch),
    stop: async () => {
      await client.close()
      await aggregator.stop()
      await nats.dispose()
      store.remove()
    },
  }
}

/** The value of the first Prometheus text line of `name` (with `labelPart` among its labels), or undefined. */
export function promSample(text: string, name: string, labelPart = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labelPart))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}
