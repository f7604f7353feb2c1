import { describe, expect, it } from 'vitest'
import { checkAgentId } from '../wire/checks.js'
import { metricsSubject, partitionOf, selfAgentId } from './self-ingest.js'

describe('self-ingest naming', () => {
  it('makes an agent id the wire accepts, one subject token', () => {
    for (const id of ['aggregator-1', 'agg.eu west/2', 'é']) {
      const agentId = selfAgentId('aggregator', id)
      expect(() => checkAgentId(agentId)).not.toThrow()
      expect(agentId).not.toContain('.')
    }
    expect(selfAgentId('alerter', 'a.b c')).toBe('tidewatch-alerter-a_b_c')
  })

  it('partitions as the agent does (FNV-1a mod P, agent/src/outputs/nats/publisher.ts)', () => {
    // Values of the agent's partitionOf for the same ids.
    expect([...'abcdefgh'].map((c) => partitionOf(`host-${c}`, 8))).toEqual(AGENT_VALUES)
    expect(metricsSubject('metrics.in', 'x', 1)).toBe('metrics.in.x')
    expect(metricsSubject('metrics.in', 'host-a', 8)).toBe(`metrics.in.${AGENT_VALUES[0]}.host-a`)
  })
})

const AGENT_VALUES = [5, 4, 7, 6, 1, 0, 3, 2]
