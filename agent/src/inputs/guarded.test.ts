import { describe, expect, it } from 'vitest'
import { agentConfigSchema } from '@tidewatch/shared'
import { buildInputs, GuardedInput, InputStillRunningError, InputTimeoutError } from './index.js'
import { recorder, testDeps } from './testing.js'
import type { Input } from './types.js'

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000
  return { now: () => t, advance: (ms) => (t += ms) }
}

describe('GuardedInput: interval override, timeout, isolation', () => {
  it('abandons a hung gather at its timeout, aborts its signal, drops its late samples, refuses to overlap', async () => {
    let signal: AbortSignal | undefined
    let release!: () => void
    let add!: () => void
    const hung: Input = {
      name: 'hung',
      init: async () => undefined,
      gather: (acc, s) => {
        signal = s
        add = () => acc.add('late', {}, 1, 0)
        return new Promise<void>((resolve) => (release = resolve))
      },
    }
    const guarded = new GuardedInput(hung, { intervalMs: undefined, timeoutMs: 50, ...testDeps })
    const { acc, samples } = recorder()
    const started = Date.now()
    await expect(guarded.gather(acc)).rejects.toBeInstanceOf(InputTimeoutError)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(signal?.aborted).toBe(true)
    add()
    expect(samples).toEqual([])
    expect(guarded.stats).toMatchObject({ gathers: 1, failures: 1, timeouts: 1, lateSamples: 1 })
    // the abandoned round still runs: the next one is refused, not stacked on top of it
    await expect(guarded.gather(acc)).rejects.toBeInstanceOf(InputStillRunningError)
    release()
    await new Promise((resolve) => setTimeout(resolve, 0))
    const ok: Input = { name: 'ok', init: async () => undefined, gather: async (a) => a.add('x', {}, 1, 0) }
    const fine = new GuardedInput(ok, { intervalMs: undefined, timeoutMs: 50, ...testDeps })
    await fine.gather(acc)
    expect(samples.map((s) => s.name)).toEqual(['x'])
  })

  it('runs an input with a longer interval only when it is due', async () => {
    const clock = fakeClock()
    let runs = 0
    const input: Input = { name: 'slow', init: async () => undefined, gather: async () => void runs++ }
    const guarded = new GuardedInput(input, {
      intervalMs: 30_000,
      timeoutMs: 1_000,
      clock,
      logger: testDeps.logger,
    })
    const { acc } = recorder()
    for (let tick = 0; tick < 7; tick++) {
      await guarded.gather(acc)
      clock.advance(10_000 + (tick % 2 === 0 ? 3 : -3)) // timer jitter either way
    }
    expect(runs).toBe(3) // ticks 0, 3 and 6 of a 10 s agent interval
    expect(guarded.stats.notDue).toBe(4)
  })

  it('counts a throw as a failure and passes it on for the runner to log', async () => {
    const input: Input = {
      name: 'bad',
      init: async () => undefined,
      gather: async () => {
        throw new Error('boom')
      },
    }
    const guarded = new GuardedInput(input, { intervalMs: undefined, timeoutMs: 1_000, ...testDeps })
    await expect(guarded.gather(recorder().acc)).rejects.toThrow('boom')
    expect(guarded.stats.failures).toBe(1)
  })

  it('builds the default inputs, each guarded with its own timeout', () => {
    const config = agentConfigSchema.parse({ inputs: { disk: { timeout: '2s', interval: '1m' } } })
    const inputs = buildInputs(config.inputs, testDeps) as GuardedInput[]
    expect(inputs.map((i) => i.name)).toEqual(['cpu', 'memory', 'disk', 'net', 'system'])
    expect(inputs.every((i) => i instanceof GuardedInput)).toBe(true)
    expect(config.inputs.disk).toMatchObject({ timeout: 2_000, interval: 60_000 })
    expect(config.inputs.cpu.interval).toBeUndefined()
  })
})
