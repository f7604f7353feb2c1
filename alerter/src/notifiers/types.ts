import type { Labels } from '@tidewatch/shared'
import type { MessageRef } from '../state/nflog.js'

export type { MessageRef }

/** One alert as a notifier shows it. */
export interface NotificationAlert {
  fingerprint: string
  state: 'firing' | 'resolved'
  labels: Labels
  annotations: Labels
  value: number | null
  activeSinceMs: number
  resolvedAtMs?: number
}

/**
 * What a group tells a receiver at one flush. `firing` holds every alert of the group firing now (not
 * muted); `resolved` those that resolved since the last notification. `kind` is `resolved` when
 * nothing fires any more.
 */
export interface Notification {
  kind: 'firing' | 'resolved'
  receiver: string
  /** Readable group identity: route and group labels. */
  groupKey: string
  groupLabels: Labels
  firing: NotificationAlert[]
  resolved: NotificationAlert[]
  /** True when nothing changed and repeat_interval elapsed. */
  repeat: boolean
  /** The group's last firing message, when the receiver returned one (Slack bot mode). */
  ref?: MessageRef
  nowMs: number
}

export interface SendResult {
  /** Where the message went, for later updates; undefined when the receiver does not say (webhooks). */
  ref?: MessageRef
}

/**
 * A notification channel. `send` makes one delivery attempt and throws a NotifyError saying whether
 * a retry may succeed; retrying, backoff and leases belong to the dispatcher, not the notifier.
 * An attempt that was accepted must not throw.
 */
export interface Notifier {
  readonly kind: string
  readonly sendResolved: boolean
  send(notification: Notification): Promise<SendResult>
  close(): Promise<void>
}
