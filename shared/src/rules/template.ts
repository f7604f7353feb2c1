import type { Labels } from '../series.js'

/**
 * A tiny, safe template language for alert labels and annotations, close to Prometheus's:
 *
 *   {{ $value }}                     the value that crossed (empty for absent-data alerts)
 *   {{ $labels.host }}               a label of the series (or group) behind the alert; "" if missing
 *   {{ $threshold }}  {{ $rule }}    the rule's threshold and name
 *   {{ $silent }}                    absent rules: the silent groups, e.g. `host="a", host="b"`
 *   {{ $value | printf "%.1f" }}     pipes: printf "<fmt>" (%s %d %f %.Nf %g %e %%), humanize,
 *                                    upper, lower, default "<text>"
 *   {{ "literal" }}                  a quoted string
 *
 * No loops, no conditionals, no function calls beyond the list: rendering cannot fail or hang. A
 * template is compiled when its rule file is loaded, so an unknown variable or function is a load
 * error naming the rule and key, never a surprise at 3 a.m.
 */

export type TemplateVariable = 'value' | 'labels' | 'threshold' | 'rule' | 'silent'

export interface TemplateContext {
  value: number | null
  labels: Labels
  threshold?: number | null
  rule?: string
  silent?: string
}

export class TemplateSyntaxError extends Error {
  override readonly name = 'TemplateSyntaxError'
}

type Operand =
  | { kind: 'var'; name: Exclude<TemplateVariable, 'labels'> }
  | { kind: 'label'; name: string }
  | { kind: 'string'; text: string }

type Fn =
  | { kind: 'printf'; format: string }
  | { kind: 'humanize' }
  | { kind: 'upper' }
  | { kind: 'lower' }
  | { kind: 'default'; text: string }

type Part = { kind: 'text'; text: string } | { kind: 'expr'; operand: Operand; fns: Fn[] }

export interface CompiledTemplate {
  readonly source: string
  /** Variables the template reads, so a loader can refuse, e.g., `$value` in a label. */
  readonly variables: ReadonlySet<TemplateVariable>
  render(context: TemplateContext): string
}

const TOKEN =
  /\s*(?:(\|)|"((?:[^"\\]|\\.)*)"|(\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)|([A-Za-z_][A-Za-z0-9_]*)|(\S))/y

interface Token {
  kind: 'pipe' | 'string' | 'var' | 'ident' | 'bad'
  text: string
}

function tokenize(expr: string): Token[] {
  const tokens: Token[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < expr.length) {
    const start = TOKEN.lastIndex
    const m = TOKEN.exec(expr)
    if (!m) {
      if (expr.slice(start).trim() === '') break
      throw new TemplateSyntaxError(`unexpected text ${JSON.stringify(expr.slice(start).trim())}`)
    }
    if (m[1] !== undefined) tokens.push({ kind: 'pipe', text: '|' })
    else if (m[2] !== undefined) {
      let text: string
      try {
        text = JSON.parse(`"${m[2]}"`) as string
      } catch {
        throw new TemplateSyntaxError(`bad escape in string "${m[2]}"`)
      }
      tokens.push({ kind: 'string', text })
    } else if (m[3] !== undefined) tokens.push({ kind: 'var', text: m[3] })
    else if (m[4] !== undefined) tokens.push({ kind: 'ident', text: m[4] })
    else if (m[5] !== undefined) {
      if (m[5] === '"') throw new TemplateSyntaxError('unterminated string')
      throw new TemplateSyntaxError(`unexpected ${JSON.stringify(m[5])}`)
    }
  }
  return tokens
}

const SIMPLE_VARS = new Set(['value', 'threshold', 'rule', 'silent'])
const FUNCTIONS = 'printf, humanize, upper, lower, default'
const PRINTF_VERB = /%(?:%|(-)?(\d+)?(?:\.(\d+))?([sdfge]))/g

