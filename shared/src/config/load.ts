import { readFileSync } from 'node:fs'
import { parse as parseToml, TomlError } from 'smol-toml'
import type { z } from 'zod'
import { ConfigError } from '../errors.js'
import { interpolateTree } from './interpolate.js'
import { formatIssue, issuesFromZod, joinPath, KeyLines, type ConfigIssue } from './issues.js'
import { isPlainObject, resolveSecretFiles } from './secrets.js'

/*
 * Loading a component's TOML file:
 *
 *   read file -> parse TOML 1.0 -> ${VAR} interpolation -> overrides -> *_file secrets -> zod schema
 *        |            |                  |                                   |                |
 *        +------------+------------------+-----------------------------------+----------------+
 *                          every problem: one ConfigError naming file, key path, line
 *
 * Problems of a stage are collected, not thrown one by one, so a run shows all of them at once; a
 * stage whose input is broken stops the pipeline before the next stage reports noise about it.
 */

export type { ConfigIssue } from './issues.js'
export { redactSecrets, isSecretKey, REDACTED } from './secrets.js'

export interface LoadConfigOptions {
  /** Variables for `${VAR}` and `${VAR:-default}` in string values. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /**
   * Values set after interpolation and before validation, by dotted key path, for command-line flags:
   * `{ 'log.level': 'debug' }`. They are validated like the file's own values; `undefined` is skipped.
   */
  overrides?: Readonly<Record<string, unknown>>
  /** Reads a `*_file` secret. Default: `fs.readFileSync(path, 'utf8')`, relative to the working directory. */
  readSecretFile?: (path: string) => string
}

/**
 * A config file that cannot be used. The message lists every problem, one a line, as
 * `<file>: <key.path>: expected <what>, found <what> (line N)`; `issues` has them as data.
 * `keyPath`, `expected` and `found` are those of the first problem. Secret values never appear.
 */
export class InvalidConfigError extends ConfigError {
  readonly issues: readonly ConfigIssue[]

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const first = issues[0]
    super(
      issues.map(formatIssue).join('\n'),
      first?.file,
      first?.keyPath ?? '',
      first?.expected,
      first?.found,
    )
    this.issues = issues
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/**
 * Reads, interpolates, resolves and validates a config file. Throws InvalidConfigError (a ConfigError)
 * naming the file for a missing or unreadable file, a TOML syntax error (with line and column), an
 * unset variable, a bad secret file or any schema problem.
 */
export function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
  options: LoadConfigOptions = {},
): z.output<S> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const problem =
      code === 'ENOENT'
        ? 'config file not found'
        : `cannot read config file (${code ?? (error as Error).message})`
    throw new InvalidConfigError([{ file, keyPath: '', problem }], { cause: error })
  }
  return parseConfigText(text, file, schema, options)
}

/** As loadConfigFile, from text already read; `file` is only used to name it in errors. */
export function parseConfigText<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  options: LoadConfigOptions = {},
): z.output<S> {
  let data: Record<string, unknown>
  try {
    data = parseToml(text) as Record<string, unknown>
  } catch (error) {
    if (!(error instanceof TomlError)) throw error
    // Only the first line of the parser's message: the rest is a code excerpt, which may hold a secret.
    const message = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '')
    const problem = `invalid TOML at line ${error.line}, column ${error.column}: ${message}`
    throw new InvalidConfigError([{ file, keyPath: '', line: error.line, problem }], { cause: error })
  }

  const lines = new KeyLines(text)
  const at = (path: readonly PropertyKey[], problem: string): ConfigIssue => {
    const issue: ConfigIssue = { file, keyPath: joinPath(path), problem }
    const line = lines.lineOf(path)
    if (line !== undefined) issue.line = line
    return issue
  }

  const env = options.env ?? process.env
  const interpolationIssues = interpolateTree(data, env).map((p) => at(p.path, p.message))
  if (interpolationIssues.length > 0) throw new InvalidConfigError(sortByLine(interpolationIssues))

  const overridden: string[] = []
  for (const [keyPath, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue
    const problem = setPath(data, keyPath.split('.'), value)
    if (problem !== undefined)
      throw new InvalidConfigError([{ file, keyPath, problem: `${problem} (from overrides)` }])
    overridden.push(keyPath)
  }

  const secretIssues = resolveSecretFiles(data, schema, options.readSecretFile).map((p) =>
    at(p.path, p.message),
  )
  if (secretIssues.length > 0) throw new InvalidConfigError(sortByLine(secretIssues))

  const result = schema.safeParse(data)
  if (result.success) return result.data

  const issues = issuesFromZod(result.error, file, data, lines).map((issue) => {
    const fromOverride = overridden.some(
      (key) => issue.keyPath === key || issue.keyPath.startsWith(`${key}.`),
    )
    if (!fromOverride) return issue
    const { line: _line, ...rest } = issue
    return { ...rest, problem: `${issue.problem} (from overrides)` }
  })
  throw new InvalidConfigError(sortByLine(issues))
}

function setPath(data: Record<string, unknown>, keys: readonly string[], value: unknown): string | undefined {
  let table = data
  for (const key of keys.slice(0, -1)) {
    const next = table[key]
    if (next === undefined) {
      const created: Record<string, unknown> = {}
      table[key] = created
      table = created
    } else if (isPlainObject(next)) {
      table = next
    } else {
      return `cannot set a key inside ${key}, which is not a table`
    }
  }
  table[keys[keys.length - 1] as string] = value
  return undefined
}

/** In file order; problems without a line (defaults, overrides) last, in the order found. */
function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.index - b.index)
    .map(({ issue }) => issue)
}
