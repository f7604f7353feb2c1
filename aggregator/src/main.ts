#!/usr/bin/env node
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import {
  aggregatorConfigSchema,
  ConfigError,
  createLogger,
  loadConfigFile,
  parseConfigText,
  type AggregatorConfig,
} from '@tidewatch/shared'
import type { LevelWithSilent } from 'pino'
import { startAggregator } from './aggregator.js'

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('tidewatch-aggregator')
    .usage(
      '$0 [--config aggregator.toml]\n\nConsumes metric batches from NATS JetStream and stores them in ClickHouse.',
    )
    .option('config', {
      alias: 'c',
      type: 'string',
      describe: 'Path to aggregator.toml; without it the embedded defaults are used',
    })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'Overrides [log] level' })
    .option('check-config', {
      type: 'boolean',
      default: false,
      describe: 'Validate the config file and exit',
    })
    .strict()
    .help()
    .version(false)
    .parse()

  let config: AggregatorConfig
  try {
    config = argv.config
      ? loadConfigFile(argv.config, aggregatorConfigSchema)
      : parseConfigText('', '(defaults)', aggregatorConfigSchema)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tidewatch-aggregator: invalid configuration\n${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  if (argv['check-config']) {
    process.stdout.write(`${argv.config ?? '(defaults)'}: ok\n`)
    return
  }
  const level = (argv['log-level'] as LevelWithSilent | undefined) ?? config.log.level
  const logger = createLogger({ service: 'tidewatch-aggregator', level })
  const aggregator = await startAggregator(config, { logger })

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now; unacked messages will be redelivered')
      process.exit(1)
    }
    logger.info({ signal }, 'stopping')
    void aggregator.stop().then(() => process.exit(0))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  await aggregator.done
}

main().catch((error: unknown) => {
  process.stderr.write(
    `tidewatch-aggregator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
