/** What the pipeline has done since start; logged periodically and, later, exported as metrics. */
export interface PipelineCounters {
  messagesReceived: number
  messagesAcked: number
  messagesDeadLettered: number
  rejectedByReason: Record<string, number>
  batchesCommitted: number
  samplesStored: number
  /** Samples of series refused by the per-metric cardinality limit. */
  samplesRefused: number
  duplicateMessagesSkipped: number
  recoveredBatches: number
  storeErrors: number
  deadLetterErrors: number
}

export function createCounters(): PipelineCounters {
  return {
    messagesReceived: 0,
    messagesAcked: 0,
    messagesDeadLettered: 0,
    rejectedByReason: {},
    batchesCommitted: 0,
    samplesStored: 0,
    samplesRefused: 0,
    duplicateMessagesSkipped: 0,
    recoveredBatches: 0,
    storeErrors: 0,
    deadLetterErrors: 0,
  }
}
