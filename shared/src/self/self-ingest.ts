/*
 * A component writing its own metrics into tidewatch, as an agent would:
 *
 *   every interval ──► registry.toSeries(now) ──► encodeBatch ──► JetStream publish on the METRICS
 *                                                  subject of agent id `tidewatch-<component>-<id>`
 *
 * The loop never rejects and never overlaps (a publish still running skips the tick); its timer is
 * unref'd. A failed publish is counted and logged, not retried: the next tick carries newer values
 * of the same counters, so nothing is lost but one point of each series.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../clock.js'
import type { Labels } from '../series.js'
import { encodeBatch } from '../wire/codec.js'
import { MAX_AGENT_ID_BYTES } from '../wire/format.js'
import { batchId } from '../wire/types.js'
import type { MetricsRegistry } from './registry.js'

/**
 * The agent id a component reports under: `tidewatch-<component>-<id>` with every character the
 * wire's agent-id rule refuses (and dots, so it stays one subject token) replaced by `_`.
 */
export function selfAgentId(component: string, id: string): string {
  return `tidewatch-${component}-${id}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, MAX_AGENT_ID_BYTES)
}

/**
 * The agent's partition of an agent id (agent/src/outputs/nats/publisher.ts, `partitionOf`):
 * FNV-1a (32 bit) of the UTF-8 bytes, mod `partitions`. The two must stay equal (tested).
 */
export function partitionOf(agentId: string, partitions: number): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(agentId, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % partitions
}

/** The subject an agent with this id publishes on: `<prefix>.<agent id>`, or `<prefix>.<k>.<agent id>` with P > 1 partitions. */
export function metricsSubject(prefix: string, agentId: string, partitions: number): string {
  if (partitions <= 1) return `${prefix}.${agentId}`
  return `${prefix}.${partitionOf(agentId, partitions)}.${agentId}`
}

export interface SelfIngestOptions {
  connection: NatsConnection
  registry: MetricsRegistry
  /** From selfAgentId(). */
  agentId: string
  /** The METRICS subject prefix, `metrics.in` by default (the stream's subject without `.>`). */
  subjectPrefix: string
  /** Partitions of the METRICS stream (consumer.partitions / output.partitions). */
  partitions: number
  /** ms between two reports. */
  intervalMs: number
  /** Labels added to every series (beside the registry's own). */
  labels?: Labels
  /** How long a publish waits for the stream's ack, ms. Default 5000. */
  publishTimeoutMs?: number
  clock?: Clock
  logger: Logger
}

export interface SelfIngest {
  readonly stats: { published: number; failures: number }
  /** Publishes one report now (tests; also the last report at stop). */
  publishNow(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts the periodic report. The batch seq starts at the clock's ms at start and goes up by one
 * per report: unlike an agent, a component has no data dir to persist a seq in, and a restarted
 * process starts above any seq its previous run used (unless it reported more than once per ms),
 * so JetStream's duplicate window never drops a new report as a re-send of an old one.
 */
export function startSelfIngest(options: SelfIngestOptions): SelfIngest {
  const clock = options.clock ?? systemClock
  const js: JetStreamClient = jetstream(options.connection)
  const subject = metricsSubject(options.subjectPrefix, options.agentId, options.partitions)
  const log = options.logger.child({ component: 'self-ingest', subject })
  const stats = { published: 0, failures: 0 }
  let seq = Math.floor(clock.now())
  let running: Promise<void> | undefined
  let stopped = false

  const publishOnce = async (): Promise<void> => {
    const now = Math.floor(clock.now())
    const series = options.registry.toSeries(now, options.labels ?? {})
    if (series.length === 0) return
    seq++
    try {
      const data = encodeBatch({ agentId: options.agentId, seq, createdMs: now, series })
      await js.publish(subject, data, {
        msgID: batchId(options.agentId, seq),
        timeout: options.publishTimeoutMs ?? 5_000,
      })
      stats.published++
    } catch (error) {
      stats.failures++
      log.warn(
        { err: error, failures: stats.failures },
        'cannot write own metrics into tidewatch; next report in one interval',
      )
    }
  }
  const tick = (): Promise<void> => {
    if (running !== undefined) return running
    running = publishOnce().finally(() => {
      running = undefined
    })
    return running
  }
  const timer = setInterval(() => {
    if (!stopped) void tick()
  }, options.intervalMs)
  timer.unref()
  log.info(
    { agent_id: options.agentId, interval_ms: options.intervalMs },
    'writing own metrics into tidewatch',
  )
  return {
    stats,
    publishNow: tick,
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}
