/*
 * npm run bench:ingest — the aggregator's throughput and lag on this machine, real engines only.
 *
 *   phase 1 (throughput): pre-publish T ticks of 10,000 hosts x 100 series (BenchHost data) to
 *     JetStream, then start one aggregator on an embedded chDB store and time the backlog from the
 *     first message to the last sample committed: samples/s committed, sustained over >= 60 s.
 *   phase 2 (lag): a publisher process sends at half the target rate in real time, stamping samples
 *     with their publish time, plus a probe series every 100 ms; the bench polls the store for the
 *     probe and reports, per probe, publish -> queryable (p50/p99).
 *   then: bytes per raw sample and per 1-minute row after OPTIMIZE FINAL, and the aggregator's heap
 *   per active series.
 *
 * Flags: --ticks (phase 1 ticks, default 75 = 75 M samples: over 60 s at 1 M samples/s), --hosts (10000), --lag-seconds (30),
 * --rate (phase 2 samples/s, default 500000), --skip-lag, --profile=<file.cpuprofile> (a V8 CPU
 * profile of this process over phase 1 only; open it in Chrome DevTools, or print the top functions
 * by self time with `node scripts/profile-top.mjs <file>`).
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import {
  aggregatorConfigSchema,
  batchId,
  createLogger,
  encodeBatch,
  type MetricBatch,
  rollUpMinutes,
} from '@tidewatch/shared'
import { BenchHost } from '@tidewatch/shared/bench-data'
import { startNatsServer } from '@tidewatch/shared/testing'
import { startAggregator } from '../aggregator.js'

const { values: flags } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    nats: { type: 'string' },
    ticks: { type: 'string', default: '75' },
    hosts: { type: 'string', default: '10000' },
    'lag-seconds': { type: 'string', default: '30' },
    rate: { type: 'string', default: '500000' },
    'skip-lag': { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
})
const HOSTS = Number(flags.hosts)
const SUBJECT = 'metrics.in'

function figure(name: string, value: number | string, unit: string): void {
  process.stdout.write(`${name}: ${typeof value === 'number' ? Number(value.toFixed(2)) : value} ${unit}\n`)
}

/** Publishes one tick of every host; `at(host)` gives the tick's timestamp. Bounded in-flight publishes. */
async function publishTick(
  js: ReturnType<typeof jetstream>,
  hosts: BenchHost[],
  seq: number,
  at: (host: BenchHost) => number,
  values: Float64Array,
): Promise<number> {
  let bytes = 0
  const pending: Promise<unknown>[] = []
  for (const host of hosts) {
    host.next(values)
    const ts = at(host)
    const batch: MetricBatch = {
      agentId: host.labels.host as string,
      seq,
      createdMs: ts,
      series: host.series.map((s, i) => ({
        name: s.name,
        labels: s.labels,
        timestamps: [ts],
        values: [values[i] as number],
      })),
    }
    const data = encodeBatch(batch)
    bytes += data.byteLength
    pending.push(js.publish(`${SUBJECT}.${batch.agentId}`, data, { msgID: batchId(batch.agentId, seq) }))
    if (pending.length >= 2000) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  return bytes
}

/**
 * Publishes `ticks` ticks of every host; returns the wire bytes. Its own function so that the
 * 10,000 hosts' generators are garbage once it returns: kept alive in the bench's frame, they
 * tripled the live heap the aggregator's garbage collector marks in phase 1 (this process is both).
 */
async function fillBacklog(
  js: ReturnType<typeof jetstream>,
  ticks: number,
  startMs: number,
): Promise<number> {
  const hosts = Array.from({ length: HOSTS }, (_, i) => new BenchHost(i))
  const values = new Float64Array(100)
  let wireBytes = 0
  for (let tick = 0; tick < ticks; tick++) {
    wireBytes += await publishTick(js, hosts, tick + 1, (h) => h.timestampAt(startMs, tick), values)
  }
  return wireBytes
}

async function runPublisher(): Promise<void> {
  const nc = await connect({ servers: flags.nats as string })
  const js = jetstream(nc)
  const hosts = Array.from({ length: HOSTS }, (_, i) => new BenchHost(i))
  const values = new Float64Array(100)
  const rate = Number(flags.rate)
  const seconds = Number(flags['lag-seconds'])
  const hostsPerSecond = rate / 100
  const started = Date.now()
  let seq = 1_000_000
  let probeSeq = 0
  const probe = setInterval(() => {
    const ts = Date.now()
    void js
      .publish(
        `${SUBJECT}.bench-probe`,
        encodeBatch({
          agentId: 'bench-probe',
          seq: ++probeSeq,
          createdMs: ts,
          series: [{ name: 'bench.probe', labels: { host: 'bench-probe' }, timestamps: [ts], values: [ts] }],
        }),
        { msgID: `bench-probe:${probeSeq}` },
      )
      .catch(() => undefined)
  }, 100)
  // Each second, one second's share of hosts, spread in 10 slices of 100 ms.
  let next = 0
  while (Date.now() - started < seconds * 1000) {
    const sliceStart = Date.now()
    const slice = hosts.slice(next, next + hostsPerSecond / 10)
    next = (next + slice.length) % hosts.length
    if (next === 0) seq++
    await publishTick(js, slice, seq, () => Date.now(), values)
    const spare = 100 - (Date.now() - sliceStart)
    if (spare > 0) await new Promise((resolve) => setTimeout(resolve, spare))
  }
  clearInterval(probe)
  await nc.drain()
  process.send?.({ done: true })
}

/** A V8 CPU profile of this process (the aggregator runs in it) until `stop` writes it to a file. */
async function startProfiler(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  await session.post('Profiler.start')
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(file, JSON.stringify(profile))
      session.disconnect()
    },
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

async function runBench(): Promise<void> {
  const ticks = Number(flags.ticks)
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-'))
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') })
  const logger = createLogger({ service: 'bench', level: 'warn', destination: process.stderr })
  figure(
    'machine',
    `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    '',
  )
  try {
    const nc = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(nc)
    const config = aggregatorConfigSchema.parse({
      aggregator: { id: 'bench' },
      nats: { servers: [nats.url] },
      store: { url: `chdb://${join(dir, 'store')}` },
      http: { enabled: false },
      admin: { listen: '', self_metrics_interval: '0s' },
      consumer: { max_ack_pending: 20_000, pull_max_messages: 2_000, ack_wait: '120s' },
      // A backlog is old by the time it is drained: a grace longer than its age keeps every sample on
      // the on-time path (raw only); the roll-up of its minutes is then timed on its own below.
      pipeline: { micro_batch_max_samples: 500_000, micro_batch_max_wait: '300ms', rollup_grace: '30m' },
      streams: { metrics: { max_bytes: 8 * 2 ** 30 } },
    })
    // The aggregator creates the streams; start it once to do so, then stop it to fill a backlog.
    let aggregator = await startAggregator(config, { logger })
    await aggregator.stop()

    const startMs = Date.now() - (ticks + 1) * 10_000
    const publishStarted = performance.now()
    const wireBytes = await fillBacklog(jetstream(nc), ticks, startMs)
    const publishSeconds = (performance.now() - publishStarted) / 1000
    const total = ticks * HOSTS * 100
    figure('phase 1 samples published', total, 'samples')
    figure(
      'phase 1 publish rate (backlog fill, not the measured figure)',
      total / publishSeconds,
      'samples/s',
    )
    figure('wire size', wireBytes / total, 'bytes/sample')
    const info = await jsm.streams.info('METRICS')
    figure('JetStream storage', info.state.bytes / total, 'bytes/sample')

    globalThis.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    const profiler = flags.profile === undefined ? undefined : await startProfiler()
    const started = performance.now()
    aggregator = await startAggregator(config, { logger })
    let lastLog = started
    let peakRss = 0
    while (aggregator.counters.samplesStored < total) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now()
        process.stderr.write(`  ${aggregator.counters.samplesStored} / ${total} samples committed\n`)
      }
    }
    const seconds = (performance.now() - started) / 1000
    if (profiler !== undefined && flags.profile !== undefined) await profiler.stop(flags.profile)
    figure('phase 1 duration', seconds, 's')
    figure('phase 1 throughput, publish backlog -> committed in ClickHouse', total / seconds, 'samples/s')
    figure('aggregator peak RSS (phase 1)', peakRss / 2 ** 20, 'MiB')
    const rollupStarted = performance.now()
    const firstMinute = Math.floor(startMs / 60_000) * 60
    await rollUpMinutes(
      aggregator.store.client,
      'tidewatch',
      firstMinute,
      Math.ceil((startMs + (ticks + 1) * 10_000) / 60_000) * 60,
    )
    const rollupSeconds = (performance.now() - rollupStarted) / 1000
    figure(
      'roll-up of the backlog minutes into samples_1m and samples_1h',
      total / rollupSeconds,
      'raw samples/s',
    )
    figure('phase 1 combined (commit + roll-up)', total / (seconds + rollupSeconds), 'samples/s')
    globalThis.gc?.()
    figure(
      'aggregator heap per active series (series cache + decode cache)',
      (process.memoryUsage().heapUsed - heapBefore) / (HOSTS * 100),
      'bytes/series',
    )

    if (!flags['skip-lag']) {
      const publisher = fork(
        fileURLToPath(import.meta.url),
        [
          '--role=publisher',
          `--nats=${nats.url}`,
          `--rate=${flags.rate}`,
          `--lag-seconds=${flags['lag-seconds']}`,
          `--hosts=${HOSTS}`,
        ],
        {
          execArgv: ['--conditions=source', '--import', 'tsx'],
        },
      )
      const lags: number[] = []
      let seen = 0
      const storedBefore = aggregator.counters.samplesStored
      const phase2Started = performance.now()
      const publishDone = new Promise<void>((resolve) => publisher.on('exit', () => resolve()))
      let publishing = true
      void publishDone.then(() => (publishing = false))
      while (publishing) {
        const result = await aggregator.store.client.query({
          query: `SELECT toUnixTimestamp64Milli(ts) AS ts_ms FROM tidewatch.samples_raw WHERE metric = 'bench.probe' AND ts > fromUnixTimestamp64Milli(toInt64({after:Float64})) ORDER BY ts_ms`,
          query_params: { after: seen },
          format: 'JSONEachRow',
        })
        const now = Date.now()
        for (const row of await result.json<{ ts_ms: string | number }>()) {
          const ts = Number(row.ts_ms)
          lags.push(now - ts)
          seen = Math.max(seen, ts)
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      lags.sort((a, b) => a - b)
      figure('phase 2 rate offered', Number(flags.rate), 'samples/s')
      // The publisher shares the cores: what it managed to send, as committed, is the real load.
      figure(
        'phase 2 rate committed',
        (aggregator.counters.samplesStored - storedBefore) / ((performance.now() - phase2Started) / 1000),
        'samples/s',
      )
      figure('phase 2 probes seen', lags.length, 'probes')
      figure('phase 2 ingest-to-queryable lag p50', percentile(lags, 50), 'ms')
      figure('phase 2 ingest-to-queryable lag p99', percentile(lags, 99), 'ms')
    }

    const client = aggregator.store.client
    await client.command({ query: 'OPTIMIZE TABLE tidewatch.samples_raw FINAL' })
    await client.command({ query: 'OPTIMIZE TABLE tidewatch.samples_1m FINAL' })
    const sizes = await client.query({
      query: `SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS bytes FROM system.parts
              WHERE database = 'tidewatch' AND active AND table IN ('samples_raw', 'samples_1m') GROUP BY table`,
      format: 'JSONEachRow',
    })
    for (const row of await sizes.json<{ table: string; rows: string; bytes: string }>()) {
      const unit = row.table === 'samples_raw' ? 'bytes/sample' : 'bytes/row'
      figure(`on disk after merges, ${row.table}`, Number(row.bytes) / Number(row.rows), unit)
    }
    await aggregator.stop()
    await nc.close()
  } finally {
    await nats.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (flags.role === 'publisher') await runPublisher()
else await runBench()
