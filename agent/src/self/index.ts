import { MetricsRegistry, type Clock } from '@tidewatch/shared'
import type { AgentStats } from '../agent.js'
import type { DeliveryStats } from '../delivery.js'
import type { Accumulator, Input } from '../inputs/types.js'
import type { BatchQueue } from '../spool/types.js'

/** Where the agent's own figures come from; read at each gather, so they may be wired after construction. */
export interface SelfMetricsSources {
  agent: () => AgentStats
  delivery: () => DeliveryStats
  spool: () => Pick<BatchQueue, 'length' | 'samples' | 'bytes'> & {
    stats?: { corruptRegions: number; corruptBytes: number }
  }
  clock: Clock
  /** agent.spool_max_bytes: with it, agent.spool_fill_ratio is reported. */
  spoolMaxBytes?: number
}

/** The series the agent reports about itself, with their meaning (also in README.md). */
export const SELF_SERIES = {
  'agent.samples_collected_total': 'counter: samples the inputs produced (this series included)',
  'agent.samples_sent_total': 'counter: samples in batches JetStream acknowledged',
  'agent.samples_dropped_total':
    'counter: samples given up on (spool full, refused by the stream, invalid), each logged at ERROR',
  'agent.batches_sent_total': 'counter: batches JetStream stored (duplicates not counted)',
  'agent.batches_dropped_total': 'counter: batches given up on',
  'agent.publish_failures_total': 'counter: failed publish attempts (each retried)',
  'agent.spool_batches': 'gauge: batches in the disk spool waiting for JetStream',
  'agent.spool_samples': 'gauge: samples in those batches',
  'agent.spool_bytes': 'gauge: bytes of spool files on disk',
  'agent.spool_fill_ratio':
    'gauge: spool_bytes / agent.spool_max_bytes (0..1; at 1 the oldest batches are dropped)',
  'agent.spool_corrupt_bytes_total': 'counter: damaged spool bytes found and cut off',
  'agent.publish_latency_ms_sum': 'counter: total time from publish to the stream ack, ms',
  'agent.publish_latency_ms_count': 'counter: publishes timed',
  'agent.publish_latency_ms_max': 'gauge: slowest publish since the previous report, ms',
  'agent.collection_duration_ms':
    'gauge: how long the previous round (the inputs due at one instant) took, ms',
  'agent.input_errors_total': 'counter, label input: failed gathers of that input',
  'agent.gathers_skipped_total':
    'counter: rounds of an input skipped because its previous gather was still running',
  'agent.gathers_missed_total':
    'counter: rounds of an input not started because the process was busy past their boundary',
} as const

/**
 * The agent as an input of its own (Telegraf's `inputs.internal`): each round it reports what the
 * runner, the delivery loop and the spool counted, through the same accumulator, labels and
 * batches as every other series. Counters restart at 0 when the agent restarts.
 */
export function selfMetricsInput(sources: SelfMetricsSources, inputNames: readonly string[]): Input {
  return {
    name: 'self',
    async init() {},
    async gather(acc: Accumulator) {
      const t = sources.clock.now()
      for (const { name, labels, value } of readSelfSeries(sources, inputNames))
        acc.add(name, labels, value, t)
      // This input owns the window of the max: it starts again after each report.
      sources.delivery().publishMsMax = 0
    },
  }
}

/** The current value of every self series; reads only (the caller decides about publishMsMax). */
export function readSelfSeries(
  sources: SelfMetricsSources,
  inputNames: readonly string[],
): Array<{ name: keyof typeof SELF_SERIES; labels: Record<string, string>; value: number }> {
  const agent = sources.agent()
  const delivery = sources.delivery()
  const spool = sources.spool()
  const out: Array<{ name: keyof typeof SELF_SERIES; labels: Record<string, string>; value: number }> = []
  const add = (name: keyof typeof SELF_SERIES, value: number, labels: Record<string, string> = {}): void => {
    out.push({ name, labels, value })
  }
  add('agent.samples_collected_total', agent.samplesCollected)
  add('agent.samples_sent_total', delivery.sentSamples)
  add('agent.samples_dropped_total', delivery.droppedSamples + agent.droppedSamples)
  add('agent.batches_sent_total', delivery.sent)
  add('agent.batches_dropped_total', delivery.dropped)
  add('agent.publish_failures_total', delivery.failedAttempts)
  add('agent.spool_batches', spool.length)
  add('agent.spool_samples', spool.samples)
  add('agent.spool_bytes', spool.bytes)
  if (sources.spoolMaxBytes !== undefined && sources.spoolMaxBytes > 0) {
    add('agent.spool_fill_ratio', spool.bytes / sources.spoolMaxBytes)
  }
  add('agent.spool_corrupt_bytes_total', spool.stats?.corruptBytes ?? 0)
  add('agent.publish_latency_ms_sum', delivery.publishMsSum)
  add('agent.publish_latency_ms_count', delivery.publishCount)
  add('agent.publish_latency_ms_max', delivery.publishMsMax)
  add('agent.collection_duration_ms', agent.lastCollectionMs)
  add('agent.gathers_skipped_total', agent.gatherSkipped)
  add('agent.gathers_missed_total', agent.gatherMissed)
  for (const input of inputNames) {
    add('agent.input_errors_total', agent.inputErrors[input] ?? 0, { input })
  }
  return out
}

/**
 * The same series as a MetricsRegistry, for the admin endpoint's /metrics (read at each scrape;
 * a scrape does not restart the window of agent.publish_latency_ms_max, the self input does).
 */
export function selfMetricsRegistry(
  sources: SelfMetricsSources,
  inputNames: readonly string[],
  constantLabels: Record<string, string>,
): MetricsRegistry {
  const registry = new MetricsRegistry(constantLabels)
  for (const [name, meaning] of Object.entries(SELF_SERIES) as Array<[keyof typeof SELF_SERIES, string]>) {
    const kind = meaning.startsWith('counter') ? 'counter' : 'gauge'
    registry.collect(name, meaning, kind, () =>
      readSelfSeries(sources, inputNames)
        .filter((series) => series.name === name)
        .map(({ labels, value }) => ({ labels, value })),
    )
  }
  return registry
}
