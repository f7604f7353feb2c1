import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { agentConfigSchema, parseConfigText } from '@tidewatch/shared'
import { registry } from './index.js'

describe('the input registry', () => {
  it.each(Object.keys(registry))(
    '%s has a README and a sample.toml that loads with the agent schema',
    (name) => {
      const dir = join(import.meta.dirname, name)
      expect(existsSync(join(dir, 'README.md'))).toBe(true)
      const file = join(dir, 'sample.toml')
      const config = parseConfigText(readFileSync(file, 'utf8'), file, agentConfigSchema, {
        env: { REDIS_PASSWORD: 'x', SCRAPE_TOKEN: 'x', SCRAPE_PASSWORD: 'x' },
      })
      expect(Object.keys(config.inputs)).toContain(name)
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(`[inputs.${name}]`)
    },
  )
})
