import { parseStoreTarget, type Store, type StoreConfig } from '@tidewatch/shared'
import { ArrowSampleSink } from './arrow-sink.js'
import type { SampleSink } from './sample-sink.js'
import { TsvSampleSink } from './tsv-sink.js'

/** The fastest sink the store allows: Arrow into an embedded chDB, TabSeparated over HTTP to a server. */
export function createSampleSink(config: StoreConfig, store: Store): SampleSink {
  const target = parseStoreTarget(config)
  if (target.kind === 'embedded') return new ArrowSampleSink(target.path, store.database)
  return new TsvSampleSink(store.client, store.database)
}
