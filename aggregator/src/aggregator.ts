import { jetstream, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import {
  connectNats,
  createStore,
  ensureStreams,
  JetStreamAlertPublisher,
  limitsFromConfig,
  loadRuleFiles,
  migrate,
  natsConnectedProbe,
  RetryAbortedError,
  selfAgentId,
  startAdminServer,
  startSelfIngest,
  retryUntilAborted,
  systemClock,
  type AggregatorConfig,
  type Clock,
  type AdminServer,
  type Logger,
  type MetricsRegistry,
  type NatsConnection,
  type SelfIngest,
  type Store,
  StreamingRules,
} from '@tidewatch/shared'
import {
  consumeMetrics,
  createInFlight,
  ensureMetricsConsumer,
  intentHighWaterSeq,
  type InFlight,
  type MetricsConsumerOptions,
} from './sources/nats/metrics-consumer.js'
import { PartitionLeases } from './partitions/leases.js'
import { PartitionGuard, type PartitionMismatch } from './partitions/guard.js'
import { BatchCommitter } from './pipeline/committer.js'
import { createCounters, type PipelineCounters } from './pipeline/counters.js'
import { runPipeline, type AcceptedBranch } from './pipeline/pipeline.js'
import { IntentLog } from './sinks/clickhouse/intent-log.js'
import { createSampleSink } from './sinks/clickhouse/create-sink.js'
import type { SampleSink } from './sinks/clickhouse/sample-sink.js'
import { SeriesResolver } from './sinks/clickhouse/series-resolver.js'
import { RollupCoordinator } from './rollups/coordinator.js'
import { writeSeriesRows } from './sinks/clickhouse/series-writer.js'
import { DecodeCache } from '@tidewatch/shared'
import { DeadLetterPublisher } from './sinks/dlq/dead-letters.js'
import { startEmbeddedHttp, type EmbeddedHttp } from './http/embedded.js'
import { createRulesCounters, rulesBranch, type RulesCounters } from './rules/branch.js'
import { CommitLatency } from './pipeline/commit-latency.js'
import { aggregatorRegistry, ConsumerLag, type RollupStats } from './self/self-metrics.js'

/** How often consumer lag (JetStream consumer info) is refreshed for the self metrics, ms. */
const LAG_REFRESH_MS = 5_000
/** How often the stream is swept for subjects no consumer reads (partition count mismatch), ms. */
const PARTITION_SWEEP_MS = 30_000

export interface AggregatorOptions {
  logger: Logger
  clock?: Clock
  /** Extra branches over accepted batches (streaming alert rules). */
  branches?: AcceptedBranch[]
  /** How long `stop()` waits for buffered batches to commit before abandoning them (they are redelivered). */
  stopTimeoutMs?: number
  /** How often the stream is swept for subjects no consumer reads. Default 30 s. */
  partitionSweepMs?: number
}

export interface RunningAggregator {
  counters: PipelineCounters
  /** Streaming alert rules: batches evaluated, events published (zero without rule files). */
  rulesCounters: RulesCounters
  /** The roll-up job's counters: minutes rolled, held back, watermarks raised by other replicas' roll-ups. */
  rollups: RollupStats
  /** Messages and bytes delivered to this process and not yet acked, summed over its partitions. */
  inFlight: InFlight
  /** Partitions this replica consumes now (`[0]` when the stream is not partitioned). */
  partitions(): number[]
  store: Store
  /** The embedded store's HTTP endpoint, when this process serves one. */
  httpUrl: string | undefined
  /** The aggregator's own metrics (served on /metrics, written into tidewatch). */
  metrics: MetricsRegistry
  /** The admin endpoint (/healthz, /readyz, /metrics), unless `admin.listen` is "". */
  adminUrl: string | undefined
  /** Writes `metrics` into tidewatch every `admin.self_metrics_interval`, unless that is 0. */
  selfIngest: SelfIngest | undefined
  /**
   * Agents publishing with another partition count than `consumer.partitions` (partitions/guard.ts):
   * the subject and reason, or undefined. /readyz answers 503 with the reason meanwhile.
   */
  partitionMismatch(): PartitionMismatch | undefined
  /** Connected to NATS, the pipeline running, the partition counts agreeing: what /readyz answers. */
  ready(): boolean
  /** Resolves when the pipeline ends by itself (it should not) or after stop(). */
  done: Promise<void>
  stop(): Promise<void>
}

/** Starts one aggregator replica: store and migrations, HTTP endpoint (embedded), streams, consumer, pipeline. */
export async function startAggregator(
  config: AggregatorConfig,
  options: AggregatorOptions,
): Promise<RunningAggregator> {
  const logger = options.logger.child({ aggregator_id: config.aggregator.id })
  const clock = options.clock ?? systemClock
  // Rule files are checked before anything starts: a bad one stops the aggregator with every problem.
  const rules = new StreamingRules(loadRuleFiles(config.rules.files), { source: config.aggregator.id })
  const rulesCounters = createRulesCounters()
  const rulesAbort = new AbortController()

  const store = createStore(config.store, { logger })
  // Shared by every partition this replica runs: one store writer, one series cache, one decode cache.
  const sink: SampleSink = createSampleSink(config.store, store)
  const resolver = new SeriesResolver({ maxSeriesPerMetric: config.pipeline.max_series_per_metric })
  const decodeCache = new DecodeCache()
  const rollups = new RollupCoordinator({
    store,
    clock,
    logger: logger.child({ component: 'rollups' }),
    graceMs: config.pipeline.rollup_grace,
    intervalMs: config.pipeline.rollup_interval,
    startupHoldMs: config.consumer.ack_wait,
    replicaId: config.aggregator.id,
  })
  let nats: NatsConnection | undefined
  let http: EmbeddedHttp | undefined
  let admin: AdminServer | undefined
  let selfIngest: SelfIngest | undefined
  let lag: ConsumerLag | undefined
  let sweepTimer: NodeJS.Timeout | undefined
  let closing = false
  const closeAll = async (): Promise<void> => {
    closing = true
    rulesAbort.abort()
    clearTimeout(sweepTimer)
    await selfIngest?.stop()
    await lag?.stop()
    await admin?.close().catch(() => undefined)
    await nats?.drain().catch(() => undefined)
    await http?.close().catch(() => undefined)
    await rollups.stop()
    await sink.close().catch(() => undefined)
    await store.close().catch(() => undefined)
  }
  try {
    await migrate(store, { retention: config.retention, logger })
    await rollups.start()
    if (store.kind === 'embedded' && config.http.enabled) {
      http = await startEmbeddedHttp(config, store, logger, { nats: () => nats })
    }

    nats = await connectNats(config.nats, { name: `tidewatch-aggregator ${config.aggregator.id}`, logger })
    const manager = await ensureStreams(nats, [
      config.streams.metrics,
      config.streams.dlq,
      config.streams.alerts,
    ])
    const counters = createCounters()
    const inFlight = createInFlight()
    const metricsPrefix = metricsSubjectPrefix(config)
    const guard = new PartitionGuard({
      prefix: metricsPrefix,
      partitions: config.consumer.partitions,
      stream: config.streams.metrics.name,
      clock,
      logger: logger.child({ component: 'partitions' }),
    })
    if (config.consumer.partitions > 1) {
      const sweep = (): void => {
        guard
          .sweep(manager)
          .catch((error: unknown) =>
            logger.debug({ err: error }, 'cannot sweep the stream for unread subjects'),
          )
          .finally(() => {
            if (closing) return
            sweepTimer = setTimeout(sweep, options.partitionSweepMs ?? PARTITION_SWEEP_MS)
            sweepTimer.unref()
          })
      }
      sweep()
    }
    const latency = new CommitLatency()
    const deadLetters = new DeadLetterPublisher(
      jetstream(nats),
      (config.streams.dlq.subjects[0] ?? 'metrics.dlq.>').replace(/\.>$|\.\*$/, ''),
      config.streams.metrics.name,
    )
    // One evaluator for every partition of this replica (partitions split by host, so a series
    // stays in one); each partition's pipeline feeds it through its own branch.
    const branches: AcceptedBranch[] = [...(options.branches ?? [])]
    if (rules.ruleCount > 0) {
      branches.push(
        rulesBranch({
          rules,
          publisher: new JetStreamAlertPublisher(jetstream(nats)),
          clock,
          tickIntervalMs: config.rules.tick_interval,
          logger: logger.child({ component: 'rules' }),
          signal: rulesAbort.signal,
          counters: rulesCounters,
        }),
      )
    }
    const partitionRuns = new Map<number, PartitionRun>()
    let failed: (error: unknown) => void = () => undefined
    let pipelineFailed = false
    const failure = new Promise<never>((_, reject) => {
      failed = (error) => {
        pipelineFailed = true
        reject(error)
      }
    })
    failure.catch(() => undefined)
    const startPartition = async (partition: number): Promise<void> => {
      const run = await runPartition({
        config,
        manager,
        store,
        sink,
        resolver,
        rollups,
        decodeCache,
        partition,
        logger,
        clock,
        counters,
        inFlight,
        deadLetters,
        branches,
        latency,
        guard,
      })
      partitionRuns.set(partition, run)
      run.done.catch((error: unknown) => {
        if (!run.stopping) failed(error)
      })
    }
    const stopPartition = async (partition: number): Promise<void> => {
      const run = partitionRuns.get(partition)
      if (run === undefined) return
      partitionRuns.delete(partition)
      await run.stop(options.stopTimeoutMs ?? 10_000)
    }

    let leases: PartitionLeases | undefined
    if (config.consumer.partitions === 1) {
      await startPartition(0)
    } else {
      const kv = await new Kvm(nats).create(config.consumer.lease_bucket, {
        ttl: config.consumer.lease_ttl,
        history: 1,
      })
      leases = new PartitionLeases({
        kv,
        replicaId: config.aggregator.id,
        partitions: config.consumer.partitions,
        ttlMs: config.consumer.lease_ttl,
        clock,
        logger: logger.child({ component: 'partitions' }),
        acquire: startPartition,
        release: stopPartition,
      })
      await leases.start()
    }
    const owned = leases
    const partitions = (): number[] => (owned !== undefined ? owned.partitions : [...partitionRuns.keys()])
    lag = new ConsumerLag({
      manager,
      stream: config.streams.metrics.name,
      consumers: () => partitions().map((k) => consumerNameOf(config, k)),
      intervalMs: LAG_REFRESH_MS,
      logger,
    })
    lag.start()
    const metrics = aggregatorRegistry({
      id: config.aggregator.id,
      rollups,
      partitionGuard: guard,
      counters,
      rulesCounters,
      inFlight,
      partitions,
      lag,
      latency,
      clock,
    })
    const natsConnected = natsConnectedProbe(nats)
    let stopRequested = false
    const ready = (): boolean =>
      natsConnected() && !pipelineFailed && !stopRequested && guard.mismatch === undefined
    if (config.admin.listen !== '') {
      admin = await startAdminServer({
        listen: config.admin.listen,
        registry: metrics,
        ready,
        notReadyReason: () => guard.mismatch?.reason,
        logger: logger.child({ component: 'admin' }),
      })
    }
    if (config.admin.self_metrics_interval > 0) {
      const agentId = selfAgentId('aggregator', config.aggregator.id)
      // The subject an agent of that id would use, so the series land in the partition that agent's would.
      const prefix = metricsSubjectPrefix(config)
      selfIngest = startSelfIngest({
        connection: nats,
        registry: metrics,
        agentId,
        subjectPrefix: prefix,
        partitions: config.consumer.partitions,
        intervalMs: config.admin.self_metrics_interval,
        clock,
        logger,
      })
    }
    let resolveStopped: () => void = () => undefined
    const stopped = new Promise<void>((resolve) => {
      resolveStopped = resolve
    })
    const done = Promise.race([stopped, failure])
    const statsTimer = setInterval(
      () =>
        logger.info(
          { counters, in_flight: inFlight, partitions: [...partitionRuns.keys()] },
          'aggregator counters',
        ),
      60_000,
    )
    statsTimer.unref()
    logger.info(
      {
        stream: config.streams.metrics.name,
        partitions: config.consumer.partitions,
        streaming_rules: rules.ruleCount,
      },
      'aggregator started',
    )

    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        clearInterval(statsTimer)
        stopRequested = true
        if (owned !== undefined) await owned.stop()
        else await stopPartition(0)
        await closeAll()
        resolveStopped()
        logger.info({ counters }, 'aggregator stopped')
      })()
      return stopping
    }
    return {
      counters,
      rollups,
      rulesCounters,
      inFlight,
      partitions,
      partitionMismatch: () => guard.mismatch,
      store,
      httpUrl: http?.url,
      metrics,
      adminUrl: admin?.url,
      selfIngest,
      ready,
      done,
      stop,
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}

