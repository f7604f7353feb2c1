import { pino } from 'pino'
import { Agent } from 'undici'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NotifyError } from '../../errors.js'
import { SlackReceiver } from '../../testing/slack-receiver.js'
import type { Notification, NotificationAlert } from '../types.js'
import { buildSlackMessage, SLACK_LIMITS } from './message.js'
import { parseRetryAfter, SlackNotifier } from './slack.js'

const alert = (i: number, state: 'firing' | 'resolved' = 'firing'): NotificationAlert => ({
  fingerprint: `fp${i}`,
  state,
  labels: { alertname: 'HighCPU', severity: 'critical', pool: 'p12', host: `i${i}`, env: 'prod' },
  annotations: { summary: `CPU high on i${i} <&>`, runbook_url: 'https://runbooks.example/cpu' },
  value: 97.123,
  activeSinceMs: 1_700_000_000_000,
})
const notification = (
  firing: NotificationAlert[],
  resolved: NotificationAlert[] = [],
  kind: Notification['kind'] = 'firing',
): Notification => ({
  kind,
  receiver: 'slack',
  groupKey: 'g',
  groupLabels: { alertname: 'HighCPU', pool: 'p12' },
  firing,
  resolved,
  repeat: false,
  nowMs: 1_700_000_060_000,
})
const options = { maxAlertsListed: 10, hideLabels: [] }

describe('buildSlackMessage', () => {
  it('shows severity colour, summary, labels that matter, value, since, runbook and a silence hint', () => {
    const message = buildSlackMessage(notification([alert(1)]), options)
    const text = JSON.stringify(message)
    expect(message.attachments[0].color).toBe('#E01E5A')
    expect(text).toContain('CPU high on i1 &lt;&amp;&gt;')
    expect(text).toContain('`host=i1`')
    expect(text).not.toContain('`pool=p12`') // a group label: in the header
    expect(text).toContain('value `97.12`')
    expect(text).toContain('<!date^1700000000^')
    expect(text).toContain('<https://runbooks.example/cpu|Runbook>')
    expect(text).toContain('tidewatch-alerter silence add')
  })

  it('summarises a storm of 500 alerts in one message within Slack limits', () => {
    const firing = Array.from({ length: 37 }, (_, i) => alert(i))
    const resolved = Array.from({ length: 463 }, (_, i) => alert(100 + i, 'resolved'))
    const message = buildSlackMessage(notification(firing, resolved), options)
    const blocks = message.attachments[0].blocks
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.maxBlocks)
    expect(JSON.stringify(blocks)).toContain('37 of 500 hosts in pool p12')
    expect(message.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText)
    for (const block of blocks) {
      if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText)
      if (block.type === 'section')
        expect(block.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText)
      if (block.type === 'context')
        for (const e of block.elements) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText)
    }
  })

  it('cuts huge annotations and label values to Slack limits', () => {
    const big = {
      ...alert(1),
      annotations: { summary: 'x'.repeat(10_000), description: '😀'.repeat(5_000) },
      labels: { alertname: 'y'.repeat(500), host: 'z'.repeat(5_000) },
    }
    const message = buildSlackMessage(
      { ...notification([big]), groupLabels: { alertname: 'y'.repeat(500) } },
      options,
    )
    const blocks = message.attachments[0].blocks
    for (const block of blocks) {
      if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(150)
      if (block.type === 'section') expect(block.text.text.length).toBeLessThanOrEqual(3000)
      if (block.type === 'context')
        for (const e of block.elements) expect(e.text.length).toBeLessThanOrEqual(2000)
    }
  })

  it('never turns label values or annotations into mentions or links in the top-level text', () => {
    const hostile = {
      ...alert(1),
      labels: { alertname: 'Bad<!here>', path: '<!channel>', host: 'h1' },
      annotations: { summary: 'see <https://evil.example|click> <!everyone>' },
    }
    const message = buildSlackMessage(
      { ...notification([hostile]), groupLabels: { alertname: 'Bad<!here>', path: '<!channel>' } },
      options,
    )
    expect(message.text).not.toContain('<!')
    expect(message.text).not.toContain('<https://evil')
    expect(message.text).toContain('path=&lt;!channel&gt;')
    // Only the header is plain_text (Slack shows it as written); every mrkdwn block escapes.
    const mrkdwn = message.attachments[0].blocks.filter((b) => b.type !== 'header')
    for (const mention of ['<!here>', '<!channel>', '<!everyone>', '<https://evil'])
      expect(JSON.stringify(mrkdwn)).not.toContain(mention)
  })

  it('makes resolved messages green', () => {
    expect(
      buildSlackMessage(notification([], [alert(1, 'resolved')], 'resolved'), options).attachments[0].color,
    ).toBe('#2EB67D')
  })
})

