/** The agent's public surface: the runner and its seams, for embedding and for the tests of other packages. */
export { Agent, type AgentOptions, type AgentStats, type BatchHandler, type BuiltBatch } from './agent.js'
export { SampleBuffer, type ChunkLimits } from './batcher.js'
export { loadAgentConfig, type ResolvedAgentConfig } from './config.js'
export { RetryingDelivery, type BatchSink, type DeliveryStats } from './delivery.js'
export {
  buildInputs,
  registry,
  type Accumulator,
  type Input,
  type InputDeps,
  type InputFactory,
} from './inputs/index.js'
export { NatsPublisher, PublishError } from './outputs/nats/publisher.js'
export { toDryRunDocument, type DryRunDocument } from './outputs/dry-run/printer.js'
export { SeqStore, SeqStoreError } from './seq-store.js'
export { MemoryQueue } from './spool/memory.js'
export type { BatchQueue, QueuedBatch } from './spool/types.js'
export { systemTimers, type Timers } from './timers.js'
