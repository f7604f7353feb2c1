import { randomUUID } from 'node:crypto'
import {
  abortableDelay,
  checkRollup,
  RetryAbortedError,
  lastRolledMinute,
  readRollupFrontier,
  recordRollupClaim,
  rollUpMinute,
  type Clock,
  type Logger,
  type Store,
} from '@tidewatch/shared'

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
   * (after the consumer's ack_wait). Their intents hold the roll-up of their minutes back anyway;
   * this covers intents written before intents recorded a watermark.
   */
  startupHoldMs: number
  /** Names this replica in its claims. */
  replicaId?: string
  /**
   * An intent neither committed nor renewed for this long no longer holds a roll-up back: its batch
   * is taken as given up (its messages are gone from the stream). Default 30 min.
   */
  intentExpiryMs?: number
  /** A claim neither resolved nor renewed for this long is taken as given back (its replica died). Default 5 min. */
  claimExpiryMs?: number
  /** How often a batch waiting on another replica's claim looks again. Default 50 ms. */
  claimPollMs?: number
}

/** The earliest and latest timestamps of a batch's samples, ms. */
export interface BatchSpan {
  minTsMs: number
  maxTsMs: number
}

const DEFAULT_INTENT_EXPIRY_MS = 30 * 60_000
const DEFAULT_CLAIM_EXPIRY_MS = 5 * 60_000

const minuteOf = (ms: number): number => Math.floor(ms / 60_000) * 60

/**
 * Rolls closed minutes from samples_raw into samples_1m, and settles which samples of a batch are
 * late (written to samples_1m as partials with their batch), so that every sample lands in
 * samples_1m exactly once, whichever replica commits it and whichever rolls its minute up.
 *
 * The roll-up of a minute is global: one INSERT ... SELECT under the token `rollup-1m:<minute>`
 * (a second one is a no-op), then a log row (rollup.ts). Every replica rolls the minute after the
 * newest one rolled by anyone (the frontier), and a batch is classified against that frontier, not a
 * replica's own: samples before the watermark are late partials, the others on time (raw only).
 *
 * The intent row of a batch records its watermark and its earliest and latest sample; the two sides
 * each write, then read what the other wrote (ClickHouse makes an acknowledged insert visible to
 * every later query), so at least one of them sees the other:
 *
 *   roll-up of M:  claim M ─► check: M rolled already? intents not committed (nor expired) with
 *                  watermark <= M and samples in M? ─► none: roll M up, log it, resolve the claim
 *                                                    ─► some: withdraw the claim, try again later
 *   batch:         intent (watermark W, span) ─► read the frontier F and open claims on minutes of
 *                  the batch at or after W ─► F >= W and samples before F+1: W = F+1, rewrite the
 *                  intent, read again ─► an open claim: wait until it is resolved, read again
 *                  ─► neither: samples before W as partials, the rest raw only ─► commit
 *
 * A roll-up that passed its check saw no intent with on-time samples of M that is not committed, so
 * every such batch either committed before (its raw rows are in the roll-up) or wrote its intent
 * after the claim and waits on it, then finds M rolled and writes those samples as partials after the
 * roll-up. A batch that settled W saw no rolled or open claim on its minutes at or after W, so any
 * later claim's check sees its intent and leaves those minutes until it commits. A batch re-sent
 * after a crash (recovery) settles again from the watermark its intent recorded: a minute at or after
 * it with its samples can only have been rolled if the first attempt had not inserted them, so it is
 * written exactly as first sent, or reclassified before anything of it landed.
 *
 * What is left: a replica dying between passing its check and logging the roll-up, while a batch
 * waits on its claim, is seen as a withdrawal after `claimExpiryMs`; and an intent neither committed
 * nor renewed for `intentExpiryMs` (its messages gone) stops holding roll-ups back. Either can count
 * that batch's samples of that minute once too few in samples_1m, or, if the batch's raw rows had
 * landed and it is re-sent after the minute was rolled up, once too many. So can a roll-up whose
 * retries (store errors) outlast `claimExpiryMs` with no renewal landing: batches then take its
 * claim as given back.
 */
