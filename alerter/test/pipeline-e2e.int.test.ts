/*
 * The whole alerting path, nothing published by hand but metric batches:
 *
 *   encodeBatch ─► nats-server (METRICS) ─► aggregator (in process, chDB in a temp dir, rule file)
 *      ├─ streaming rules ─► ALERTS ─┐
 *      └─ samples_raw ─► HTTP (read-only) ─► alerter's query rules ─► ALERTS
 *                                     ▼
 *                      alerter (in process) ─► Slack-like receiver
 *
 * One aggregator for the file (chDB: one data directory per process). Each case uses its own rule
 * and counts only the messages naming that rule.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { startAggregator, type RunningAggregator } from '@tidewatch/aggregator'
import {
  aggregatorConfigSchema,
  alerterConfigSchema,
  batchId,
  createLogger,
  encodeBatch,
  type MetricBatch,
  type SeriesSamples,
  type NatsConnection,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Alerter } from '../src/alerter.js'
import { SlackReceiver, type ReceivedRequest } from '../src/testing/slack-receiver.js'
import { headerOf, sleep, until } from './helpers.js'

const RULES = `
[[rule]]
name = "e2e_cpu_high"
kind = "threshold"
metric = "cpu.usage_percent"
match = ['env="e2e"']
op = ">"
threshold = 90
labels = { severity = "page" }
annotations.summary = "CPU {{ $value }}% on {{ $labels.host }}"

[[rule]]
name = "e2e_load_sustained"
kind = "threshold"
metric = "load.avg1"
op = ">"
threshold = 5
for = "30s"

# Inhibition: the critical rule comes first, so its event is applied before the warning's.
[[rule]]
name = "e2e_disk_full"
kind = "threshold"
metric = "disk.used_percent"
op = ">"
threshold = 95
labels = { severity = "critical" }

[[rule]]
name = "e2e_disk_filling"
kind = "threshold"
metric = "disk.used_percent"
op = ">"
threshold = 80
labels = { severity = "warning" }

[[rule]]
name = "e2e_net_flappy"
kind = "threshold"
metric = "net.errors"
op = ">"
threshold = 10
flap_window = "1m"
flap_threshold = 2

[[rule]]
name = "e2e_host_down"
kind = "absent"
metric = "heartbeat"
match = ['env="e2e"']
by = ["host"]
# 4 s: the test process runs the aggregator and the alerter too; a shorter pause of its loop must not
# look like the whole pipeline going silent.
for = "4s"
annotations.summary = "{{ $labels.host | default \\"the pipeline\\" }} stopped reporting"

[[rule]]
name = "e2e_web_avg_cpu"
kind = "query"
interval = "1s"
sql = """
SELECT 'web' AS role, avg(value) AS value
FROM tidewatch.samples_raw
WHERE metric = 'web.cpu'
  AND series_id IN (SELECT series_id FROM tidewatch.series WHERE metric = 'web.cpu' AND labels['role'] = 'web')
  AND ts > {now:DateTime64(3)} - INTERVAL 1 MINUTE AND ts <= {now:DateTime64(3)}
HAVING count() > 0
"""
op = ">"
threshold = 80
annotations.summary = "web CPU {{ $value }}%"
`

const logger = createLogger({
  service: 'pipeline-e2e',
  level: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent',
})
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-pipeline-e2e-'))
let nats: NatsServerHandle
let aggregator: RunningAggregator
let alerter: Alerter
let receiver: SlackReceiver
let http: Agent
let connection: NatsConnection
let js: JetStreamClient
let seq = 0
let keepalive: ReturnType<typeof setInterval> | undefined
/** Hosts whose heartbeat the keepalive publishes (so the pipeline is never silent as a whole). */
const beating = new Set(['hb1', 'hb2'])

interface SeriesOptions {
  startMs?: number
  stepMs?: number
  labels?: Record<string, string>
}

function seriesOf(
  host: string,
  metric: string,
  values: number[],
  options: SeriesOptions = {},
): SeriesSamples {
  const start = options.startMs ?? Date.now()
  const step = options.stepMs ?? 1_000
  return {
    name: metric,
    labels: { host, env: 'e2e', ...options.labels },
    timestamps: values.map((_, i) => start + i * step),
    values,
  }
}

