import { hostname as osHostname } from 'node:os'
import {
  agentConfigSchema,
  ConfigError,
  encodeBatch,
  limitsFromConfig,
  loadConfigFile,
  validateBatch,
  WireError,
  type AgentConfig,
} from '@tidewatch/shared'
import { partitionedSubject } from './outputs/nats/publisher.js'

/** The agent's config after loading, with the values derived from it. */
export interface ResolvedAgentConfig {
  config: AgentConfig
  /** `agent.id`, default the host name (made subject-safe). */
  agentId: string
  /** `agent.hostname`, default the machine's host name: the `host` label. */
  hostname: string
  /** `<output.subject_prefix>.<agent id>` */
  subject: string
  /** The file it came from; undefined when running on defaults. */
  file: string | undefined
}

export interface LoadAgentConfigOptions {
  /** `--log-level`, which wins over `log.level` in the file. */
  logLevel?: string
  env?: NodeJS.ProcessEnv
  /** Default: os.hostname(). */
  machineHostname?: string
}

/**
 * Loads `file` (or the defaults when there is none), then the checks the schema cannot make alone.
 * Every problem is a ConfigError naming the file and the key path.
 */
export function loadAgentConfig(
  file: string | undefined,
  options: LoadAgentConfigOptions = {},
): ResolvedAgentConfig {
  const overrides = options.logLevel === undefined ? {} : { 'log.level': options.logLevel }
  const config =
    file === undefined
      ? parseDefaults(overrides['log.level'])
      : loadConfigFile(file, agentConfigSchema, { overrides, ...(options.env ? { env: options.env } : {}) })
  const where = file ?? '(defaults)'
  const machine = options.machineHostname ?? osHostname()

  if ('host' in config.global_labels) {
    throw new ConfigError(
      `${where}: global_labels.host: the host label is set by agent.hostname (default: the machine's host name)`,
      file,
      'global_labels.host',
      'no host key',
      `"${config.global_labels.host}"`,
    )
  }
  // Host names may hold characters a NATS subject token cannot (the id is part of the subject).
  const agentId =
    config.agent.id ?? (machine.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+|\.+$/g, '') || 'agent')
  const hostname = config.agent.hostname ?? machine
  checkAgainstWireRules(config, agentId, hostname, file, where)
  return {
    config,
    agentId,
    hostname,
    subject: partitionedSubject(config.output.subject_prefix, agentId, config.output.partitions),
    file,
  }
}

function parseDefaults(logLevel: unknown): AgentConfig {
  const result = agentConfigSchema.safeParse(logLevel === undefined ? {} : { log: { level: logLevel } })
  if (!result.success) {
    throw new ConfigError(
      `--log-level: expected one of trace, debug, info, warn, error, fatal, silent, found "${String(logLevel)}"`,
      undefined,
      'log.level',
    )
  }
  return result.data
}

/** A batch with the configured id and labels must pass the wire rules, or every batch would be refused. */
function checkAgainstWireRules(
  config: AgentConfig,
  agentId: string,
  hostname: string,
  file: string | undefined,
  where: string,
): void {
  try {
    encodeBatch({ agentId, seq: 0, createdMs: 0, series: [] })
  } catch (error) {
    if (!(error instanceof WireError)) throw error
    // Unset, the id comes from the machine's host name (agent.hostname only sets the host label).
    const derived =
      config.agent.id === undefined ? ` (derived from this machine's host name: set agent.id)` : ''
    throw new ConfigError(
      `${where}: agent.id: ${error.message}${derived}`,
      file,
      'agent.id',
      undefined,
      `"${agentId}"`,
    )
  }
  const nowMs = Date.now()
  try {
    validateBatch(
      {
        agentId,
        seq: 0,
        createdMs: nowMs,
        series: [
          {
            name: 'agent.config_check',
            labels: { ...config.global_labels, host: hostname },
            timestamps: [nowMs],
            values: [0],
          },
        ],
      },
      limitsFromConfig(config.limits),
      nowMs,
    )
  } catch (error) {
    if (!(error instanceof WireError)) throw error
    throw new ConfigError(`${where}: global_labels / agent.hostname: ${error.message}`, file, 'global_labels')
  }
}