export class RollupCoordinator {
  /** The newest minute rolled up by anyone, as last seen (seconds). */
  private rolledSec = 0
  private lock: Promise<unknown> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private startedAtMs = 0
  /** A minute whose roll-up passed its check but has not been logged (a store error): finish it first. */
  private decided: { minuteSec: number; claim: string } | undefined
  /** Claims given back whose "resolved" row failed to write: written again before the next claim. */
  private unresolvedClaims: { minuteSec: number; claim: string }[] = []
  private readonly stopping = new AbortController()
  private readonly replica: string
  private readonly intentExpiryMs: number
  private readonly claimExpiryMs: number
  minutesRolled = 0
  rollupErrors = 0
  /** Roll-up attempts that found a batch of this minute not committed yet, and waited. */
  rollupsHeldBack = 0
  /** Batches whose watermark was raised because another replica rolled up one of their minutes. */
  watermarksRaised = 0
  /** Times a batch waited on another replica's claim. */
  claimWaits = 0

  constructor(private readonly options: RollupCoordinatorOptions) {
    this.replica = (options.replicaId ?? 'aggregator').replace(/[^A-Za-z0-9_.-]/g, '_')
    this.intentExpiryMs = options.intentExpiryMs ?? DEFAULT_INTENT_EXPIRY_MS
    this.claimExpiryMs = options.claimExpiryMs ?? DEFAULT_CLAIM_EXPIRY_MS
  }

  async start(): Promise<void> {
    this.startedAtMs = this.options.clock.now()
    const last = await lastRolledMinute(this.options.store.client, this.options.store.database)
    if (last !== undefined) this.rolledSec = last
    else {
      // A fresh store (or a log expired after 2 idle days): the minute before the first open one is
      // rolled up now, through the same claim and check, so the frontier exists before any batch is
      // classified; anything older is late. Replicas starting together each do this, at most a
      // minute apart, which leaves the rolled minutes contiguous.
      const firstOpen = minuteOf(this.options.clock.now() - this.options.graceMs)
      this.rolledSec = firstOpen - 120
      while (!this.stopped && this.rolledSec < firstOpen - 60) {
        await this.exclusive(() => this.rollUpTo(firstOpen))
        if (this.rolledSec < firstOpen - 60)
          await abortableDelay(this.options.intervalMs, this.stopping.signal)
      }
    }
    this.schedule()
  }

  /** Samples with timestamps before this (ms) are late, as far as this replica has seen. */
  get lateBeforeMs(): number {
    return (this.rolledSec + 60) * 1000
  }

