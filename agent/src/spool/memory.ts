import type { BatchQueue, Dropped, QueuedBatch } from './types.js'

/**
 * An in-memory FIFO bounded by encoded bytes; it always keeps the newest batch, even an oversized
 * one. Nothing survives a restart: the agent uses DiskSpool; this one is for tests and embedding.
 */
export class MemoryQueue implements BatchQueue {
  private items: QueuedBatch[] = []
  private head = 0
  private size = 0
  private sampleTotal = 0

  constructor(private readonly maxBytes: number) {}

  get length(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.size
  }

  get samples(): number {
    return this.sampleTotal
  }

  async push(batch: QueuedBatch): Promise<Dropped> {
    this.items.push(batch)
    this.size += batch.data.byteLength
    this.sampleTotal += batch.sampleCount
    const dropped: Dropped = { batches: 0, samples: 0 }
    while (this.size > this.maxBytes && this.length > 1) {
      const oldest = this.items[this.head] as QueuedBatch
      this.removeHead()
      dropped.batches++
      dropped.samples += oldest.sampleCount
      dropped.firstId ??= oldest.id
      dropped.lastId = oldest.id
    }
    return dropped
  }

  async peek(): Promise<QueuedBatch | undefined> {
    return this.items[this.head]
  }

  async ack(id: string): Promise<void> {
    if (this.items[this.head]?.id === id) this.removeHead()
  }

  async close(): Promise<void> {}

  private removeHead(): void {
    const oldest = this.items[this.head] as QueuedBatch
    this.items[this.head] = undefined as unknown as QueuedBatch
    this.head++
    this.size -= oldest.data.byteLength
    this.sampleTotal -= oldest.sampleCount
    // Compact now and then so a long outage does not keep a growing array of holes.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}
