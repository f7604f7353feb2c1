import { describe, expect, it } from 'vitest'
import type { AgentStats } from '../src/agent.js'
import type { DeliveryStats } from '../src/delivery.js'
import { SELF_SERIES, selfMetricsInput } from '../src/self/index.js'

describe('self metrics input', () => {
  it('reports the runner, delivery and spool figures, and restarts the publish max window each round', async () => {
    const agent: AgentStats = {
      gatherRounds: 3,
      gatherErrors: 2,
      inputErrors: { cpu: 2 },
      samplesCollected: 120,
      lastCollectionMs: 4.5,
      gatherSkipped: 4,
      gatherMissed: 7,
      droppedSamples: 1,
      batchesBuilt: 3,
    }
    const delivery: DeliveryStats = {
      sent: 2,
      sentSamples: 80,
      duplicates: 0,
      failedAttempts: 5,
      dropped: 1,
      droppedSamples: 40,
      publishCount: 2,
      publishMsSum: 3,
      publishMsMax: 2.5,
      lastSentAtMs: 0,
      lastQueuedAtMs: 0,
    }
    const spool = { length: 1, samples: 40, bytes: 4096, stats: { corruptRegions: 1, corruptBytes: 60 } }
    const input = selfMetricsInput(
      {
        agent: () => agent,
        delivery: () => delivery,
        spool: () => spool,
        clock: { now: () => 1000 },
        spoolMaxBytes: 8192,
      },
      ['cpu', 'memory'],
    )
    const got = new Map<string, number>()
    await input.gather({
      add: (name, labels, value, t) => {
        expect(t).toBe(1000)
        got.set(labels.input === undefined ? name : `${name}{input=${labels.input}}`, value)
      },
    })
    expect(Object.fromEntries(got)).toEqual({
      'agent.samples_collected_total': 120,
      'agent.samples_sent_total': 80,
      'agent.samples_dropped_total': 41,
      'agent.batches_sent_total': 2,
      'agent.batches_dropped_total': 1,
      'agent.publish_failures_total': 5,
      'agent.spool_batches': 1,
      'agent.spool_samples': 40,
      'agent.spool_bytes': 4096,
      'agent.spool_fill_ratio': 0.5,
      'agent.spool_corrupt_bytes_total': 60,
      'agent.publish_latency_ms_sum': 3,
      'agent.publish_latency_ms_count': 2,
      'agent.publish_latency_ms_max': 2.5,
      'agent.collection_duration_ms': 4.5,
      'agent.gathers_skipped_total': 4,
      'agent.gathers_missed_total': 7,
      'agent.input_errors_total{input=cpu}': 2,
      'agent.input_errors_total{input=memory}': 0,
    })
    expect(Object.keys(SELF_SERIES).sort()).toEqual(
      [...new Set([...got.keys()].map((k) => k.replace(/\{.*\}$/, '')))].sort(),
    )
    expect(delivery.publishMsMax).toBe(0)
  })
})
