import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import {
  ConfigError,
  connectNats,
  createLogger,
  startAdminServer,
  systemClock,
  type AdminServer,
  TidewatchError,
  type Logger,
  type NatsConnection,
} from '@tidewatch/shared'
import { Agent, type BatchHandler } from './agent.js'
import { loadAgentConfig, type ResolvedAgentConfig } from './config.js'
import { PendingSink, RetryingDelivery, type BatchSink } from './delivery.js'
import { buildInputs } from './inputs/index.js'
import type { Input } from './inputs/types.js'
import { dryRunPrinter } from './outputs/dry-run/printer.js'
import { headerAllowance, NatsPublisher } from './outputs/nats/publisher.js'
import { selfMetricsInput, selfMetricsRegistry, type SelfMetricsSources } from './self/index.js'
import { SeqStore } from './seq-store.js'
import { lockDataDir } from './data-dir-lock.js'
import { DiskSpool } from './spool/disk.js'
import { systemTimers } from './timers.js'

/*
 *   tidewatch-agent [--config f]          run: inputs -> batches -> disk spool -> JetStream, until SIGTERM
 *   tidewatch-agent --once                one collection, sent, waits for the ack
 *   tidewatch-agent --test | --once --dry-run   one collection printed; nothing sent, nothing written
 *   tidewatch-agent check-config <file>   validate and exit
 */

/** Exit codes: 0 done, 1 the run failed (e.g. batches left undelivered), 2 bad flags or config. */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** How long --once waits for its batches (and any spooled before them) to be stored. */
const ONCE_DRAIN_TIMEOUT_MS = 15_000

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export type CliCommand =
  | { kind: 'run'; config: string | undefined; once: boolean; dryRun: boolean; logLevel: string | undefined }
  | { kind: 'check-config'; file: string; logLevel: string | undefined }

/** The flags of the run command. */
export type CliFlags = Extract<CliCommand, { kind: 'run' }>

function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8')
    return (JSON.parse(text) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

function usageError(message: string): never {
  process.stderr.write(`tidewatch-agent: ${message}\nRun tidewatch-agent --help for usage.\n`)
  process.exit(EXIT_USAGE)
}

/** Parses flags; a wrong flag prints the problem and the usage to stderr and exits with EXIT_USAGE. */
export async function parseFlags(argv: string[]): Promise<CliCommand> {
  // yargs reads `--once=maybe` as true; a switch given a value must say true or false.
  for (const arg of argv) {
    const match = /^--(once|dry-run|test)=(.*)$/.exec(arg)
    if (match && match[2] !== 'true' && match[2] !== 'false') {
      usageError(`--${match[1]} is a switch: give it alone (or =true / =false), found "${arg}"`)
    }
  }
  const parsed = await yargs(argv)
    .scriptName('tidewatch-agent')
    .usage(
      [
        '$0 [--config agent.toml] [--once] [--dry-run | --test] [--log-level LEVEL]',
        '$0 check-config <file>',
        '',
        'Samples this host and publishes metric batches to NATS JetStream. Every batch is written to a',
        'disk spool under agent.data_dir first and removed once JetStream has it, so an outage loses',
        'nothing (up to agent.spool_max_bytes). SIGTERM or SIGINT: flush, publish for up to',
        'agent.shutdown_timeout, keep the rest spooled, exit 0.',
      ].join('\n'),
    )
    .command('$0', 'Run the agent (the default command).')
    .command(
      'check-config <file>',
      'Validate an agent TOML file and exit: 0 valid, 2 invalid (with every error).',
      (y) => y.positional('file', { type: 'string', describe: 'the agent TOML file to check' }),
    )
    .option('config', {
      alias: 'c',
      type: 'string',
      requiresArg: true,
      describe:
        'The agent TOML file. Without it every setting takes its default (NATS at nats://127.0.0.1:4222, data_dir ./data/agent).',
    })
    .option('once', {
      type: 'boolean',
      default: false,
      describe:
        'Gather once, send that one collection (after anything already spooled), wait until JetStream stored it, and exit. Exit 1 if it is not stored within 15 s (it stays spooled).',
    })
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe:
        'Print each collection as JSON to stdout (batch id, encoded size, series, samples) instead of sending it; never connects to NATS, never writes the spool or the stored batch sequence.',
    })
    .option('test', {
      type: 'boolean',
      default: false,
      describe: 'Collect once, print it as JSON, send nothing: the same as --once --dry-run.',
    })
    .option('log-level', {
      type: 'string',
      choices: LOG_LEVELS,
      requiresArg: true,
      describe: 'Overrides log.level from the config file. Logs go to stderr as JSON lines.',
    })
    .example('$0 --config /etc/tidewatch/agent.toml', 'run as a service')
    .example('$0 --test --config /etc/tidewatch/agent.toml', 'show what one collection would send')
    .example('$0 check-config /etc/tidewatch/agent.toml', 'validate a config before a restart')
    .epilogue(
      'Exit codes: 0 done; 1 the run failed (NATS unreachable or batches not stored with --once); 2 a wrong flag or an invalid config file.',
    )
    .strict()
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .alias('version', 'V')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error, instance) => {
      process.stderr.write(`tidewatch-agent: ${message ?? error?.message ?? 'invalid arguments'}\n\n`)
      instance.showHelp((text) => process.stderr.write(text + '\n'))
      process.exit(EXIT_USAGE)
    })
    .parseAsync()
  const logLevel = parsed['log-level']
  const [command, ...rest] = parsed._.map(String)
  if (command === 'check-config') {
    if (rest.length > 0) usageError(`check-config takes one file, found also: ${rest.join(' ')}`)
    const file = String(parsed.file ?? '')
    if (file === '') usageError('check-config needs the file to check')
    return { kind: 'check-config', file, logLevel }
  }
  if (command !== undefined) {
    usageError(`unexpected argument: ${[command, ...rest].join(' ')} (the config file goes after --config)`)
  }
  if (parsed.config === '') usageError('--config needs a file name')
  return {
    kind: 'run',
    config: parsed.config,
    once: parsed.once || parsed.test,
    dryRun: parsed['dry-run'] || parsed.test,
    logLevel,
  }
}

