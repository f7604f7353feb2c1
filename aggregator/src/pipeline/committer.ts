import { RetryAbortedError, retryUntilAborted, type Clock } from '@tidewatch/shared'
import type { Logger } from 'pino'
import type { AcceptedMessage } from './classify.js'
import { RecoveryBuffer } from './recovery.js'
import type { BatchIntent, IntentLog, IntentStamp } from '../sinks/clickhouse/intent-log.js'
import type { BatchSpan } from '../rollups/coordinator.js'
import { buildColumns, ColumnBuffers } from '../sinks/clickhouse/columns.js'
import type { SampleSink } from '../sinks/clickhouse/sample-sink.js'
import type { SeriesResolver, SeriesRow } from '../sinks/clickhouse/series-resolver.js'
import type { PipelineCounters } from './counters.js'
import type { CommitLatency } from './commit-latency.js'

/** The roll-up side of a commit (rollups/coordinator.ts): which samples of a batch are late. */
export interface LateSampleGate {
  /** Samples before this (ms) are late, as far as this replica has seen: a new batch's first watermark. */
  readonly lateBeforeMs: number
  /** The watermark to classify with, once no other replica's roll-up is in the way (see the coordinator). */
  settleWatermark(
    watermarkMs: number,
    span: BatchSpan,
    rewriteIntent: (watermarkMs: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<number>
}

/** How long an intent may go without a rewrite while its batch is retried (it must not expire). */
const INTENT_RENEW_MS = 5 * 60_000

export interface CommitterOptions {
  consumerName: string
  intentLog: IntentLog
  sink: SampleSink
  /** Writes first-seen series rows (the series table). */
  writeSeries: (rows: readonly SeriesRow[]) => Promise<void>
  resolver: SeriesResolver
  /** Settles which samples of a batch are late (1-minute partials) against every replica's roll-ups. */
  rollups: LateSampleGate
  clock: Clock
  logger: Logger
  counters: PipelineCounters
  /** Aborting stops retries; unacked messages are redelivered to the next run. */
  signal: AbortSignal
  /** How often to tell JetStream a message is still being worked on while the store is failing. */
  workingIntervalMs: number
  /** First wait before a failed store write is retried; doubles up to 5 s. */
  retryBaseDelayMs?: number
  /** Held redelivered batches are re-checked for a commit after this long. */
  recoveryRecheckMs: number
  /** Where the time each micro-batch took to commit is recorded (self metrics). */
  latency?: CommitLatency
}

/**
 * Stores micro-batches exactly once and acks their messages only after the store committed them.
 *
 * Order per batch: intent (token -> stream sequences) -> data with that token -> commit record -> ack.
 * Store failures are retried in place (messages kept alive with `working()`), so a batch is never
 * regrouped while this process lives; only a crash regroups, and the intent log undoes that.
 */
export class BatchCommitter {
  private readonly recovery = new RecoveryBuffer()
  private readonly columnBuffers = new ColumnBuffers()

  constructor(private readonly options: CommitterOptions) {}

  async commit(messages: readonly AcceptedMessage[]): Promise<void> {
    const fresh: AcceptedMessage[] = []
    const redelivered: AcceptedMessage[] = []
    for (const message of messages) (message.message.redelivered ? redelivered : fresh).push(message)

    if (redelivered.length > 0) await this.sortRedelivered(redelivered, fresh)
    for (const { intent, messages: group } of this.recovery.takeComplete()) {
      await this.store(intent.token, group, intent)
      this.options.counters.recoveredBatches++
    }
    await this.recheckHeld()
    if (fresh.length > 0) await this.store(this.tokenFor(fresh), fresh, undefined)
  }

  private tokenFor(messages: readonly AcceptedMessage[]): string {
    let first = Infinity
    let last = -Infinity
    for (const m of messages) {
      if (m.message.seq < first) first = m.message.seq
      if (m.message.seq > last) last = m.message.seq
    }
    // Each stream sequence is delivered fresh once, so a fresh batch's range and size are unique.
    return `${this.options.consumerName}:${first}-${last}:${messages.length}`
  }

  private async sortRedelivered(redelivered: AcceptedMessage[], fresh: AcceptedMessage[]): Promise<void> {
    const seqs = redelivered.map((m) => m.message.seq)
    const intents = await this.retry('look up intents', () => this.options.intentLog.lookup(seqs))
    const now = this.options.clock.now()
    for (const message of redelivered) {
      const intent = intents.get(message.message.seq)
      if (intent === undefined) fresh.push(message)
      else if (intent.committed) {
        message.message.ack()
        this.options.counters.duplicateMessagesSkipped++
      } else this.recovery.hold(intent, message, now)
    }
  }

  private async recheckHeld(): Promise<void> {
    const stale = this.recovery.stale(this.options.clock.now(), this.options.recoveryRecheckMs)
    if (stale.length === 0) return
    const seqs = stale.flatMap((held) => held.intent.seqs)
    const intents = await this.options.intentLog.lookup(seqs).catch(() => new Map())
    for (const held of stale) {
      const current = intents.get(held.intent.seqs[0] as number)
      if (current?.committed) {
        for (const m of held.messages) m.message.ack()
        this.recovery.release(held.intent.token)
        this.options.counters.duplicateMessagesSkipped += held.messages.length
      } else {
        for (const m of held.messages) m.message.working()
        this.options.logger.warn(
          { token: held.intent.token, have: held.messages.length, want: held.intent.seqs.length },
          'waiting for the rest of a redelivered batch',
        )
      }
    }
  }

  /** Stores a batch: a fresh one (no intent yet), or one re-sent under the intent it was first sent with. */
  private async store(
    token: string,
    messages: readonly AcceptedMessage[],
    recorded: BatchIntent | undefined,
  ): Promise<void> {
    const seqs = messages.map((m) => m.message.seq)
    const startedMs = this.options.clock.now()
    const prepared = buildColumns(
      messages.map((m) => m.batch),
      this.options.resolver,
      Math.floor(startedMs / 1000),
      this.columnBuffers,
    )
    // However long the store takes (a slow insert, an outage), JetStream must not hand these messages
    // to another consumer while this batch may still commit: keep telling it they are in progress.
    const keepAlive = setInterval(() => {
      for (const m of messages) m.message.working()
    }, this.options.workingIntervalMs)
    try {
      const stamp: IntentStamp = {
        // A re-sent batch is classified as it was first sent, so the store drops what had landed;
        // intents from before watermarks were recorded (0) take this replica's.
        watermarkMs:
          recorded !== undefined && recorded.watermarkMs > 0
            ? recorded.watermarkMs
            : this.options.rollups.lateBeforeMs,
        ...spanOf(prepared.columns.timestampsMs, prepared.columns.length),
      }
      let intentWrittenMs = this.options.clock.now()
      const writeIntent = async (): Promise<void> => {
        await this.options.intentLog.recordIntent(token, seqs, stamp)
        intentWrittenMs = this.options.clock.now()
      }
      // A re-sent batch writes its intent again too, with the watermark it was first sent with: a
      // renewal, so that the intent of a replica that died a while ago does not expire meanwhile.
      await this.retry('record intent', writeIntent)
      // Series rows first: a sample is never queryable by labels before its series row exists.
      await this.retry('insert series', () => this.options.writeSeries(prepared.newSeries))
      if (prepared.columns.length > 0) {
        // Written after the intent, read before the samples: the batch and every replica's roll-up
        // agree on which of its samples are late (one query unless a roll-up is in the way). An
        // intent that waited long (a store outage) is renewed first so it holds roll-ups back.
        if (this.options.clock.now() - intentWrittenMs > INTENT_RENEW_MS)
          await this.retry('renew intent', writeIntent)
        stamp.watermarkMs = await this.retry('settle the roll-up watermark', () =>
          this.options.rollups.settleWatermark(
            stamp.watermarkMs,
            stamp,
            async (raised) => {
              await this.options.intentLog.recordIntent(token, seqs, { ...stamp, watermarkMs: raised })
              stamp.watermarkMs = raised
              intentWrittenMs = this.options.clock.now()
            },
            this.options.signal,
          ),
        )
      }
      // The watermark stays fixed across every attempt, and the intent holds the roll-up of the
      // batch's on-time minutes back until the commit record (renewed so it does not expire).
      await this.retry('insert samples', async () => {
        if (this.options.clock.now() - intentWrittenMs > INTENT_RENEW_MS) await writeIntent()
        await this.options.sink.writeSamples(token, prepared.columns, stamp.watermarkMs)
      })
      await this.retry('record commit', () => this.options.intentLog.recordCommit(token, seqs, stamp))
    } finally {
      clearInterval(keepAlive)
      // Nothing reads the columns once the store's calls returned (or gave up).
      this.columnBuffers.release(prepared.columns)
    }
    const committedMs = this.options.clock.now()
    this.options.latency?.record(committedMs - startedMs, committedMs)
    for (const m of messages) m.message.ack()
    const counters = this.options.counters
    counters.batchesCommitted++
    counters.messagesAcked += messages.length
    counters.samplesStored += prepared.columns.length
    counters.samplesRefused += prepared.refusedSamples
    this.options.logger.debug(
      { token, messages: messages.length, samples: prepared.columns.length, ms: committedMs - startedMs },
      'batch committed',
    )
  }

  /** Retries a store call until it succeeds, keeping the messages alive in JetStream meanwhile. */
  private async retry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return retryUntilAborted(operation, {
      signal: this.options.signal,
      ...(this.options.retryBaseDelayMs !== undefined ? { baseDelayMs: this.options.retryBaseDelayMs } : {}),
      maxDelayMs: 5_000,
      // Stopping while waiting (on a roll-up claim) is not a store error: let it end the commit.
      isFatal: (error) => error instanceof RetryAbortedError,
      onRetry: (error, attempt, delayMs) => {
        this.options.counters.storeErrors++
        this.options.logger.warn(
          { err: error, attempt, delay_ms: delayMs },
          `store failed to ${what}; retrying`,
        )
      },
    })
  }
}

/** The earliest and latest of `length` timestamps (0 and 0 when there are none). */
function spanOf(timestampsMs: Float64Array, length: number): BatchSpan {
  if (length === 0) return { minTsMs: 0, maxTsMs: 0 }
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < length; i++) {
    const ts = timestampsMs[i] as number
    if (ts < min) min = ts
    if (ts > max) max = ts
  }
  return { minTsMs: min, maxTsMs: max }
}
