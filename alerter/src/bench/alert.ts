/*
 * Latency from publishing a firing AlertEvent (for=0, group_wait=0) to the Slack-like receiver
 * getting the request: real nats-server, real KV, one alerter. Prints p50/p99 in ms, one a line.
 *
 *   npm run bench:alert -w alerter     (BENCH_EVENTS=300 by default)
 */
import { connect } from '@nats-io/transport-node'
import { alerterConfigSchema, createLogger } from '@tidewatch/shared'
import { startNatsServer } from '@tidewatch/shared/testing'
import { Alerter } from '../alerter.js'
import { alertEvent, ensureAlertsStream, publishAlert } from '../testing/events.js'
import { SlackReceiver } from '../testing/slack-receiver.js'

const events = Number(process.env.BENCH_EVENTS ?? 300)
const nats = await startNatsServer()
const receiver = new SlackReceiver()
await receiver.start()
const connection = await connect({ servers: nats.url })
await ensureAlertsStream(connection)
const config = alerterConfigSchema.parse({
  nats: { servers: [nats.url] },
  log: { level: 'warn' },
  route: { receiver: 'slack', group_by: ['alertname', 'host'], group_wait: '0s', group_interval: '5m' },
  receivers: [{ name: 'slack', slack: { webhook_url: receiver.webhookUrl } }],
})
const alerter = new Alerter({ config, logger: createLogger({ service: 'bench', level: 'warn', destination: process.stderr }) })
await alerter.start()

const publishedAt = new Map<string, number>()
for (let i = 0; i < events; i++) {
  const host = `h${i}`
  publishedAt.set(host, performance.now() + performance.timeOrigin)
  await publishAlert(connection, alertEvent('BenchHigh', { host }, 'firing', Date.now()))
  await new Promise((resolve) => setTimeout(resolve, 5))
}
await receiver.waitForLanded(events, 60_000)
const latencies = receiver.landed.map((request) => {
  const host = /host=(h\d+)/.exec(JSON.stringify(request.body))?.[1] ?? ''
  return request.atMs - (publishedAt.get(host) ?? NaN)
})
latencies.sort((a, b) => a - b)
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] as number
process.stdout.write(`events ${events}\n`)
process.stdout.write(`p50_ms ${pct(50).toFixed(1)}\n`)
process.stdout.write(`p99_ms ${pct(99).toFixed(1)}\n`)
process.stdout.write(`max_ms ${latencies[latencies.length - 1]?.toFixed(1)}\n`)
await alerter.stop()
await connection.close()
await receiver.close()
await nats.dispose()
