import { lastRolledMinute, rollUpMinute, type Clock, type Logger, type Store } from '@tidewatch/shared'

export interface RollupCoordinatorOptions {
  store: Store
  clock: Clock
  logger: Logger
  /** A minute is rolled up once it ended this long ago: samples arriving later are late partials. */
  graceMs: number
  /** How often the job looks for closed minutes. */
  intervalMs: number
  /**
   * No roll-up until this long after start: messages the previous run left uncommitted come back
   * (after the consumer's ack_wait) and must be re-sent with the watermark they were first sent
   * under, before their minutes are rolled up.
   */
  startupHoldMs: number
}

/**
 * Rolls closed minutes from samples_raw into samples_1m, and tells commits which samples are late.
 *
 * The watermark is the start of the first minute not yet rolled up: a sample before it goes to
 * samples_1m as a partial with its batch; a sample at or after it will be counted by the job. A
 * commit (reading the watermark and inserting raw rows) and a roll-up of a minute never interleave
 * in this process, so no sample is counted twice or missed here. Across replicas, each rolls up on
 * its own and the per-minute token makes the second roll-up of a minute a no-op; the window left is
 * a sample more than `grace` late committed by one replica just after another rolled its minute
 * and before this one's watermark moved (one job interval at most), and a batch a dead replica had
 * inserted but not committed, re-sent by another replica after that replica rolled its minute.
 */
export class RollupCoordinator {
  private watermarkSec = 0
  private lock: Promise<unknown> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  minutesRolled = 0
  rollupErrors = 0

  constructor(private readonly options: RollupCoordinatorOptions) {}

  private startedAtMs = 0

  async start(): Promise<void> {
    this.startedAtMs = this.options.clock.now()
    const last = await lastRolledMinute(this.options.store.client, this.options.store.database)
    const firstOpen = Math.floor((this.options.clock.now() - this.options.graceMs) / 60_000) * 60
    // Resume after the last minute anyone rolled up; a fresh store starts at the open minutes, and
    // anything older arriving now is late (written as partials), so nothing is missed or doubled.
    this.watermarkSec = last !== undefined ? last + 60 : firstOpen
    this.schedule()
  }

  /** Samples with timestamps before this (ms) must be written to samples_1m as partials. */
  get lateBeforeMs(): number {
    return this.watermarkSec * 1000
  }

  /** Runs `work` with the watermark held still: no roll-up runs until it is done. */
  withWatermark<T>(work: (lateBeforeMs: number) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.lateBeforeMs))
  }

  /** Rolls up every minute closed by now (tests and shutdown call it directly). */
  rollUpClosedMinutes(): Promise<void> {
    return this.exclusive(async () => {
      if (this.options.clock.now() < this.startedAtMs + this.options.startupHoldMs) return
      const closedBefore = Math.floor((this.options.clock.now() - this.options.graceMs) / 60_000) * 60
      while (this.watermarkSec + 60 <= closedBefore && !this.stopped) {
        await rollUpMinute(this.options.store.client, this.options.store.database, this.watermarkSec)
        this.watermarkSec += 60
        this.minutesRolled++
      }
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    await this.lock.catch(() => undefined)
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lock.then(work, work)
    this.lock = run.catch(() => undefined)
    return run
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.rollUpClosedMinutes()
        .catch((error: unknown) => {
          // The watermark did not move: the same minute is tried again next time.
          this.rollupErrors++
          this.options.logger.warn(
            { err: error, minute: this.watermarkSec },
            'rolling up a minute failed; retrying',
          )
        })
        .finally(() => this.schedule())
    }, this.options.intervalMs)
    this.timer.unref()
  }
}
