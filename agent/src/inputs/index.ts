import type { AgentConfig } from '@tidewatch/shared'
import type { Input, InputDeps, InputFactory } from './types.js'
import { cpuInput } from './cpu/index.js'
import { memoryInput } from './memory/index.js'

type InputName = keyof AgentConfig['inputs']

/** Every input, by config section. Adding an input is one line here plus its folder. */
export const registry: { [Name in InputName]: InputFactory<Name> } = {
  cpu: cpuInput,
  memory: memoryInput,
}

function create<Name extends InputName>(
  name: Name,
  config: AgentConfig['inputs'],
  deps: InputDeps,
): Input | undefined {
  const section = config[name]
  return section.enabled ? registry[name].create(section, deps) : undefined
}

/** The enabled inputs, in registry order. */
export function buildInputs(config: AgentConfig['inputs'], deps: InputDeps): Input[] {
  const names = Object.keys(registry) as InputName[]
  return names
    .map((name) => create(name, config, deps))
    .filter((input): input is Input => input !== undefined)
}

export type { Accumulator, Input, InputDeps, InputFactory } from './types.js'
