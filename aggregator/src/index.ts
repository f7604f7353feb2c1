export { startAggregator, type AggregatorOptions, type RunningAggregator } from './aggregator.js'
export type { AcceptedBranch } from './pipeline/pipeline.js'
export type { AcceptedMessage } from './pipeline/classify.js'
export type { PipelineCounters } from './pipeline/counters.js'
