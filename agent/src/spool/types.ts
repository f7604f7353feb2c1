/** A batch ready to leave the agent: encoded, with its stable id and subject. */
export interface QueuedBatch {
  /** `batchId(agentId, seq)`, sent as `Nats-Msg-Id`. */
  id: string
  seq: number
  subject: string
  data: Uint8Array
  sampleCount: number
}

/**
 * Where batches wait until the output has them, oldest first. Today the queue lives in memory
 * (MemoryQueue); the disk spool of a later issue implements this same interface, so the runner
 * and its retry loop do not change. Methods are async for that reason.
 */
export interface BatchQueue {
  /** Appends; when over the bound, drops the oldest and returns what it dropped (the caller logs and counts). */
  push(batch: QueuedBatch): Promise<QueuedBatch[]>
  /** The oldest batch, without removing it. */
  peek(): Promise<QueuedBatch | undefined>
  /** Removes the oldest batch once the output has it; a no-op when the oldest is no longer `id` (dropped meanwhile). */
  ack(id: string): Promise<void>
  readonly length: number
  readonly bytes: number
}
