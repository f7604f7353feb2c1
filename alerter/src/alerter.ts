import { randomUUID } from 'node:crypto'
import {
  connectNats,
  createStore,
  ensureStream,
  JetStreamAlertPublisher,
  loadRuleFiles,
  natsConnectedProbe,
  systemClock,
  type MetricsRegistry,
  type AlertEvent,
  type AlerterConfig,
  type Clock,
  type Logger,
  type NatsConnection,
  type Rule,
  type Store,
} from '@tidewatch/shared'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { Dispatcher as UndiciDispatcher } from 'undici'
import { planAlerter } from './config.js'
import { Dispatcher } from './grouping/dispatcher.js'
import { LeaseManager } from './leases/leases.js'
import { createNotifier } from './notifiers/index.js'
import type { Notification, Notifier } from './notifiers/types.js'
import { EXPIRED_SILENCE_RETENTION_MS, SilenceStore } from './silences/silences.js'
import { QueryRuleRunner } from './query-rules/runner.js'
import { AlertConsumer } from './sources/alerts/consumer.js'
import { AlertStore } from './state/alert-store.js'
import { openBuckets, type AlerterBuckets } from './state/buckets.js'
import { NotificationLog } from './state/nflog.js'
import { systemTimers, type Timers } from './timers.js'
import { alerterRegistry } from './self/self-metrics.js'

/*
 * One alerter replica:
 *
 *   ALERTS stream ─► AlertConsumer ─► AlertStore (KV <prefix>_alerts, CAS) ─► ack
 *                                          │ KV watch (every replica)
 *   KV <prefix>_silences ─► SilenceStore ──┤
 *                                          ▼
 *                      Dispatcher: routes ─► groups ─► lease (KV) ─► nflog (KV) ─► notifiers ─► Slack
 *
 *   [rules] files, kind = "query" ─► QueryRuleRunner (SQL over [store], every interval) ─► ALERTS stream
 *                                    (every replica evaluates; the holder of the lease "query-rules" publishes)
 */

/** Lease key of the replica that publishes query-rule events (group keys always hold a dot). */
const QUERY_RULES_LEASE = 'query-rules'

export interface AlerterOptions {
  config: AlerterConfig
  logger: Logger
  /** An open connection to use (and not close); otherwise one is made from `config.nats`. */
  connection?: NatsConnection
  clock?: Clock
  timers?: Timers
  /** For HTTP notifiers; tests pass an Agent with short timeouts. */
  httpDispatcher?: UndiciDispatcher
  onSent?: (notification: Notification) => void
  /** The rules, already loaded (the CLI checks them before starting); otherwise read from `config.rules.files`. */
  rules?: readonly Rule[]
}

export class Alerter {
  private connection: NatsConnection | undefined
  private ownsConnection = false
  private consumer: AlertConsumer | undefined
  private dispatcherInstance: Dispatcher | undefined
  private leases: LeaseManager | undefined
  private notifiers = new Map<string, Notifier>()
  private readonly abort = new AbortController()
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private buckets: AlerterBuckets | undefined
  private store: AlertStore | undefined
  private silenceStore: SilenceStore | undefined
  private queryRunner: QueryRuleRunner | undefined
  private queryStore: Store | undefined
  private readonly log: Logger
  private natsConnected: (() => boolean) | undefined
  /** The alerter's own metrics (notifications per receiver, events, alerts firing), for /metrics and self-ingest. */
  readonly metrics: MetricsRegistry

  constructor(private readonly options: AlerterOptions) {
    this.log = options.logger.child({ component: 'alerter', alerter_id: options.config.alerter.id })
    this.metrics = alerterRegistry({
      id: options.config.alerter.id,
      receivers: options.config.receivers.map((receiver) => receiver.name),
      dispatcher: () =>
        this.dispatcherInstance === undefined
          ? undefined
          : { ...this.dispatcherInstance.stats, firing: this.dispatcherInstance.firingCount },
      consumer: () => this.consumer?.stats,
    })
  }

  /** The NATS connection, once started. */
  get natsConnection(): NatsConnection | undefined {
    return this.connection
  }

  /** What /readyz answers: started and connected to NATS. */
  ready(): boolean {
    return this.natsConnected?.() ?? false
  }

  get dispatcher(): Dispatcher | undefined {
    return this.dispatcherInstance
  }
  get silences(): SilenceStore | undefined {
    return this.silenceStore
  }
  get consumerStats() {
    return this.consumer?.stats
  }
  /** The query-rule runner, when the rule files hold query rules. */
  get queryRules(): QueryRuleRunner | undefined {
    return this.queryRunner
  }