/** The whole program; resolves to the exit code. */
export async function runCli(argv: string[] = hideBin(process.argv)): Promise<number> {
  const command = await parseFlags(argv)
  const file = command.kind === 'run' ? command.config : command.file
  let resolved: ResolvedAgentConfig
  try {
    resolved = loadAgentConfig(file, command.logLevel === undefined ? {} : { logLevel: command.logLevel })
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tidewatch-agent: invalid configuration\n${error.message}\n`)
      return EXIT_USAGE
    }
    throw error
  }
  const { config } = resolved
  // stdout is for --dry-run output and check-config's verdict; logs always go to stderr.
  const logger = createLogger({
    service: 'tidewatch-agent',
    level: config.log.level,
    host: resolved.hostname,
    destination: process.stderr,
  })
  if (command.kind === 'check-config') return checkConfig(resolved, logger)
  try {
    return command.dryRun
      ? await runDry(resolved, command, logger)
      : await runPublishing(resolved, command, logger)
  } catch (error) {
    logger.fatal({ err: error }, 'agent stopped on an error')
    process.stderr.write(`tidewatch-agent: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT_FAILED
  }
}

/** The schema and cross-field checks passed in loadAgentConfig; this also lets each input check its section. */
async function checkConfig(resolved: ResolvedAgentConfig, logger: Logger): Promise<number> {
  const inputs = buildInputs(resolved.config.inputs, { clock: systemClock, logger })
  for (const input of inputs) {
    try {
      await input.init()
    } catch (error) {
      process.stderr.write(
        `tidewatch-agent: invalid configuration\n${resolved.file}: inputs.${input.name}: ${error instanceof Error ? error.message : String(error)}\n`,
      )
      return EXIT_USAGE
    }
  }
  const { agent, nats } = resolved.config
  process.stdout.write(
    [
      `${resolved.file}: OK`,
      `  agent id: ${resolved.agentId}  host label: ${resolved.hostname}`,
      `  subject: ${resolved.subject}  nats: ${nats.servers.join(', ')}`,
      `  inputs: ${inputs.map((i) => i.name).join(', ') || '(none)'}  interval: ${agent.interval} ms`,
      `  data_dir: ${agent.data_dir}  spool_max_bytes: ${agent.spool_max_bytes}`,
      '',
    ].join('\n'),
  )
  return EXIT_OK
}

async function runDry(resolved: ResolvedAgentConfig, command: CliFlags, logger: Logger): Promise<number> {
  const seq = await SeqStore.open(resolved.config.agent.data_dir, resolved.agentId, { readOnly: true })
  const handler = dryRunPrinter((text) => process.stdout.write(text))
  const agent = createAgent(resolved, seq, handler, logger, [])
  await agent.init()
  if (command.once) {
    await agent.runOnce()
    return EXIT_OK
  }
  const keepAlive = setInterval(() => undefined, 1 << 30)
  try {
    agent.start()
    await untilSignal(logger)
    await agent.stop()
  } finally {
    clearInterval(keepAlive)
  }
  return EXIT_OK
}

/*
 *   inputs (+ self) --> Agent --> RetryingDelivery --> DiskSpool (<data_dir>/spool, fsync'ed)
 *                                        \--> peek --> PendingSink --> NatsPublisher (once connected)
 */
