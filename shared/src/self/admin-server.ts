import { createServer, type Server } from 'node:http'
import type { Logger } from 'pino'
import type { MetricsRegistry } from './registry.js'

export interface AdminServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string
  registry: MetricsRegistry
  /** Ready to do its job (connected to NATS and the store, consuming). Default: always. */
  ready?: () => boolean
  /** Why it is not ready, when it knows: the body of a 503 from /readyz. */
  notReadyReason?: () => string | undefined
  logger: Logger
}

export interface AdminServer {
  url: string
  close(): Promise<void>
}

/** /healthz (the process is alive), /readyz (it can do its job) and /metrics (Prometheus text). */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    switch (path) {
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
        return
      case '/readyz': {
        const ready = options.ready?.() ?? true
        const reason = ready ? undefined : options.notReadyReason?.()
        response
          .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(ready ? 'ready\n' : reason !== undefined ? `not ready: ${reason}\n` : 'not ready\n')
        return
      }
      case '/metrics':
        response
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(options.registry.renderPrometheus())
        return
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })
  const separator = options.listen.lastIndexOf(':')
  const host = options.listen.slice(0, separator).replace(/^\[|\]$/g, '')
  const port = Number(options.listen.slice(separator + 1))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address()
  const boundPort = typeof address === 'object' && address ? address.port : port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`
  options.logger.info({ url }, 'admin endpoint (/healthz, /readyz, /metrics) listening')
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
