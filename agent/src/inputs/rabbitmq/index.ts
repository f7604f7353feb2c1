import { httpGet } from '../http-client.js'
import type { AgentConfig, Clock } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type RabbitmqConfig = AgentConfig['inputs']['rabbitmq']

/** The fields of one element of GET /api/queues this input reads. */
export interface QueueInfo {
  name: string
  vhost: string
  messages?: number
  messages_ready?: number
  messages_unacknowledged?: number
  consumers?: number
  message_stats?: {
    publish?: number
    publish_details?: { rate?: number }
    deliver_get?: number
    deliver_get_details?: { rate?: number }
  }
}

/** Only these columns are asked for, so a broker with thousands of queues answers a small document. */
/** Largest management API answer read, bytes (about 2 KB a queue with the columns asked for). */
const MAX_BODY_BYTES = 64 * 1024 * 1024

export const QUEUE_COLUMNS = [
  'name',
  'vhost',
  'messages',
  'messages_ready',
  'messages_unacknowledged',
  'consumers',
  'message_stats.publish',
  'message_stats.publish_details.rate',
  'message_stats.deliver_get',
  'message_stats.deliver_get_details.rate',
].join(',')

/**
 * Per queue (labels vhost, queue), from the management plugin's HTTP API: rabbitmq.queue_messages,
 * rabbitmq.queue_messages_ready, rabbitmq.queue_messages_unacked, rabbitmq.queue_consumers,
 * rabbitmq.queue_publish_per_second and rabbitmq.queue_deliver_per_second (the broker's own rates,
 * 0 before any traffic), and the counters rabbitmq.queue_published_total and
 * rabbitmq.queue_delivered_total once the broker has seen traffic on the queue.
 */
export class RabbitmqInput implements Input {
  readonly name = 'rabbitmq'
  private readonly clock: Clock
  private endpoint: URL | undefined

  constructor(
    private readonly config: RabbitmqConfig,
    deps: InputDeps,
  ) {
    this.clock = deps.clock
  }

  async init(): Promise<void> {
    let base: URL
    try {
      base = new URL(this.config.url)
    } catch {
      throw new Error(`inputs.rabbitmq.url: "${this.config.url}" is not a URL`)
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new Error('inputs.rabbitmq.url must be http or https')
    const endpoint = new URL(`${base.pathname.replace(/\/$/, '')}/api/queues`, base)
    endpoint.searchParams.set('columns', QUEUE_COLUMNS)
    endpoint.searchParams.set('disable_stats', 'false')
    this.endpoint = endpoint
  }

  async gather(accumulator: Accumulator, signal?: AbortSignal): Promise<void> {
    if (this.endpoint === undefined) await this.init()
    const timestampMs = this.clock.now()
    const auth = Buffer.from(`${this.config.username}:${this.config.password}`).toString('base64')
    const response = await httpGet(this.endpoint as URL, {
      headers: { authorization: `Basic ${auth}`, accept: 'application/json' },
      signal,
      timeoutMs: this.config.timeout,
      maxBodyBytes: MAX_BODY_BYTES,
    })
    if (response.statusCode !== 200) throw new Error(`management API answered HTTP ${response.statusCode}`)
    const queues = JSON.parse(response.body.toString('utf8')) as QueueInfo[]
    if (!Array.isArray(queues)) throw new Error('management API did not return a list of queues')
    const wanted = this.config.queues.length > 0 ? new Set(this.config.queues) : undefined
    for (const q of queues) {
      if (wanted !== undefined && !wanted.has(q.name)) continue
      const labels = { vhost: q.vhost, queue: q.name }
      const add = (name: string, value: number | undefined): void => {
        if (typeof value === 'number') accumulator.add(name, labels, value, timestampMs)
      }
      add('rabbitmq.queue_messages', q.messages)
      add('rabbitmq.queue_messages_ready', q.messages_ready)
      add('rabbitmq.queue_messages_unacked', q.messages_unacknowledged)
      add('rabbitmq.queue_consumers', q.consumers)
      add('rabbitmq.queue_publish_per_second', q.message_stats?.publish_details?.rate ?? 0)
      add('rabbitmq.queue_deliver_per_second', q.message_stats?.deliver_get_details?.rate ?? 0)
      add('rabbitmq.queue_published_total', q.message_stats?.publish)
      add('rabbitmq.queue_delivered_total', q.message_stats?.deliver_get)
    }
  }
}

export const rabbitmqInput: InputFactory<'rabbitmq'> = {
  name: 'rabbitmq',
  create: (config, deps) => new RabbitmqInput(config, deps),
}
