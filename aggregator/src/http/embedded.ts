import {
  parseStoreTarget,
  type AggregatorConfig,
  type Logger,
  type NatsConnection,
  type Store,
} from '@tidewatch/shared'
import { natsAlertsSource } from '../dashboard/alerts.js'
import { createDashboardHandler } from '../dashboard/handler.js'
import { createChdbQueryEngine } from './engine.js'
import { startClickHouseHttpServer, type ReaderLimits } from './server.js'

export interface EmbeddedHttp {
  url: string
  close(): Promise<void>
}

/** The alerter's default KV bucket prefix (alerter.toml `kv.bucket_prefix`), read by the dashboard's alerts page. */
const ALERTER_BUCKET_PREFIX = 'tidewatch_alerter'

/**
 * Serves the embedded chDB store over ClickHouse's HTTP protocol: read-only unless the writer
 * credential is given, with the built-in dashboard under /dashboard/ on the same port.
 */
export async function startEmbeddedHttp(
  config: AggregatorConfig,
  store: Store,
  logger: Logger,
  extras: { nats?: () => NatsConnection | undefined } = {},
): Promise<EmbeddedHttp> {
  const target = parseStoreTarget(config.store)
  if (target.kind !== 'embedded' || store.kind !== 'embedded')
    throw new Error('the HTTP endpoint serves only an embedded store')
  const engine = createChdbQueryEngine({ path: target.path })
  const { writer_user: user, writer_password: password } = config.http
  try {
    const server = await startClickHouseHttpServer({
      listen: config.http.listen,
      engine,
      ...(user !== undefined && password !== undefined ? { writer: { user, password } } : {}),
      limits: { reader: readerLimits(config.http.reader_limits) },
      logger: logger.child({ component: 'http' }),
      routes: createDashboardHandler({
        database: config.store.database,
        retention: config.retention,
        ...(extras.nats !== undefined
          ? { alerts: natsAlertsSource(extras.nats, ALERTER_BUCKET_PREFIX) }
          : {}),
      }),
    })
    return {
      url: server.url,
      close: async () => {
        await server.close()
        await engine.close()
      },
    }
  } catch (error) {
    await engine.close()
    throw error
  }
}

/** `http.reader_limits` as the server's reader ceilings (the execution time in whole seconds, at least 1). */
export function readerLimits(limits: AggregatorConfig['http']['reader_limits']): ReaderLimits {
  return {
    maxExecutionTimeSecs: Math.max(1, Math.ceil(limits.max_execution_time / 1000)),
    maxMemoryUsage: limits.max_memory_usage,
    maxRowsToRead: limits.max_rows_to_read,
  }
}
