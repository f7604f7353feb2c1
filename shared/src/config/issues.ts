import type { z } from 'zod'
import { TomlDate } from 'smol-toml'
import { isPlainObject, isSecretKey, redactUrlPassword } from './secrets.js'

/** One problem in a config file: where it is, and (for a value) what was expected and what was found. */
export interface ConfigIssue {
  file: string
  /** Dotted key path, e.g. `agent.interval`, `nats.servers.0`; empty for the file as a whole. */
  keyPath: string
  /** 1-based line of the key in the file, when a scan of the text finds it. */
  line?: number
  /** The problem without the location, e.g. `expected array, found number (3)`. */
  problem: string
  expected?: string
  found?: string
}

/** `config/agent.toml: agent.interval: expected ..., found "10 parsecs" (line 4)` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.keyPath === '' ? issue.file : `${issue.file}: ${issue.keyPath}`
  return `${where}: ${issue.problem}${issue.line === undefined ? '' : ` (line ${issue.line})`}`
}

export function joinPath(path: readonly PropertyKey[]): string {
  return path.map((segment) => String(segment)).join('.')
}

const MAX_SHOWN_CHARS = 80

function quote(text: string): string {
  const shown = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}...` : text
  return JSON.stringify(redactUrlPassword(shown))
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (value instanceof TomlDate) return 'date-time'
  if (isPlainObject(value)) return 'table'
  return typeof value
}

/**
 * What was found, for a message. With `withType`, `number (3)`; without, just `"text"` or `3`. A value
 * under a secret key is described by its type and size only.
 */
export function describeFound(value: unknown, secret: boolean, withType: boolean): string {
  const type = typeName(value)
  if (secret) return typeof value === 'string' ? `a string of ${value.length} chars` : type
  let shown: string | undefined
  if (typeof value === 'string') shown = quote(value)
  else if (typeof value === 'number' || typeof value === 'boolean') shown = String(value)
  else if (value instanceof TomlDate) shown = value.toISOString()
  else if (Array.isArray(value)) return `array of ${value.length} item${value.length === 1 ? '' : 's'}`
  if (shown === undefined) return type
  return withType ? `${type} (${shown})` : shown
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let current = data
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment]
    else if (isPlainObject(current)) current = current[String(segment)]
    else return undefined
  }
  return current
}

function pathIsSecret(path: readonly PropertyKey[]): boolean {
  return path.some((segment) => typeof segment === 'string' && isSecretKey(segment))
}

const EXPECTED_TYPE_NAMES: Record<string, string> = {
  object: 'table',
  int: 'integer',
  number: 'number',
  string: 'string',
  boolean: 'boolean',
  array: 'array',
}

/** Schema authors write custom messages as "expected ..."; zod's own start otherwise. */
function customExpected(message: string): string | undefined {
  return message.startsWith('expected ') ? message.slice('expected '.length) : undefined
}

function bound(
  issue: { minimum?: unknown; maximum?: unknown; inclusive?: boolean; origin?: string },
  kind: 'min' | 'max',
): string {
  const limit = String(kind === 'min' ? issue.minimum : issue.maximum)
  const inclusive = issue.inclusive !== false
  switch (issue.origin) {
    case 'array':
    case 'set':
      return kind === 'min' ? `at least ${limit} item${limit === '1' ? '' : 's'}` : `at most ${limit} items`
    case 'string':
      if (kind === 'min' && limit === '1') return 'a non-empty string'
      return kind === 'min' ? `a string of at least ${limit} chars` : `a string of at most ${limit} chars`
    default: {
      const what = issue.origin === 'int' ? 'an integer' : 'a number'
      if (kind === 'min' && limit === '0' && !inclusive)
        return `${what === 'an integer' ? 'a positive integer' : 'a positive number'}`
      const op = kind === 'min' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'
      return `${what} ${op} ${limit}`
    }
  }
}

