import { jetstream } from '@nats-io/jetstream'
import {
  connectNats,
  createStore,
  ensureStreams,
  limitsFromConfig,
  migrate,
  RetryAbortedError,
  systemClock,
  type AggregatorConfig,
  type Clock,
  type Logger,
  type NatsConnection,
  type Store,
} from '@tidewatch/shared'
import { consumeMetrics, ensureMetricsConsumer, type MetricsConsumerOptions } from './sources/nats/metrics-consumer.js'
import { BatchCommitter } from './pipeline/committer.js'
import { createCounters, type PipelineCounters } from './pipeline/counters.js'
import { runPipeline, type AcceptedBranch, type RunningPipeline } from './pipeline/pipeline.js'
import { IntentLog } from './sinks/clickhouse/intent-log.js'
import { SeriesRegistry } from './sinks/clickhouse/series-registry.js'
import { ClickHouseSampleWriter } from './sinks/clickhouse/writer.js'
import { DeadLetterPublisher } from './sinks/dlq/dead-letters.js'
import { startEmbeddedHttp, type EmbeddedHttp } from './http/embedded.js'

export interface AggregatorOptions {
  logger: Logger
  clock?: Clock
  /** Extra branches over accepted batches (streaming alert rules). */
  branches?: AcceptedBranch[]
  /** How long `stop()` waits for buffered batches to commit before abandoning them (they are redelivered). */
  stopTimeoutMs?: number
}

export interface RunningAggregator {
  counters: PipelineCounters
  store: Store
  /** The embedded store's HTTP endpoint, when this process serves one. */
  httpUrl: string | undefined
  /** Resolves when the pipeline ends by itself (it should not) or after stop(). */
  done: Promise<void>
  stop(): Promise<void>
}

/** Starts one aggregator replica: store and migrations, HTTP endpoint (embedded), streams, consumer, pipeline. */
export async function startAggregator(config: AggregatorConfig, options: AggregatorOptions): Promise<RunningAggregator> {
  const logger = options.logger.child({ aggregator_id: config.aggregator.id })
  const clock = options.clock ?? systemClock
  const abort = new AbortController()

  const store = createStore(config.store, { logger })
  let nats: NatsConnection | undefined
  let http: EmbeddedHttp | undefined
  let pipeline: RunningPipeline | undefined
  const closeAll = async (): Promise<void> => {
    await nats?.drain().catch(() => undefined)
    await http?.close().catch(() => undefined)
    await store.close().catch(() => undefined)
  }
  try {
    await migrate(store, { retention: config.retention, logger })
    if (store.kind === 'embedded' && config.http.enabled) {
      http = await startEmbeddedHttp(config, store, logger)
    }

    nats = await connectNats(config.nats, { name: `tidewatch-aggregator ${config.aggregator.id}`, logger })
    const manager = await ensureStreams(nats, [config.streams.metrics, config.streams.dlq])
    const consumerOptions: MetricsConsumerOptions = {
      stream: config.streams.metrics.name,
      durableName: config.consumer.durable_name,
      filterSubject: undefined,
      maxAckPending: config.consumer.max_ack_pending,
      ackWaitMs: config.consumer.ack_wait,
      pullMaxMessages: config.consumer.pull_max_messages,
    }
    await ensureMetricsConsumer(manager, consumerOptions)

    const counters = createCounters()
    const committer = new BatchCommitter({
      consumerName: `${config.streams.metrics.name}/${config.consumer.durable_name}`,
      intentLog: new IntentLog(store.client, store.database, `${config.streams.metrics.name}/${config.consumer.durable_name}`),
      writer: new ClickHouseSampleWriter(store.client, store.database),
      registry: new SeriesRegistry(),
      clock,
      logger: logger.child({ component: 'committer' }),
      counters,
      signal: abort.signal,
      workingIntervalMs: Math.max(1_000, Math.floor(config.consumer.ack_wait / 3)),
      recoveryRecheckMs: 5_000,
    })
    const dlqSubjectPrefix = (config.streams.dlq.subjects[0] ?? 'metrics.dlq.>').replace(/\.>$|\.\*$/, '')
    pipeline = runPipeline({
      source: consumeMetrics(manager, consumerOptions, logger),
      limits: limitsFromConfig(config.limits),
      clock,
      committer,
      deadLetters: new DeadLetterPublisher(jetstream(nats), dlqSubjectPrefix, config.streams.metrics.name),
      counters,
      logger: logger.child({ component: 'pipeline' }),
      signal: abort.signal,
      microBatchMaxSamples: config.pipeline.micro_batch_max_samples,
      microBatchMaxWaitMs: config.pipeline.micro_batch_max_wait,
      housekeepingIntervalMs: 5_000,
      branches: options.branches ?? [],
    })
    const running = pipeline
    const done = running.done.catch((error: unknown) => {
      if (!(error instanceof RetryAbortedError)) throw error
    })
    const statsTimer = setInterval(() => logger.info({ counters }, 'aggregator counters'), 60_000)
    statsTimer.unref()
    logger.info({ stream: consumerOptions.stream, consumer: consumerOptions.durableName }, 'aggregator started')

    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        clearInterval(statsTimer)
        running.stop()
        const timeout = setTimeout(() => abort.abort(), options.stopTimeoutMs ?? 10_000)
        await done.catch((error: unknown) => logger.error({ err: error }, 'pipeline ended with an error'))
        clearTimeout(timeout)
        await closeAll()
        logger.info({ counters }, 'aggregator stopped')
      })()
      return stopping
    }
    return { counters, store, httpUrl: http?.url, done, stop }
  } catch (error) {
    abort.abort()
    pipeline?.stop()
    await closeAll()
    throw error
  }
}
