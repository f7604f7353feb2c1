import { describe, expect, it } from 'vitest'
import { createLogger } from '@tidewatch/shared'
import { RetryingDelivery, type BatchSink } from './delivery.js'
import { PublishError } from './outputs/nats/publisher.js'
import { SpoolError } from './spool/disk.js'
import { MemoryQueue } from './spool/memory.js'
import type { QueuedBatch } from './spool/types.js'
import { FakeTime } from './testing/index.js'

const logger = createLogger({ service: 'test', level: 'silent' })

function batch(seq: number, bytes = 10): QueuedBatch {
  return { id: `a:${seq}`, seq, subject: 'metrics.in.a', data: new Uint8Array(bytes), sampleCount: 1 }
}

/** A sink that fails while `down` is true, recording every attempt. */
class FlakySink implements BatchSink {
  down = false
  attempts: string[] = []
  stored: string[] = []
  async send(b: QueuedBatch): Promise<{ duplicate: boolean }> {
    this.attempts.push(b.id)
    if (this.down) throw new PublishError('no NATS', true)
    const duplicate = this.stored.includes(b.id)
    if (!duplicate) this.stored.push(b.id)
    return { duplicate }
  }
  async close(): Promise<void> {}
}

function setup(maxBytes = 1_000_000) {
  const time = new FakeTime()
  const sink = new FlakySink()
  const queue = new MemoryQueue(maxBytes)
  const delivery = new RetryingDelivery({
    queue,
    sink,
    timers: time,
    logger,
    retryInitialDelayMs: 100,
    retryMaxDelayMs: 1_000,
    random: () => 1,
  })
  return { time, sink, queue, delivery }
}

describe('RetryingDelivery', () => {
  it('keeps failed batches queued in order and retries with capped exponential backoff', async () => {
    const { time, sink, queue, delivery } = setup()
    sink.down = true
    await delivery.enqueue([batch(1), batch(2)])
    await time.advance(0)
    expect(sink.attempts).toEqual(['a:1'])
    await delivery.enqueue([batch(3)])
    // delays with random()=1: 100, 200, 400, 800, 1000 (cap)
    await time.advance(100 + 200 + 400 + 800 + 1000)
    expect(sink.attempts).toEqual(Array(6).fill('a:1'))
    expect(queue.length).toBe(3)
    sink.down = false
    await time.advance(1000)
    expect(sink.stored).toEqual(['a:1', 'a:2', 'a:3'])
    expect(queue.length).toBe(0)
    expect(delivery.stats).toMatchObject({ sent: 3, failedAttempts: 6, dropped: 0 })
  })

  it('counts an ack for an already stored batch as a duplicate, not a failure', async () => {
    const { time, sink, delivery } = setup()
    sink.stored.push('a:1')
    await delivery.enqueue([batch(1)])
    await time.advance(0)
    expect(delivery.stats).toMatchObject({ sent: 0, duplicates: 1 })
  })

  it('drops the oldest batch when the queue is over its byte bound, and counts it', async () => {
    const { time, sink, queue, delivery } = setup(25)
    sink.down = true
    await delivery.enqueue([batch(1), batch(2), batch(3)])
    expect(queue.length).toBe(2)
    expect(delivery.stats).toMatchObject({ dropped: 1, droppedSamples: 1 })
    sink.down = false
    await time.advance(100)
    // a:1 was being retried when it was dropped; the loop moves on to what is left
    expect(sink.stored).toEqual(['a:2', 'a:3'])
  })

  it('counts what a failed push had already dropped to make room, with the batch it could not write', async () => {
    const { time, sink, queue, delivery } = setup(25)
    sink.down = true
    await delivery.enqueue([batch(1), batch(2)])
    // The disk fails after the queue made room: a:1 was evicted, a:3 never written.
    queue.push = async (b) => {
      const oldest = (await queue.peek())!
      await queue.ack(oldest.id)
      const dropped = { batches: 1, samples: oldest.sampleCount, firstId: oldest.id, lastId: oldest.id }
      throw new SpoolError(`cannot write batch ${b.id} to the spool: EIO`, { dropped })
    }
    await delivery.enqueue([batch(3)])
    expect(delivery.stats).toMatchObject({ dropped: 2, droppedSamples: 2 })
    expect(queue.length).toBe(1)
    sink.down = false
    await time.advance(100)
    expect(sink.stored).toEqual(['a:2'])
  })

  it('drops a batch the output refuses for good, and goes on with the next', async () => {
    const { time, delivery } = setup()
    const refusing: BatchSink = {
      send: async (b) => {
        if (b.seq === 1) throw new PublishError('too large', false)
        return { duplicate: false }
      },
      close: async () => undefined,
    }
    const d = new RetryingDelivery({
      queue: new MemoryQueue(1_000),
      sink: refusing,
      timers: time,
      logger,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 1,
    })
    await d.enqueue([batch(1), batch(2)])
    await time.advance(0)
    expect(d.stats).toMatchObject({ sent: 1, dropped: 1 })
    expect(delivery.stats.dropped).toBe(0)
  })

  it('drain reports what is left when the output stays down', async () => {
    const { time, sink, delivery } = setup()
    sink.down = true
    await delivery.enqueue([batch(1)])
    const left = delivery.drain(5_000)
    await time.advance(5_000)
    expect(await left).toBe(1)
    delivery.stop()
    sink.down = false
    const drained = setup()
    await drained.delivery.enqueue([batch(1)])
    expect(await drained.delivery.drain(5_000)).toBe(0)
  })
})
