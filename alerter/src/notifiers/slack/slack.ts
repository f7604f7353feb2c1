import type { Logger, SlackReceiverConfig } from '@tidewatch/shared'
import { Agent, request, type Dispatcher } from 'undici'
import { AlerterConfigError, NotifyError } from '../../errors.js'
import type { MessageRef, Notification, Notifier, SendResult } from '../types.js'
import { buildSlackMessage, plainSlackText, type MessageOptions, type SlackMessage } from './message.js'

/** Slack Web API error codes after which the same request may succeed later. */
const RETRYABLE_API_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
])
/** Refusals of the message's shape: the text-only fallback is tried once. */
const SHAPE_ERRORS = new Set([
  'invalid_blocks',
  'invalid_blocks_format',
  'invalid_attachments',
  'msg_too_long',
  'invalid_payload',
])

export type SlackMode =
  | { kind: 'webhook'; url: string }
  | { kind: 'bot'; token: string; channel: string; apiUrl: string; resolvedStyle: 'update' | 'reply' }

/**
 * Slack, by incoming webhook or by bot token (chat.postMessage, chat.update). One call of `send` is
 * one delivery: one HTTP request, plus a text-only request if Slack refuses the blocks. Failures throw
 * NotifyError: 429 with `retryAfterMs` from Retry-After, 5xx and network errors retryable, other 4xx
 * not. The URL and token never appear in an error or a log line.
 */
export class SlackNotifier implements Notifier {
  readonly kind = 'slack'
  private readonly ownsDispatcher: boolean
  private readonly dispatcher: Dispatcher

  constructor(
    readonly name: string,
    private readonly mode: SlackMode,
    readonly sendResolved: boolean,
    private readonly messageOptions: MessageOptions,
    private readonly requestTimeoutMs: number,
    private readonly logger: Logger,
    dispatcher?: Dispatcher,
  ) {
    this.ownsDispatcher = dispatcher === undefined
    this.dispatcher =
      dispatcher ??
      new Agent({
        connections: 8,
        keepAliveTimeout: 30_000,
        connectTimeout: Math.min(requestTimeoutMs, 10_000),
      })
  }

