import type { Labels } from '@tidewatch/shared'
import type { Notification, NotificationAlert } from '../types.js'

/*
 * Block Kit messages for a notification, built as plain data and kept inside Slack's limits by
 * construction (so a storm never earns a 400 invalid_blocks):
 *   - at most 50 blocks per message (we use at most ~26);
 *   - header text <= 150 chars, section text <= 3000, context element text <= 2000 (we cut earlier);
 *   - the top-level `text` (the notification and fallback text) <= 4000 chars.
 * A group with more alerts than `maxAlertsListed` lists the first ones and summarises the rest
 * ("37 of 100 hosts in pool p12").
 */

export const SLACK_LIMITS = {
  maxBlocks: 50,
  headerText: 150,
  sectionText: 3000,
  contextText: 2000,
  fallbackText: 4000,
} as const

export interface MessageOptions {
  maxAlertsListed: number
  hideLabels: readonly string[]
}

export interface SlackMessage {
  text: string
  attachments: [{ color: string; fallback: string; blocks: Block[] }]
}

type Text = { type: 'mrkdwn' | 'plain_text'; text: string }
export type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: Text }
  | { type: 'context'; elements: Text[] }
  | { type: 'divider' }

/** Colours by severity; resolved messages are green. */
export const SEVERITY_COLOURS: Record<string, string> = {
  critical: '#E01E5A',
  page: '#E01E5A',
  error: '#E01E5A',
  warning: '#ECB22E',
  info: '#36C5F0',
  resolved: '#2EB67D',
  none: '#9E9EA6',
}
const SEVERITY_RANK = ['critical', 'page', 'error', 'warning', 'info']

/** Labels never worth a line of their own: they head the message or repeat the rule. */
const ALWAYS_HIDDEN = new Set(['alertname', 'severity'])
const MAX_LABELS_SHOWN = 8

