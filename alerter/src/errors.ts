import { TidewatchError } from '@tidewatch/shared'

/**
 * A notification a receiver did not accept. `retryable` says whether sending the same request again
 * may succeed (429, 5xx, network); `retryAfterMs` is the receiver's own `Retry-After`, when given.
 * `status` is the HTTP status (0 for a network error); `reason` is the receiver's error code, such as
 * Slack's `invalid_blocks`. Messages never carry the webhook URL or token.
 */
export class NotifyError extends TidewatchError {
  override readonly name = 'NotifyError'
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string,
    retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, 'NOTIFY_FAILED', retryable, options)
  }
}

/** A matcher, route or receiver reference in the alerter's config that cannot be used. */
export class AlerterConfigError extends TidewatchError {
  override readonly name = 'AlerterConfigError'
  constructor(
    message: string,
    readonly keyPath: string,
  ) {
    super(message, 'CONFIG_INVALID', false)
  }
}

/** A silence that cannot be created or changed (bad matcher, unknown id, end before start). */
export class SilenceError extends TidewatchError {
  override readonly name = 'SilenceError'
}
