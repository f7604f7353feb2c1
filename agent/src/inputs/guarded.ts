import type { Logger } from '@tidewatch/shared'
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
  /** Rounds that ran. */
  gathers: number
  /** Rounds that threw, timed out, or could not start because an abandoned round still ran. */
  failures: number
  timeouts: number
  /** Samples an abandoned round added after its timeout, dropped. */
  lateSamples: number
}

export interface GuardOptions {
  /** The input's interval override in ms, which the runner schedules it by; undefined: agent.interval. */
  intervalMs: number | undefined
  timeoutMs: number
  logger: Logger
}

/**
 * Wraps an input with what the runner offers every input the same way: its own interval (which the
 * runner schedules it by, see Agent.start), a timeout and error isolation. The runner already runs
 * each input on its own timer and catches a throw; this makes sure a hung input fails its round at
 * `timeout` (so `--once` and `stop()` never wait on it), keeps its late samples out of later
 * batches, and never runs two rounds of one input at once.
 */
export class GuardedInput implements Input {
  readonly name: string
  readonly intervalMs: number | undefined
  readonly stats: InputStats = { gathers: 0, failures: 0, timeouts: 0, lateSamples: 0 }
  private running: Promise<void> | undefined
  private readonly log: Logger

  constructor(
    readonly inner: Input,
    private readonly options: GuardOptions,
  ) {
    this.name = inner.name
    this.intervalMs = options.intervalMs
    this.log = options.logger.child({ input: inner.name })
  }

  init(): Promise<void> {
    return this.inner.init()
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const { timeoutMs } = this.options
    if (this.running !== undefined) {
      this.stats.failures++
      throw new InputStillRunningError(this.name)
    }
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
