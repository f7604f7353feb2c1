import { z } from 'zod'

/**
 * The schema of every component's TOML file. Keys are snake_case; durations are strings such as
 * "10s", "500ms", "7d"; sizes in bytes are integers whose key ends in `_bytes`. Objects are strict:
 * an unknown key is an error, never silently ignored.
 */

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/

/** Parses "10s", "1.5m", "7d" into milliseconds; undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim())
  if (!match) return undefined
  return Math.round(Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number))
}

const DURATION_EXPECTED = 'expected a duration such as "10s", "500ms" or "7d"'

/**
 * A duration string, validated and turned into milliseconds. Messages start with "expected ..."
 * and leave out what was found: the config loader appends it (and keeps secrets out of it).
 */
export const duration = (defaultText: string) =>
  z
    .string({ error: DURATION_EXPECTED })
    .default(defaultText)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text)
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED })
        return z.NEVER
      }
      return ms
    })

const positiveInt = (defaultValue: number) => z.number().int().positive().default(defaultValue)
/** A list of non-empty strings; empty by default. */
const stringList = (defaults: string[] = []) => z.array(z.string().min(1)).default(defaults)

export const logSchema = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .prefault({})

/** Credentials: the value, or a `*_file` key naming a file that holds it; `${ENV}` works in any string. */
export const natsSchema = z
  .strictObject({
    servers: z.array(z.string().min(1)).min(1).default(['nats://127.0.0.1:4222']),
    user: z.string().optional(),
    password: z.string().optional(),
    password_file: z.string().optional(),
    token: z.string().optional(),
    token_file: z.string().optional(),
    creds_file: z.string().optional(),
    name: z.string().optional(),
    /** How long to wait for a connection before giving up on start; the client reconnects forever after. */
    connect_timeout: duration('5s'),
    reconnect_wait: duration('1s'),
    /**
     * TLS for the client connection: any key set turns it on (a `tls://` server URL does too).
     * Paths of PEM files; no key is a secret (the key file stays a path the client reads).
     */
    tls: z
      .strictObject({
        /** CA that signed the server's certificate; default: the system's trusted CAs. */
        ca_file: z.string().min(1).optional(),
        /** Client certificate, for servers that verify clients (`verify: true`); needs key_file. */
        cert_file: z.string().min(1).optional(),
        /** Private key of cert_file. */
        key_file: z.string().min(1).optional(),
      })
      // Checked at load, not first at connect time, where it would look like NATS being unreachable.
      .superRefine((tls, ctx) => {
        if ((tls.cert_file === undefined) === (tls.key_file === undefined)) return
        const missing = tls.cert_file === undefined ? 'cert_file' : 'key_file'
        ctx.addIssue({
          code: 'custom',
          path: [missing],
          message: `expected ${missing} too: cert_file and key_file go together (a client certificate and its key)`,
        })
      })
      .optional(),
  })
  .prefault({})

/** The batch limits both ends enforce; the aggregator is the authority, the agent checks before sending. */
export const wireLimitsSchema = z
  .strictObject({
    max_batch_bytes: positiveInt(4 * 1024 * 1024),
    max_series_per_batch: positiveInt(10_000),
    max_samples_per_batch: positiveInt(200_000),
    max_labels_per_series: positiveInt(32),
    max_name_length: positiveInt(256),
    max_label_value_length: positiveInt(2048),
    /** Samples newer than now + this are rejected (clock skew on a host). */
    max_future_skew: duration('10m'),
    /** Samples older than now - this are rejected; defaults to the raw retention. */
    max_past_age: duration('7d'),
  })
  .prefault({})

export const streamSchema = (defaults: { name: string; subjects: string[]; max_age: string }) =>
  z
    .strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default(defaults.name),
      subjects: z.array(z.string().min(1)).min(1).default(defaults.subjects),
      max_age: duration(defaults.max_age),
      max_bytes: z.number().int().default(-1),
      max_msg_size: z
        .number()
        .int()
        .default(8 * 1024 * 1024),
      replicas: z.number().int().min(1).max(5).default(1),
      duplicate_window: duration('2m'),
      storage: z.enum(['file', 'memory']).default('file'),
    })
    .prefault({})

