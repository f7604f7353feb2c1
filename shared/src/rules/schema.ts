import { z } from 'zod'
import { parseDurationMs } from '../config/schema.js'
import { MatcherSyntaxError, parseMatcher, type LabelMatcher } from './matchers.js'
import {
  compileTemplate,
  TemplateSyntaxError,
  type CompiledTemplate,
  type TemplateVariable,
} from './template.js'

/**
 * The rule-file schema: `[[rule]]` tables, strict (an unknown key is an error), turned into the
 * compiled, tagged `Rule` union the evaluators take. config/rules/README.md documents every key.
 *
 *   kind = "threshold"  a series value, or a windowed aggregate per series, compared to a threshold
 *   kind = "absent"     a group of series (by = ["host"]) that stops reporting for `for`
 *   kind = "query"      SQL against the store, run by the alerter every `interval`
 */

export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!='
export type AggregateFn = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'rate'

export interface FlapPolicy {
  /** Window over which the condition's rises are counted (ms). */
  windowMs: number
  /** This many rises inside the window mark the alert as flapping: it stays firing instead of resolving. */
  threshold: number
}

interface RuleBase {
  name: string
  /** The file the rule came from, for messages. */
  file: string
  /** Extra alert labels (templates over `$labels`; `$value` is not allowed: it would change the alert's identity). */
  labels: Readonly<Record<string, CompiledTemplate>>
  annotations: Readonly<Record<string, CompiledTemplate>>
  /** How long the condition must hold before pending turns firing (ms). 0: fire at once. */
  forMs: number
  /** How long a firing alert stays firing after the condition stops holding (ms). */
  keepFiringForMs: number
  flap: FlapPolicy | undefined
}

export interface ThresholdRule extends RuleBase {
  kind: 'threshold'
  metric: string
  matchers: readonly LabelMatcher[]
  /** Absent: compare each sample's value. */
  aggregate: { fn: AggregateFn; windowMs: number } | undefined
  op: CompareOp
  threshold: number
  /** A series with no sample for this long is forgotten (its alert resolves) (ms). */
  staleAfterMs: number
}

export interface AbsentRule extends RuleBase {
  kind: 'absent'
  metric: string
  matchers: readonly LabelMatcher[]
  /** Labels that name a group (a host); each group seen once is watched. */
  by: readonly string[]
  /** Silence this long: a group's alert fires (`for` in the file) (ms). */
  silentForMs: number
}

export interface QueryRule extends RuleBase {
  kind: 'query'
  sql: string
  intervalMs: number
  valueColumn: string
  /** Columns that become alert labels; undefined: every column but the value column. */
  labelColumns: readonly string[] | undefined
  /** Without op and threshold every returned row is a condition that holds. */
  op: CompareOp | undefined
  threshold: number | undefined
}

export type Rule = ThresholdRule | AbsentRule | QueryRule
export type StreamingRule = ThresholdRule | AbsentRule

export function compare(op: CompareOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold
    case '>=':
      return value >= threshold
    case '<':
      return value < threshold
    case '<=':
      return value <= threshold
    case '==':
      return value === threshold
    case '!=':
      return value !== threshold
  }
}

// ---- zod building blocks -------------------------------------------------------------------------

const DURATION_EXPECTED = 'expected a duration such as "10s", "500ms" or "5m"'

const durationMs = z.string({ error: DURATION_EXPECTED }).transform((text, ctx) => {
  const ms = parseDurationMs(text)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED })
    return z.NEVER
  }
  return ms
})

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const labelName = z.string().regex(LABEL_NAME, 'expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)')

const ruleName = z
  .string({ error: 'expected a rule name (string)' })
  .regex(/^[A-Za-z_][A-Za-z0-9_:-]*$/, 'expected a rule name ([A-Za-z_][A-Za-z0-9_:-]*)')

const metricName = z
  .string()
  .regex(/^[A-Za-z_:][A-Za-z0-9_.:-]*$/, 'expected a metric name such as "cpu.usage_percent"')

const matcher = z
  .string({ error: 'expected a matcher such as region="us-west"' })
  .transform((text, ctx): LabelMatcher => {
    try {
      return parseMatcher(text)
    } catch (error) {
      if (!(error instanceof MatcherSyntaxError)) throw error
      ctx.addIssue({ code: 'custom', message: error.message })
      return z.NEVER
    }
  })

