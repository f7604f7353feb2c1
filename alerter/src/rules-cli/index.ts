/** `check-rules` and `test-rules`, as functions the alerter's CLI calls. */
export { checkRules, type CheckRulesResult } from './check.js'
export { runRuleTests, type RuleTestsResult } from './test-rules.js'
