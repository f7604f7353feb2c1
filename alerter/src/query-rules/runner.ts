/*
 * Query rules in the alerter:
 *
 *   per rule, every `interval` (injected Timers, unref'd; the next run is scheduled when the
 *   previous one ends, so runs of a rule never overlap)
 *     └─► SQL with {now:DateTime64(3)} ─► rows ─► QueryRuleEvaluator (pure: rows -> conditions ->
 *         for / keep_firing_for / flapping) ─► AlertEvents ─► publisher (ALERTS stream)
 *
 * A failed query is logged and counted; the rule's alerts keep their state until the next run
 * succeeds (a store outage must not resolve every query alert).
 */
import {
  QueryRuleEvaluator,
  systemClock,
  type AlertEvent,
  type AlertPublisher,
  type Clock,
  type Logger,
  type QueryRule,
  type Rule,
  type Store,
} from '@tidewatch/shared'
import { systemTimers, type TimerHandle, type Timers } from '../timers.js'

type ClickHouseClient = Store['client']

export interface QueryRuleRunnerOptions {
  client: ClickHouseClient
  /** Every rule; the query ones are run. */
  rules: readonly Rule[]
  publisher: AlertPublisher
  logger: Logger
  /** Names the alerter in events. */
  source: string
  clock?: Clock
  timers?: Timers
  /**
   * Whether this replica publishes now (default: always). Every replica evaluates, so its `for`
   * state is warm when it takes over; only the one holding the query-rules lease publishes.
   */
  publishWhen?: () => Promise<boolean>
}

export interface QueryRuleCounters {
  runs: number
  failures: number
  eventsPublished: number
  publishErrors: number
  /** Transitions left to the replica holding the query-rules lease. */
  eventsSkipped: number
}

/** Seconds since the epoch with milliseconds (`1700000000.123`): what `{now:DateTime64(3)}` takes, whatever the server's time zone. */
export function clickhouseTime(ms: number): string {
  return (ms / 1000).toFixed(3)
}

export class QueryRuleRunner {
  readonly counters: QueryRuleCounters = {
    runs: 0,
    failures: 0,
    eventsPublished: 0,
    publishErrors: 0,
    eventsSkipped: 0,
  }
  private readonly evaluator: QueryRuleEvaluator
  private readonly clock: Clock
  private readonly timers: Timers
  private readonly handles = new Map<string, TimerHandle>()
  private readonly running = new Set<Promise<unknown>>()
  private stopped = true
  /**
   * Transitions not published yet, the latest per alert: computed while another replica held the
   * query-rules lease, or whose publish failed. The next run that publishes sends them first.
   */
  private readonly unpublished = new Map<string, AlertEvent>()

  constructor(private readonly options: QueryRuleRunnerOptions) {
    this.evaluator = new QueryRuleEvaluator(options.rules, { source: options.source })
    this.clock = options.clock ?? systemClock
    this.timers = options.timers ?? systemTimers
  }

  get rules(): readonly QueryRule[] {
    return this.evaluator.rules
  }

  /** Schedules every rule: the first run after one interval, then one interval after each run ends. */
  start(): void {
    this.stopped = false
    for (const rule of this.evaluator.rules) this.schedule(rule)
  }

  /** Resolves when no run is under way (tests step fake time a run at a time with it). */
  async idle(): Promise<void> {
    await Promise.all([...this.running])
  }

  /** Cancels pending runs and waits for the ones under way. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const handle of this.handles.values()) this.timers.clear(handle)
    this.handles.clear()
    await Promise.all([...this.running])
  }

  private schedule(rule: QueryRule): void {
    if (this.stopped) return
    this.handles.set(
      rule.name,
      this.timers.set(rule.intervalMs, () => {
        this.handles.delete(rule.name)
        const run = this.runOnce(rule).finally(() => {
          this.running.delete(run)
          this.schedule(rule)
        })
        this.running.add(run)
      }),
    )
  }

  /**
   * Runs one rule now and publishes its transitions; never rejects (a background loop must not).
   * Returns the events published.
   */
  async runOnce(rule: QueryRule): Promise<AlertEvent[]> {
    const nowMs = this.clock.now()
    const logger = this.options.logger
    this.counters.runs++
    let rows: Record<string, unknown>[]
    try {
      const result = await this.options.client.query({
        query: rule.sql,
        format: 'JSONEachRow',
        query_params: { now: clickhouseTime(nowMs) },
      })
      rows = await result.json<Record<string, unknown>>()
    } catch (error) {
      this.counters.failures++
      logger.error(
        { err: error, rule: rule.name, file: rule.file },
        'query rule failed; its alerts keep their state',
      )
      return []
    }
    const events = this.evaluator.evaluate(rule, rows, nowMs)
    const published: AlertEvent[] = []
    let toPublish = events
    if (this.options.publishWhen !== undefined) {
      // Asked every run (not only when there are transitions), so the holder keeps its lease.
      let publish = false
      try {
        publish = await this.options.publishWhen()
      } catch (error) {
        logger.warn(
          { err: error, rule: rule.name },
          'cannot tell whether this replica publishes query-rule events; holding them',
        )
      }
      if (!publish) {
        // The holder publishes these. Keep the latest per alert anyway: should the holder die before
        // publishing them, this replica publishes them once it takes over (the alerter drops what
        // it already has, by event time and message id).
        for (const event of events) this.unpublished.set(event.fingerprint, event)
        this.counters.eventsSkipped += events.length
        return published
      }
    }
    if (this.unpublished.size > 0) {
      toPublish = [...this.unpublished.values(), ...events]
      this.unpublished.clear()
    }
    // The evaluator has moved on: a transition that does not reach the stream is held and sent again
    // by the next run (the alerter drops a duplicate by message id and event time). A later
    // transition of the same alert that does get through supersedes it.
    const failed = new Map<string, AlertEvent>()
    for (const event of toPublish) {
      try {
        await this.options.publisher.publish(event)
        this.counters.eventsPublished++
        published.push(event)
        failed.delete(event.fingerprint)
      } catch (error) {
        this.counters.publishErrors++
        failed.set(event.fingerprint, event)
        logger.error(
          { err: error, rule: rule.name, state: event.state },
          'cannot publish a query-rule alert event; holding it for the next run',
        )
      }
    }
    for (const [fingerprint, event] of failed)
      if (!this.unpublished.has(fingerprint)) this.unpublished.set(fingerprint, event)
    return published
  }

  /** Runs every query rule once, in order (for tests and `--once`). */
  async runAll(): Promise<AlertEvent[]> {
    const out: AlertEvent[] = []
    for (const rule of this.evaluator.rules) out.push(...(await this.runOnce(rule)))
    return out
  }
}
