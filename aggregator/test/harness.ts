import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { aggregatorConfigSchema, encodeBatch, type AggregatorConfig, type MetricBatch, type SeriesSamples } from '@tidewatch/shared'

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** An aggregator config for tests: the given NATS and chDB dir, quick micro-batches, HTTP on a free port. */
export function testAggregatorConfig(natsUrl: string, storeDir: string, overrides: Record<string, unknown> = {}): AggregatorConfig {
  return aggregatorConfigSchema.parse({
    aggregator: { id: 'test-aggregator' },
    nats: { servers: [natsUrl], connect_timeout: '2s', reconnect_wait: '200ms' },
    store: { url: `chdb://${storeDir}` },
    http: { listen: '127.0.0.1:0' },
    pipeline: { micro_batch_max_wait: '100ms' },
    consumer: { ack_wait: '20s' },
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
      timestamps: Array.from({ length: samplesPerSeries }, (_, i) => options.baseMs + options.seq * 10_000 + i * 1_000),
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
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await probe()
  }
  return last
}
