import { systemClock, TidewatchError, type Clock, type Logger } from '@tidewatch/shared'
import { droppedBeforeFailure, type BatchQueue, type Dropped, type QueuedBatch } from './spool/types.js'
import type { Timers } from './timers.js'

/** An output: sends one batch and resolves once it is stored (or was already stored). */
export interface BatchSink {
  /** Throws on failure; a TidewatchError with `retryable: false` means re-sending cannot help. */
  send(batch: QueuedBatch): Promise<{ duplicate: boolean }>
  close(): Promise<void>
}

export interface DeliveryStats {
  /** Batches the output stored. */
  sent: number
  /** Samples in those batches (duplicates included: they were stored by an earlier attempt). */
  sentSamples: number
  /** Batches the output already had (a re-send after a lost ack). */
  duplicates: number
  /** Failed send attempts, each followed by a retry. */
  failedAttempts: number
  /** Batches given up on: pushed out of a full queue, not writable to it, or refused for good. Each drop is logged at ERROR. */
  dropped: number
  droppedSamples: number
  /**
   * Successful publishes timed (send until the stream's ack), their total and the largest, ms.
   * `publishMsMax` is the largest since whoever reads it set it back to 0 (the self-metrics input).
   */
  publishCount: number
  publishMsSum: number
  publishMsMax: number
  /** When a batch was last stored by the output, and last written to the queue (spool): ms since the epoch, 0 = never. */
  lastSentAtMs: number
  lastQueuedAtMs: number
}

export interface RetryingDeliveryOptions {
  queue: BatchQueue
  sink: BatchSink
  timers: Timers
  logger: Logger
  /** First retry delay, ms; doubles per consecutive failure. */
  retryInitialDelayMs: number
  /** Cap on the retry delay, ms. */
  retryMaxDelayMs: number
  /** [0, 1); spreads retries of many agents after an outage. Default Math.random. */
  random?: () => number
  /** Wall clock of lastSentAtMs and lastQueuedAtMs. Default systemClock. */
  clock?: Clock
  /** A monotonic ms clock for publish latency. Default performance.now. */
  now?: () => number
}

/**
 * The runner's half of delivery: batches wait in the queue (the disk spool) in order and one loop
 * sends the oldest until the sink has it, backing off between failures. Order is kept (head of
 * line: a batch spooled during an outage goes before anything built after it), nothing is dropped
 * without an ERROR log and a count, and the loop never rejects and never runs twice.
 *
 *   build batch -> queue.push (on disk) -> loop: peek -> sink.send -> ack | backoff and retry
 */
export class RetryingDelivery {
  readonly stats: DeliveryStats = {
    sent: 0,
    sentSamples: 0,
    duplicates: 0,
    failedAttempts: 0,
    dropped: 0,
    droppedSamples: 0,
    publishCount: 0,
    publishMsSum: 0,
    publishMsMax: 0,
    lastSentAtMs: 0,
    lastQueuedAtMs: 0,
  }
  private running = false
  private stopped = false
  private cancelSleep: (() => void) | undefined
  private wakeSleep: (() => void) | undefined
  private idleWaiters: (() => void)[] = []
  private readonly log: Logger
  private readonly random: () => number
  private readonly now: () => number

  constructor(private readonly options: RetryingDeliveryOptions) {
    this.log = options.logger.child({ component: 'delivery' })
    this.random = options.random ?? Math.random
    this.now = options.now ?? (() => performance.now())
  }

  get pending(): number {
    return this.options.queue.length
  }

  /** Queues behind everything already waiting (so a replay is never overtaken) and wakes the loop. */
  async enqueue(batches: QueuedBatch[]): Promise<void> {
    for (const batch of batches) {
      let dropped: Dropped
      try {
        dropped = await this.options.queue.push(batch)
        this.stats.lastQueuedAtMs = (this.options.clock ?? systemClock).now()
      } catch (error) {
        const madeRoom = droppedBeforeFailure(error)
        if (madeRoom.batches > 0)
          this.countDropped(
            madeRoom,
            'the spool is full (agent.spool_max_bytes); the oldest batches made room',
          )
        // The spool cannot take it (disk full, read-only): this batch is lost, and said so.
        this.countDropped(
          { batches: 1, samples: batch.sampleCount, firstId: batch.id, lastId: batch.id },
          `it cannot be queued: ${error instanceof Error ? error.message : String(error)}`,
        )
        continue
      }
      if (dropped.batches > 0) {
        this.countDropped(dropped, 'the spool is full (agent.spool_max_bytes); the oldest batches make room')
      }
    }
    this.kick()
  }

