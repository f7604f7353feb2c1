import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import {
  alerterConfigSchema,
  ConfigError,
  connectNats,
  createLogger,
  parseConfigText,
  loadRuleFiles,
  parseDurationMs,
  selfAgentId,
  startAdminServer,
  startSelfIngest,
  systemClock,
  TidewatchError,
  type AdminServer,
  type SelfIngest,
  type AlerterConfig,
  type Logger,
  type Rule,
} from '@tidewatch/shared'
import { Alerter } from './alerter.js'
import { checkRules, runRuleTests } from './rules-cli/index.js'
import { loadAlerterConfig, planAlerter } from './config.js'
import { describeSilence, SilenceStore } from './silences/silences.js'
import { openBuckets } from './state/buckets.js'

/** Exit codes: 0 done, 1 the command failed, 2 bad flags or config. */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
const NAME = 'tidewatch-alerter'

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
  /** Resolves when the process should stop (SIGINT/SIGTERM); tests pass their own. */
  untilStopped?: () => Promise<void>
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/** The whole program; resolves to the exit code. */
export async function runCli(argv: string[] = hideBin(process.argv), io: CliIo = defaultIo): Promise<number> {
  let code = EXIT_OK
  const configOption = (y: Argv) =>
    y
      .option('config', {
        alias: 'c',
        type: 'string',
        describe: 'The alerter TOML file (default: every setting at its default).',
      })
      .option('log-level', {
        type: 'string',
        choices: LOG_LEVELS,
        describe: 'Overrides log.level. Logs go to stderr as JSON lines.',
      })
  const parser = yargs(argv)
    .scriptName(NAME)
    .usage('$0 <command>\n\nAlert state, grouping, silences and Slack notifications for tidewatch.')
    .command(
      'run',
      'Consume alert events and send notifications until SIGINT/SIGTERM.',
      (y) => configOption(y),
      async (args) => {
        code = await withConfig(
          args.config,
          args['log-level'],
          io,
          async (config, logger, rules) => runAlerter(config, logger, rules, io),
          { rules: true },
        )
      },
    )
    .command(
      'check-rules <files..>',
      'Validate rule files (schema, durations, matchers, templates, duplicate names); every problem at once.',
      (y) => y.positional('files', { type: 'string', array: true, demandOption: true }),
      (args) => {
        const result = checkRules((args.files as string[]).map(String))
        for (const line of result.messages) (result.ok ? io.out : io.err)(`${line}\n`)
        code = result.ok ? EXIT_OK : EXIT_FAILED
      },
    )
    .command(
      'test-rules <file>',
      'Run rule unit tests (promtool style) from a test file.',
      (y) => y.positional('file', { type: 'string', demandOption: true }),
      (args) => {
        const result = runRuleTests(String(args.file))
        ;(result.ok ? io.out : io.err)(`${result.report}\n`)
        code = result.ok ? EXIT_OK : EXIT_FAILED
      },
    )
    .command(
      'silence',
      'Create, list and expire silences (stored in NATS KV, shared by every replica).',
      (y) =>
        y
          .command(
            'add',
            'Mute alerts matching every --matcher for --duration.',
            (s) =>
              configOption(s)
                .option('matcher', {
                  alias: 'm',
                  type: 'string',
                  array: true,
                  demandOption: true,
                  describe: 'name="value", name!="value", name=~"regex" or name!~"regex"; repeat for more',
                })
                .option('duration', {
                  alias: 'd',
                  type: 'string',
                  default: '2h',
                  describe: 'How long, e.g. "30m", "2h", "1d"',
                })
                .option('comment', { type: 'string', default: '', describe: 'Why' })
                .option('author', {
                  type: 'string',
                  default: process.env.USER ?? 'unknown',
                  describe: 'Who',
                }),
            async (args) => {
              code = await withConfig(args.config, args['log-level'], io, async (config, logger) => {
                const durationMs = parseDurationMs(args.duration)
                if (durationMs === undefined) {
                  io.err(
                    `${NAME}: --duration: expected a duration such as "2h", found ${JSON.stringify(args.duration)}\n`,
                  )
                  return EXIT_USAGE
                }
                return withSilences(config, logger, async (store) => {
                  const silence = await store.add({
                    matchers: args.matcher.map(String),
                    durationMs,
                    createdBy: args.author,
                    comment: args.comment,
                  })
                  io.out(`${silence.id}\n`)
                  return EXIT_OK
                })
              })
            },
          )
          .command(
            'list',
            'List silences: id, status, start, end, matchers, author, comment.',
            (s) =>
              configOption(s).option('all', {
                type: 'boolean',
                default: false,
                describe: 'Include expired silences',
              }),
            async (args) => {
              code = await withConfig(args.config, args['log-level'], io, async (config, logger) =>
                withSilences(config, logger, async (store) => {
                  const now = systemClock.now()
                  for (const silence of await store.list()) {
                    if (!args.all && silence.endsAtMs <= now) continue
                    io.out(`${describeSilence(silence, now)}\n`)
                  }
                  return EXIT_OK
                }),
              )
            },
          )
          .command(
            'expire <id>',
            'End a silence now.',
            (s) => configOption(s).positional('id', { type: 'string', demandOption: true }),
            async (args) => {
              code = await withConfig(args.config, args['log-level'], io, async (config, logger) =>
                withSilences(config, logger, async (store) => {
                  const silence = await store.expire(String(args.id))
                  io.out(`${describeSilence(silence, systemClock.now())}\n`)
                  return EXIT_OK
                }),
              )
            },
          )
          .demandCommand(1, 'name a silence command: add, list or expire'),
    )
    .demandCommand(1, 'name a command')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .exitProcess(false)
    .fail((message, error) => {
      io.err(`${NAME}: ${message ?? error?.message ?? 'invalid arguments'}\n(see ${NAME} --help)\n`)
      code = EXIT_USAGE
    })
  await parser.parseAsync()
  return code
}

