import { request as httpRequestRaw, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequestRaw } from 'node:https'
import { gunzipSync } from 'node:zlib'

/*
 * The HTTP inputs' client (prometheus, rabbitmq), on node:http / node:https. Not undici: node's
 * built-in HTTP parser is native, while undici's is WebAssembly, which the installed agent runs
 * without (its bin starts node with --lite-mode, which turns WebAssembly off; see
 * scripts/bundle.mjs), and undici alone kept ~20 MB resident.
 */

export interface HttpGetOptions {
  headers?: Record<string, string>
  signal?: AbortSignal | undefined
  /** Limit on waiting for the response headers, and on each silence while the body arrives, ms. */
  timeoutMs: number
  /** Largest body accepted (after gunzip), bytes. */
  maxBodyBytes: number
  /** PEM CA certificates trusted for https (in place of the system's); undefined: the system's. */
  ca?: string | undefined
}

export interface HttpResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  /** The body, gunzipped when the server sent `content-encoding: gzip`. */
  body: Buffer
}

/** GETs `url` and reads the whole body; rejects on a network error, a timeout, the signal, or a body over the limit. */
export function httpGet(url: URL, options: HttpGetOptions): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw
    const request = send(url, {
      method: 'GET',
      headers: options.headers,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      // no keep-alive: a round every interval gains little from it, and idle sockets cost memory
      agent: false,
      timeout: options.timeoutMs,
    })
    request.once('timeout', () =>
      request.destroy(new Error(`no answer from ${url.host} within ${options.timeoutMs} ms`)),
    )
    request.once('error', reject)
    request.once('response', (response: IncomingMessage) => {
      const limit = options.maxBodyBytes
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > limit) {
          request.destroy(new Error(`response larger than ${limit} bytes`))
          return
        }
        chunks.push(chunk)
      })
      response.once('error', reject)
      response.once('end', () => {
        try {
          const raw = Buffer.concat(chunks)
          const encoding = String(response.headers['content-encoding'] ?? '').toLowerCase()
          const body = encoding === 'gzip' ? gunzipSync(raw, { maxOutputLength: limit }) : raw
          resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body })
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)))
        }
      })
    })
    request.end()
  })
}