  /** Waits until the queue is empty or `timeoutMs` passed; returns how many batches are still waiting. */
  async drain(timeoutMs: number): Promise<number> {
    this.kick()
    if (this.options.queue.length === 0 && !this.running) return 0
    // Skip the backoff wait: when draining at exit, try now.
    this.wakeSleep?.()
    await new Promise<void>((resolve) => {
      const cancel = this.options.timers.setTimeout(resolve, timeoutMs)
      this.idleWaiters.push(() => {
        cancel()
        resolve()
      })
    })
    return this.options.queue.length
  }

  /** Ends a backoff wait now (the output just became reachable) and starts the loop if it is idle. */
  retryNow(): void {
    this.wakeSleep?.()
    this.kick()
  }

  /** Stops retrying; whatever is still queued stays queued (and is reported by the caller). */
  stop(): void {
    this.stopped = true
    this.wakeSleep?.()
  }

  private kick(): void {
    if (this.running || this.stopped) return
    this.running = true
    void this.loop()
      .catch((error: unknown) => this.log.error({ err: error }, 'delivery loop failed; batches stay queued'))
      .finally(() => {
        this.running = false
        const waiters = this.idleWaiters
        this.idleWaiters = []
        for (const wake of waiters) wake()
      })
  }

  private async loop(): Promise<void> {
    let failures = 0
    for (;;) {
      if (this.stopped) return
      const batch = await this.options.queue.peek()
      if (batch === undefined) return
      try {
        const startedMs = this.now()
        const { duplicate } = await this.options.sink.send(batch)
        const tookMs = this.now() - startedMs
        await this.options.queue.ack(batch.id)
        this.stats.lastSentAtMs = (this.options.clock ?? systemClock).now()
        this.stats.publishCount++
        this.stats.publishMsSum += tookMs
        this.stats.publishMsMax = Math.max(this.stats.publishMsMax, tookMs)
        this.stats.sentSamples += batch.sampleCount
        if (duplicate) {
          this.stats.duplicates++
          this.log.debug(
            { batch_id: batch.id },
            'batch was already stored; dropped as a duplicate by JetStream',
          )
        } else {
          this.stats.sent++
        }
        if (failures > 0) this.log.info({ batch_id: batch.id, failures }, 'publishing works again')
        failures = 0
      } catch (error) {
        if (error instanceof TidewatchError && !error.retryable) {
          await this.options.queue.ack(batch.id)
          this.countDropped(
            { batches: 1, samples: batch.sampleCount, firstId: batch.id, lastId: batch.id },
            error.message,
          )
          continue
        }
        failures++
        this.stats.failedAttempts++
        const delayMs = this.backoffMs(failures)
        this.log.warn(
          {
            err: error,
            batch_id: batch.id,
            failures,
            retry_in_ms: delayMs,
            queued: this.options.queue.length,
          },
          'publish failed; will retry',
        )
        await this.sleep(delayMs)
      }
    }
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random. */
  backoffMs(failures: number): number {
    const { retryInitialDelayMs, retryMaxDelayMs } = this.options
    const step = Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** Math.min(failures - 1, 30))
    return Math.round(step / 2 + (this.random() * step) / 2)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.cancelSleep?.()
        this.cancelSleep = undefined
        this.wakeSleep = undefined
        resolve()
      }
      this.wakeSleep = done
      this.cancelSleep = this.options.timers.setTimeout(done, ms)
    })
  }

  private countDropped(dropped: Dropped, reason: string): void {
    this.stats.dropped += dropped.batches
    this.stats.droppedSamples += dropped.samples
    this.log.error(
      {
        batches: dropped.batches,
        samples: dropped.samples,
        first_batch_id: dropped.firstId,
        last_batch_id: dropped.lastId,
        dropped_batches_total: this.stats.dropped,
        dropped_samples_total: this.stats.droppedSamples,
      },
      `batches dropped: ${reason}`,
    )
  }
}

/**
 * A sink that exists before its output does: until `attach`, every send fails as retryable, so the
 * agent collects and spools while, for instance, NATS is still unreachable at start.
 */
export class PendingSink implements BatchSink {
  private sink: BatchSink | undefined

  constructor(private readonly reason: string) {}

  attach(sink: BatchSink): void {
    this.sink = sink
  }

  async send(batch: QueuedBatch): Promise<{ duplicate: boolean }> {
    if (this.sink === undefined) throw new TidewatchError(this.reason, 'SINK_NOT_READY', true)
    return this.sink.send(batch)
  }

  async close(): Promise<void> {
    await this.sink?.close()
  }
}