async function withConfig(
  file: string | undefined,
  logLevel: string | undefined,
  io: CliIo,
  body: (config: AlerterConfig, logger: Logger, rules: readonly Rule[]) => Promise<number>,
  options: { rules?: boolean } = {},
): Promise<number> {
  let config: AlerterConfig
  let rules: readonly Rule[] = []
  try {
    config =
      file === undefined
        ? loadDefaults(logLevel)
        : loadAlerterConfig(file, { overrides: { 'log.level': logLevel } })
    planAlerter(config)
    // RuleFileError (a ConfigError) names each file, rule and key itself.
    if (options.rules === true) rules = loadRuleFiles(config.rules.files)
  } catch (error) {
    if (
      error instanceof ConfigError ||
      (error instanceof TidewatchError && error.code === 'CONFIG_INVALID')
    ) {
      const where = error instanceof ConfigError ? '' : `${file ?? '(defaults)'}: `
      io.err(`${NAME}: invalid configuration\n${where}${error.message}\n`)
      return EXIT_USAGE
    }
    throw error
  }
  const logger = createLogger({ service: NAME, level: config.log.level, destination: process.stderr })
  try {
    return await body(config, logger, rules)
  } catch (error) {
    if (error instanceof TidewatchError && !error.retryable) {
      io.err(`${NAME}: ${error.message}\n`)
      return EXIT_FAILED
    }
    logger.fatal({ err: error }, 'command failed')
    io.err(`${NAME}: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT_FAILED
  }
}

function loadDefaults(logLevel: string | undefined): AlerterConfig {
  // No file: every default, through the same validation a file gets.
  return parseConfigText('', '(defaults)', alerterConfigSchema, { overrides: { 'log.level': logLevel } })
}

async function withSilences(
  config: AlerterConfig,
  logger: Logger,
  body: (store: SilenceStore) => Promise<number>,
): Promise<number> {
  const connection = await connectNats(config.nats, {
    name: `${NAME}-cli`,
    logger: logger.child({ part: 'cli' }),
  })
  try {
    const buckets = await openBuckets(connection, {
      prefix: config.kv.bucket_prefix,
      replicas: config.kv.replicas,
      storage: config.kv.storage,
    })
    return await body(new SilenceStore(buckets.silences, systemClock))
  } finally {
    await connection.drain()
  }
}

async function runAlerter(
  config: AlerterConfig,
  logger: Logger,
  rules: readonly Rule[],
  io: CliIo,
): Promise<number> {
  const alerter = new Alerter({ config, logger, rules })
  await alerter.start()
  let admin: AdminServer | undefined
  let selfIngest: SelfIngest | undefined
  try {
    if (config.admin.listen !== '') {
      admin = await startAdminServer({
        listen: config.admin.listen,
        registry: alerter.metrics,
        ready: () => alerter.ready(),
        logger: logger.child({ component: 'admin' }),
      })
    }
    const connection = alerter.natsConnection
    if (config.admin.self_metrics_interval > 0 && connection !== undefined) {
      selfIngest = startSelfIngest({
        connection,
        registry: alerter.metrics,
        agentId: selfAgentId('alerter', config.alerter.id),
        subjectPrefix: config.admin.self_metrics_subject_prefix,
        partitions: config.admin.self_metrics_partitions,
        intervalMs: config.admin.self_metrics_interval,
        logger,
      })
    }
    await (io.untilStopped ?? untilSignal)()
  } finally {
    await selfIngest?.stop()
    await admin?.close()
    await alerter.stop()
  }
  return EXIT_OK
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done)
      process.off('SIGTERM', done)
      resolve()
    }
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
}
