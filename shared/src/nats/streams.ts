import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig as JsStreamConfig,
} from '@nats-io/jetstream'
import { nanos, type NatsConnection } from '@nats-io/transport-node'
import type { StreamConfig } from '../config/schema.js'

/** JetStream's own stream settings for a tidewatch stream config. */
export function toJetStreamConfig(config: StreamConfig): Partial<JsStreamConfig> & { name: string } {
  return {
    name: config.name,
    subjects: config.subjects,
    retention: RetentionPolicy.Limits,
    storage: config.storage === 'memory' ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(config.max_age),
    max_bytes: config.max_bytes,
    max_msg_size: config.max_msg_size,
    num_replicas: config.replicas,
    duplicate_window: nanos(config.duplicate_window),
  }
}

/** Creates the stream, or updates it to match config; safe to call from every replica on every start. */
export async function ensureStream(manager: JetStreamManager, config: StreamConfig): Promise<void> {
  const wanted = toJetStreamConfig(config)
  try {
    await manager.streams.info(config.name)
  } catch (error) {
    if (isStreamNotFound(error)) {
      try {
        await manager.streams.add(wanted)
        return
      } catch (addError) {
        // Another replica created it between our info and add: fall through to update.
        if (!isStreamNameInUse(addError)) throw addError
      }
    } else {
      throw error
    }
  }
  await manager.streams.update(config.name, wanted)
}

export async function ensureStreams(
  connection: NatsConnection,
  configs: StreamConfig[],
): Promise<JetStreamManager> {
  const manager = await jetstreamManager(connection)
  for (const config of configs) await ensureStream(manager, config)
  return manager
}

/** JetStream API error codes this project reacts to. */
export const JS_API_CODES = {
  consumerNotFound: 10014,
  streamNameInUse: 10058,
  streamNotFound: 10059,
} as const

export function isJetStreamApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code
}

function isStreamNotFound(error: unknown): boolean {
  return isJetStreamApiError(error, JS_API_CODES.streamNotFound)
}
function isStreamNameInUse(error: unknown): boolean {
  return isJetStreamApiError(error, JS_API_CODES.streamNameInUse)
}