export const storeSchema = z
  .strictObject({
    /** `chdb://<dir>` for the embedded engine, `http(s)://host:8123` for a ClickHouse server. */
    url: z.string().default('chdb://./data/store'),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('tidewatch'),
    /**
     * A ClickHouse cluster (`remote_servers`) to migrate on: `ON CLUSTER`, Replicated engines and
     * Distributed tables under the same names. Default: none (one server, or the embedded engine).
     */
    cluster: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    user: z.string().optional(),
    password: z.string().optional(),
    password_file: z.string().optional(),
    request_timeout: duration('30s'),
  })
  .prefault({})

export const retentionSchema = z
  .strictObject({
    raw: duration('7d'),
    rollup_1m: duration('30d'),
    rollup_1h: duration('365d'),
  })
  .prefault({})

/** A duration with no default (absent: inherit), for keys such as an input's interval override. */
const optionalDuration = () =>
  z
    .string({ error: DURATION_EXPECTED })
    .transform((text, ctx) => {
      const ms = parseDurationMs(text)
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED })
        return z.NEVER
      }
      return ms
    })
    .optional()

/** Keys every `[inputs.<name>]` section has. */
const inputCommon = (enabled: boolean) => ({
  enabled: z.boolean().default(enabled),
  /** How often this input gathers, on its own timer; default agent.interval. Aligned like agent.interval (agent.round_interval). */
  interval: optionalDuration(),
  /** A gather still running after this long is abandoned and counted as failed. */
  timeout: duration('5s'),
})

/** Filesystems the disk input skips by default: kernel pseudo filesystems and read-only images. */
const DEFAULT_IGNORE_FS = [
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'fusectl',
  'hugetlbfs',
  'iso9660',
  'mqueue',
  'nsfs',
  'proc',
  'pstore',
  'ramfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
  'overlay',
  'aufs',
  'fuse.lxcfs',
  'fuse.gvfsd-fuse',
  'fuse.portal',
  'nfsd',
]

const labelName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)')

/**
 * `[admin]`: the component's own endpoint, /healthz, /readyz and Prometheus /metrics.
 * `listen` is `host:port`; an empty string turns the endpoint off.
 */
