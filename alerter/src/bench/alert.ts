/*
 * Alert latency through the whole path: from publishing the metric batch whose sample crosses a
 * threshold to the Slack-like receiver getting the request.
 *
 *   encodeBatch ─► nats-server (METRICS) ─► aggregator (chDB in a temp dir; streaming rule, for = 0)
 *     ─► ALERTS ─► alerter (KV state, group_wait = 0) ─► local HTTP receiver
 *
 * Real nats-server, real chDB, aggregator and alerter in this process (as one host would run them;
 * the receiver stamps arrival with the same clock as the publisher). Each crossing is a new host, so
 * a new alert and a new group every time. Prints p50/p99/max in ms, one a line.
 *
 *   npm run bench:alert                (BENCH_EVENTS=300, BENCH_WARMUP=20, BENCH_GAP_MS=20)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { startAggregator } from '@tidewatch/aggregator'
import {
  aggregatorConfigSchema,
  alerterConfigSchema,
  batchId,
  createLogger,
  encodeBatch,
} from '@tidewatch/shared'
import { startNatsServer } from '@tidewatch/shared/testing'
import { Alerter } from '../alerter.js'
import { SlackReceiver } from '../testing/slack-receiver.js'

const events = Number(process.env.BENCH_EVENTS ?? 300)
const warmup = Number(process.env.BENCH_WARMUP ?? 20)
const gapMs = Number(process.env.BENCH_GAP_MS ?? 20)

const dir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-alert-'))
const rulesFile = join(dir, 'bench.toml')
writeFileSync(
  rulesFile,
  `[[rule]]\nname = "BenchHigh"\nkind = "threshold"\nmetric = "cpu.usage_percent"\nop = ">"\nthreshold = 90\nannotations.summary = "CPU {{ $value }}% on {{ $labels.host }}"\n`,
)
const logger = createLogger({ service: 'bench-alert', level: 'warn', destination: process.stderr })
const nats = await startNatsServer()
const receiver = new SlackReceiver()
await receiver.start()
const aggregator = await startAggregator(
  aggregatorConfigSchema.parse({
    nats: { servers: [nats.url] },
    store: { url: `chdb://${join(dir, 'store')}` },
    http: { listen: '127.0.0.1:0' },
    admin: { listen: '', self_metrics_interval: '0s' },
    rules: { files: [rulesFile] },
  }),
  { logger },
)
const alerter = new Alerter({
  config: alerterConfigSchema.parse({
    nats: { servers: [nats.url] },
    route: { receiver: 'slack', group_by: ['alertname', 'host'], group_wait: '0s', group_interval: '5m' },
    receivers: [{ name: 'slack', slack: { webhook_url: receiver.webhookUrl } }],
  }),
  logger,
})
await alerter.start()
const connection = await connect({ servers: nats.url })
const js = jetstream(connection)

const publishedAt = new Map<string, number>()
const total = warmup + events
for (let i = 0; i < total; i++) {
  const host = `h${i}`
  const now = Date.now()
  const batch = {
    agentId: host,
    seq: 1,
    createdMs: now,
    series: [{ name: 'cpu.usage_percent', labels: { host }, timestamps: [now], values: [95] }],
  }
  const payload = encodeBatch(batch)
  publishedAt.set(host, Date.now())
  await js.publish(`metrics.in.${host}`, payload, { msgID: batchId(host, 1) })
  await new Promise((resolve) => setTimeout(resolve, gapMs))
}
await receiver.waitForLanded(total, 60_000)
const latencies: number[] = []
for (const request of receiver.landed) {
  const host = /host=(h\d+)/.exec(JSON.stringify(request.body))?.[1] ?? ''
  if (Number(host.slice(1)) < warmup) continue
  latencies.push(request.atMs - (publishedAt.get(host) ?? NaN))
}
latencies.sort((a, b) => a - b)
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] as number
process.stdout.write(`alerts ${latencies.length} (sample publish -> Slack request; aggregator + alerter)\n`)
process.stdout.write(`p50 ${pct(50).toFixed(1)} ms\n`)
process.stdout.write(`p99 ${pct(99).toFixed(1)} ms\n`)
process.stdout.write(`max ${latencies[latencies.length - 1]?.toFixed(1)} ms\n`)
await connection.close()
await alerter.stop()
await aggregator.stop()
await receiver.close()
await nats.dispose()
rmSync(dir, { recursive: true, force: true })
