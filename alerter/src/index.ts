export { Alerter, type AlerterOptions } from './alerter.js'
export { loadAlerterConfig, planAlerter, type AlerterPlan } from './config.js'
export { NotifyError, AlerterConfigError, SilenceError } from './errors.js'
export { parseMatcher, matches, matchesAll, formatMatcher, type Matcher } from './routing/matchers.js'
export { SilenceStore, isSilenced, type Silence } from './silences/silences.js'
export {
  createNotifier,
  receiverSpec,
  type Notifier,
  type Notification,
  type ReceiverSpec,
} from './notifiers/index.js'
export { runCli } from './cli.js'