async function runPublishing(
  resolved: ResolvedAgentConfig,
  command: CliFlags,
  logger: Logger,
): Promise<number> {
  // One publishing agent per data_dir: its seq and its spool are this process's alone.
  const lock = await lockDataDir(resolved.config.agent.data_dir)
  try {
    return await collectAndPublish(resolved, command, logger)
  } finally {
    await lock.release()
  }
}

async function collectAndPublish(
  resolved: ResolvedAgentConfig,
  command: CliFlags,
  logger: Logger,
): Promise<number> {
  const { config } = resolved
  // The process lives until this returns, whatever connections and (unref'd) timers exist.
  const keepAlive = setInterval(() => undefined, 1 << 30)
  const seq = await SeqStore.open(config.agent.data_dir, resolved.agentId)
  const spool = await DiskSpool.open({
    dir: join(config.agent.data_dir, 'spool'),
    maxBytes: config.agent.spool_max_bytes,
    logger,
  })
  const sink = new PendingSink('not connected to NATS yet')
  const delivery = new RetryingDelivery({
    queue: spool,
    sink,
    timers: systemTimers,
    logger,
    retryInitialDelayMs: config.agent.retry_initial_delay,
    retryMaxDelayMs: config.agent.retry_max_delay,
  })
  const link = new NatsLink(resolved, logger, () => delivery.retryNow())
  let admin: AdminServer | undefined
  try {
    if (command.once) {
      // --once gives up after nats.connect_timeout rather than collecting something it cannot send.
      sink.attach(await link.connectOnce())
    } else {
      // A running agent collects (into the spool) while NATS is still unreachable.
      link.connectInBackground((publisher) => {
        sink.attach(publisher)
        delivery.retryNow()
      })
    }
    const handler: BatchHandler = (built) => delivery.enqueue(built.map((b) => b.queued))
    const selfSources: SelfMetricsSources = {
      // read at each gather, long after `agent` below exists
      agent: () => agent.stats,
      delivery: () => delivery.stats,
      spool: () => spool,
      clock: systemClock,
      spoolMaxBytes: config.agent.spool_max_bytes,
    }
    let inputNames: string[] = []
    const selfInputs = (names: string[]): Input[] => {
      inputNames = names
      return config.agent.self_metrics ? [selfMetricsInput(selfSources, names)] : []
    }
    const agent: Agent = createAgent(resolved, seq, handler, logger, selfInputs, () => link.maxBatchBytes())
    await agent.init()
    if (!command.once && config.admin.listen !== '') {
      // Ready while batches keep moving: one was stored by JetStream, or written to the spool, within
      // three flush rounds (at least a minute). An agent that cannot even spool is not doing its job.
      const readyWindowMs = Math.max(60_000, 3 * Math.max(config.agent.interval, config.agent.flush_interval))
      admin = await startAdminServer({
        listen: config.admin.listen,
        registry: selfMetricsRegistry(selfSources, inputNames, {
          ...config.global_labels,
          host: resolved.hostname,
        }),
        ready: () =>
          systemClock.now() - Math.max(delivery.stats.lastSentAtMs, delivery.stats.lastQueuedAtMs) <=
          readyWindowMs,
        logger: logger.child({ component: 'admin' }),
      })
    }
    if (command.once) {
      await agent.runOnce()
      const left = await delivery.drain(ONCE_DRAIN_TIMEOUT_MS)
      if (left > 0) {
        logger.error(
          { spooled_batches: left, stats: delivery.stats },
          'batches not stored within the wait; they stay spooled and go first on the next run',
        )
        return EXIT_FAILED
      }
      logger.info({ stats: delivery.stats }, 'collection stored')
      return delivery.stats.dropped > 0 ? EXIT_FAILED : EXIT_OK
    }
    // Batches left by an earlier run go first; new ones queue behind them.
    delivery.retryNow()
    agent.start()
    logger.info(
      {
        subject: resolved.subject,
        interval_ms: config.agent.interval,
        spooled_batches: spool.length,
        data_dir: config.agent.data_dir,
      },
      'agent started',
    )
    await untilSignal(logger)
    // SIGTERM: what is gathered goes into the spool (durable), then publish for a bounded time.
    await agent.stop()
    const left = await delivery.drain(config.agent.shutdown_timeout)
    logger.info(
      { spooled_batches: left, spooled_samples: spool.samples, stats: delivery.stats },
      left > 0 ? 'agent stopped; spooled batches are sent on the next start' : 'agent stopped',
    )
    return EXIT_OK
  } finally {
    await admin?.close()
    delivery.stop()
    await link.close()
    await spool.close().catch((error: unknown) => logger.error({ err: error }, 'closing the spool failed'))
    clearInterval(keepAlive)
  }
}

