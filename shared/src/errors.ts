/** Base of every error tidewatch throws on purpose; decide by `code` and `retryable`, never by message text. */
export class TidewatchError extends Error {
  override readonly name: string = 'TidewatchError'
  constructor(
    message: string,
    readonly code: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** A configuration file or flag is wrong; `file` and `keyPath` say where. */
export class ConfigError extends TidewatchError {
  override readonly name = 'ConfigError'
  constructor(
    message: string,
    readonly file: string | undefined,
    readonly keyPath: string,
    readonly expected?: string,
    readonly found?: string,
  ) {
    super(message, 'CONFIG_INVALID', false)
  }
}

/** A metric batch that must not be stored; `reason` is a stable machine-readable code. */
export class WireError extends TidewatchError {
  override readonly name = 'WireError'
  constructor(
    readonly reason: WireRejectReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`, 'BATCH_REJECTED', false)
  }
}

export type WireRejectReason =
  | 'bad_magic'
  | 'bad_version'
  | 'truncated'
  | 'batch_too_large'
  | 'too_many_series'
  | 'too_many_samples'
  | 'too_many_labels'
  | 'bad_metric_name'
  | 'bad_label_name'
  | 'label_value_too_long'
  | 'duplicate_label'
  | 'non_finite_value'
  | 'timestamp_too_new'
  | 'timestamp_too_old'
  | 'bad_timestamp'
  | 'trailing_bytes'
  | 'bad_utf8'
  | 'bad_flags'
  | 'bad_agent_id'
  | 'bad_seq'
  | 'bad_symbol'
  | 'bad_varint'
  | 'sample_count_mismatch'
  | 'empty_series'

/** The store refused or could not be reached; retryable errors are nak'ed, not dead-lettered. */
export class StoreError extends TidewatchError {
  override readonly name = 'StoreError'
}