describe('SlackNotifier against a local receiver', () => {
  let receiver: SlackReceiver
  let http: Agent
  beforeEach(async () => {
    receiver = new SlackReceiver()
    await receiver.start()
    http = new Agent({ connectTimeout: 1_000 })
  })
  afterEach(async () => {
    await receiver.close()
    await http.close()
  })
  const logger = pino({ level: 'silent' })
  const webhook = () =>
    new SlackNotifier('s', { kind: 'webhook', url: receiver.webhookUrl }, true, options, 2_000, logger, http)

  it('maps 429, 500, 400 and a dropped connection to typed errors, never naming the URL', async () => {
    receiver.respond(
      { kind: 'status', status: 429, body: 'rate_limited', retryAfterSecs: 3 },
      { kind: 'status', status: 500, body: 'internal_error' },
      { kind: 'drop' },
    )
    const errors: NotifyError[] = []
    for (let i = 0; i < 3; i++)
      await webhook()
        .send(notification([alert(1)]))
        .catch((e: NotifyError) => errors.push(e))
    expect(errors.map((e) => [e.status, e.retryable, e.retryAfterMs])).toEqual([
      [429, true, 3_000],
      [500, true, undefined],
      [0, true, undefined],
    ])
    for (const e of errors) expect(e.message).not.toContain('secret-path')
    await webhook().send(notification([alert(1)]))
    expect(receiver.landed).toHaveLength(1)
  })

  it('falls back to text only when Slack answers 400 invalid_blocks', async () => {
    receiver.respond({ kind: 'status', status: 400, body: 'invalid_blocks' })
    await webhook().send(notification([alert(1)]))
    expect(receiver.landed).toHaveLength(1)
    expect(receiver.landed[0]!.body.attachments).toBeUndefined()
    expect(String(receiver.landed[0]!.body.text)).toContain('[FIRING:1]')
  })

  it('with a bot token, posts with chat.postMessage and updates it (or replies in thread) when resolved', async () => {
    const bot = (style: 'update' | 'reply') =>
      new SlackNotifier(
        's',
        { kind: 'bot', token: 'xoxb-secret', channel: 'C1', apiUrl: receiver.apiUrl, resolvedStyle: style },
        true,
        options,
        2_000,
        logger,
        http,
      )
    const { ref } = await bot('update').send(notification([alert(1)]))
    expect(ref).toEqual({ channel: 'C1', ts: expect.any(String) })
    expect(receiver.landed[0]!.headers.authorization).toBe('Bearer xoxb-secret')
    await bot('update').send({ ...notification([], [alert(1, 'resolved')], 'resolved'), ref: ref! })
    expect(receiver.landed[1]!.path).toBe('/api/chat.update')
    expect(receiver.landed[1]!.body.ts).toBe(ref!.ts)
    await bot('reply').send({ ...notification([], [alert(1, 'resolved')], 'resolved'), ref: ref! })
    expect(receiver.landed[2]!.path).toBe('/api/chat.postMessage')
    expect(receiver.landed[2]!.body.thread_ts).toBe(ref!.ts)
  })

  it('parses Retry-After in seconds or as a date', () => {
    expect(parseRetryAfter('2')).toBe(2_000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5_000)
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })
})
