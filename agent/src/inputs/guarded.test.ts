import { describe, expect, it } from 'vitest'
import { agentConfigSchema } from '@tidewatch/shared'
import { buildInputs, GuardedInput, InputStillRunningError, InputTimeoutError } from './index.js'
import { recorder, testDeps } from './testing.js'
import type { Input } from './types.js'

describe('GuardedInput: interval, timeout, isolation', () => {
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

  it('runs every round it is asked for (the runner schedules it) and exposes its interval', async () => {
    let runs = 0
    const input: Input = { name: 'every', init: async () => undefined, gather: async () => void runs++ }
    const guarded = new GuardedInput(input, { intervalMs: 30_000, timeoutMs: 1_000, logger: testDeps.logger })
    for (let i = 0; i < 3; i++) await guarded.gather(recorder().acc)
    expect(runs).toBe(3)
    expect(guarded.intervalMs).toBe(30_000)
    expect(guarded.stats.gathers).toBe(3)
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
    expect(inputs.find((i) => i.name === 'disk')?.intervalMs).toBe(60_000)
    expect(config.inputs.cpu.interval).toBeUndefined()
  })
})
