/**
 * A parser for the Prometheus text exposition format (version 0.0.4), the format `/metrics`
 * endpoints serve: `# HELP` and `# TYPE` lines, samples `name{label="value",...} value [timestamp]`.
 * Like Prometheus, a line that does not parse fails the whole scrape (PromParseError with the line).
 */

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface PromSample {
  name: string
  labels: Record<string, string>
  /** NaN, +Inf and -Inf are kept here; the caller decides (the wire format takes finite values only). */
  value: number
  /** Milliseconds since the epoch, when the line carries one. */
  timestampMs?: number
  /** The family the sample belongs to (`x` for `x_bucket`, `x_sum`, `x_count` of histogram x). */
  family: string
  type: PromType
}

export interface PromFamily {
  type: PromType
  help?: string
}

export interface ParsedExposition {
  samples: PromSample[]
  families: Map<string, PromFamily>
}

export class PromParseError extends Error {
  override readonly name = 'PromParseError'
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`)
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/
const TYPES = new Set<PromType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/** Go's strconv.ParseFloat spellings that Prometheus clients emit; anything else must be a decimal number. */
export function parsePromValue(text: string): number | undefined {
  switch (text.toLowerCase()) {
    case 'nan':
      return Number.NaN
    case '+inf':
    case 'inf':
    case '+infinity':
    case 'infinity':
      return Number.POSITIVE_INFINITY
    case '-inf':
    case '-infinity':
      return Number.NEGATIVE_INFINITY
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'))
}

export function parsePrometheusText(text: string): ParsedExposition {
  const families = new Map<string, PromFamily>()
  const samples: PromSample[] = []
  const typed = new Set<string>()
  const lines = text.split('\n')
  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1
    const line = (lines[index] as string).replace(/\r$/, '')
    const trimmed = line.trim()
    if (trimmed === '') continue
    if (trimmed.startsWith('#')) {
      parseComment(trimmed, families, typed, lineNo)
      continue
    }
    samples.push(parseSample(trimmed, families, lineNo))
  }
  return { samples, families }
}

function parseComment(
  line: string,
  families: Map<string, PromFamily>,
  typed: Set<string>,
  lineNo: number,
): void {
  const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line)
  if (!match) return // any other comment, and OpenMetrics' "# EOF"
  const [, keyword, name, rest = ''] = match as unknown as [string, string, string, string | undefined]
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name))
    throw new PromParseError(`invalid metric name "${name}"`, lineNo)
  const family = families.get(name) ?? { type: 'untyped' as PromType }
  if (keyword === 'HELP') {
    if (family.help !== undefined) throw new PromParseError(`second HELP line for "${name}"`, lineNo)
    family.help = unescapeHelp(rest)
  } else {
    const type = rest.trim().toLowerCase() as PromType
    if (!TYPES.has(type))
      throw new PromParseError(`unknown metric type "${rest.trim()}" for "${name}"`, lineNo)
    if (typed.has(name)) throw new PromParseError(`second TYPE line for "${name}"`, lineNo)
    typed.add(name)
    family.type = type
  }
  families.set(name, family)
}

/** The family a sample name belongs to, given the TYPE lines seen so far. */
function familyOf(name: string, families: Map<string, PromFamily>): [string, PromType] {
  const own = families.get(name)
  if (own !== undefined && own.type !== 'histogram') {
    // a summary's quantile samples carry the family name itself
    if (own.type !== 'summary' || !/_(sum|count)$/.test(name)) return [name, own.type]
  }
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (suffix) {
    const base = suffix[1] as string
    const parent = families.get(base)
    if (parent?.type === 'histogram') return [base, 'histogram']
    if (parent?.type === 'summary' && suffix[2] !== 'bucket') return [base, 'summary']
  }
  return [name, own?.type ?? 'untyped']
}

function parseSample(line: string, families: Map<string, PromFamily>, lineNo: number): PromSample {
  const nameMatch = METRIC_NAME.exec(line)
  if (!nameMatch) throw new PromParseError(`expected a metric name: ${truncate(line)}`, lineNo)
  const name = nameMatch[0]
  let pos = name.length
  const labels: Record<string, string> = {}
  const skipSpace = (): void => {
    while (line[pos] === ' ' || line[pos] === '\t') pos++
  }
  skipSpace()
  if (line[pos] === '{') {
    pos++
    for (;;) {
      skipSpace()
      if (line[pos] === '}') {
        pos++
        break
      }
      const labelMatch = LABEL_NAME.exec(line.slice(pos))
      if (!labelMatch) throw new PromParseError(`expected a label name in ${truncate(line)}`, lineNo)
      const labelName = labelMatch[0]
      pos += labelName.length
      skipSpace()
      if (line[pos] !== '=') throw new PromParseError(`expected "=" after label "${labelName}"`, lineNo)
      pos++
      skipSpace()
      if (line[pos] !== '"')
        throw new PromParseError(`expected a quoted value for label "${labelName}"`, lineNo)
      pos++
      let value = ''
      for (;;) {
        const c = line[pos]
        if (c === undefined) throw new PromParseError(`unterminated value of label "${labelName}"`, lineNo)
        pos++
        if (c === '"') break
        if (c === '\\') {
          const next = line[pos]
          pos++
          if (next === 'n') value += '\n'
          else if (next === '\\' || next === '"') value += next
          else throw new PromParseError(`invalid escape "\\${next ?? ''}" in label "${labelName}"`, lineNo)
        } else {
          value += c
        }
      }
      if (labelName in labels) throw new PromParseError(`duplicate label "${labelName}"`, lineNo)
      labels[labelName] = value
      skipSpace()
      if (line[pos] === ',') {
        pos++
        continue
      }
      if (line[pos] === '}') {
        pos++
        break
      }
      throw new PromParseError(`expected "," or "}" after label "${labelName}"`, lineNo)
    }
  }
  const rest = line
    .slice(pos)
    .trim()
    .split(/[ \t]+/)
  if (rest[0] === undefined || rest[0] === '') throw new PromParseError(`no value for "${name}"`, lineNo)
  if (rest.length > 2) throw new PromParseError(`unexpected text after the value of "${name}"`, lineNo)
  const value = parsePromValue(rest[0])
  if (value === undefined)
    throw new PromParseError(`invalid value "${truncate(rest[0])}" for "${name}"`, lineNo)
  const [family, type] = familyOf(name, families)
  if (type === 'histogram' && name.endsWith('_bucket') && !('le' in labels))
    throw new PromParseError(`histogram bucket "${name}" has no "le" label`, lineNo)
  const sample: PromSample = { name, labels, value, family, type }
  if (rest[1] !== undefined) {
    if (!/^-?\d+$/.test(rest[1])) throw new PromParseError(`invalid timestamp "${truncate(rest[1])}"`, lineNo)
    sample.timestampMs = Number(rest[1])
  }
  return sample
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}
