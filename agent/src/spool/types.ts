/** A batch ready to leave the agent: encoded, with its stable id and subject. */
export interface QueuedBatch {
  /** `batchId(agentId, seq)`, sent as `Nats-Msg-Id`. */
  id: string
  seq: number
  subject: string
  data: Uint8Array
  sampleCount: number
}

/** What a push pushed out of a full queue: the oldest batches, counted (the caller logs and counts). */
export interface Dropped {
  batches: number
  samples: number
  /** Ids of the first and last batch dropped, when known (for the log line). */
  firstId?: string
  lastId?: string
}

export const NOTHING_DROPPED: Dropped = Object.freeze({ batches: 0, samples: 0 })

/**
 * What a push that failed had already dropped to make room (an error's `dropped`): those batches
 * are gone either way and are counted with the one that could not be written.
 */
export function droppedBeforeFailure(error: unknown): Dropped {
  const dropped =
    typeof error === 'object' && error !== null ? (error as { dropped?: Dropped }).dropped : undefined
  return dropped ?? NOTHING_DROPPED
}

/**
 * Where batches wait until the output has them, oldest first. Two implementations: DiskSpool (the
 * agent's: every batch is written to disk before it is sent) and MemoryQueue (tests, embedding).
 * Methods are async so the disk one fits; the runner and its retry loop do not know which it has.
 */
export interface BatchQueue {
  /** Appends behind everything already queued; when over the bound, drops the oldest and says how many. */
  push(batch: QueuedBatch): Promise<Dropped>
  /** The oldest batch, without removing it. */
  peek(): Promise<QueuedBatch | undefined>
  /** Removes the oldest batch once the output has it; a no-op when the oldest is no longer `id` (dropped meanwhile). */
  ack(id: string): Promise<void>
  /** Persists what must survive a restart and releases files; the queue is unusable afterwards. */
  close(): Promise<void>
  /** Batches waiting. */
  readonly length: number
  /** Samples in the batches waiting. */
  readonly samples: number
  /** Bytes the queue holds (for the disk spool: its files on disk). */
  readonly bytes: number
}
