/** Alert rules: the rule-file schema and loader, templates, matchers, and the pure evaluators. */
export {
  parseMatcher,
  matches,
  formatMatcher,
  MatcherSyntaxError,
  type LabelMatcher,
  type MatchOp,
} from './matchers.js'
export {
  compileTemplate,
  humanize,
  TemplateSyntaxError,
  type CompiledTemplate,
  type TemplateContext,
  type TemplateVariable,
} from './template.js'
export {
  compare,
  ruleFileSchema,
  ruleSchema,
  toRule,
  type AbsentRule,
  type AggregateFn,
  type CompareOp,
  type FlapPolicy,
  type QueryRule,
  type Rule,
  type StreamingRule,
  type ThresholdRule,
} from './schema.js'
export {
  checkRuleFiles,
  formatRuleIssue,
  loadRuleFiles,
  parseRuleText,
  RuleFileError,
  type ParseRulesOptions,
  type RuleFileResult,
  type RuleIssue,
} from './load.js'
export {
  AlertTracker,
  isFlapping,
  newInstanceState,
  stepState,
  type InstanceState,
  type Phase,
  type StatePolicy,
} from './state.js'
export { SlidingWindow, DEFAULT_WINDOW_BUCKETS } from './window.js'
export { StreamingRuleEvaluator, type EvaluatorOptions } from './streaming.js'
export { AbsentEvaluator } from './absent.js'
export { StreamingRules } from './evaluator.js'
export { QueryRuleEvaluator, rowsToConditions, type QueryCondition } from './query.js'
export { JetStreamAlertPublisher, encodeAlertEvent, type AlertPublisher } from './publish.js'
export { ruleTestFileSchema, expandValues, parseSeries, type RuleTestFile } from './test-file.js'
