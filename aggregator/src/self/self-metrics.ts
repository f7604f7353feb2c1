/*
 * The aggregator's own metrics, read from the state it already keeps:
 *
 *   PipelineCounters, InFlight, RulesCounters, partitions() ─┐
 *   CommitLatency (committer)                               ├─► MetricsRegistry ─► /metrics (admin server)
 *   ConsumerLag (JetStream consumer info, every few s)      ┘                    └► self-ingest ─► METRICS
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import { MetricsRegistry, type Clock, type Logger } from '@tidewatch/shared'
import type { RulesCounters } from '../rules/branch.js'
import type { CommitLatency } from '../pipeline/commit-latency.js'
import type { PipelineCounters } from '../pipeline/counters.js'
import type { InFlight } from '../sources/nats/metrics-consumer.js'

export interface ConsumerLagOptions {
  manager: JetStreamManager
  stream: string
  /** The durable consumers this replica runs now (one per partition it owns). */
  consumers: () => string[]
  /** ms between two refreshes. */
  intervalMs: number
  logger: Logger
}

/**
 * `num_pending` (in the stream, not yet delivered) and `num_ack_pending` (delivered, not acked) of
 * this replica's consumers, refreshed in the background: a scrape or a self-report reads the last
 * values and never waits on JetStream. Refreshes never overlap; the timer is unref'd; a failed
 * refresh keeps the previous values and is counted.
 */
export class ConsumerLag {
  readonly byConsumer = new Map<string, { pending: number; ackPending: number }>()
  errors = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false
  private running: Promise<void> | undefined

  constructor(private readonly options: ConsumerLagOptions) {}

  start(): void {
    this.running = this.refresh()
  }

  /** One refresh of every consumer's info (tests call it to skip the wait). */
  async refresh(): Promise<void> {
    const names = this.options.consumers()
    for (const name of [...this.byConsumer.keys()]) if (!names.includes(name)) this.byConsumer.delete(name)
    for (const name of names) {
      try {
        const info = await this.options.manager.consumers.info(this.options.stream, name)
        this.byConsumer.set(name, { pending: info.num_pending, ackPending: info.num_ack_pending })
      } catch (error) {
        this.errors++
        this.options.logger.debug(
          { err: error, consumer: name },
          'cannot read consumer info for the lag metric',
        )
      }
    }
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.running = this.refresh()
    }, this.options.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }
}

/** The roll-up job's counters (rollups/coordinator.ts). */
export interface RollupStats {
  minutesRolled: number
  rollupErrors: number
  rollupsHeldBack: number
  watermarksRaised: number
  claimWaits: number
}

/** The partition-count check (partitions/guard.ts). */
export interface PartitionCheck {
  mismatch: unknown
  mismatchedMessages: number
  unreadSubjects: number
}

export interface AggregatorMetricsSources {
  id: string
  rollups: RollupStats
  partitionGuard: PartitionCheck
  counters: PipelineCounters
  rulesCounters: RulesCounters
  inFlight: InFlight
  partitions: () => number[]
  lag: ConsumerLag
  latency: CommitLatency
  clock: Clock
}

