import { jetstreamManager, type ConsumerInfo, type StreamInfo } from '@nats-io/jetstream'
import { connectNats, type AgentConfig, type Clock, type Logger } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type NatsJetstreamConfig = AgentConfig['inputs']['nats_jetstream']

/**
 * Per stream (label stream): jetstream.stream_messages, jetstream.stream_bytes,
 * jetstream.stream_consumers. Per consumer (labels stream, consumer): jetstream.consumer_num_pending
 * (messages not yet delivered), jetstream.consumer_num_ack_pending (delivered, not acked),
 * jetstream.consumer_num_redelivered, jetstream.consumer_num_waiting (pull requests waiting).
 *
 * Uses JetStream's API over a NATS connection (the same credentials an application uses) rather
 * than the HTTP monitoring port, which is often not exposed. It connects per gather and closes
 * after: the Input contract has no close(), and one connection every interval is cheap.
 */
export class NatsJetstreamInput implements Input {
  readonly name = 'nats_jetstream'
  private readonly clock: Clock
  private readonly log: Logger

  constructor(
    private readonly config: NatsJetstreamConfig,
    deps: InputDeps,
  ) {
    this.clock = deps.clock
    // connectNats logs each connect at info: per gather that is noise.
    this.log = deps.logger.child({ input: 'nats_jetstream' }, { level: 'warn' })
  }

  async init(): Promise<void> {}

  async gather(accumulator: Accumulator, signal?: AbortSignal): Promise<void> {
    const c = this.config
    const connection = await connectNats(
      {
        servers: c.servers,
        ...(c.user !== undefined ? { user: c.user } : {}),
        ...(c.password !== undefined ? { password: c.password } : {}),
        ...(c.token !== undefined ? { token: c.token } : {}),
        ...(c.creds_file !== undefined ? { creds_file: c.creds_file } : {}),
        name: 'tidewatch-agent nats_jetstream input',
        connect_timeout: c.timeout,
        reconnect_wait: 1_000,
        tls: {},
      },
      { name: 'tidewatch-agent nats_jetstream input', logger: this.log },
    )
    const onAbort = (): void => void connection.close()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const manager = await jetstreamManager(connection, { timeout: c.timeout })
      const timestampMs = this.clock.now()
      const streams: StreamInfo[] = []
      if (c.streams.length > 0) {
        for (const name of c.streams) streams.push(await manager.streams.info(name))
      } else {
        for await (const info of manager.streams.list()) streams.push(info)
      }
      for (const info of streams) {
        const stream = info.config.name
        const labels = { stream }
        accumulator.add('jetstream.stream_messages', labels, info.state.messages, timestampMs)
        accumulator.add('jetstream.stream_bytes', labels, info.state.bytes, timestampMs)
        accumulator.add('jetstream.stream_consumers', labels, info.state.consumer_count, timestampMs)
        if (!c.consumers) continue
        const consumers: ConsumerInfo[] = []
        for await (const consumer of manager.consumers.list(stream)) consumers.push(consumer)
        for (const consumer of consumers) {
          const cl = { stream, consumer: consumer.name }
          accumulator.add('jetstream.consumer_num_pending', cl, consumer.num_pending, timestampMs)
          accumulator.add('jetstream.consumer_num_ack_pending', cl, consumer.num_ack_pending, timestampMs)
          accumulator.add('jetstream.consumer_num_redelivered', cl, consumer.num_redelivered, timestampMs)
          accumulator.add('jetstream.consumer_num_waiting', cl, consumer.num_waiting, timestampMs)
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      await connection.close().catch(() => undefined)
    }
  }
}

export const natsJetstreamInput: InputFactory<'nats_jetstream'> = {
  name: 'nats_jetstream',
  create: (config, deps) => new NatsJetstreamInput(config, deps),
}