/** One batch from agent `e2e-<agent>`. */
async function publishBatch(agent: string, series: SeriesSamples[]): Promise<void> {
  seq++
  const batch: MetricBatch = { agentId: `e2e-${agent}`, seq, createdMs: Date.now(), series }
  await js.publish(`metrics.in.${batch.agentId}`, encodeBatch(batch), { msgID: batchId(batch.agentId, seq) })
}

async function publish(
  host: string,
  metric: string,
  values: number[],
  options: SeriesOptions = {},
): Promise<void> {
  await publishBatch(host, [seriesOf(host, metric, values, options)])
}

const messagesOf = (rule: string): ReceivedRequest[] =>
  receiver.landed.filter((r) => JSON.stringify(r.body).includes(rule))

beforeAll(async () => {
  nats = await startNatsServer()
  const rulesFile = join(dir, 'e2e.toml')
  writeFileSync(rulesFile, RULES)
  aggregator = await startAggregator(
    aggregatorConfigSchema.parse({
      aggregator: { id: 'e2e-aggregator' },
      nats: { servers: [nats.url] },
      store: { url: `chdb://${join(dir, 'store')}` },
      http: { listen: '127.0.0.1:0' },
      admin: { listen: '', self_metrics_interval: '0s' },
      pipeline: { micro_batch_max_wait: '100ms' },
      rules: { files: [rulesFile], tick_interval: '200ms' },
    }),
    { logger },
  )
  connection = await connect({ servers: nats.url })
  js = jetstream(connection)
  receiver = new SlackReceiver()
  await receiver.start()
  http = new Agent({ connectTimeout: 2_000, headersTimeout: 5_000, bodyTimeout: 5_000 })
  const config = alerterConfigSchema.parse({
    alerter: { id: 'e2e-alerter' },
    nats: { servers: [nats.url] },
    leases: { ttl: '2s' },
    notify: { retry_initial_delay: '50ms', retry_max_delay: '500ms' },
    route: {
      receiver: 'slack',
      group_by: ['alertname', 'host'],
      group_wait: '0s',
      group_interval: '500ms',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'slack', slack: { webhook_url: receiver.webhookUrl } }],
    inhibit_rules: [
      { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['host'] },
    ],
    rules: { files: [rulesFile] },
    store: { url: aggregator.httpUrl },
  })
  alerter = new Alerter({ config, logger, httpDispatcher: http })
  await alerter.start()
  keepalive = setInterval(() => {
    for (const host of beating) void publish(host, 'heartbeat', [1]).catch(() => undefined)
  }, 250)
})

afterAll(async () => {
  if (keepalive !== undefined) clearInterval(keepalive)
  await alerter?.stop()
  await connection?.close()
  await aggregator?.stop()
  await receiver?.close()
  await http?.close()
  await nats?.dispose()
  rmSync(dir, { recursive: true, force: true })
})