  /**
   * Settles the watermark of a batch whose intent was recorded with `watermarkMs`: raises it past
   * minutes of the batch another replica rolled up (calling `rewriteIntent` with the new one before
   * anything else), and waits while a replica holds a claim on one of the batch's minutes at or after
   * it. Returns the watermark to classify the samples with; one query when nothing is in the way.
   */
  async settleWatermark(
    watermarkMs: number,
    span: BatchSpan,
    rewriteIntent: (watermarkMs: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<number> {
    let watermark = watermarkMs
    const { store } = this.options
    for (;;) {
      const fromSec = Math.max(watermark / 1000, minuteOf(span.minTsMs))
      const frontier = await readRollupFrontier(
        store.client,
        store.database,
        fromSec,
        minuteOf(span.maxTsMs),
        this.claimExpiryMs / 1000,
      )
      if (frontier.lastRolled !== undefined) this.observe(frontier.lastRolled)
      const rolled = frontier.lastRolled
      if (rolled !== undefined && rolled * 1000 >= watermark && span.minTsMs < (rolled + 60) * 1000) {
        watermark = (rolled + 60) * 1000
        await rewriteIntent(watermark)
        this.watermarksRaised++
        continue
      }
      if (frontier.claimed.length === 0) return watermark
      this.claimWaits++
      if (signal?.aborted) throw new RetryAbortedError('stopped while waiting on a roll-up claim')
      await abortableDelay(this.options.claimPollMs ?? 50, signal ?? this.stopping.signal)
    }
  }

  /** Rolls up every minute closed by now that no batch holds back (tests and shutdown call it directly). */
  rollUpClosedMinutes(): Promise<void> {
    return this.exclusive(async () => {
      if (this.options.clock.now() < this.startedAtMs + this.options.startupHoldMs) return
      await this.rollUpTo(minuteOf(this.options.clock.now() - this.options.graceMs))
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.stopping.abort()
    if (this.timer !== undefined) clearTimeout(this.timer)
    await this.lock.catch(() => undefined)
  }

  private observe(rolledSec: number): void {
    if (rolledSec > this.rolledSec) this.rolledSec = rolledSec
  }

  /** Rolls up the minutes after the frontier that start before `closedBeforeSec`, until one is held back. */
  private async rollUpTo(closedBeforeSec: number): Promise<void> {
    const { client, database } = this.options.store
    await this.resolveGivenBackClaims()
    while (!this.stopped) {
      let decided = this.decided
      if (decided === undefined) {
        const minuteSec = this.rolledSec + 60
        if (minuteSec + 60 > closedBeforeSec) return
        const claim = `${minuteSec}:${this.replica}:${randomUUID()}`
        await recordRollupClaim(client, database, minuteSec, claim, false)
        let check
        try {
          check = await checkRollup(client, database, minuteSec, this.intentExpiryMs / 1000)
        } catch (error) {
          await this.giveBack(minuteSec, claim)
          throw error
        }
        if (check.lastRolled !== undefined && check.lastRolled >= minuteSec) {
          // Another replica rolled it (and maybe more): move on from there.
          this.observe(check.lastRolled)
          await this.giveBack(minuteSec, claim)
          continue
        }
        if (check.blocking > 0) {
          this.rollupsHeldBack++
          await this.giveBack(minuteSec, claim)
          this.options.logger.debug(
            { minute: minuteSec, batches: check.blocking },
            'a minute waits for batches with on-time samples of it to commit',
          )
          return
        }
        decided = { minuteSec, claim }
        this.decided = decided
      } else {
        // A retry after a store error: renew the claim so waiting batches do not take it as given back.
        await recordRollupClaim(client, database, decided.minuteSec, decided.claim, false)
      }
      await rollUpMinute(client, database, decided.minuteSec)
      this.decided = undefined
      this.observe(decided.minuteSec)
      this.minutesRolled++
      await recordRollupClaim(client, database, decided.minuteSec, decided.claim, true).catch(
        (error: unknown) =>
          // Batches waiting on it find the minute rolled up in the log and stop waiting anyway.
          this.options.logger.warn(
            { err: error, minute: decided.minuteSec },
            'cannot resolve a roll-up claim',
          ),
      )
    }
  }

  /**
   * Resolves a claim this replica gives back. When that write fails the claim would hold batches of
   * the minute waiting until it expires, so it is kept and written again on the next roll-up pass.
   */
  private async giveBack(minuteSec: number, claim: string): Promise<void> {
    const { client, database } = this.options.store
    try {
      await recordRollupClaim(client, database, minuteSec, claim, true)
    } catch (error) {
      this.unresolvedClaims.push({ minuteSec, claim })
      this.options.logger.warn(
        { err: error, minute: minuteSec },
        'cannot give back a roll-up claim; retrying',
      )
    }
  }

  private async resolveGivenBackClaims(): Promise<void> {
    const pending = this.unresolvedClaims
    this.unresolvedClaims = []
    for (const { minuteSec, claim } of pending) await this.giveBack(minuteSec, claim)
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
          // The frontier did not move: the same minute is tried again next time.
          this.rollupErrors++
          this.options.logger.warn(
            { err: error, minute: this.rolledSec + 60 },
            'rolling up a minute failed; retrying',
          )
        })
        .finally(() => this.schedule())
    }, this.options.intervalMs)
    this.timer.unref()
  }
}
