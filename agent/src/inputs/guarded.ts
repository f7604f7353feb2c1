import type { Clock, Logger } from '@tidewatch/shared'
import type { Accumulator, Input } from './types.js'

/** A gather that ran past its input's `timeout`. */
export class InputTimeoutError extends Error {
  override readonly name = 'InputTimeoutError'
  constructor(
    readonly input: string,
    readonly timeoutMs: number,
  ) {
    super(`input "${input}" did not finish within ${timeoutMs} ms; this round is abandoned`)
  }
}

/** A round refused because the previous one, abandoned at its timeout, is still running. */
export class InputStillRunningError extends Error {
  override readonly name = 'InputStillRunningError'
  constructor(readonly input: string) {
    super(`input "${input}" is still running its abandoned previous round; this round is skipped`)
  }
}

/** Per-input counters, for logs and self-metrics. */
export interface InputStats {
  /** Rounds that ran (not skipped by the interval override). */
  gathers: number
  /** Rounds that threw, timed out, or could not start because an abandoned round still ran. */
  failures: number
  timeouts: number
  /** Rounds not run because this input's interval had not elapsed yet. */
  notDue: number
  /** Samples an abandoned round added after its timeout, dropped. */
  lateSamples: number
}

export interface GuardOptions {
  /** The input's interval override in ms; undefined gathers on every runner tick. */
  intervalMs: number | undefined
  timeoutMs: number
  clock: Clock
  logger: Logger
}

/**
 * Wraps an input with what the runner offers every input the same way: an interval override, a
 * timeout and error isolation. The runner already runs inputs concurrently and catches a throw; this
 * makes sure a hung input fails its round at `timeout` (so Promise.all over the inputs, `--once` and
 * `stop()` never wait on it), keeps its late samples out of later batches, and never runs two rounds
 * of one input at once.
 *
 * The runner ticks every agent.interval, so an override is honoured on ticks: a round runs when at
 * least 90% of the override has passed since the previous one started (the slack absorbs timer
 * jitter), which rounds the override up to a multiple of agent.interval.
 */
export class GuardedInput implements Input {
  readonly name: string
  readonly stats: InputStats = { gathers: 0, failures: 0, timeouts: 0, notDue: 0, lateSamples: 0 }
  private lastStartMs: number | undefined
  private running: Promise<void> | undefined
  private readonly log: Logger

  constructor(
    readonly inner: Input,
    private readonly options: GuardOptions,
  ) {
    this.name = inner.name
    this.log = options.logger.child({ input: inner.name })
  }

  init(): Promise<void> {
    return this.inner.init()
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const now = this.options.clock.now()
    const { intervalMs, timeoutMs } = this.options
    if (
      intervalMs !== undefined &&
      this.lastStartMs !== undefined &&
      now - this.lastStartMs < intervalMs * 0.9
    ) {
      this.stats.notDue++
      return
    }
    if (this.running !== undefined) {
      this.stats.failures++
      throw new InputStillRunningError(this.name)
    }
    this.lastStartMs = now
    this.stats.gathers++
    const controller = new AbortController()
    let open = true
    const guarded: Accumulator = {
      add: (name, labels, value, timestampMs) => {
        if (open) accumulator.add(name, labels, value, timestampMs)
        else this.stats.lateSamples++
      },
    }
    const round = this.inner.gather(guarded, controller.signal)
    const tracked = round.then(
      () => undefined,
      () => undefined,
    )
    this.running = tracked
    void tracked.then(() => {
      if (this.running === tracked) this.running = undefined
    })
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs)
      timer.unref()
    })
    try {
      const outcome = await Promise.race([round, timedOut])
      if (outcome === 'timeout') {
        open = false
        controller.abort(new InputTimeoutError(this.name, timeoutMs))
        this.stats.timeouts++
        this.stats.failures++
        this.log.debug({ timeout_ms: timeoutMs }, 'gather abandoned at its timeout')
        throw new InputTimeoutError(this.name, timeoutMs)
      }
    } catch (error) {
      if (!(error instanceof InputTimeoutError)) this.stats.failures++
      throw error
    } finally {
      open = false
      clearTimeout(timer)
    }
  }
}