function parseOperand(token: Token | undefined): Operand {
  if (token === undefined) throw new TemplateSyntaxError('empty expression {{ }}')
  if (token.kind === 'string') return { kind: 'string', text: token.text }
  if (token.kind !== 'var')
    throw new TemplateSyntaxError(
      `expected a variable such as $value or $labels.host, found ${JSON.stringify(token.text)}`,
    )
  const [head, label] = token.text.slice(1).split('.') as [string, string | undefined]
  if (head === 'labels') {
    if (label === undefined) throw new TemplateSyntaxError('$labels needs a label name: $labels.<name>')
    return { kind: 'label', name: label }
  }
  if (label !== undefined || !SIMPLE_VARS.has(head)) {
    throw new TemplateSyntaxError(
      `unknown variable ${token.text} (known: $value, $labels.<name>, $threshold, $rule, $silent)`,
    )
  }
  return { kind: 'var', name: head as Exclude<TemplateVariable, 'labels'> }
}

function parseFn(tokens: Token[]): Fn {
  const [name, ...args] = tokens
  if (name === undefined) throw new TemplateSyntaxError('empty pipe stage after |')
  if (name.kind !== 'ident')
    throw new TemplateSyntaxError(
      `expected a function name after | (${FUNCTIONS}), found ${JSON.stringify(name.text)}`,
    )
  const oneString = (): string => {
    const arg = args[0]
    if (args.length !== 1 || arg?.kind !== 'string')
      throw new TemplateSyntaxError(`${name.text} takes one quoted string argument`)
    return arg.text
  }
  const none = (): void => {
    if (args.length !== 0) throw new TemplateSyntaxError(`${name.text} takes no arguments`)
  }
  switch (name.text) {
    case 'printf': {
      const format = oneString()
      const stripped = format.replace(PRINTF_VERB, '')
      if (stripped.includes('%'))
        throw new TemplateSyntaxError(
          `printf: unsupported verb in ${JSON.stringify(format)} (use %s %d %f %.Nf %g %e %%)`,
        )
      const verbs = [...format.matchAll(PRINTF_VERB)].filter((m) => m[0] !== '%%').length
      if (verbs !== 1)
        throw new TemplateSyntaxError(
          `printf: ${JSON.stringify(format)} must have exactly one verb, found ${verbs}`,
        )
      return { kind: 'printf', format }
    }
    case 'humanize':
    case 'upper':
    case 'lower':
      none()
      return { kind: name.text }
    case 'default':
      return { kind: 'default', text: oneString() }
    default:
      throw new TemplateSyntaxError(`unknown function ${JSON.stringify(name.text)} (known: ${FUNCTIONS})`)
  }
}

function parseExpr(expr: string): Part {
  const tokens = tokenize(expr)
  const stages: Token[][] = [[]]
  for (const token of tokens) {
    if (token.kind === 'pipe') stages.push([])
    else (stages[stages.length - 1] as Token[]).push(token)
  }
  const [first, ...rest] = stages as [Token[], ...Token[][]]
  if (first.length > 1)
    throw new TemplateSyntaxError(
      `unexpected ${JSON.stringify(first[1]?.text)} after ${first[0]?.text}; use | to apply a function`,
    )
  return { kind: 'expr', operand: parseOperand(first[0]), fns: rest.map(parseFn) }
}

