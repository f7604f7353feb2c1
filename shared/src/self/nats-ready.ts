import type { NatsConnection } from '@nats-io/transport-node'

/**
 * Whether `connection` is connected now, for /readyz: false from a `disconnect` status until the
 * next `reconnect`, and for good once the connection is closed. Reads no network.
 */
export function natsConnectedProbe(connection: NatsConnection): () => boolean {
  let connected = true
  void (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect' || status.type === 'staleConnection') connected = false
      else if (status.type === 'reconnect') connected = true
    }
  })().catch(() => undefined)
  return () => connected && !connection.isClosed()
}
