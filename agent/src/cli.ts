import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import {
  ConfigError,
  connectNats,
  createLogger,
  systemClock,
  type Logger,
  type NatsConnection,
} from '@tidewatch/shared'
import { Agent, type BatchHandler } from './agent.js'
import { loadAgentConfig, type ResolvedAgentConfig } from './config.js'
import { RetryingDelivery } from './delivery.js'
import { buildInputs } from './inputs/index.js'
import { dryRunPrinter } from './outputs/dry-run/printer.js'
import { NatsPublisher } from './outputs/nats/publisher.js'
import { SeqStore } from './seq-store.js'
import { MemoryQueue } from './spool/memory.js'
import { systemTimers } from './timers.js'

/** Exit codes: 0 done, 1 the run failed (e.g. batches left undelivered), 2 bad flags or config. */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** How long --once waits for its batches to be stored, and a stopping agent for its queue to empty. */
const DRAIN_TIMEOUT_MS = 15_000

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export interface CliFlags {
  config: string | undefined
  once: boolean
  dryRun: boolean
  logLevel: string | undefined
}

/** Parses flags; a wrong flag prints the problem and the usage to stderr and exits with EXIT_USAGE. */
export async function parseFlags(argv: string[]): Promise<CliFlags> {
  const parsed = await yargs(argv)
    .scriptName('tidewatch-agent')
    .usage(
      '$0 [--config agent.toml] [--once] [--dry-run] [--log-level LEVEL]\n\nSamples this host (cpu, memory) and publishes metric batches to NATS JetStream.',
    )
    .option('config', {
      alias: 'c',
      type: 'string',
      describe:
        'The agent TOML file. Without it every setting takes its default (NATS at nats://127.0.0.1:4222).',
    })
    .option('once', {
      type: 'boolean',
      default: false,
      describe: 'Gather once, send (or print) that one collection, wait until it is stored, and exit.',
    })
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe:
        'Print each collection as JSON to stdout (batch id, encoded size, series, samples) instead of sending it; never connects to NATS and never advances the stored batch sequence.',
    })
    .option('log-level', {
      type: 'string',
      choices: LOG_LEVELS,
      describe: 'Overrides log.level from the config file. Logs go to stderr as JSON lines.',
    })
    .example('$0 --config /etc/tidewatch/agent.toml', 'run as a service')
    .example('$0 --once --dry-run', 'show what one collection would send')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error, instance) => {
      process.stderr.write(`tidewatch-agent: ${message ?? error?.message ?? 'invalid arguments'}\n\n`)
      instance.showHelp((text) => process.stderr.write(text + '\n'))
      process.exit(EXIT_USAGE)
    })
    .parseAsync()
  if (parsed._.length > 0) {
    process.stderr.write(
      `tidewatch-agent: unexpected argument: ${parsed._.join(' ')} (the config file goes after --config)\n`,
    )
    process.exit(EXIT_USAGE)
  }
  return {
    config: parsed.config,
    once: parsed.once,
    dryRun: parsed['dry-run'],
    logLevel: parsed['log-level'],
  }
}

/** The whole program; resolves to the exit code. */
export async function runCli(argv: string[] = hideBin(process.argv)): Promise<number> {
  const flags = await parseFlags(argv)
  let resolved: ResolvedAgentConfig
  try {
    resolved = loadAgentConfig(flags.config, flags.logLevel === undefined ? {} : { logLevel: flags.logLevel })
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tidewatch-agent: invalid configuration\n${error.message}\n`)
      return EXIT_USAGE
    }
    throw error
  }
  const { config } = resolved
  // stdout is for --dry-run output; logs always go to stderr.
  const logger = createLogger({
    service: 'tidewatch-agent',
    level: config.log.level,
    host: resolved.hostname,
    destination: process.stderr,
  })
  try {
    return flags.dryRun ? await runDry(resolved, flags, logger) : await runPublishing(resolved, flags, logger)
  } catch (error) {
    logger.fatal({ err: error }, 'agent stopped on an error')
    process.stderr.write(`tidewatch-agent: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT_FAILED
  }
}

async function runDry(resolved: ResolvedAgentConfig, flags: CliFlags, logger: Logger): Promise<number> {
  const seq = await SeqStore.open(resolved.config.agent.data_dir, resolved.agentId, { readOnly: true })
  const handler = dryRunPrinter((text) => process.stdout.write(text))
  const agent = createAgent(resolved, seq, handler, logger)
  await agent.init()
  if (flags.once) {
    await agent.runOnce()
    return EXIT_OK
  }
  agent.start()
  await untilSignal(logger)
  await agent.stop()
  return EXIT_OK
}

async function runPublishing(
  resolved: ResolvedAgentConfig,
  flags: CliFlags,
  logger: Logger,
): Promise<number> {
  const { config } = resolved
  const seq = await SeqStore.open(config.agent.data_dir, resolved.agentId)
  // A long-running agent waits for NATS to come up; --once gives up after nats.connect_timeout.
  let connection: NatsConnection
  try {
    connection = await connectNats(config.nats, {
      name: `tidewatch-agent ${resolved.agentId}`,
      logger,
      waitOnFirstConnect: !flags.once,
    })
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot connect to NATS at ${config.nats.servers.join(', ')}: ${reason}`, {
      cause: error,
    })
  }
  const delivery = new RetryingDelivery({
    queue: new MemoryQueue(config.agent.queue_max_bytes),
    sink: new NatsPublisher({ connection, logger, timeoutMs: config.agent.publish_timeout }),
    timers: systemTimers,
    logger,
    retryInitialDelayMs: config.agent.retry_initial_delay,
    retryMaxDelayMs: config.agent.retry_max_delay,
  })
  const handler: BatchHandler = (built) => delivery.enqueue(built.map((b) => b.queued))
  const agent = createAgent(resolved, seq, handler, logger)
  try {
    await agent.init()
    if (flags.once) {
      await agent.runOnce()
    } else {
      agent.start()
      logger.info({ subject: resolved.subject, interval_ms: config.agent.interval }, 'agent started')
      await untilSignal(logger)
      await agent.stop()
    }
    const left = await delivery.drain(DRAIN_TIMEOUT_MS)
    delivery.stop()
    if (left > 0) {
      // No disk spool yet: what is still queued now is lost, and we say so.
      logger.error(
        { undelivered_batches: left, stats: delivery.stats },
        'batches not delivered before exit; they are lost',
      )
      return EXIT_FAILED
    }
    logger.info({ stats: delivery.stats }, 'agent stopped')
    return delivery.stats.dropped > 0 ? EXIT_FAILED : EXIT_OK
  } finally {
    await connection.close().catch(() => undefined)
  }
}

function createAgent(
  resolved: ResolvedAgentConfig,
  seq: SeqStore,
  handler: BatchHandler,
  logger: Logger,
): Agent {
  const inputs = buildInputs(resolved.config.inputs, { clock: systemClock, logger })
  return new Agent({
    config: resolved.config,
    agentId: resolved.agentId,
    hostname: resolved.hostname,
    subject: resolved.subject,
    inputs,
    seq,
    handler,
    clock: systemClock,
    timers: systemTimers,
    logger,
  })
}

/** Resolves on SIGINT or SIGTERM; holds the process open until then (the agent's own timers are unref'd). */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30)
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping')
      clearInterval(keepAlive)
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
