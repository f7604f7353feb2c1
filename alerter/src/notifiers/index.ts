import type { AlerterReceiverConfig, Logger } from '@tidewatch/shared'
import type { Dispatcher as UndiciDispatcher } from 'undici'
import { AlerterConfigError } from '../errors.js'
import { SlackNotifier } from './slack/slack.js'
import type { Notifier } from './types.js'

export type { Notifier, Notification, NotificationAlert, SendResult } from './types.js'

/** The notifier kinds this build knows; a receiver names exactly one of them. */
export type ReceiverSpec = {
  kind: 'slack'
  name: string
  config: NonNullable<AlerterReceiverConfig['slack']>
}

export interface NotifierDeps {
  logger: Logger
  /** The undici dispatcher for HTTP notifiers (tests pass one with short timeouts). */
  dispatcher?: UndiciDispatcher
}

/** Turns a receiver's config table into its tagged spec; the one place that knows every kind's key. */
export function receiverSpec(receiver: AlerterReceiverConfig, keyPath: string): ReceiverSpec {
  const kinds: ReceiverSpec[] = []
  if (receiver.slack !== undefined) kinds.push({ kind: 'slack', name: receiver.name, config: receiver.slack })
  if (kinds.length !== 1) {
    throw new AlerterConfigError(
      `receiver "${receiver.name}" must configure exactly one notifier (slack)`,
      keyPath,
    )
  }
  return kinds[0] as ReceiverSpec
}

/** The registry: one case per notifier folder. */
export function createNotifier(spec: ReceiverSpec, deps: NotifierDeps, keyPath: string): Notifier {
  switch (spec.kind) {
    case 'slack':
      return SlackNotifier.fromConfig(spec.name, spec.config, deps, `${keyPath}.slack`)
  }
}
