import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local HTTP receiver that answers as Slack does, for tests and the benchmark. Webhook posts go to
 * `/hooks/<anything>`, Web API calls to `/api/chat.postMessage` and `/api/chat.update`. Responses come
 * from a script (`respond(...)`), then 200 `ok`. `landed` holds what Slack would have shown.
 */
export type ScriptedResponse =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body: string; retryAfterSecs?: number }
  /** Reads the request, then destroys the socket without answering: nothing lands. */
  | { kind: 'drop' }

export interface ReceivedRequest {
  path: string
  body: Record<string, unknown>
  headers: IncomingMessage['headers']
  atMs: number
  /** The response it got: 200, 429, 500, ... or 0 for a dropped connection. */
  status: number
}

export class SlackReceiver {
  readonly requests: ReceivedRequest[] = []
  readonly landed: ReceivedRequest[] = []
  private script: ScriptedResponse[] = []
  private server: Server | undefined
  private waiters: Array<() => void> = []
  private nextTs = 1
  url = ''

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.keepAliveTimeout = 5_000
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    const { port } = this.server.address() as AddressInfo
    this.url = `http://127.0.0.1:${port}`
  }

  get webhookUrl(): string {
    return `${this.url}/hooks/T000/B000/secret-path`
  }
  get apiUrl(): string {
    return `${this.url}/api`
  }

  /** Queues responses for the next requests, in order. */
  respond(...responses: ScriptedResponse[]): void {
    this.script.push(...responses)
  }

  /** Drops responses still queued: from now on every request gets 200 `ok`. */
  clearScript(): void {
    this.script = []
  }

  /** Resolves when at least `count` messages have landed; rejects after `timeoutMs`. */
  async waitForLanded(count: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs
    while (this.landed.length < count) {
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(
          `expected ${count} messages to land, got ${this.landed.length} (${this.requests.length} requests)`,
        )
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.landed.slice(0, count)
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve())
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
    } catch {
      body = { unparsable: true }
    }
    const path = req.url ?? '/'
    const record: ReceivedRequest = { path, body, headers: req.headers, atMs: Date.now(), status: 0 }
    this.requests.push(record)
    const next = this.script.shift() ?? { kind: 'ok' }
    const api = path.startsWith('/api/')
    switch (next.kind) {
      case 'drop':
        req.socket.destroy()
        return
      case 'status': {
        record.status = next.status
        const headers: Record<string, string> = { 'content-type': api ? 'application/json' : 'text/html' }
        if (next.retryAfterSecs !== undefined) headers['retry-after'] = String(next.retryAfterSecs)
        res.writeHead(next.status, headers)
        res.end(api ? JSON.stringify({ ok: false, error: next.body }) : next.body)
        return
      }
      case 'ok': {
        record.status = 200
        this.landed.push(record)
        if (api) {
          const channel = String(body.channel ?? 'C000')
          const ts =
            typeof body.ts === 'string' ? body.ts : `1700000000.${String(this.nextTs++).padStart(6, '0')}`
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ ok: true, channel, ts }))
        } else {
          res.writeHead(200, { 'content-type': 'text/html' })
          res.end('ok')
        }
        for (const wake of this.waiters.splice(0)) wake()
      }
    }
  }
}
