import type { AgentConfig, Clock, Labels, Logger } from '@tidewatch/shared'

/**
 * The input contract (Telegraf-style): an input validates its config in `init()` (local checks only,
 * no network) and collects in `gather()`. Scheduling, labels common to every series (`host`, global
 * labels), batching and retry belong to the runner, never to an input.
 */
export interface Input {
  /** The input's registry name, also its config section `[inputs.<name>]`. */
  readonly name: string
  /** How often the runner gathers it, ms; undefined: every `agent.interval`. */
  readonly intervalMs?: number | undefined
  /** Validates config and takes any baseline a rate needs; throws ConfigError when it cannot run here. */
  init(): Promise<void>
  /**
   * Collects one round of samples into the accumulator. A throw fails this round of this input only.
   * `signal` aborts when the round's `timeout` passed: stop network work then (samples added after it
   * are dropped anyway).
   */
  gather(accumulator: Accumulator, signal?: AbortSignal): Promise<void>
}

/** Where an input puts samples. Series names are dot-separated with the unit last (`mem.used_bytes`). */
export interface Accumulator {
  /** `labels` are the input's own (e.g. `cpu="total"`); the runner adds `host` and the global labels. */
  add(name: string, labels: Labels, value: number, timestampMs: number): void
}

export interface InputDeps {
  clock: Clock
  logger: Logger
}

/** How the registry builds an input from its config section. */
export interface InputFactory<Name extends keyof AgentConfig['inputs'] = keyof AgentConfig['inputs']> {
  readonly name: Name
  create(config: AgentConfig['inputs'][Name], deps: InputDeps): Input
}
