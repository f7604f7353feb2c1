export { rulesBranch, createRulesCounters, type RulesBranchOptions, type RulesCounters } from './branch.js'
