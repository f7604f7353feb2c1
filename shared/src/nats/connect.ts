import { readFileSync } from 'node:fs'
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { NatsConfig } from '../config/schema.js'
import { ConfigError } from '../errors.js'

export type { NatsConnection }

export interface ConnectNatsOptions {
  /** Shown by `nats server report connections`; carries the component and its id. */
  name: string
  logger: Logger
  /** Try the first connection forever instead of failing after `connect_timeout` (an agent waits for NATS). */
  waitOnFirstConnect?: boolean
}

/** Connects with credentials from config and reconnects forever; status changes are logged, never secrets. */
export async function connectNats(config: NatsConfig, options: ConnectNatsOptions): Promise<NatsConnection> {
  const connectionOptions: NodeConnectionOptions = {
    servers: config.servers,
    name: config.name ?? options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: config.reconnect_wait,
    timeout: config.connect_timeout,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
  }
  if (config.user !== undefined) connectionOptions.user = config.user
  if (config.password !== undefined) connectionOptions.pass = config.password
  if (config.token !== undefined) connectionOptions.token = config.token
  if (config.creds_file !== undefined) {
    connectionOptions.authenticator = credsAuthenticator(readFileSync(config.creds_file))
  }
  const tls = natsTlsOptions(config)
  if (tls !== undefined) connectionOptions.tls = tls
  const connection = await connect(connectionOptions)
  const log = options.logger.child({ nats_server: connection.getServer() })
  log.info('connected to NATS')
  void watchStatus(connection, log)
  return connection
}

/**
 * The client's TLS options for `nats.tls`: undefined (plain, or whatever a `tls://` URL asks) when no
 * key is set. The files are read by the client at connect time, so a missing file fails the
 * connection with the path in the error. The server's name is verified against its certificate (a
 * server at an IP address needs that address in its subjectAltName).
 */
export function natsTlsOptions(config: NatsConfig): NonNullable<NodeConnectionOptions['tls']> | undefined {
  const { ca_file: caFile, cert_file: certFile, key_file: keyFile } = config.tls ?? {}
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      'nats.tls: cert_file and key_file go together (a client certificate and its key)',
      undefined,
      certFile === undefined ? 'nats.tls.cert_file' : 'nats.tls.key_file',
      'both cert_file and key_file, or neither',
      'only one of them',
    )
  }
  return {
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
  }
}

async function watchStatus(connection: NatsConnection, log: Logger): Promise<void> {
  for await (const status of connection.status()) {
    switch (status.type) {
      case 'disconnect':
      case 'reconnect':
      case 'ldm':
      case 'error':
        log.warn(
          { nats_status: status.type, server: 'server' in status ? status.server : undefined },
          'NATS status changed',
        )
        break
      default:
        log.debug({ nats_status: status.type }, 'NATS status')
    }
  }
}