  async start(): Promise<void> {
    const { config } = this.options
    const clock = this.options.clock ?? systemClock
    const timers = this.options.timers ?? systemTimers
    const plan = planAlerter(config)
    // A bad rule file stops the start with every problem (file, rule, key), before anything connects.
    const queryRules = (this.options.rules ?? loadRuleFiles(config.rules.files)).filter(
      (rule) => rule.kind === 'query',
    )

    for (const spec of plan.receivers) {
      const index = config.receivers.findIndex((r) => r.name === spec.name)
      const deps =
        this.options.httpDispatcher !== undefined
          ? { logger: this.log, dispatcher: this.options.httpDispatcher }
          : { logger: this.log }
      this.notifiers.set(spec.name, createNotifier(spec, deps, `receivers[${index}]`))
    }

    if (this.options.connection !== undefined) {
      this.connection = this.options.connection
    } else {
      this.connection = await connectNats(config.nats, {
        name: `tidewatch-alerter-${config.alerter.id}`,
        logger: this.log,
      })
      this.ownsConnection = true
    }
    const connection = this.connection
    const probe = natsConnectedProbe(connection)
    await ensureStream(await jetstreamManager(connection), config.streams.alerts)
    const buckets = await openBuckets(connection, {
      prefix: config.kv.bucket_prefix,
      replicas: config.kv.replicas,
      storage: config.kv.storage,
    })
    this.buckets = buckets
    const store = new AlertStore(buckets.alerts, clock)
    this.store = store
    const silences = new SilenceStore(buckets.silences, clock)
    this.silenceStore = silences
    const owner = `${config.alerter.id}/${randomUUID().slice(0, 8)}`
    this.leases = new LeaseManager(
      buckets.leases,
      owner,
      config.leases.ttl,
      clock,
      timers,
      this.log.child({ part: 'leases' }),
    )

    const dispatcher = new Dispatcher({
      routes: plan.routes,
      inhibitRules: plan.inhibitRules,
      silences,
      leases: this.leases,
      nflog: new NotificationLog(buckets.nflog),
      store,
      notifiers: this.notifiers,
      clock,
      timers,
      logger: this.log.child({ part: 'dispatcher' }),
      retry: { initialDelayMs: config.notify.retry_initial_delay, maxDelayMs: config.notify.retry_max_delay },
      ...(this.options.onSent !== undefined ? { onSent: this.options.onSent } : {}),
    })
    this.dispatcherInstance = dispatcher

    // Silences first, so no alert is judged before the silences that mute it are known.
    const silenceWatch = await silences.watch(this.abort.signal, () => undefined)
    await silenceWatch.ready
    const alertWatch = await store.watch(
      (fingerprint, stored) => dispatcher.onAlert(fingerprint, stored),
      this.abort.signal,
    )
    await alertWatch.ready

    const stream = config.streams.alerts
    this.consumer = new AlertConsumer(
      connection,
      {
        stream: stream.name,
        durableName: config.consumer.durable_name,
        filterSubject: stream.subjects.length === 1 ? (stream.subjects[0] as string) : '>',
        maxAckPending: config.consumer.max_ack_pending,
        ackWaitMs: config.consumer.ack_wait,
        retryDelayMs: config.consumer.retry_delay,
      },
      async (event: AlertEvent) => {
        await store.apply(event)
      },
      this.log.child({ part: 'consumer' }),
    )
    await this.consumer.start()

    if (queryRules.length > 0) {
      const leases = this.leases
      this.queryStore = createStore(config.store, { logger: this.log })
      this.queryRunner = new QueryRuleRunner({
        client: this.queryStore.client,
        rules: queryRules,
        publisher: new JetStreamAlertPublisher(jetstream(connection)),
        logger: this.log.child({ part: 'query-rules' }),
        source: config.alerter.id,
        clock,
        timers,
        publishWhen: async () => (await leases.acquire(QUERY_RULES_LEASE)).held,
      })
      this.queryRunner.start()
    }

    // Tombstones of resolved alerts are kept an hour and expired silences 120 h, then swept; a
    // background chore, not on the alert path.
    this.sweepTimer = setInterval(() => {
      store
        .sweepClosed(3_600_000, this.log)
        .catch((error: unknown) => this.log.warn({ err: error }, 'sweep of closed alerts failed'))
      silences
        .sweepExpired(EXPIRED_SILENCE_RETENTION_MS, this.log)
        .catch((error: unknown) => this.log.warn({ err: error }, 'sweep of expired silences failed'))
    }, 600_000)
    this.sweepTimer.unref()
    this.natsConnected = probe
    this.log.info(
      { receivers: [...this.notifiers.keys()], lease_owner: owner, query_rules: queryRules.length },
      'alerter started',
    )
  }

  /** Graceful stop: no new events, flushes in flight finish, leases are released for the other replica. */
  async stop(): Promise<void> {
    this.natsConnected = () => false
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    await this.queryRunner?.stop()
    await this.queryStore
      ?.close()
      .catch((error: unknown) => this.log.warn({ err: error }, 'cannot close the query-rule store client'))
    await this.consumer?.stop()
    await this.dispatcherInstance?.stop()
    this.abort.abort()
    await this.leases?.releaseAll()
    await Promise.allSettled([...this.notifiers.values()].map((n) => n.close()))
    if (this.ownsConnection) await this.connection?.drain()
    this.log.info('alerter stopped')
  }
}
