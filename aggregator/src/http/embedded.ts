import { parseStoreTarget, type AggregatorConfig, type Logger, type Store } from '@tidewatch/shared'
import { createChdbQueryEngine } from './engine.js'
import { startClickHouseHttpServer } from './server.js'

export interface EmbeddedHttp {
  url: string
  close(): Promise<void>
}

/** Serves the embedded chDB store over ClickHouse's HTTP protocol: read-only unless the writer credential is given. */
export async function startEmbeddedHttp(config: AggregatorConfig, store: Store, logger: Logger): Promise<EmbeddedHttp> {
  const target = parseStoreTarget(config.store)
  if (target.kind !== 'embedded' || store.kind !== 'embedded') throw new Error('the HTTP endpoint serves only an embedded store')
  const engine = createChdbQueryEngine({ path: target.path })
  const { writer_user: user, writer_password: password } = config.http
  try {
    const server = await startClickHouseHttpServer({
      listen: config.http.listen,
      engine,
      ...(user !== undefined && password !== undefined ? { writer: { user, password } } : {}),
      logger: logger.child({ component: 'http' }),
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
