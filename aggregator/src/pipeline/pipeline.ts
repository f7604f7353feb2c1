/*
 * The aggregator's pipeline:
 *
 *   JetStream METRICS (durable pull consumer, max_ack_pending bounds what is in flight)
 *     └─► classify: decode + validate the batch
 *           ├─ rejected ─► DLQ stream (reason in headers) ─► term
 *           └─ accepted ─┬─► micro-batch (samples or wait) ─► commit: intent, raw + 1m rows, commit ─► ack
 *                        └─► extra branches (streaming alert rules plug in here)
 */
import {
  EMPTY,
  Subject,
  concatMap,
  filter,
  from,
  interval,
  map,
  merge,
  mergeMap,
  share,
  takeUntil,
  type Observable,
  type OperatorFunction,
} from 'rxjs'
import type { JsMsg } from '@nats-io/jetstream'
import { retryUntilAborted, type Clock, type DecodeCache, type WireLimits } from '@tidewatch/shared'
import type { Logger } from 'pino'
import {
  classifyMessage,
  type AcceptedMessage,
  type ClassifiedMessage,
  type RejectedMessage,
} from './classify.js'
import { microBatch } from './micro-batch.js'
import type { BatchCommitter } from './committer.js'
import type { PipelineCounters } from './counters.js'
import type { DeadLetterPublisher } from '../sinks/dlq/dead-letters.js'

/** A branch that also sees every accepted batch, e.g. streaming alert evaluation. It must not ack. */
export type AcceptedBranch = OperatorFunction<AcceptedMessage, unknown>

export interface PipelineOptions {
  source: Observable<JsMsg>
  limits: WireLimits
  /** Remembers each sender's batch structure (keyed by subject) so repeated shapes decode fast. */
  decodeCache: DecodeCache
  clock: Clock
  committer: BatchCommitter
  deadLetters: DeadLetterPublisher
  counters: PipelineCounters
  logger: Logger
  signal: AbortSignal
  microBatchMaxSamples: number
  microBatchMaxWaitMs: number
  /** Sees every delivered message's subject (the partition-count check, partitions/guard.ts). */
  checkSubject?: (subject: string) => void
  /** Idle tick that lets held redelivered batches be re-checked when no traffic arrives. */
  housekeepingIntervalMs: number
  branches?: AcceptedBranch[]
}

export interface RunningPipeline {
  /** Resolves when the pipeline has stopped and everything it took in was committed or left unacked. */
  done: Promise<void>
  /** Stops taking messages; what is buffered is still committed. */
  stop(): void
}

export function runPipeline(options: PipelineOptions): RunningPipeline {
  const stop$ = new Subject<void>()
  const classified$ = options.source.pipe(
    takeUntil(stop$),
    map((message): ClassifiedMessage => {
      options.counters.messagesReceived++
      options.checkSubject?.(message.subject)
      return classifyMessage(message, options.limits, options.clock, options.decodeCache)
    }),
    share(),
  )
  const accepted$ = classified$.pipe(filter((m): m is AcceptedMessage => m.kind === 'accepted'))
  const rejected$ = classified$.pipe(filter((m): m is RejectedMessage => m.kind === 'rejected'))

  const stored$ = merge(
    accepted$.pipe(
      microBatch(options.microBatchMaxSamples, options.microBatchMaxWaitMs, (m) => m.batch.sampleCount),
    ),
    interval(options.housekeepingIntervalMs).pipe(
      takeUntil(stop$),
      map((): AcceptedMessage[] => []),
    ),
  ).pipe(concatMap((batch) => from(options.committer.commit(batch))))

  const deadLettered$ = rejected$.pipe(mergeMap((rejected) => from(deadLetter(rejected, options)), 4))
  const branches$ = (options.branches ?? []).map((branch) => accepted$.pipe(branch))

  const done = new Promise<void>((resolve, reject) => {
    merge(stored$, deadLettered$, ...branches$, EMPTY).subscribe({
      error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      complete: () => resolve(),
    })
  })
  return { done, stop: () => stop$.next() }
}

async function deadLetter(rejected: RejectedMessage, options: PipelineOptions): Promise<void> {
  const { counters, logger } = options
  counters.rejectedByReason[rejected.reason] = (counters.rejectedByReason[rejected.reason] ?? 0) + 1
  logger.warn(
    {
      reason: rejected.reason,
      detail: rejected.detail,
      subject: rejected.message.subject,
      stream_seq: rejected.message.seq,
    },
    'batch refused; sent to the dead-letter stream',
  )
  await retryUntilAborted(
    () => options.deadLetters.publish(rejected.message, rejected.reason, rejected.detail),
    {
      signal: options.signal,
      onRetry: (error, attempt) => {
        counters.deadLetterErrors++
        logger.warn({ err: error, attempt }, 'cannot publish to the dead-letter stream; retrying')
      },
    },
  )
  // Only once the dead letter is stored: `term` tells JetStream never to redeliver it. No reason
  // argument: nats-server 2.9 does not parse `+TERM <reason>` and would leave the message pending
  // until ack_wait, filling max_ack_pending (the reason travels in the dead letter's headers).
  rejected.message.term()
  counters.messagesDeadLettered++
}
