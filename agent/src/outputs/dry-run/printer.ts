import type { BuiltBatch } from '../../agent.js'

/** The readable form --dry-run prints: one document per flush, every sample with its time in ms and ISO form. */
export interface DryRunDocument {
  batches: {
    id: string
    subject: string
    agent_id: string
    seq: number
    created_ms: number
    encoded_bytes: number
    sample_count: number
    series: {
      name: string
      labels: Record<string, string>
      samples: { timestamp_ms: number; time: string; value: number }[]
    }[]
  }[]
}

export function toDryRunDocument(built: BuiltBatch[]): DryRunDocument {
  return {
    batches: built.map(({ batch, queued }) => ({
      id: queued.id,
      subject: queued.subject,
      agent_id: batch.agentId,
      seq: batch.seq,
      created_ms: batch.createdMs,
      encoded_bytes: queued.data.byteLength,
      sample_count: queued.sampleCount,
      series: batch.series.map((series) => ({
        name: series.name,
        labels: { ...series.labels },
        samples: Array.from(series.values, (value, i) => {
          const timestampMs = series.timestamps[i] as number
          return { timestamp_ms: timestampMs, time: new Date(timestampMs).toISOString(), value }
        }),
      })),
    })),
  }
}

/** A BatchHandler that prints instead of sending; nothing connects to NATS. */
export function dryRunPrinter(write: (text: string) => void): (built: BuiltBatch[]) => Promise<void> {
  return async (built) => {
    write(JSON.stringify(toDryRunDocument(built), null, 2) + '\n')
  }
}