/** Compiles a template; throws TemplateSyntaxError with a message that quotes the bad part. */
export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = []
  const variables = new Set<TemplateVariable>()
  let position = 0
  while (position < source.length) {
    const open = source.indexOf('{{', position)
    const close = source.indexOf('}}', position)
    if (close !== -1 && (open === -1 || close < open))
      throw new TemplateSyntaxError(`"}}" without "{{" at offset ${close}`)
    if (open === -1) {
      parts.push({ kind: 'text', text: source.slice(position) })
      break
    }
    if (open > position) parts.push({ kind: 'text', text: source.slice(position, open) })
    const end = source.indexOf('}}', open + 2)
    if (end === -1) throw new TemplateSyntaxError(`unclosed "{{" at offset ${open}`)
    const inner = source.slice(open + 2, end)
    if (inner.includes('{{')) throw new TemplateSyntaxError(`"{{" inside {{ ... }} at offset ${open}`)
    const part = parseExpr(inner)
    if (part.kind === 'expr' && part.operand.kind === 'label') variables.add('labels')
    else if (part.kind === 'expr' && part.operand.kind === 'var') variables.add(part.operand.name)
    parts.push(part)
    position = end + 2
  }
  // A template without {{ is the common case (a plain label value): render returns it as is.
  if (parts.every((p) => p.kind === 'text')) {
    return { source, variables, render: () => source }
  }
  return {
    source,
    variables,
    render: (context) => {
      let out = ''
      for (const part of parts)
        out += part.kind === 'text' ? part.text : renderExpr(part.operand, part.fns, context)
      return out
    },
  }
}

type Value = string | number | null | undefined

function operandValue(operand: Operand, context: TemplateContext): Value {
  switch (operand.kind) {
    case 'string':
      return operand.text
    case 'label':
      return context.labels[operand.name] ?? ''
    case 'var':
      switch (operand.name) {
        case 'value':
          return context.value
        case 'threshold':
          return context.threshold
        case 'rule':
          return context.rule
        case 'silent':
          return context.silent
      }
  }
}

function renderExpr(operand: Operand, fns: Fn[], context: TemplateContext): string {
  let value = operandValue(operand, context)
  for (const fn of fns) value = applyFn(fn, value)
  return toText(value)
}

function toText(value: Value): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number') return formatNumber(value)
  return value
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value)
  // Up to 6 significant decimals: 90.123457, not 90.12345678901234.
  return String(Number(value.toPrecision(Math.max(7, Math.ceil(Math.log10(Math.abs(value) + 1)) + 6))))
}

function applyFn(fn: Fn, value: Value): Value {
  switch (fn.kind) {
    case 'printf':
      return printf(fn.format, value)
    case 'humanize':
      return typeof value === 'number' ? humanize(value) : toText(value)
    case 'upper':
      return toText(value).toUpperCase()
    case 'lower':
      return toText(value).toLowerCase()
    case 'default': {
      const text = toText(value)
      return text === '' ? fn.text : text
    }
  }
}

function printf(format: string, value: Value): string {
  return format.replace(
    PRINTF_VERB,
    (
      whole,
      left: string | undefined,
      width: string | undefined,
      precision: string | undefined,
      verb: string | undefined,
    ) => {
      if (whole === '%%') return '%'
      const n = typeof value === 'number' ? value : Number(value)
      let text: string
      switch (verb) {
        case 'd':
          text =
            value === null || value === undefined || Number.isNaN(n) ? toText(value) : String(Math.trunc(n))
          break
        case 'f':
          text =
            value === null || value === undefined || Number.isNaN(n)
              ? toText(value)
              : n.toFixed(precision === undefined ? 6 : Number(precision))
          break
        case 'e':
          text =
            value === null || value === undefined || Number.isNaN(n)
              ? toText(value)
              : n.toExponential(precision === undefined ? 6 : Number(precision))
          break
        case 'g':
          text =
            value === null || value === undefined || Number.isNaN(n)
              ? toText(value)
              : String(precision === undefined ? n : Number(n.toPrecision(Math.max(1, Number(precision)))))
          break
        default:
          text = toText(value)
      }
      const pad = width === undefined ? 0 : Number(width)
      return left === '-' ? text.padEnd(pad) : text.padStart(pad)
    },
  )
}

const PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E']

/** 1234567 -> "1.235M", as Prometheus's humanize. */
export function humanize(value: number): string {
  if (!Number.isFinite(value) || value === 0) return String(value)
  let scaled = value
  let index = 0
  while (Math.abs(scaled) >= 1000 && index < PREFIXES.length - 1) {
    scaled /= 1000
    index++
  }
  return `${Number(scaled.toFixed(4))}${PREFIXES[index]}`
}
