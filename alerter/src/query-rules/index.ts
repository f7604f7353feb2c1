export {
  QueryRuleRunner,
  clickhouseTime,
  type QueryRuleCounters,
  type QueryRuleRunnerOptions,
} from './runner.js'
