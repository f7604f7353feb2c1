import { readFileSync } from 'node:fs'
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { NatsConfig } from '../config/schema.js'

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
  const connection = await connect(connectionOptions)
  const log = options.logger.child({ nats_server: connection.getServer() })
  log.info('connected to NATS')
  void watchStatus(connection, log)
  return connection
}

async function watchStatus(connection: NatsConnection, log: Logger): Promise<void> {
  for await (const status of connection.status()) {
    switch (status.type) {
      case 'disconnect':
      case 'reconnect':
      case 'ldm':
      case 'error':
        log.warn({ nats_status: status.type, server: 'server' in status ? status.server : undefined }, 'NATS status changed')
        break
      default:
        log.debug({ nats_status: status.type }, 'NATS status')
    }
  }
}