const adminListen = (defaultListen: string) => ({
  /** host:port of /healthz, /readyz and /metrics; "" disables the endpoint. */
  listen: z
    .string()
    .regex(/^$|^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port" or "" (off)')
    .default(defaultListen),
})

/** How often aggregator and alerter write their own metrics into tidewatch; "0s" turns it off. */
const selfMetricsInterval = () => ({
  self_metrics_interval: duration('10s'),
})

export const agentConfigSchema = z.strictObject({
  agent: z
    .strictObject({
      /** Stable id of this agent; part of every batch id. Default: the host name. */
      id: z.string().min(1).optional(),
      /** The `host` label. Default: the machine's host name. */
      hostname: z.string().min(1).optional(),
      interval: duration('10s'),
      /**
       * Telegraf's `round_interval`: each input gathers on the multiples of its interval since the
       * epoch (10 s: :00, :10, :20...), so the first round waits for the next boundary. Off: the first
       * round is at start and the next every interval after it.
       */
      round_interval: z.boolean().default(true),
      /**
       * Sample timestamps are rounded to this (Telegraf's `precision`): timer jitter in the last
       * milliseconds costs ~0.56 bytes per stored sample and carries no information.
       */
      timestamp_precision: duration('1s'),
      /** Holds seq.json (batch sequence) and spool/ (batches not yet acknowledged by JetStream). */
      data_dir: z.string().default('./data/agent'),
      batch_max_samples: positiveInt(5_000),
      flush_interval: duration('10s'),
      /** Random extra delay per flush (0..flush_jitter), so many agents do not publish together. */
      flush_jitter: duration('1s'),
      /** Bound on the disk spool's files, bytes; beyond it the oldest batches are dropped and counted. */
      spool_max_bytes: positiveInt(256 * 1024 * 1024),
      /** On SIGTERM, how long to keep publishing what is spooled before exiting (the rest stays on disk). */
      shutdown_timeout: duration('5s'),
      /** Report the agent's own series (agent.samples_sent_total, ...). */
      self_metrics: z.boolean().default(true),
      /** First delay after a failed publish; doubles per failure up to `retry_max_delay`. */
      retry_initial_delay: duration('500ms'),
      retry_max_delay: duration('30s'),
      /** How long a publish waits for JetStream's ack before it counts as failed. */
      publish_timeout: duration('5s'),
    })
    .prefault({}),
  admin: z.strictObject({ ...adminListen('127.0.0.1:9471') }).prefault({}),
  global_labels: z.record(labelName, z.string()).default({}),
  log: logSchema,
  nats: natsSchema,
  output: z
    .strictObject({
      subject_prefix: z.string().default('metrics.in'),
      /**
       * Partitions of the METRICS stream; must equal the aggregators' consumer.partitions. With 1 a
       * batch goes to `<subject_prefix>.<agent id>`, with P > 1 to `<subject_prefix>.<k>.<agent id>`
       * where k = fnv1a(agent id) mod P. Default 1.
       */
      partitions: z.number().int().min(1).max(1024).default(1),
    })
    .prefault({}),
  inputs: z
    .strictObject({
      cpu: z
        .strictObject({
          ...inputCommon(true),
          /** Also send one series per core (cpu="0", "1", ...) beside cpu="total". */
          per_cpu: z.boolean().default(true),
        })
        .prefault({}),
      memory: z.strictObject({ ...inputCommon(true) }).prefault({}),
      disk: z
        .strictObject({
          ...inputCommon(true),
          /** Only these mount points; empty: every mount whose fstype is not in ignore_fs. */
          mount_points: stringList(),
          /** Filesystem types never reported (pseudo and read-only image filesystems). */
          ignore_fs: stringList(DEFAULT_IGNORE_FS),
          /** Only these block devices (names as in /proc/diskstats); empty: every whole disk but loop, ram, zram, fd. */
          devices: stringList(),
        })
        .prefault({}),
      net: z
        .strictObject({
          ...inputCommon(true),
          /** Only these interfaces; empty: every interface but the loopback. */
          interfaces: stringList(),
        })
        .prefault({}),
      system: z.strictObject({ ...inputCommon(true) }).prefault({}),
      nats_jetstream: z
        .strictObject({
          ...inputCommon(false),
          servers: z.array(z.string().min(1)).min(1).default(['nats://127.0.0.1:4222']),
          user: z.string().optional(),
          password: z.string().optional(),
          password_file: z.string().optional(),
          token: z.string().optional(),
          token_file: z.string().optional(),
          creds_file: z.string().optional(),
          /** Only these streams; empty: every stream of the account. */
          streams: stringList(),
          /** Also send per-consumer series. */
          consumers: z.boolean().default(true),
        })
        .prefault({}),
      rabbitmq: z
        .strictObject({
          ...inputCommon(false),
          /** Base URL of the management HTTP API. */
          url: z.string().min(1).default('http://127.0.0.1:15672'),
          username: z.string().default('guest'),
          password: z.string().default('guest'),
          password_file: z.string().optional(),
          /** Only these queues (names, any vhost); empty: every queue. */
          queues: stringList(),
        })
        .prefault({}),
      redis: z
        .strictObject({
          ...inputCommon(false),
          /** host:port of the Redis server. */
          address: z.string().min(1).default('127.0.0.1:6379'),
          username: z.string().optional(),
          password: z.string().optional(),
          password_file: z.string().optional(),
          /** Database the keys below live in (SELECT). */
          db: z.number().int().min(0).default(0),
          /** Keys holding lists: LLEN of each. */
          lists: stringList(),
          /** Keys holding streams: XLEN of each. */
          streams: stringList(),
        })
        .prefault({}),
      prometheus: z
        .strictObject({
          ...inputCommon(false),
          /** Endpoints serving the Prometheus text format. */
          urls: stringList(),
          /** The `job` label of every scraped series (`instance` is each URL's host:port). */
          job: z.string().min(1).default('prometheus'),
          /** Largest response accepted, in bytes. */
          max_body_bytes: positiveInt(10 * 1024 * 1024),
          /**
           * `[[inputs.prometheus.targets]]`: endpoints with their own job, credentials or CA, scraped
           * beside `urls`. Basic auth (username + password) or a bearer token, not both.
           */
          targets: z
            .array(
              z.strictObject({
                url: z.string().min(1),
                /** Default: inputs.prometheus.job. */
                job: z.string().min(1).optional(),
                username: z.string().min(1).optional(),
                password: z.string().optional(),
                password_file: z.string().optional(),
                bearer_token: z.string().optional(),
                bearer_token_file: z.string().optional(),
                /** PEM CA certificate(s) that sign the target's certificate (https), instead of the system's. */
                tls_ca_file: z.string().min(1).optional(),
              }),
            )
            .default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: wireLimitsSchema,
})

export const aggregatorConfigSchema = z.strictObject({
  aggregator: z
    .strictObject({
      /** Names this replica in logs and in the consumer's client name. */
      id: z.string().min(1).default('aggregator-1'),
    })
    .prefault({}),
  admin: z.strictObject({ ...adminListen('127.0.0.1:9472'), ...selfMetricsInterval() }).prefault({}),
  log: logSchema,
  nats: natsSchema,
  streams: z
    .strictObject({
      metrics: streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '24h' }),
      dlq: streamSchema({ name: 'DLQ', subjects: ['metrics.dlq.>'], max_age: '7d' }),
      /** Where streaming alert rules publish AlertEvents for the alerter. */
      alerts: streamSchema({ name: 'ALERTS', subjects: ['alerts.>'], max_age: '7d' }),
    })
    .prefault({}),
  rules: z
    .strictObject({
      /** Rule files (config/rules/*.toml) whose threshold and absent rules this aggregator evaluates; relative to the working directory. */
      files: stringList(),
      /** How often absent rules (and stale series) are checked against the clock. */
      tick_interval: duration('1s'),
    })
    .prefault({}),
  consumer: z
    .strictObject({
      durable_name: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('aggregator'),
      /** Messages delivered but not yet acked, across the pipeline: the bound on in-flight work. */
      max_ack_pending: positiveInt(2_000),
      ack_wait: duration('60s'),
      /** Messages fetched per pull (JetStream takes a message or a byte bound, not both). */
      pull_max_messages: positiveInt(500),
      /**
       * Bytes of delivered-but-unacked messages one partition's pipeline may hold; no pull starts
       * beyond it (max_ack_pending bounds the count, this the size). Default 268435456 (256 MiB).
       */
      max_in_flight_bytes: positiveInt(256 * 1024 * 1024),
      /** Most bytes fetched per pull; 0 = bounded by pull_max_messages only. Default 0. */
      pull_max_bytes: z.number().int().min(0).default(0),
      /**
       * Partitions of the METRICS stream (equal to the agents' output.partitions). 1: one consumer
       * `durable_name` over the whole stream, shared by all replicas. P > 1: consumer
       * `<durable_name>-p<k>` per partition, filtered on `<prefix>.<k>.>`, each owned by one replica
       * at a time through a lease in the KV bucket `lease_bucket`. Default 1.
       */
      partitions: z.number().int().min(1).max(1024).default(1),
      /** KV bucket holding partition leases and replica heartbeats. Default "tidewatch_partitions". */
      lease_bucket: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('tidewatch_partitions'),
      /** A replica that has not renewed its leases for this long loses them to the others. Default "10s". */
      lease_ttl: duration('10s'),
    })
    .prefault({}),
  pipeline: z
    .strictObject({
      /** A micro-batch is inserted when it holds this many samples... */
      micro_batch_max_samples: positiveInt(200_000),
      /** ...or when its oldest message has waited this long. */
      micro_batch_max_wait: duration('500ms'),
      /**
       * A minute is rolled up into samples_1m once it ended this long ago; samples arriving later are
       * written as 1-minute partials with their batch.
       */
      rollup_grace: duration('2m'),
      /** How often closed minutes are looked for and rolled up. */
      rollup_interval: duration('10s'),
      /** New series one metric may gain per aggregator process; beyond it samples are refused and counted. */
      max_series_per_metric: positiveInt(1_000_000),
      /**
       * First wait before a failed store write is retried in place (the batch keeps its messages and
       * token); it doubles, with jitter, up to 5 s.
       */
      retry_delay: duration('200ms'),
    })
    .prefault({}),
  store: storeSchema,
  retention: retentionSchema,
  http: z
    .strictObject({
      /** Serve the embedded store over ClickHouse's HTTP protocol (only with a chdb:// store). */
      enabled: z.boolean().default(true),
      listen: z.string().default('127.0.0.1:8123'),
      /** With both set, requests authenticated as this user may write; everyone else is read-only. */
      writer_user: z.string().optional(),
      writer_password: z.string().optional(),
      writer_password_file: z.string().optional(),
      /** Ceilings of every read-only request, as ClickHouse's own settings; callers may only lower them. */
      reader_limits: z
        .strictObject({
          /** Longest a read query may run. Default "60s". */
          max_execution_time: duration('60s'),
          /** Most memory one read query may use, bytes. Default 2147483648 (2 GiB). */
          max_memory_usage: positiveInt(2 * 1024 * 1024 * 1024),
          /** Most rows one read query may read from tables. Default 1000000000. */
          max_rows_to_read: positiveInt(1_000_000_000),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: wireLimitsSchema,
})

export type AgentConfig = z.output<typeof agentConfigSchema>
export type AggregatorConfig = z.output<typeof aggregatorConfigSchema>
export type NatsConfig = z.output<typeof natsSchema>
export type StreamConfig = z.output<ReturnType<typeof streamSchema>>
export type StoreConfig = z.output<typeof storeSchema>
export type RetentionConfig = z.output<typeof retentionSchema>
export type WireLimitsConfig = z.output<typeof wireLimitsSchema>

/*
 * The alerter: consumes alert events, keeps state in JetStream KV, groups, routes, silences,
 * inhibits and notifies. Cross-field checks (a route naming a receiver that does not exist, a
 * receiver with no notifier, a matcher that does not parse) run in the alerter after this schema,
 * so `alerterConfigSchema.parse({})` is the documented default file.
 */

/** `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"` (Alertmanager's matcher syntax). */
const matcherText = z.string().min(1)

/** A duration with no default: absent means "inherit from the parent route". */
const inheritedDuration = () =>
  z
    .string({ error: DURATION_EXPECTED })
    .transform((text, ctx) => {
      const ms = parseDurationMs(text)
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED })
        return z.NEVER
      }
      return ms
    })
    .optional()

/** Grouping and timing settings a route sets; a child route inherits the ones it leaves out. */
const routeTimingShape = {
  /** Labels whose values split alerts into groups; `["..."]` groups by all labels. */
  group_by: z.array(z.string().min(1)).optional(),
  /** How long a new group waits for more alerts before its first notification. */
  group_wait: inheritedDuration(),
  /** Minimum time between two notifications of one group when its alerts change. */
  group_interval: inheritedDuration(),
  /** How often a notification is repeated while nothing changed and alerts still fire. */
  repeat_interval: inheritedDuration(),
}

export const alerterChildRouteSchema = z.strictObject({
  /** All must match for an alert to take this route. */
  matchers: z.array(matcherText).default([]),
  receiver: z.string().min(1).optional(),
  /** Keep looking at the next sibling route after this one matched. */
  continue: z.boolean().default(false),
  ...routeTimingShape,
})

export const slackReceiverSchema = z.strictObject({
  /** Incoming webhook URL (secret); or set bot_token and channel. */
  webhook_url: z.string().optional(),
  webhook_url_file: z.string().optional(),
  /** Bot token (xoxb-..., secret) for chat.postMessage / chat.update. */
  bot_token: z.string().optional(),
  bot_token_file: z.string().optional(),
  /** Channel id or name for bot-token mode. */
  channel: z.string().optional(),
  /** Slack Web API base URL (tests point it at a local receiver). */
  api_url: z.string().default('https://slack.com/api'),
  /** Send a message when a group's alerts resolve. */
  send_resolved: z.boolean().default(true),
  /** Bot-token mode: "update" rewrites the firing message, "reply" answers in its thread. */
  resolved_style: z.enum(['update', 'reply']).default('update'),
  /** How many alerts a message lists one by one; beyond it the message summarises. */
  max_alerts_listed: z.number().int().min(1).max(20).default(10),
  /** Labels never shown in a message (beside the group's own, which head it). */
  hide_labels: z.array(z.string()).default([]),
  /** Per-request timeout. */
  request_timeout: duration('10s'),
})

export const alerterReceiverSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/),
  slack: slackReceiverSchema.optional(),
})

export const alerterInhibitRuleSchema = z.strictObject({
  /** A firing alert matching all of these... */
  source_matchers: z.array(matcherText).min(1),
  /** ...mutes alerts matching all of these... */
  target_matchers: z.array(matcherText).min(1),
  /** ...that have the same values of these labels. */
  equal: z.array(z.string()).default([]),
})

export const alerterConfigSchema = z.strictObject({
  alerter: z
    .strictObject({
      /** Names this replica in logs and leases; give every replica its own. */
      id: z.string().min(1).default('alerter-1'),
    })
    .prefault({}),
  admin: z
    .strictObject({
      ...adminListen('127.0.0.1:9473'),
      ...selfMetricsInterval(),
      /** Subject prefix of the METRICS stream the own metrics go to (the agents' output.subject_prefix). */
      self_metrics_subject_prefix: z.string().min(1).default('metrics.in'),
      /** Partitions of the METRICS stream (the aggregators' consumer.partitions). */
      self_metrics_partitions: z.number().int().min(1).max(1024).default(1),
    })
    .prefault({}),
  log: logSchema,
  nats: natsSchema,
  streams: z
    .strictObject({
      alerts: streamSchema({ name: 'ALERTS', subjects: ['alerts.>'], max_age: '7d' }),
    })
    .prefault({}),
  consumer: z
    .strictObject({
      durable_name: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('alerter'),
      max_ack_pending: positiveInt(1_000),
      ack_wait: duration('30s'),
      /** Delay before an event whose state change failed to store is redelivered. */
      retry_delay: duration('1s'),
    })
    .prefault({}),
  kv: z
    .strictObject({
      /** Prefix of the KV buckets: <prefix>_alerts, _nflog, _silences, _leases. */
      bucket_prefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('tidewatch_alerter'),
      replicas: z.number().int().min(1).max(5).default(1),
      storage: z.enum(['file', 'memory']).default('file'),
    })
    .prefault({}),
  leases: z
    .strictObject({
      /** A group's lease lapses this long after its holder last renewed it; the other replica then takes over. */
      ttl: duration('10s'),
    })
    .prefault({}),
  notify: z
    .strictObject({
      /** First retry delay after a 5xx or network error; doubles with jitter up to retry_max_delay. */
      retry_initial_delay: duration('500ms'),
      retry_max_delay: duration('30s'),
    })
    .prefault({}),
  route: z
    .strictObject({
      receiver: z.string().min(1).default('default'),
      group_by: z.array(z.string().min(1)).default(['alertname']),
      group_wait: duration('30s'),
      group_interval: duration('5m'),
      repeat_interval: duration('4h'),
      /** Child routes, tried in order; the first that matches (and any after it with continue) wins. */
      routes: z.array(alerterChildRouteSchema).default([]),
    })
    .prefault({}),
  receivers: z.array(alerterReceiverSchema).default([]),
  inhibit_rules: z.array(alerterInhibitRuleSchema).default([]),
  rules: z
    .strictObject({
      /** Rule files whose query rules (`kind = "query"`) this alerter runs against `store`; relative to the working directory. */
      files: stringList(),
    })
    .prefault({}),
  /**
   * The store query rules read: the aggregator's read-only HTTP endpoint (embedded mode) or a
   * ClickHouse server. Default "http://127.0.0.1:8123" (never chdb://: the aggregator owns that directory).
   */
  store: storeSchema
    .unwrap()
    .extend({ url: z.string().default('http://127.0.0.1:8123') })
    .prefault({}),
})

export type AlerterConfig = z.output<typeof alerterConfigSchema>
export type AlerterReceiverConfig = z.output<typeof alerterReceiverSchema>
export type SlackReceiverConfig = z.output<typeof slackReceiverSchema>
export type AlerterChildRouteConfig = z.output<typeof alerterChildRouteSchema>
export type AlerterInhibitRuleConfig = z.output<typeof alerterInhibitRuleSchema>
