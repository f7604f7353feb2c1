export { startClickHouseHttpServer } from './server.js'
export type {
  ClickHouseHttpServer,
  ClickHouseHttpServerOptions,
  ClickHouseHttpLimits,
  ReaderLimits,
} from './server.js'
export { createChdbQueryEngine } from './engine.js'
export type { QueryEngine, EngineRequest, EngineResult, ChdbQueryEngineOptions } from './engine.js'
export { ClickHouseHttpError, httpStatusFor } from './errors.js'