interface PartitionRun {
  stopping: boolean
  done: Promise<void>
  /** Stops taking messages, commits what is buffered (up to `timeoutMs`, then abandons it to redelivery). */
  stop(timeoutMs: number): Promise<void>
}

/**
 * One partition's consumer, committer and pipeline. With an unpartitioned stream (partitions = 1)
 * this is the consumer `durable_name` over the whole stream; otherwise `<durable_name>-p<k>`
 * filtered on `<prefix>.<k>.>`. The intent log is keyed by the consumer, so whichever replica
 * takes a partition over recovers its uncommitted batches.
 */
async function runPartition(args: {
  config: AggregatorConfig
  manager: JetStreamManager
  store: Store
  sink: SampleSink
  resolver: SeriesResolver
  rollups: RollupCoordinator
  decodeCache: DecodeCache
  partition: number
  logger: Logger
  clock: Clock
  counters: PipelineCounters
  inFlight: InFlight
  deadLetters: DeadLetterPublisher
  branches: AcceptedBranch[]
  latency: CommitLatency
  guard: PartitionGuard
}): Promise<PartitionRun> {
  const { config, manager, partition, clock, counters } = args
  const partitioned = config.consumer.partitions > 1
  const prefix = metricsSubjectPrefix(config)
  const consumerOptions: MetricsConsumerOptions = {
    stream: config.streams.metrics.name,
    durableName: consumerNameOf(config, partition),
    filterSubject: partitioned ? `${prefix}.${partition}.>` : undefined,
    maxAckPending: config.consumer.max_ack_pending,
    ackWaitMs: config.consumer.ack_wait,
    pullMaxMessages: config.consumer.pull_max_messages,
  }
  await ensureMetricsConsumer(args.manager, consumerOptions)
  const logger = partitioned ? args.logger.child({ partition }) : args.logger
  const abort = new AbortController()
  const consumerName = `${consumerOptions.stream}/${consumerOptions.durableName}`
  const store = args.store
  const seenUpToSeq = (): Promise<number> =>
    retryUntilAborted(() => intentHighWaterSeq(store.client, store.database, consumerName), {
      signal: abort.signal,
      maxDelayMs: 5_000,
      onRetry: (error, attempt) =>
        logger.warn({ err: error, attempt }, 'cannot read the intent log; retrying'),
    })
  const committer = new BatchCommitter({
    consumerName,
    intentLog: new IntentLog(store.client, store.database, consumerName),
    sink: args.sink,
    resolver: args.resolver,
    rollups: args.rollups,
    writeSeries: (rows) => writeSeriesRows(store.client, store.database, rows),
    clock,
    logger: logger.child({ component: 'committer' }),
    counters,
    signal: abort.signal,
    workingIntervalMs: Math.max(1_000, Math.floor(config.consumer.ack_wait / 3)),
    retryBaseDelayMs: config.pipeline.retry_delay,
    recoveryRecheckMs: 5_000,
    latency: args.latency,
  })
  const pipeline = runPipeline({
    source: consumeMetrics(manager, consumerOptions, logger, {
      maxInFlightMessages: config.consumer.max_ack_pending,
      maxInFlightBytes: config.consumer.max_in_flight_bytes,
      pullMaxBytes: config.consumer.pull_max_bytes,
      inFlight: args.inFlight,
      seenUpToSeq,
    }),
    limits: limitsFromConfig(config.limits),
    decodeCache: args.decodeCache,
    clock,
    committer,
    deadLetters: args.deadLetters,
    counters,
    logger: logger.child({ component: 'pipeline' }),
    signal: abort.signal,
    microBatchMaxSamples: config.pipeline.micro_batch_max_samples,
    microBatchMaxWaitMs: config.pipeline.micro_batch_max_wait,
    housekeepingIntervalMs: 5_000,
    branches: args.branches,
    checkSubject: (subject) => args.guard.check(subject),
  })
  const done = pipeline.done.catch((error: unknown) => {
    if (!(error instanceof RetryAbortedError)) throw error
  })
  logger.info(
    { consumer: consumerOptions.durableName, filter: consumerOptions.filterSubject ?? null },
    'consuming',
  )
  const run: PartitionRun = {
    stopping: false,
    done,
    stop: async (timeoutMs) => {
      run.stopping = true
      pipeline.stop()
      const timeout = setTimeout(() => abort.abort(), timeoutMs)
      await done.catch((error: unknown) => logger.error({ err: error }, 'pipeline ended with an error'))
      clearTimeout(timeout)
    },
  }
  return run
}

/** The durable consumer of one partition: `durable_name`, or `<durable_name>-p<k>` when partitioned. */
function consumerNameOf(config: AggregatorConfig, partition: number): string {
  return config.consumer.partitions > 1
    ? `${config.consumer.durable_name}-p${partition}`
    : config.consumer.durable_name
}

/** The agents' subject prefix, `metrics.in` of `metrics.in.>`: partitions and agent ids follow it. */
function metricsSubjectPrefix(config: AggregatorConfig): string {
  return (config.streams.metrics.subjects[0] ?? 'metrics.in.>').replace(/\.>$|\.\*$/, '')
}