export function buildSlackMessage(notification: Notification, options: MessageOptions): SlackMessage {
  const firing = notification.kind === 'firing'
  const alerts = firing ? notification.firing : notification.resolved
  const colour = firing ? (SEVERITY_COLOURS[topSeverity(notification.firing)] ?? '#9E9EA6') : '#2EB67D'
  const alertname = commonLabel(alerts, 'alertname') ?? 'alerts'
  const groupText = describeLabels(withoutKeys(notification.groupLabels, ['alertname']))
  const title = `${firing ? 'FIRING' : 'RESOLVED'} (${alerts.length}) · ${alertname}${groupText ? ` · ${groupText}` : ''}${notification.repeat ? ' · repeated' : ''}`
  const hidden = new Set([...ALWAYS_HIDDEN, ...Object.keys(notification.groupLabels), ...options.hideLabels])

  const blocks: Block[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${firing ? '🔥' : '✅'} ${title}`, SLACK_LIMITS.headerText),
      },
    },
  ]

  const summary = summaryText(notification, alerts)
  if (summary) blocks.push(section(summary))

  const listed = alerts.slice(0, options.maxAlertsListed)
  const titled = !(alerts.length === 1 && summary !== undefined)
  for (const alert of listed) blocks.push(section(alertText(alert, hidden, titled)))
  if (alerts.length > listed.length) {
    blocks.push(
      context(
        `…and ${alerts.length - listed.length} more ${firing ? 'firing' : 'resolved'}${restBreakdown(alerts.slice(listed.length), hidden)}`,
      ),
    )
  }

  if (firing && notification.resolved.length > 0) {
    const names = notification.resolved.slice(0, 10).map((alert) => shortName(alert, hidden))
    const more =
      notification.resolved.length > names.length
        ? ` and ${notification.resolved.length - names.length} more`
        : ''
    blocks.push(
      context(
        `✅ Resolved since the last message (${notification.resolved.length}): ${names.join(', ')}${more}`,
      ),
    )
  }

  if (firing) blocks.push(context(silenceHint(notification)))

  // Slack reads the top-level text as mrkdwn and honours its mentions: label values and annotations
  // stay escaped, so a `<!channel>` in them is shown, never sent.
  const text = truncate(
    `[${firing ? 'FIRING' : 'RESOLVED'}:${alerts.length}] ${escape(alertname)}${groupText ? ` ${escape(groupText)}` : ''}${summary ? ` — ${stripMrkdwn(summary)}` : ''}`,
    SLACK_LIMITS.fallbackText,
  )
  return {
    text,
    attachments: [{ color: colour, fallback: text, blocks: blocks.slice(0, SLACK_LIMITS.maxBlocks) }],
  }
}

/** The text-only version sent when Slack refuses the blocks anyway. */
export function plainSlackText(message: SlackMessage): { text: string } {
  return { text: message.text }
}

function summaryText(notification: Notification, alerts: NotificationAlert[]): string | undefined {
  if (alerts.length === 1) {
    const alert = alerts[0] as NotificationAlert
    const summary = alert.annotations.summary
    const description = alert.annotations.description
    const parts = [
      summary ? `*${escape(summary)}*` : undefined,
      description ? escape(description) : undefined,
    ].filter(Boolean)
    return parts.length > 0 ? parts.join('\n') : undefined
  }
  // Many alerts: "37 of 100 hosts in pool p12", over the label that varies most within the group.
  const all = [...notification.firing, ...notification.resolved]
  const dimension = varyingLabel(all, Object.keys(notification.groupLabels))
  const where = Object.entries(withoutKeys(notification.groupLabels, ['alertname']))
    .map(([name, value]) => `${name} ${value}`)
    .join(', ')
  const commonSummary = commonAnnotation(alerts, 'summary')
  let line: string
  if (dimension !== undefined) {
    const firingCount = distinct(notification.firing, dimension)
    const total = distinct(all, dimension)
    const noun = `${dimension}${total === 1 ? '' : 's'}`
    line =
      notification.kind === 'firing'
        ? `*${firingCount} of ${total} ${noun}${where ? ` in ${escape(where)}` : ''}* firing`
        : `*${distinct(notification.resolved, dimension)} ${noun}${where ? ` in ${escape(where)}` : ''}* resolved`
  } else {
    line = `*${alerts.length} alerts${where ? ` in ${escape(where)}` : ''}* ${notification.kind}`
  }
  return commonSummary ? `${line}\n${escape(commonSummary)}` : line
}

function alertText(alert: NotificationAlert, hidden: ReadonlySet<string>, titled: boolean): string {
  const title = alert.annotations.summary ?? alert.labels.alertname ?? alert.fingerprint
  const lines = titled ? [`*${escape(title)}*`] : []
  const facts: string[] = []
  if (alert.value !== null) facts.push(`value \`${formatValue(alert.value)}\``)
  facts.push(`since ${slackDate(alert.activeSinceMs)}`)
  if (alert.state === 'resolved' && alert.resolvedAtMs !== undefined)
    facts.push(`resolved ${slackDate(alert.resolvedAtMs)}`)
  lines.push(facts.join(' · '))
  const labels = Object.entries(alert.labels).filter(([name]) => !hidden.has(name))
  if (labels.length > 0) {
    const shown = labels
      .slice(0, MAX_LABELS_SHOWN)
      .map(([name, value]) => `\`${escape(truncate(`${name}=${value}`, 120))}\``)
    lines.push(
      shown.join(' ') + (labels.length > MAX_LABELS_SHOWN ? ` +${labels.length - MAX_LABELS_SHOWN}` : ''),
    )
  }
  const runbook = safeUrl(alert.annotations.runbook_url)
  if (runbook !== undefined) lines.push(`<${runbook}|Runbook>`)
  return truncate(lines.join('\n'), SLACK_LIMITS.sectionText)
}