/** The NATS connection of a publishing run: one attempt (--once), or retried until it works or we stop. */
class NatsLink {
  private connection: NatsConnection | undefined
  private connecting: Promise<void> = Promise.resolve()
  private stopped = false
  private wake: (() => void) | undefined
  /** The running agent's hook for a new publisher (unset for --once, which never reconnects). */
  private onConnected: ((publisher: BatchSink) => void) | undefined

  constructor(
    private readonly resolved: ResolvedAgentConfig,
    private readonly logger: Logger,
    private readonly onReconnect?: () => void,
  ) {}

  async connectOnce(): Promise<BatchSink> {
    try {
      this.connection = await this.connect()
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new Error(
        `cannot connect to NATS at ${this.resolved.config.nats.servers.join(', ')}: ${reason}`,
        {
          cause: error,
        },
      )
    }
    return this.publisher(this.connection)
  }

  connectInBackground(onConnected: (publisher: BatchSink) => void): void {
    this.onConnected = onConnected
    this.connecting = (async () => {
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          const connection = await this.connect()
          if (this.stopped) {
            await connection.close().catch(() => undefined)
            return
          }
          this.connection = connection
          onConnected(this.publisher(connection))
          return
        } catch (error) {
          // Once connected, the client reconnects by itself, until it closes for good (see publisher()).
          const fields = { err: error, attempt, servers: this.resolved.config.nats.servers }
          const message = 'NATS unreachable; collecting into the spool until it is'
          if (attempt === 1) this.logger.warn(fields, message)
          else this.logger.debug(fields, message)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.resolved.config.nats.reconnect_wait)
            this.wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
        }
      }
    })()
  }

  /** What one batch may weigh on this server (its max_payload less the headers); undefined until connected. */
  maxBatchBytes(): number | undefined {
    const maxPayload = this.connection?.info?.max_payload
    return maxPayload === undefined ? undefined : maxPayload - headerAllowance(this.resolved.agentId)
  }

  async close(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.connecting
    await this.connection?.close().catch(() => undefined)
  }

  private connect(): Promise<NatsConnection> {
    return connectNats(this.resolved.config.nats, {
      name: `tidewatch-agent ${this.resolved.agentId}`,
      logger: this.logger,
      waitOnFirstConnect: false,
    })
  }

  /**
   * The publisher, guarded: while the client is disconnected a send fails at once instead of being
   * buffered by the client, since a buffered publish would be flushed on reconnect even after the
   * spool had dropped that batch (and counted it lost). On reconnect, `onReconnect` resumes replay
   * without waiting out the retry backoff.
   */
  private publisher(connection: NatsConnection): BatchSink {
    const publisher = new NatsPublisher({
      connection,
      logger: this.logger,
      timeoutMs: this.resolved.config.agent.publish_timeout,
    })
    let connected = true
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') connected = false
        else if (status.type === 'reconnect') {
          connected = true
          this.onReconnect?.()
        }
      }
    })().catch(() => undefined)
    // The client gives up for good after repeated authorization errors (a rotated password, an expired
    // creds file): connect again from scratch, reading the credentials anew, instead of spooling until
    // the spool drops data while /readyz stays green.
    void connection.closed().then((error) => {
      connected = false
      if (this.stopped || this.onConnected === undefined) return
      this.logger.error(
        { err: error, servers: this.resolved.config.nats.servers },
        'NATS connection closed by the client; connecting again',
      )
      this.connectInBackground(this.onConnected)
    })
    return {
      send: async (batch) => {
        if (!connected)
          throw new TidewatchError('NATS is disconnected; the batch stays spooled', 'NATS_DOWN', true)
        return publisher.send(batch)
      },
      close: () => publisher.close(),
    }
  }
}

function createAgent(
  resolved: ResolvedAgentConfig,
  seq: SeqStore,
  handler: BatchHandler,
  logger: Logger,
  extraInputs: Input[] | ((inputNames: string[]) => Input[]),
  maxBatchBytes?: () => number | undefined,
): Agent {
  const inputs = buildInputs(resolved.config.inputs, { clock: systemClock, logger })
  const names = inputs.map((input) => input.name)
  const extra = typeof extraInputs === 'function' ? extraInputs(names) : extraInputs
  return new Agent({
    config: resolved.config,
    agentId: resolved.agentId,
    hostname: resolved.hostname,
    subject: resolved.subject,
    inputs: [...inputs, ...extra],
    seq,
    handler,
    clock: systemClock,
    timers: systemTimers,
    logger,
    ...(maxBatchBytes !== undefined ? { maxBatchBytes } : {}),
  })
}

/** Resolves on SIGINT or SIGTERM (the caller holds the process open meanwhile). */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping')
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
