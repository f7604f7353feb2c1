import { z } from 'zod'

/**
 * The schema of every component's TOML file. Keys are snake_case; durations are strings such as
 * "10s", "500ms", "7d"; sizes in bytes are integers whose key ends in `_bytes`. Objects are strict:
 * an unknown key is an error, never silently ignored.
 */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
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
      name: z.string().regex(/^[A-Za-z0-9_-]+$/).default(defaults.name),
      subjects: z.array(z.string().min(1)).min(1).default(defaults.subjects),
      max_age: duration(defaults.max_age),
      max_bytes: z.number().int().default(-1),
      max_msg_size: z.number().int().default(8 * 1024 * 1024),
      replicas: z.number().int().min(1).max(5).default(1),
      duplicate_window: duration('2m'),
      storage: z.enum(['file', 'memory']).default('file'),
    })
    .prefault({})

export const storeSchema = z
  .strictObject({
    /** `chdb://<dir>` for the embedded engine, `http(s)://host:8123` for a ClickHouse server. */
    url: z.string().default('chdb://./data/store'),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('tidewatch'),
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

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)')

export const agentConfigSchema = z.strictObject({
  agent: z
    .strictObject({
      /** Stable id of this agent; part of every batch id. Default: the host name. */
      id: z.string().min(1).optional(),
      /** The `host` label. Default: the machine's host name. */
      hostname: z.string().min(1).optional(),
      interval: duration('10s'),
      data_dir: z.string().default('./data/agent'),
      batch_max_samples: positiveInt(5_000),
      flush_interval: duration('10s'),
      flush_jitter: duration('1s'),
      spool_max_bytes: positiveInt(256 * 1024 * 1024),
      /** Batches waiting for NATS are held in memory up to this many encoded bytes; beyond it the oldest are dropped and counted. */
      queue_max_bytes: positiveInt(64 * 1024 * 1024),
      /** First delay after a failed publish; doubles per failure up to `retry_max_delay`. */
      retry_initial_delay: duration('500ms'),
      retry_max_delay: duration('30s'),
      /** How long a publish waits for JetStream's ack before it counts as failed. */
      publish_timeout: duration('5s'),
    })
    .prefault({}),
  global_labels: z.record(labelName, z.string()).default({}),
  log: logSchema,
  nats: natsSchema,
  output: z
    .strictObject({
      subject_prefix: z.string().default('metrics.in'),
    })
    .prefault({}),
  inputs: z
    .strictObject({
      cpu: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
      memory: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
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
  log: logSchema,
  nats: natsSchema,
  streams: z
    .strictObject({
      metrics: streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '24h' }),
      dlq: streamSchema({ name: 'DLQ', subjects: ['metrics.dlq.>'], max_age: '7d' }),
    })
    .prefault({}),
  consumer: z
    .strictObject({
      durable_name: z.string().regex(/^[A-Za-z0-9_-]+$/).default('aggregator'),
      /** Messages delivered but not yet acked, across the pipeline: the bound on in-flight work. */
      max_ack_pending: positiveInt(2_000),
      ack_wait: duration('60s'),
      /** Messages fetched per pull (JetStream takes a message or a byte bound, not both). */
      pull_max_messages: positiveInt(500),
    })
    .prefault({}),
  pipeline: z
    .strictObject({
      /** A micro-batch is inserted when it holds this many samples... */
      micro_batch_max_samples: positiveInt(200_000),
      /** ...or when its oldest message has waited this long. */
      micro_batch_max_wait: duration('500ms'),
      /** Delay before a message whose insert failed is redelivered. */
      retry_delay: duration('2s'),
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