function silenceHint(notification: Notification): string {
  const matchers = Object.entries(notification.groupLabels).map(
    ([name, value]) => `-m '${name}=${JSON.stringify(value)}'`,
  )
  const command = `tidewatch-alerter silence add ${matchers.join(' ')} --duration 2h --comment '...'`
  return truncate(`🔕 Silence: \`${escape(command.replace(/`/g, "'"))}\``, SLACK_LIMITS.contextText)
}

function restBreakdown(alerts: NotificationAlert[], hidden: ReadonlySet<string>): string {
  const names = alerts.slice(0, 15).map((alert) => shortName(alert, hidden))
  return names.length > 0 ? `: ${names.join(', ')}${alerts.length > names.length ? ', …' : ''}` : ''
}

function shortName(alert: NotificationAlert, hidden: ReadonlySet<string>): string {
  const labels = Object.entries(alert.labels).filter(([name]) => !hidden.has(name))
  const text =
    labels.length > 0
      ? labels
          .slice(0, 2)
          .map(([n, v]) => `${n}=${v}`)
          .join(',')
      : (alert.labels.alertname ?? alert.fingerprint)
  return escape(truncate(text, 60))
}

function section(text: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SLACK_LIMITS.sectionText) } }
}
function context(text: string): Block {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, SLACK_LIMITS.contextText) }] }
}

function topSeverity(alerts: NotificationAlert[]): string {
  let best = 'none'
  let bestRank = Infinity
  for (const alert of alerts) {
    const rank = SEVERITY_RANK.indexOf(alert.labels.severity ?? '')
    if (rank >= 0 && rank < bestRank) {
      bestRank = rank
      best = SEVERITY_RANK[rank] as string
    }
  }
  return best
}

function varyingLabel(alerts: NotificationAlert[], exclude: string[]): string | undefined {
  const skip = new Set([...exclude, ...ALWAYS_HIDDEN])
  const values = new Map<string, Set<string>>()
  for (const alert of alerts) {
    for (const [name, value] of Object.entries(alert.labels)) {
      if (skip.has(name)) continue
      let set = values.get(name)
      if (set === undefined) values.set(name, (set = new Set()))
      set.add(value)
    }
  }
  let best: string | undefined
  let bestCount = 1
  for (const [name, set] of values) {
    if (set.size > bestCount || (set.size === bestCount && best !== undefined && name < best)) {
      best = name
      bestCount = set.size
    }
  }
  return best
}

function distinct(alerts: NotificationAlert[], label: string): number {
  return new Set(alerts.map((alert) => alert.labels[label] ?? '')).size
}

function commonLabel(alerts: NotificationAlert[], name: string): string | undefined {
  const first = alerts[0]?.labels[name]
  return first !== undefined && alerts.every((alert) => alert.labels[name] === first) ? first : undefined
}
function commonAnnotation(alerts: NotificationAlert[], name: string): string | undefined {
  const first = alerts[0]?.annotations[name]
  return first !== undefined && alerts.every((alert) => alert.annotations[name] === first) ? first : undefined
}

function withoutKeys(labels: Labels, keys: string[]): Labels {
  return Object.fromEntries(Object.entries(labels).filter(([name]) => !keys.includes(name)))
}
function describeLabels(labels: Labels): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ')
}

/** Slack renders this in the reader's time zone; the fallback is UTC ISO. */
function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${iso}>`
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value)
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.01 ? value.toPrecision(4) : value.toFixed(2)
}

function safeUrl(text: string | undefined): string | undefined {
  if (text === undefined || !/^https?:\/\/[^\s<>|]+$/.test(text) || text.length > 500) return undefined
  return text
}

/** Slack mrkdwn control characters. */
export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** One line without emphasis; its entities (`&lt;`) stay, so nothing in it becomes a mention or link. */
function stripMrkdwn(text: string): string {
  return text.replace(/[*`]/g, '').replace(/\n/g, ' ')
}

/** Cuts to at most `max` UTF-16 units, never inside a surrogate pair, marking the cut with "…". */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text
  let end = max - 1
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end--
  return `${text.slice(0, end)}…`
}