/** Every aggregator.* series (README.md, "Self metrics"). */
export function aggregatorRegistry(sources: AggregatorMetricsSources): MetricsRegistry {
  const { counters, rulesCounters, inFlight, lag, latency, clock } = sources
  const registry = new MetricsRegistry({ component: 'aggregator', instance: sources.id })
  const counter = (name: string, help: string, read: () => number): void =>
    registry.collect(name, help, 'counter', read)
  const gauge = (
    name: string,
    help: string,
    read: () => number | Array<{ labels: Record<string, string>; value: number }>,
  ): void => registry.collect(name, help, 'gauge', read)

  counter(
    'aggregator.messages_received_total',
    'Batches (JetStream messages) delivered to this replica.',
    () => counters.messagesReceived,
  )
  counter(
    'aggregator.messages_acked_total',
    'Messages acked after their samples were committed.',
    () => counters.messagesAcked,
  )
  counter(
    'aggregator.messages_dead_lettered_total',
    'Messages sent to the DLQ stream, every reason.',
    () => counters.messagesDeadLettered,
  )
  registry.collect(
    'aggregator.dead_letters_by_reason_total',
    'Messages dead-lettered, by reason.',
    'counter',
    () => Object.entries(counters.rejectedByReason).map(([reason, value]) => ({ labels: { reason }, value })),
  )
  counter(
    'aggregator.dead_letter_errors_total',
    'Failed publishes to the DLQ stream (retried).',
    () => counters.deadLetterErrors,
  )
  counter(
    'aggregator.batches_committed_total',
    'Micro-batches committed to the store.',
    () => counters.batchesCommitted,
  )
  counter('aggregator.samples_stored_total', 'Samples committed to the store.', () => counters.samplesStored)
  counter(
    'aggregator.samples_refused_total',
    'Samples refused by the per-metric series limit.',
    () => counters.samplesRefused,
  )
  counter(
    'aggregator.duplicate_messages_total',
    'Redelivered messages of batches already committed.',
    () => counters.duplicateMessagesSkipped,
  )
  counter(
    'aggregator.recovered_batches_total',
    'Uncommitted batches of an earlier run stored again.',
    () => counters.recoveredBatches,
  )
  counter('aggregator.store_errors_total', 'Failed store calls (each retried).', () => counters.storeErrors)
  gauge('aggregator.in_flight_messages', 'Messages delivered and not yet acked.', () => inFlight.messages)
  gauge('aggregator.in_flight_bytes', 'Bytes of those messages.', () => inFlight.bytes)
  gauge(
    'aggregator.consumer_lag_messages',
    'Messages in the stream not yet delivered to the consumer (num_pending).',
    () => [...lag.byConsumer].map(([consumer, value]) => ({ labels: { consumer }, value: value.pending })),
  )
  gauge(
    'aggregator.consumer_ack_pending_messages',
    'Messages delivered and not yet acked, as JetStream counts them.',
    () => [...lag.byConsumer].map(([consumer, value]) => ({ labels: { consumer }, value: value.ackPending })),
  )
  counter(
    'aggregator.commit_latency_ms_sum',
    'Total time to commit micro-batches, ms (average = sum / count).',
    () => latency.sumMs,
  )
  counter('aggregator.commit_latency_ms_count', 'Micro-batches timed.', () => latency.count)
  gauge(
    'aggregator.commit_latency_ms_last',
    'Time the last micro-batch took to commit, ms.',
    () => latency.lastMs,
  )
  gauge('aggregator.commit_latency_ms_max', 'Slowest commit over the last 1-2 minutes, ms.', () =>
    latency.maxMs(clock.now()),
  )
  gauge(
    'aggregator.partitions_owned',
    'Partitions of the METRICS stream this replica consumes.',
    () => sources.partitions().length,
  )
  gauge(
    'aggregator.partition_mismatch',
    '1 while agents seem to publish with another partition count than consumer.partitions (see /readyz).',
    () => (sources.partitionGuard.mismatch !== undefined ? 1 : 0),
  )
  counter(
    'aggregator.partition_mismatched_messages_total',
    'Delivered messages whose subject names another partition than partitionOf(agent id, consumer.partitions).',
    () => sources.partitionGuard.mismatchedMessages,
  )
  gauge(
    'aggregator.unread_subjects',
    'Subjects in the METRICS stream no partition consumer reads, at the last sweep.',
    () => sources.partitionGuard.unreadSubjects,
  )
  counter(
    'aggregator.rollup_minutes_total',
    'Minutes this replica rolled up into samples_1m.',
    () => sources.rollups.minutesRolled,
  )
  counter(
    'aggregator.rollup_errors_total',
    'Failed roll-up attempts (retried).',
    () => sources.rollups.rollupErrors,
  )
  counter(
    'aggregator.rollup_held_back_total',
    'Roll-ups of a minute put off because a batch with on-time samples of it was not committed yet.',
    () => sources.rollups.rollupsHeldBack,
  )
  counter(
    'aggregator.rollup_watermarks_raised_total',
    'Batches whose late-sample watermark was raised because another replica had rolled up one of their minutes.',
    () => sources.rollups.watermarksRaised,
  )
  counter(
    'aggregator.rollup_claim_waits_total',
    "Times a batch waited for another replica's roll-up of one of its minutes.",
    () => sources.rollups.claimWaits,
  )
  counter(
    'aggregator.rules_batches_evaluated_total',
    'Batches evaluated by streaming rules.',
    () => rulesCounters.batchesEvaluated,
  )
  counter(
    'aggregator.rules_events_published_total',
    'Alert events streaming rules published.',
    () => rulesCounters.eventsPublished,
  )
  counter(
    'aggregator.rules_publish_errors_total',
    'Failed publishes of alert events (retried).',
    () => rulesCounters.publishErrors,
  )
  return registry
}
