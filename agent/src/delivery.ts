import { TidewatchError, type Logger } from '@tidewatch/shared'
import type { BatchQueue, QueuedBatch } from './spool/types.js'
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
  /** Batches the output already had (a re-send after a lost ack). */
  duplicates: number
  /** Failed send attempts, each followed by a retry. */
  failedAttempts: number
  /** Batches given up on: pushed out of a full queue or refused for good. Each is logged at ERROR. */
  dropped: number
  droppedSamples: number
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
}

/**
 * The runner's half of delivery: batches wait in the queue in order and one loop sends the oldest
 * until the sink has it, backing off between failures. Order is kept (head of line), nothing is
 * dropped without an ERROR log and a count, and the loop never rejects and never runs twice.
 *
 *   build batch -> queue.push -> loop: peek -> sink.send -> ack | backoff and retry
 */
export class RetryingDelivery {
  readonly stats: DeliveryStats = { sent: 0, duplicates: 0, failedAttempts: 0, dropped: 0, droppedSamples: 0 }
  private running = false
  private stopped = false
  private cancelSleep: (() => void) | undefined
  private wakeSleep: (() => void) | undefined
  private idleWaiters: (() => void)[] = []
  private readonly log: Logger
  private readonly random: () => number

  constructor(private readonly options: RetryingDeliveryOptions) {
    this.log = options.logger.child({ component: 'delivery' })
    this.random = options.random ?? Math.random
  }

  get pending(): number {
    return this.options.queue.length
  }

  async enqueue(batches: QueuedBatch[]): Promise<void> {
    for (const batch of batches) {
      const dropped = await this.options.queue.push(batch)
      for (const old of dropped) this.countDropped(old, 'the queue is full (agent.queue_max_bytes)')
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
        const { duplicate } = await this.options.sink.send(batch)
        await this.options.queue.ack(batch.id)
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
          this.countDropped(batch, error.message)
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

  private countDropped(batch: QueuedBatch, reason: string): void {
    this.stats.dropped++
    this.stats.droppedSamples += batch.sampleCount
    this.log.error(
      { batch_id: batch.id, samples: batch.sampleCount, dropped_batches_total: this.stats.dropped },
      `batch dropped: ${reason}`,
    )
  }
}