  static fromConfig(
    name: string,
    config: SlackReceiverConfig,
    deps: { logger: Logger; dispatcher?: Dispatcher },
    keyPath: string,
  ): SlackNotifier {
    let mode: SlackMode
    if (config.webhook_url !== undefined && config.webhook_url !== '') {
      if (config.bot_token !== undefined)
        throw new AlerterConfigError(`set webhook_url or bot_token, not both`, keyPath)
      if (!/^https?:\/\//.test(config.webhook_url))
        throw new AlerterConfigError('webhook_url: expected an http(s) URL', keyPath)
      mode = { kind: 'webhook', url: config.webhook_url }
    } else if (config.bot_token !== undefined && config.bot_token !== '') {
      if (config.channel === undefined)
        throw new AlerterConfigError('channel: required with bot_token', keyPath)
      mode = {
        kind: 'bot',
        token: config.bot_token,
        channel: config.channel,
        apiUrl: config.api_url.replace(/\/+$/, ''),
        resolvedStyle: config.resolved_style,
      }
    } else {
      throw new AlerterConfigError(
        'set webhook_url (or webhook_url_file), or bot_token (or bot_token_file) with channel',
        keyPath,
      )
    }
    const options = { maxAlertsListed: config.max_alerts_listed, hideLabels: config.hide_labels }
    const logger = deps.logger.child({ notifier: 'slack', receiver: name, mode: mode.kind })
    return new SlackNotifier(
      name,
      mode,
      config.send_resolved,
      options,
      config.request_timeout,
      logger,
      deps.dispatcher,
    )
  }

  async send(notification: Notification): Promise<SendResult> {
    const message = buildSlackMessage(notification, this.messageOptions)
    const mode = this.mode
    switch (mode.kind) {
      case 'webhook':
        await this.withFallback(message, (payload) => this.postWebhook(mode.url, payload))
        return {}
      case 'bot':
        return this.sendBot(mode, notification, message)
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close()
  }

  private async sendBot(
    mode: Extract<SlackMode, { kind: 'bot' }>,
    notification: Notification,
    message: SlackMessage,
  ): Promise<SendResult> {
    const ref = notification.ref
    if (notification.kind === 'resolved' && ref !== undefined) {
      if (mode.resolvedStyle === 'update') {
        await this.withFallback(message, (payload) =>
          this.callApi(mode, 'chat.update', { channel: ref.channel, ts: ref.ts, ...payload }),
        )
        return { ref }
      }
      await this.withFallback(message, (payload) =>
        this.callApi(mode, 'chat.postMessage', { channel: ref.channel, thread_ts: ref.ts, ...payload }),
      )
      return { ref }
    }
    const posted = await this.withFallback(message, (payload) =>
      this.callApi(mode, 'chat.postMessage', {
        channel: mode.channel,
        unfurl_links: false,
        unfurl_media: false,
        ...payload,
      }),
    )
    return posted !== undefined ? { ref: posted } : {}
  }

  /** Slack refused the blocks (it did not post): send the text alone, once, so the alert still lands. */
  private async withFallback<T>(message: SlackMessage, post: (payload: object) => Promise<T>): Promise<T> {
    try {
      return await post(message)
    } catch (error) {
      if (!(error instanceof NotifyError) || !SHAPE_ERRORS.has(error.reason)) throw error
      this.logger.error({ reason: error.reason }, 'slack refused the message blocks; sending text only')
      return post(plainSlackText(message))
    }
  }

  private async postWebhook(url: string, payload: object): Promise<void> {
    const { status, retryAfterMs, body } = await this.http(
      url,
      { 'content-type': 'application/json' },
      payload,
    )
    if (status >= 200 && status < 300) return
    throw statusError('slack webhook', status, body.trim().slice(0, 64) || `http_${status}`, retryAfterMs)
  }

  private async callApi(
    mode: Extract<SlackMode, { kind: 'bot' }>,
    method: string,
    payload: object,
  ): Promise<MessageRef | undefined> {
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      authorization: `Bearer ${mode.token}`,
    }
    const { status, retryAfterMs, body } = await this.http(`${mode.apiUrl}/${method}`, headers, payload)
    if (status < 200 || status >= 300)
      throw statusError(`slack ${method}`, status, `http_${status}`, retryAfterMs)
    let parsed: { ok?: boolean; error?: string; channel?: string; ts?: string }
    try {
      parsed = JSON.parse(body) as typeof parsed
    } catch (error) {
      // A 200 we cannot read: Slack answered, so it most likely posted; do not risk a second post.
      this.logger.warn({ err: error, method }, 'unreadable slack API response, counting the message as sent')
      return undefined
    }
    if (parsed.ok === true)
      return parsed.channel !== undefined && parsed.ts !== undefined
        ? { channel: parsed.channel, ts: parsed.ts }
        : undefined
    const reason = String(parsed.error ?? 'unknown_error').slice(0, 64)
    throw new NotifyError(
      `slack ${method} failed: ${reason}`,
      status,
      reason,
      RETRYABLE_API_ERRORS.has(reason),
      retryAfterMs,
    )
  }

  private async http(
    url: string,
    headers: Record<string, string>,
    payload: object,
  ): Promise<{ status: number; retryAfterMs: number | undefined; body: string }> {
    try {
      const response = await request(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        dispatcher: this.dispatcher,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
      })
      const body = await response.body.text()
      return {
        status: response.statusCode,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
        body,
      }
    } catch (error) {
      // undici's messages name host and port at most, but we build our own: the path holds the secret.
      const code = (error as { code?: string }).code ?? (error as Error).name
      throw new NotifyError(`slack request failed: ${code}`, 0, 'network', true, undefined)
    }
  }
}

function statusError(
  what: string,
  status: number,
  reason: string,
  retryAfterMs: number | undefined,
): NotifyError {
  const retryable = status === 429 || status >= 500 || status === 408
  return new NotifyError(
    `${what} answered ${status} ${reason}`,
    status,
    reason,
    retryable,
    status === 429 ? (retryAfterMs ?? 1_000) : retryAfterMs,
  )
}

/** Retry-After in seconds (Slack's form) or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  nowMs = Date.now(),
): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\d+(\.\d+)?$/.test(text.trim())) return Math.round(Number(text) * 1000)
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}
