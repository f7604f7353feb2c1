import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import { schemaHasKey } from './schema-walk.js'

/**
 * Secrets: which keys hold one, how `*_file` keys become values, and how a config is made safe to log.
 * A key is secret by its name, at any depth, so a new section that names its credential `password`,
 * `token`, `webhook_url` or `creds` (or `<something>_password`, `<something>_token`) is covered
 * without touching this file.
 */

export const REDACTED = '[redacted]'

const SECRET_KEYS = new Set(['password', 'token', 'webhook_url', 'creds', 'secret'])
const SECRET_SUFFIXES = ['_password', '_token', '_secret']

/** True when a key of this name holds a secret whose value must never be logged or echoed in an error. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key) || SECRET_SUFFIXES.some((suffix) => key.endsWith(suffix))
}

/** `scheme://user:password@host` -> `scheme://user:[redacted]@host`, for URLs that carry a password. */
export function redactUrlPassword(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@/\s]+@/gi, `$1${REDACTED}@`)
}

/**
 * A deep copy of `config` with every secret field that is set replaced by "[redacted]" and the password
 * of any `scheme://user:pass@host` URL masked: for logging the effective config. `*_file` keys keep
 * their value, a path, which says where the secret came from.
 */
export function redactSecrets<T>(config: T): T {
  return redactValue(config, undefined) as T
}

function redactValue(value: unknown, key: string | undefined): unknown {
  if (key !== undefined && isSecretKey(key) && value !== undefined && value !== null) return REDACTED
  if (typeof value === 'string') return redactUrlPassword(value)
  if (Array.isArray(value)) return value.map((item) => redactValue(item, undefined))
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) copy[k] = redactValue(v, k)
    return copy
  }
  return value
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  // smol-toml builds tables with a null prototype.
  return proto === Object.prototype || proto === null
}

/** A problem found while resolving secrets, in the loader's terms. */
export interface SecretProblem {
  path: (string | number)[]
  message: string
}

/**
 * For each key `<base>_file` whose `<base>` is a secret key the schema declares beside it, reads the
 * file, drops the trailing newline and sets `<base>`. Other `*_file` keys (the NATS `creds_file`, a
 * path the client opens itself) are left alone. Relative paths are taken from the working directory,
 * as every other path in the config is. Mutates `data`; returns the problems found.
 */
export function resolveSecretFiles(
  data: unknown,
  schema: z.ZodType,
  readFile: (file: string) => string = readText,
): SecretProblem[] {
  const problems: SecretProblem[] = []
  walkTables(data, [], (table, path) => {
    for (const [key, fileValue] of Object.entries(table)) {
      if (!key.endsWith('_file')) continue
      const base = key.slice(0, -'_file'.length)
      if (!isSecretKey(base) || !schemaHasKey(schema, path, base)) continue
      if (typeof fileValue !== 'string') continue // the schema reports the wrong type
      if (table[base] !== undefined) {
        problems.push({ path: [...path, key], message: `give either ${base} or ${key}, not both` })
        continue
      }
      let text: string
      try {
        text = readFile(fileValue)
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message
        problems.push({ path: [...path, key], message: `cannot read secret file "${fileValue}" (${reason})` })
        continue
      }
      const secret = text.replace(/[\r\n]+$/, '')
      if (secret.length === 0) {
        problems.push({ path: [...path, key], message: `secret file "${fileValue}" is empty` })
        continue
      }
      table[base] = secret
    }
  })
  return problems
}

function readText(file: string): string {
  return readFileSync(file, 'utf8')
}

function walkTables(
  value: unknown,
  path: (string | number)[],
  visit: (table: Record<string, unknown>, path: (string | number)[]) => void,
): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => walkTables(item, [...path, index], visit))
  } else if (isPlainObject(value)) {
    visit(value, path)
    for (const [key, child] of Object.entries(value)) walkTables(child, [...path, key], visit)
  }
}
