export { createStore, parseStoreTarget, type Store, type StoreOptions, type StoreTarget } from './store.js'
export {
  migrate,
  schemaDdl,
  ttlOfEngine,
  DEDUP_WINDOW,
  type MigrateOptions,
  type MigrateResult,
  type TableDdl,
  type EngineFeatures,
} from './schema.js'
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