const template = (allowed: readonly TemplateVariable[]) =>
  z.string({ error: 'expected a template string' }).transform((text, ctx): CompiledTemplate => {
    let compiled: CompiledTemplate
    try {
      compiled = compileTemplate(text)
    } catch (error) {
      if (!(error instanceof TemplateSyntaxError)) throw error
      ctx.addIssue({ code: 'custom', message: `invalid template ${JSON.stringify(text)}: ${error.message}` })
      return z.NEVER
    }
    const refused = [...compiled.variables].filter((v) => !allowed.includes(v))
    if (refused.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid template ${JSON.stringify(text)}: $${refused[0]} cannot be used here (allowed: ${allowed.map((v) => (v === 'labels' ? '$labels.<name>' : `$${v}`)).join(', ')})`,
      })
      return z.NEVER
    }
    return compiled
  })

const compareOp = z.enum(['>', '>=', '<', '<=', '==', '!='])
const aggregateFn = z.enum(['avg', 'min', 'max', 'sum', 'count', 'rate'])

/** Keys every kind has. `labels` may not use $value (identity); annotations may use all their kind allows. */
const commonKeys = (annotationVars: readonly TemplateVariable[]) => ({
  name: ruleName,
  labels: z.record(labelName, template(['labels', 'rule'])).default({}),
  annotations: z.record(labelName, template(annotationVars)).default({}),
  keep_firing_for: durationMs.default(0),
  flap_window: durationMs.optional(),
  flap_threshold: z.number().int().min(2).optional(),
})

const thresholdRule = z
  .strictObject({
    kind: z.literal('threshold'),
    ...commonKeys(['value', 'labels', 'threshold', 'rule']),
    metric: metricName,
    match: z.array(matcher).default([]),
    aggregate: aggregateFn.optional(),
    window: durationMs.optional(),
    op: compareOp,
    threshold: z.number({ error: 'expected a number' }),
    for: durationMs.default(0),
    stale_after: durationMs.default(5 * 60_000),
  })
  .superRefine((rule, ctx) => {
    if (rule.aggregate !== undefined && rule.window === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message: `aggregate = "${rule.aggregate}" needs a window (e.g. window = "5m")`,
      })
    }
    if (rule.window !== undefined && rule.aggregate === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregate'],
        message: 'window is set but aggregate is not (one of avg, min, max, sum, count, rate)',
      })
    }
    if (rule.window !== undefined && rule.window <= 0)
      ctx.addIssue({ code: 'custom', path: ['window'], message: 'window must be longer than 0s' })
    flapCheck(rule, ctx)
  })

const absentRule = z
  .strictObject({
    kind: z.literal('absent'),
    ...commonKeys(['labels', 'rule', 'silent']),
    metric: metricName,
    match: z.array(matcher).default([]),
    by: z.array(labelName).default(['host']),
    for: durationMs,
  })
  .superRefine((rule, ctx) => {
    if (rule.for <= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['for'],
        message: 'an absent rule needs for > 0s: how long a group may be silent',
      })
    flapCheck(rule, ctx)
  })

const queryRule = z
  .strictObject({
    kind: z.literal('query'),
    ...commonKeys(['value', 'labels', 'threshold', 'rule']),
    sql: z.string().min(1),
    interval: durationMs.default(60_000),
    value_column: z.string().min(1).default('value'),
    label_columns: z.array(z.string().min(1)).optional(),
    op: compareOp.optional(),
    threshold: z.number().optional(),
    for: durationMs.default(0),
  })
  .superRefine((rule, ctx) => {
    if ((rule.op === undefined) !== (rule.threshold === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [rule.op === undefined ? 'op' : 'threshold'],
        message: 'op and threshold go together: give both, or neither (every returned row fires)',
      })
    }
    if (rule.interval < 1000)
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'interval must be at least 1s' })
    if (rule.label_columns?.includes(rule.value_column)) {
      ctx.addIssue({
        code: 'custom',
        path: ['label_columns'],
        message: `label_columns must not include the value column "${rule.value_column}"`,
      })
    }
    flapCheck(rule, ctx)
  })

function flapCheck(
  rule: { flap_window?: number | undefined; flap_threshold?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((rule.flap_window === undefined) !== (rule.flap_threshold === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [rule.flap_window === undefined ? 'flap_window' : 'flap_threshold'],
      message: 'flap_window and flap_threshold go together: give both, or neither',
    })
  }
}

const KINDS = ['threshold', 'absent', 'query'] as const

/**
 * One `[[rule]]` table. `kind` is checked first so a wrong kind gives one clear message instead of
 * three variants' worth of noise.
 */
export const ruleSchema = z
  .looseObject({ kind: z.enum(KINDS, { error: 'expected kind = "threshold", "absent" or "query"' }) })
  .pipe(z.discriminatedUnion('kind', [thresholdRule, absentRule, queryRule]))

export const ruleFileSchema = z.strictObject({
  rule: z.array(ruleSchema).default([]),
})

export type RawRule =
  z.output<typeof thresholdRule> | z.output<typeof absentRule> | z.output<typeof queryRule>

function flapOf(raw: {
  flap_window?: number | undefined
  flap_threshold?: number | undefined
}): FlapPolicy | undefined {
  return raw.flap_window !== undefined && raw.flap_threshold !== undefined
    ? { windowMs: raw.flap_window, threshold: raw.flap_threshold }
    : undefined
}

/** The compiled rule of a validated table. */
export function toRule(raw: RawRule, file: string): Rule {
  const base = {
    name: raw.name,
    file,
    labels: raw.labels,
    annotations: raw.annotations,
    keepFiringForMs: raw.keep_firing_for,
    flap: flapOf(raw),
  }
  switch (raw.kind) {
    case 'threshold':
      return {
        ...base,
        kind: 'threshold',
        forMs: raw.for,
        metric: raw.metric,
        matchers: raw.match,
        aggregate:
          raw.aggregate !== undefined && raw.window !== undefined
            ? { fn: raw.aggregate, windowMs: raw.window }
            : undefined,
        op: raw.op,
        threshold: raw.threshold,
        staleAfterMs: Math.max(raw.stale_after, raw.window ?? 0),
      }
    case 'absent':
      return {
        ...base,
        kind: 'absent',
        forMs: 0,
        metric: raw.metric,
        matchers: raw.match,
        by: raw.by,
        silentForMs: raw.for,
      }
    case 'query':
      return {
        ...base,
        kind: 'query',
        forMs: raw.for,
        sql: raw.sql,
        intervalMs: raw.interval,
        valueColumn: raw.value_column,
        labelColumns: raw.label_columns,
        op: raw.op,
        threshold: raw.threshold,
      }
  }
}
