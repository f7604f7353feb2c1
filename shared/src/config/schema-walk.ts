import type { z } from 'zod'

/**
 * Walking a zod 4 schema by key path, through its definitions (`schema._zod.def`, the documented
 * surface for tools built on zod). Used to decide which `*_file` keys are secrets, and by tests that
 * hold the example files to the schema.
 */

/** The parts of zod 4's definitions (`schema._zod.def`) needed to walk a schema down a key path. */
interface WalkableDef {
  type: string
  shape?: Record<string, z.ZodType>
  innerType?: z.ZodType
  in?: z.ZodType
  out?: z.ZodType
  valueType?: z.ZodType
  element?: z.ZodType
  getter?: () => z.ZodType
}

function defOf(schema: z.ZodType): WalkableDef {
  return schema._zod.def as unknown as WalkableDef
}

/** The object shape reached from `schema` by `path`, looking through defaults, optionals and pipes. */
export function shapeAt(
  schema: z.ZodType | undefined,
  path: readonly (string | number)[],
): Record<string, z.ZodType> | undefined {
  let current = schema
  let index = 0
  for (let guard = 0; current !== undefined && guard < 1000; guard++) {
    const def = defOf(current)
    switch (def.type) {
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
        current = def.innerType
        break
      case 'pipe': {
        // A transform's input side carries the shape; a pipe into an object carries it on the way out.
        const input = def.in
        current = input !== undefined && defOf(input).type !== 'transform' ? input : def.out
        break
      }
      case 'lazy':
        current = def.getter?.()
        break
      case 'object': {
        if (index === path.length) return def.shape
        current = def.shape?.[String(path[index])]
        index++
        break
      }
      case 'record':
        if (index === path.length) return undefined
        current = def.valueType
        index++
        break
      case 'array':
        if (index === path.length) return undefined
        current = def.element
        index++
        break
      default:
        return undefined
    }
  }
  return undefined
}

/** Whether the object the schema expects at `path` declares `key`. */
export function schemaHasKey(schema: z.ZodType, path: readonly (string | number)[], key: string): boolean {
  const shape = shapeAt(schema, path)
  return shape !== undefined && Object.hasOwn(shape, key)
}

/** Every key path the schema declares, tables included (`nats`, `nats.servers`, ...); records are leaves. */
export function schemaKeyPaths(schema: z.ZodType): string[] {
  const out: string[] = []
  const visit = (path: string[]): void => {
    const shape = shapeAt(schema, path)
    if (shape === undefined) return
    for (const key of Object.keys(shape)) {
      out.push([...path, key].join('.'))
      visit([...path, key])
    }
  }
  visit([])
  return out
}
