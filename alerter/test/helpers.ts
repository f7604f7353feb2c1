import { connect } from '@nats-io/transport-node'
import {
  alerterConfigSchema,
  createLogger,
  type AlerterConfig,
  type Logger,
  type NatsConnection,
} from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { Agent } from 'undici'
import { Alerter } from '../src/alerter.js'
import { SlackReceiver } from '../src/testing/slack-receiver.js'
import { ensureAlertsStream } from '../src/testing/events.js'

export interface Harness {
  nats: NatsServerHandle
  connection: NatsConnection
  receiver: SlackReceiver
  logs: string[]
  logger: Logger
  http: Agent
  alerters: Alerter[]
  config(overrides?: Record<string, unknown>): AlerterConfig
  startAlerter(config?: AlerterConfig, id?: string): Promise<Alerter>
  close(): Promise<void>
}

/** A real nats-server, a Slack-like receiver and fast timings (group_wait 0, group_interval 300ms). */
export async function harness(): Promise<Harness> {
  const nats = await startNatsServer()
  const connection = await connect({ servers: nats.url })
  await ensureAlertsStream(connection)
  const receiver = new SlackReceiver()
  await receiver.start()
  const logs: string[] = []
  const logger = createLogger({
    service: 'alerter-test',
    level: 'info',
    destination: { write: (line: string) => void logs.push(line) },
  })
  const http = new Agent({ connectTimeout: 2_000, headersTimeout: 5_000, bodyTimeout: 5_000 })
  const alerters: Alerter[] = []
  const h: Harness = {
    nats,
    connection,
    receiver,
    logs,
    logger,
    http,
    alerters,
    config(overrides = {}) {
      return alerterConfigSchema.parse({
        nats: { servers: [nats.url] },
        leases: { ttl: '1s' },
        notify: { retry_initial_delay: '50ms', retry_max_delay: '500ms' },
        route: {
          receiver: 'slack',
          group_by: ['alertname', 'host'],
          group_wait: '0s',
          group_interval: '300ms',
          repeat_interval: '1h',
        },
        receivers: [{ name: 'slack', slack: { webhook_url: receiver.webhookUrl } }],
        ...overrides,
      })
    },
    async startAlerter(config = h.config(), id = `alerter-${alerters.length + 1}`) {
      const alerter = new Alerter({ config: { ...config, alerter: { id } }, logger, httpDispatcher: http })
      await alerter.start()
      alerters.push(alerter)
      return alerter
    },
    async close() {
      await Promise.allSettled(alerters.map((a) => a.stop()))
      await connection.close()
      await receiver.close()
      await http.close()
      await nats.dispose()
    },
  }
  return h
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check` holds, polling every 20 ms (tests only). */
export async function until(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export function headerOf(request: { body: Record<string, unknown> }): string {
  const attachments = request.body.attachments as
    Array<{ blocks: Array<{ type: string; text?: { text: string } }> }> | undefined
  return attachments?.[0]?.blocks.find((b) => b.type === 'header')?.text?.text ?? String(request.body.text)
}
