/*
 * Streaming alert rules as a pipeline branch:
 *
 *   accepted batch ──► StreamingRules.observeBatch(batch, now)   (pure, synchronous) ─┐
 *   every rules.tick_interval ──► StreamingRules.tick(now)  (absent rules, stale series) ┴─► publish
 *                                                     each event, in order, to ALERTS (retried)
 *
 * Evaluation happens the moment a batch is accepted, before it is committed to the store: the
 * latency from a sample's publication to its alert event is decode + evaluation + one JetStream
 * publish. The branch never acks; a batch redelivered after a crash is evaluated again, and the
 * evaluator drops samples not newer than those it has seen, while JetStream's duplicate window
 * drops a re-published event (message id = alertEventId).
 */
import {
  concatMap,
  endWith,
  filter,
  from,
  ignoreElements,
  interval,
  map,
  merge,
  share,
  takeUntil,
} from 'rxjs'
import {
  retryUntilAborted,
  type AlertEvent,
  type AlertPublisher,
  type Clock,
  type Logger,
  type StreamingRules,
} from '@tidewatch/shared'
import type { AcceptedBranch } from '../pipeline/pipeline.js'

export interface RulesCounters {
  batchesEvaluated: number
  eventsPublished: number
  publishErrors: number
}

export interface RulesBranchOptions {
  rules: StreamingRules
  publisher: AlertPublisher
  clock: Clock
  /** How often absent rules and stale series are evaluated (ms). Default 1000. */
  tickIntervalMs?: number
  logger: Logger
  /** Aborting stops retries of a publish that keeps failing (at shutdown). */
  signal: AbortSignal
  counters?: RulesCounters
}

export function createRulesCounters(): RulesCounters {
  return { batchesEvaluated: 0, eventsPublished: 0, publishErrors: 0 }
}

export function rulesBranch(options: RulesBranchOptions): AcceptedBranch {
  const counters = options.counters ?? createRulesCounters()
  const { rules, clock, logger } = options

  const publishAll = async (events: AlertEvent[]): Promise<void> => {
    for (const event of events) {
      await retryUntilAborted(() => options.publisher.publish(event), {
        signal: options.signal,
        onRetry: (error, attempt) => {
          counters.publishErrors++
          logger.warn(
            { err: error, attempt, rule: event.rule, state: event.state },
            'cannot publish an alert event; retrying',
          )
        },
      })
      counters.eventsPublished++
      logger.debug({ rule: event.rule, state: event.state, labels: event.labels }, 'alert event published')
    }
  }

  return (accepted$) => {
    const batches$ = accepted$.pipe(share())
    const ended$ = batches$.pipe(ignoreElements(), endWith(true))
    const fromBatches$ = batches$.pipe(
      map((accepted) => {
        counters.batchesEvaluated++
        return rules.observeBatch(accepted.batch, clock.now())
      }),
    )
    const fromTicks$ = interval(options.tickIntervalMs ?? 1_000).pipe(
      takeUntil(ended$),
      map(() => rules.tick(clock.now())),
    )
    return merge(fromBatches$, fromTicks$).pipe(
      filter((events) => events.length > 0),
      concatMap((events) => from(publishAll(events))),
    )
  }
}