/** Turns zod's issues into ConfigIssues, one per problem (an unknown-keys issue becomes one per key). */
export function issuesFromZod(
  error: z.ZodError,
  file: string,
  data: unknown,
  lines: KeyLines,
): ConfigIssue[] {
  const out: ConfigIssue[] = []
  const add = (path: readonly PropertyKey[], problem: string, expected?: string, found?: string): void => {
    const issue: ConfigIssue = { file, keyPath: joinPath(path), problem }
    const line = lines.lineOf(path)
    if (line !== undefined) issue.line = line
    if (expected !== undefined) issue.expected = expected
    if (found !== undefined) issue.found = found
    out.push(issue)
  }
  for (const issue of error.issues) {
    const path = issue.path
    const value = valueAt(data, path)
    const secret = pathIsSecret(path)
    const valueProblem = (expected: string, withType = false): void => {
      const found = describeFound(value, secret, withType)
      add(path, `expected ${expected}, found ${found}`, expected, found)
    }
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) add([...path, key], 'unknown key')
        break
      case 'invalid_type': {
        if (value === undefined) {
          add(
            path,
            `missing required key (expected ${EXPECTED_TYPE_NAMES[issue.expected] ?? issue.expected})`,
            issue.expected,
            'nothing',
          )
          break
        }
        // With the type beside the value: `expected integer, found number (1.5)`.
        valueProblem(
          customExpected(issue.message) ?? EXPECTED_TYPE_NAMES[issue.expected] ?? issue.expected,
          true,
        )
        break
      }
      case 'invalid_value':
        valueProblem(
          customExpected(issue.message) ?? `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
        )
        break
      case 'invalid_format': {
        const pattern =
          'pattern' in issue && issue.pattern !== undefined ? ` matching ${String(issue.pattern)}` : ''
        valueProblem(
          customExpected(issue.message) ??
            `a ${issue.format === 'regex' ? 'string' : issue.format}${pattern}`,
        )
        break
      }
      case 'too_small':
        valueProblem(customExpected(issue.message) ?? bound(issue, 'min'))
        break
      case 'too_big':
        valueProblem(customExpected(issue.message) ?? bound(issue, 'max'))
        break
      case 'not_multiple_of':
        valueProblem(customExpected(issue.message) ?? `a multiple of ${String(issue.divisor)}`)
        break
      case 'invalid_key': {
        // A record key (a label name, say) that does not fit: the key is what was found.
        const inner = issue.issues[0]
        const expected = (inner && customExpected(inner.message)) ?? 'a valid key'
        const key = path[path.length - 1]
        add(path, `expected ${expected}, found key ${JSON.stringify(String(key))}`, expected, String(key))
        break
      }
      case 'custom': {
        const expected = customExpected(issue.message)
        if (expected !== undefined) valueProblem(expected)
        else add(path, secret ? 'invalid value' : issue.message)
        break
      }
      default:
        add(path, secret ? 'invalid value' : issue.message)
    }
  }
  return out
}

/**
 * Where each key sits in the TOML text, from a line scan: table headers (`[a.b]`, `[[a.b]]`) and
 * `key = ` lines, dotted and quoted keys included. Keys inside inline tables or multi-line arrays are
 * not found; the lookup then falls back to the nearest enclosing key that was.
 */
export class KeyLines {
  private readonly lines = new Map<string, number>()

  constructor(text: string) {
    const arrayCounts = new Map<string, number>()
    let table: string[] = []
    let inMultilineString: '"""' | "'''" | undefined
    text.split(/\r?\n/).forEach((rawLine, index) => {
      const lineNo = index + 1
      if (inMultilineString !== undefined) {
        if (rawLine.includes(inMultilineString)) inMultilineString = undefined
        return
      }
      const line = rawLine.trim()
      if (line === '' || line.startsWith('#')) return
      const arrayHeader = /^\[\[(.+?)\]\]\s*(#.*)?$/.exec(line)
      const header = arrayHeader ?? /^\[(.+?)\]\s*(#.*)?$/.exec(line)
      if (header) {
        const keys = splitDottedKey(header[1] as string)
        if (keys === undefined) return
        if (arrayHeader) {
          const base = keys.join('.')
          const next = arrayCounts.get(base) ?? 0
          arrayCounts.set(base, next + 1)
          this.remember(keys, lineNo)
          table = [...keys, String(next)]
        } else {
          table = keys
        }
        this.remember(table, lineNo)
        return
      }
      const assignment =
        /^((?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'))*)\s*=(.*)$/.exec(
          line,
        )
      if (!assignment) return
      const keys = splitDottedKey(assignment[1] as string)
      if (keys === undefined) return
      this.remember([...table, ...keys], lineNo)
      const rest = assignment[2] as string
      for (const delimiter of ['"""', "'''"] as const) {
        const first = rest.indexOf(delimiter)
        if (first !== -1 && rest.indexOf(delimiter, first + 3) === -1) inMultilineString = delimiter
      }
    })
  }

  private remember(keys: readonly string[], line: number): void {
    const path = keys.join('.')
    if (!this.lines.has(path)) this.lines.set(path, line)
  }

  /** The line of the key at `path`, or of its nearest enclosing key found in the text. */
  lineOf(path: readonly PropertyKey[]): number | undefined {
    for (let length = path.length; length > 0; length--) {
      const line = this.lines.get(joinPath(path.slice(0, length)))
      if (line !== undefined) return line
    }
    return undefined
  }
}

function splitDottedKey(text: string): string[] | undefined {
  const keys: string[] = []
  const part = /\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(\.|$)/y
  let position = 0
  while (position < text.length) {
    part.lastIndex = position
    const match = part.exec(text)
    if (!match) return undefined
    const quoted = match[2]
    keys.push(match[1] ?? (quoted !== undefined ? unescapeBasic(quoted) : (match[3] as string)))
    position = part.lastIndex
    if (match[4] === '') break
  }
  return keys
}

function unescapeBasic(text: string): string {
  try {
    return JSON.parse(`"${text}"`) as string
  } catch {
    return text
  }
}
