import type { AgentConfig } from '@tidewatch/shared'
import { GuardedInput } from './guarded.js'
import type { Input, InputDeps, InputFactory } from './types.js'
import { cpuInput } from './cpu/index.js'
import { diskInput } from './disk/index.js'
import { memoryInput } from './memory/index.js'
import { natsJetstreamInput } from './nats_jetstream/index.js'
import { netInput } from './net/index.js'
import { prometheusInput } from './prometheus/index.js'
import { rabbitmqInput } from './rabbitmq/index.js'
import { redisInput } from './redis/index.js'
import { systemInput } from './system/index.js'

type InputName = keyof AgentConfig['inputs']

/** Every input, by config section. Adding an input is one line here plus its folder. */
export const registry: { [Name in InputName]: InputFactory<Name> } = {
  cpu: cpuInput,
  memory: memoryInput,
  disk: diskInput,
  net: netInput,
  system: systemInput,
  nats_jetstream: natsJetstreamInput,
  rabbitmq: rabbitmqInput,
  redis: redisInput,
  prometheus: prometheusInput,
}

function create<Name extends InputName>(
  name: Name,
  config: AgentConfig['inputs'],
  deps: InputDeps,
): GuardedInput | undefined {
  const section = config[name]
  if (!section.enabled) return undefined
  return new GuardedInput(registry[name].create(section, deps), {
    intervalMs: section.interval,
    timeoutMs: section.timeout,
    logger: deps.logger,
  })
}

/**
 * The enabled inputs, in registry order, each wrapped with its interval, timeout and error isolation
 * (GuardedInput).
 */
export function buildInputs(config: AgentConfig['inputs'], deps: InputDeps): Input[] {
  const names = Object.keys(registry) as InputName[]
  return names
    .map((name) => create(name, config, deps))
    .filter((input): input is GuardedInput => input !== undefined)
}

export {
  GuardedInput,
  InputStillRunningError,
  InputTimeoutError,
  type GuardOptions,
  type InputStats,
} from './guarded.js'
export type { Accumulator, Input, InputDeps, InputFactory } from './types.js'