describe('metric batches -> aggregator -> ALERTS -> alerter -> Slack (real nats-server, chDB, HTTP receiver)', () => {
  it('a threshold crossing gives one firing message; recovery one resolved message', async () => {
    const t = Date.now()
    await publish('c1', 'cpu.usage_percent', [40, 97], { startMs: t })
    await until(() => messagesOf('e2e_cpu_high').length >= 1, 10_000, 'the firing message')
    const [firing] = messagesOf('e2e_cpu_high')
    expect(headerOf(firing!)).toContain('FIRING (1) · e2e_cpu_high')
    expect(JSON.stringify(firing!.body)).toContain('CPU 97% on c1')
    // More samples above the threshold change nothing.
    await publish('c1', 'cpu.usage_percent', [98, 99], { startMs: t + 2_000 })
    await publish('c1', 'cpu.usage_percent', [20], { startMs: t + 4_000 })
    await until(() => messagesOf('e2e_cpu_high').length >= 2, 10_000, 'the resolved message')
    expect(headerOf(messagesOf('e2e_cpu_high')[1]!)).toContain('RESOLVED (1) · e2e_cpu_high')
    await sleep(1_000)
    expect(messagesOf('e2e_cpu_high')).toHaveLength(2)
  })

  it('a `for` that is not met sends nothing (the engine publishes pending, then resolved)', async () => {
    const before = aggregator.rulesCounters.eventsPublished
    const applied = alerter.consumerStats!.applied
    const t = Date.now()
    await publish('l1', 'load.avg1', [9, 9, 1], { startMs: t })
    await until(
      () => aggregator.rulesCounters.eventsPublished >= before + 2,
      10_000,
      'pending and resolved events',
    )
    await until(() => alerter.consumerStats!.applied >= applied + 2, 10_000, 'the alerter to apply both')
    await sleep(1_000)
    expect(messagesOf('e2e_load_sustained')).toHaveLength(0)
  })

  it('a silenced alert sends nothing', async () => {
    await alerter.silences!.add({
      matchers: ['alertname="e2e_cpu_high"', 'host="s1"'],
      durationMs: 3_600_000,
      createdBy: 'test',
      comment: 'maintenance',
    })
    await publish('s1', 'cpu.usage_percent', [99])
    await publish('s2', 'cpu.usage_percent', [99])
    await until(() => messagesOf('host=s2').length >= 1, 10_000, 'the message of the unsilenced host')
    await sleep(1_000)
    expect(messagesOf('host=s1')).toHaveLength(0)
  })

  it('an inhibited alert sends nothing', async () => {
    await publish('d1', 'disk.used_percent', [99])
    await until(() => messagesOf('e2e_disk_full').length >= 1, 10_000, 'the critical message')
    await sleep(1_000)
    expect(messagesOf('e2e_disk_filling')).toHaveLength(0)
    // Without the critical alert on the same host, the warning is sent.
    await publish('d2', 'disk.used_percent', [85])
    await until(() => messagesOf('e2e_disk_filling').length >= 1, 10_000, 'the uninhibited warning')
    expect(JSON.stringify(messagesOf('e2e_disk_filling')[0]!.body)).toContain('host=d2')
  })

  it('a dead host is named', async () => {
    await sleep(800)
    beating.delete('hb2')
    await until(() => messagesOf('e2e_host_down').length >= 1, 10_000, 'the host-down message')
    await sleep(1_000)
    const messages = messagesOf('e2e_host_down')
    expect(messages).toHaveLength(1)
    expect(JSON.stringify(messages[0]!.body)).toContain('hb2 stopped reporting')
    expect(JSON.stringify(messages[0]!.body)).not.toContain('hb1')
  })

  it('a flapping series gives one message', async () => {
    const before = aggregator.rulesCounters.eventsPublished
    await publish('f1', 'net.errors', [20, 0, 20, 0, 20, 0, 20, 0])
    // firing, resolved (one rise is not flapping yet), firing again, then held firing.
    await until(() => aggregator.rulesCounters.eventsPublished >= before + 3, 10_000, 'the flapping events')
    await until(() => messagesOf('e2e_net_flappy').length >= 1, 10_000, 'the firing message')
    await sleep(1_500)
    expect(messagesOf('e2e_net_flappy')).toHaveLength(1)
    expect(headerOf(messagesOf('e2e_net_flappy')[0]!)).toContain('FIRING')
  })

  it('a query rule run by the alerter over the store fires once', async () => {
    const now = Date.now()
    // One batch, so the rule cannot run between the two hosts' samples and fire on one alone.
    await publishBatch('web', [
      seriesOf('w1', 'web.cpu', [88, 92], { startMs: now - 2_000, labels: { role: 'web' } }),
      seriesOf('w2', 'web.cpu', [90, 91], { startMs: now - 2_000, labels: { role: 'web' } }),
    ])
    await until(() => messagesOf('e2e_web_avg_cpu').length >= 1, 15_000, 'the query-rule message')
    expect(JSON.stringify(messagesOf('e2e_web_avg_cpu')[0]!.body)).toContain('web CPU 90.25%')
    await sleep(1_500)
    expect(messagesOf('e2e_web_avg_cpu')).toHaveLength(1)
    expect(alerter.queryRules?.counters.failures).toBe(0)
  })
})
