import { z } from 'zod'
import { parseDurationMs } from '../config/schema.js'

/**
 * The rule-test file (modelled on `promtool test rules`):
 *
 *   rule_files = ["host.toml"]            # relative to the test file
 *   [[test]]
 *   name = "cpu high fires after for"
 *   interval = "1m"                       # time between two values of an input series
 *   [[test.input]]
 *   series = 'cpu.usage_percent{host="web-1",env="prod"}'
 *   values = "50 95x10 _ 20"              # a+bxn, a-bxn, axn (n+1 values), _ (no sample), _xn
 *   [[test.alert]]
 *   eval_time = "10m"
 *   rule = "host_cpu_high"
 *   [[test.alert.expected]]               # none: no alert of this rule may be firing
 *   labels = { host = "web-1", env = "prod", severity = "page" }
 *   annotations = { summary = "..." }     # optional; compared exactly when given
 */
const DURATION = 'expected a duration such as "1m", "10s" or "0s"'
const durationMs = z.string({ error: DURATION }).transform((text, ctx) => {
  const ms = parseDurationMs(text)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DURATION })
    return z.NEVER
  }
  return ms
})

export const ruleTestFileSchema = z.strictObject({
  rule_files: z.array(z.string().min(1)).min(1),
  test: z
    .array(
      z.strictObject({
        name: z.string().min(1).optional(),
        interval: durationMs.default(60_000),
        input: z.array(z.strictObject({ series: z.string().min(1), values: z.string() })).default([]),
        alert: z
          .array(
            z.strictObject({
              eval_time: durationMs,
              rule: z.string().min(1),
              expected: z
                .array(
                  z.strictObject({
                    labels: z.record(z.string(), z.string()).default({}),
                    annotations: z.record(z.string(), z.string()).optional(),
                  }),
                )
                .default([]),
            }),
          )
          .default([]),
      }),
    )
    .min(1),
})

export type RuleTestFile = z.output<typeof ruleTestFileSchema>

/** Parses `name{a="b",c="d"}`; throws with a message naming the problem. */
export function parseSeries(text: string): { name: string; labels: Record<string, string> } {
  const match = /^\s*([A-Za-z_:][A-Za-z0-9_.:-]*)\s*(?:\{(.*)\})?\s*$/.exec(text)
  if (!match) throw new Error(`invalid series ${JSON.stringify(text)}: expected name{label="value",...}`)
  const labels: Record<string, string> = {}
  const body = (match[2] ?? '').trim()
  if (body !== '') {
    const pair = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y
    let position = 0
    while (position < body.length) {
      pair.lastIndex = position
      const m = pair.exec(body)
      if (!m)
        throw new Error(
          `invalid series ${JSON.stringify(text)}: bad label at ${JSON.stringify(body.slice(position))}`,
        )
      labels[m[1] as string] = JSON.parse(`"${m[2] as string}"`) as string
      position = pair.lastIndex
      if (m[3] === '') break
    }
  }
  return { name: match[1] as string, labels }
}

/** Expands promtool's value notation; `null` is "no sample at this step". */
export function expandValues(text: string): (number | null)[] {
  const out: (number | null)[] = []
  for (const token of text.trim().split(/\s+/)) {
    if (token === '') continue
    let m: RegExpExecArray | null
    if (token === '_') out.push(null)
    else if ((m = /^_x(\d+)$/.exec(token))) for (let i = 0; i < Number(m[1]); i++) out.push(null)
    else if ((m = /^(-?[\d.e+]+?)([+-][\d.e]+)?x(\d+)$/.exec(token))) {
      const start = Number(m[1])
      const step = m[2] === undefined ? 0 : Number(m[2])
      if (!Number.isFinite(start) || !Number.isFinite(step))
        throw new Error(`invalid value ${JSON.stringify(token)}`)
      for (let i = 0; i <= Number(m[3]); i++) out.push(start + step * i)
    } else {
      const n = Number(token)
      if (!Number.isFinite(n))
        throw new Error(
          `invalid value ${JSON.stringify(token)}: expected a number, _, a+bxn, a-bxn, axn or _xn`,
        )
      out.push(n)
    }
  }
  return out
}
