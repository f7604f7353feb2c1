import type { request as UndiciRequest } from 'undici'

let loaded: Promise<typeof UndiciRequest> | undefined

/**
 * undici's `request`, loaded on first use: only the HTTP-based inputs (prometheus, rabbitmq) need it,
 * and the agent's default inputs should not pay its ~20 MB of resident memory.
 */
export function httpRequest(...args: Parameters<typeof UndiciRequest>): ReturnType<typeof UndiciRequest> {
  loaded ??= import('undici').then((module) => module.request)
  return loaded.then((request) => request(...args))
}
