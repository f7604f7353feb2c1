import { isPlainObject } from './secrets.js'

/**
 * `${VAR}` and `${VAR:-default}` in string values, as a shell expands them: `:-` uses the default when
 * the variable is unset or empty. `$${` is a literal `${`. Keys are never expanded, nor is the result
 * of an expansion (a value containing `${` stays as it is).
 */

export interface InterpolationProblem {
  path: (string | number)[]
  variable: string
  message: string
}

const REFERENCE = /\$(\$)?\{([^}]*)\}/g
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Expands one string; problems name the variable, never the text around it (it may be a secret). */
export function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  onProblem: (variable: string, message: string) => void,
): string {
  if (!text.includes('${')) return text
  return text.replace(REFERENCE, (whole, escaped: string | undefined, body: string) => {
    if (escaped !== undefined) return whole.slice(1)
    const separator = body.indexOf(':-')
    const name = separator === -1 ? body : body.slice(0, separator)
    const fallback = separator === -1 ? undefined : body.slice(separator + 2)
    if (!VARIABLE_NAME.test(name)) {
      // The text between the braces is not echoed: it may be part of a literal secret.
      onProblem(name, 'invalid variable reference: use ${NAME} or ${NAME:-default}, and $${ for a literal ${')
      return whole
    }
    const value = env[name]
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value
    if (value === undefined) {
      onProblem(
        name,
        `environment variable ${name} is not set (give it a value, or a default with \${${name}:-default})`,
      )
      return whole
    }
    return value
  })
}

/** Expands every string value in a parsed TOML tree, in place; returns the problems found. */
export function interpolateTree(data: unknown, env: NodeJS.ProcessEnv): InterpolationProblem[] {
  const problems: InterpolationProblem[] = []
  const visit = (
    container: Record<string, unknown> | unknown[],
    key: string | number,
    path: (string | number)[],
  ): void => {
    const value = (container as Record<string | number, unknown>)[key]
    if (typeof value === 'string') {
      const expanded = interpolateString(value, env, (variable, message) =>
        problems.push({ path, variable, message }),
      )
      ;(container as Record<string | number, unknown>)[key] = expanded
    } else if (Array.isArray(value)) {
      value.forEach((_, index) => visit(value, index, [...path, index]))
    } else if (isPlainObject(value)) {
      for (const child of Object.keys(value)) visit(value, child, [...path, child])
    }
  }
  if (isPlainObject(data)) for (const key of Object.keys(data)) visit(data, key, [key])
  return problems
}
