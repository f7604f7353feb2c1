export { createStore, parseStoreTarget, type Store, type StoreOptions, type StoreTarget } from './store.js'
export {
  migrate,
  schemaDdl,
  clusterSchemaDdl,
  LOCAL_SUFFIX,
  ttlOfEngine,
  DEDUP_WINDOW,
  FLEET_METRICS,
  FLEET_LABEL,
  fleetSeriesCondition,
  type MigrateOptions,
  type MigrateResult,
  type TableDdl,
  type EngineFeatures,
  type SchemaOptions,
} from './schema.js'
export {
  accessDdl,
  migrateAccess,
  sha256Hex,
  DEFAULT_READER_LIMITS,
  type AccessOptions,
  type AccessUser,
  type ReaderLimits,
} from './access.js'
export {
  hostSeriesQuery,
  groupAverageQuery,
  hostSeriesRangeQuery,
  groupAverageRangeQuery,
  samplesRangeView,
  tierConditionSql,
  tierFor,
  RANGE_VIEW,
  TIER_TABLES,
  type Tier,
} from './queries.js'
export * from './rollup.js'
export {
  decodeRowBinaryWithNamesAndTypes,
  queryRowBinary,
  rowOf,
  type Column,
  type RowBinaryResult,
  type RowBinaryValue,
} from './rowbinary.js'
