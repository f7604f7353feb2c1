import { describe, expect, it } from 'vitest'
import { ConfigError } from '@tidewatch/shared'
import { loadAgentConfig } from './config.js'

describe('loadAgentConfig', () => {
  it('blames agent.id, not agent.hostname, for an id derived from an unusable machine host name', () => {
    let error: unknown
    try {
      loadAgentConfig(undefined, { machineHostname: 'h'.repeat(300) })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).keyPath).toBe('agent.id')
    expect((error as ConfigError).message).toContain("(derived from this machine's host name: set agent.id)")
  })

  it('takes the agent id from the machine host name, made subject-safe, when agent.id is unset', () => {
    expect(loadAgentConfig(undefined, { machineHostname: 'web 1.example' }).agentId).toBe('web_1.example')
  })
})
