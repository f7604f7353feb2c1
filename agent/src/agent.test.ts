import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { agentConfigSchema, createLogger, decodeBatch, limitsFromConfig } from '@tidewatch/shared'
import { Agent, type BuiltBatch } from './agent.js'
import type { Accumulator, Input } from './inputs/types.js'
import { SeqStore } from './seq-store.js'
import { FakeTime } from './testing/index.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const START = Date.UTC(2030, 0, 1)

/** Emits `series` series named test.s<i>, value = round number, at the clock's time. */
class FakeInput implements Input {
  rounds = 0
  /** Clock time at the start of each round. */
  readonly startedAt: number[] = []
  intervalMs: number | undefined
  constructor(
    readonly name: string,
    private readonly time: FakeTime,
    private readonly series = 1,
    private readonly behaviour: (round: number) => Promise<void> | void = () => undefined,
  ) {}
  async init(): Promise<void> {}
  async gather(acc: Accumulator): Promise<void> {
    this.rounds++
    this.startedAt.push(this.time.now())
    await this.behaviour(this.rounds)
    for (let i = 0; i < this.series; i++)
      acc.add(`test.s${i}`, { input: this.name }, this.rounds, this.time.now())
  }
}

describe('Agent (runner)', () => {
  let dir: string
  let time: FakeTime
  let handed: BuiltBatch[]
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-agent-'))
    time = new FakeTime(START)
    handed = []
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  async function makeAgent(inputs: Input[], agentSection: Record<string, unknown> = {}): Promise<Agent> {
    const config = agentConfigSchema.parse({
      agent: { id: 'web-1', data_dir: dir, flush_jitter: '0s', ...agentSection },
      global_labels: { env: 'prod', region: 'us-west' },
    })
    return new Agent({
      config,
      agentId: 'web-1',
      hostname: 'i631',
      subject: 'metrics.in.web-1',
      inputs,
      seq: await SeqStore.open(dir, 'web-1'),
      handler: async (built) => {
        handed.push(...built)
      },
      clock: time,
      timers: time,
      logger,
      random: () => 0.5,
    })
  }

  it('labels every series with host and the global labels, and numbers batches from the seq store', async () => {
    const agent = await makeAgent([new FakeInput('a', time)])
    const built = await agent.runOnce()
    expect(built).toHaveLength(1)
    const [only] = built
    expect(only?.queued).toMatchObject({ id: 'web-1:1', seq: 1, subject: 'metrics.in.web-1', sampleCount: 1 })
    expect(only?.batch.series[0]?.labels).toEqual({
      input: 'a',
      env: 'prod',
      region: 'us-west',
      host: 'i631',
    })
    const decoded = decodeBatch(
      only!.queued.data,
      limitsFromConfig(agentConfigSchema.parse({}).limits),
      START,
    )
    expect(decoded).toMatchObject({ agentId: 'web-1', seq: 1, sampleCount: 1 })
    expect(Array.from(decoded.timestamps)).toEqual([START])
  })

  it('rounds sample timestamps to timestamp_precision, never coarser than the interval', async () => {
    await time.advance(1_400)
    const rounded = await makeAgent([new FakeInput('a', time)])
    expect(Array.from((await rounded.runOnce())[0]!.batch.series[0]!.timestamps)).toEqual([START + 1_000])
    const exact = await makeAgent([new FakeInput('a', time)], { timestamp_precision: '1ms' })
    expect(Array.from((await exact.runOnce())[0]!.batch.series[0]!.timestamps)).toEqual([START + 1_400])
    const fast = await makeAgent([new FakeInput('a', time)], { interval: '100ms' })
    expect(Array.from((await fast.runOnce())[0]!.batch.series[0]!.timestamps)).toEqual([START + 1_400])
  })

  it('splits a collection by batch_max_samples, and a restarted agent never reuses a seq', async () => {
    const agent = await makeAgent([new FakeInput('a', time, 5)], { batch_max_samples: 2 })
    const built = await agent.runOnce()
    expect(built.map((b) => [b.queued.id, b.queued.sampleCount])).toEqual([
      ['web-1:1', 2],
      ['web-1:2', 2],
      ['web-1:3', 1],
    ])
    const restarted = await makeAgent([new FakeInput('a', time, 1)])
    expect((await restarted.runOnce()).map((b) => b.queued.id)).toEqual(['web-1:4'])
  })

  it('gathers every interval and flushes every flush_interval, on the injected clock', async () => {
    const input = new FakeInput('a', time)
    const agent = await makeAgent([input], { interval: '10s', flush_interval: '30s' })
    agent.start()
    await time.advance(0)
    expect(input.rounds).toBe(1)
    await time.advance(29_999)
    expect(input.rounds).toBe(3)
    expect(handed).toHaveLength(0)
    await time.advance(1)
    expect(input.rounds).toBe(4)
    // the seq store's fsync is real I/O: wait for it rather than for fake time
    await vi.waitFor(() => expect(handed).toHaveLength(1), { timeout: 10_000 })
    const series = handed[0]!.batch.series[0]!
    // the flush timer at 30 s fires before that instant's gather: round 4 waits for the next flush
    expect(Array.from(series.timestamps)).toEqual([START, START + 10_000, START + 20_000])
    expect(Array.from(series.values)).toEqual([1, 2, 3])
    await agent.stop()
    expect(handed.map((b) => Array.from(b.batch.series[0]!.values))).toEqual([[1, 2, 3], [4]])
    expect(time.pendingCount).toBe(0)
  })

  it('flushes early once batch_max_samples are buffered', async () => {
    const agent = await makeAgent([new FakeInput('a', time, 3)], {
      batch_max_samples: 5,
      flush_interval: '1h',
    })
    agent.start()
    await time.advance(10_000)
    await vi.waitFor(() => expect(handed.map((b) => b.queued.sampleCount)).toEqual([5, 1]), {
      timeout: 10_000,
    })
    await agent.stop()
  })

  it('skips the round of an input whose previous gather is still running, and keeps the others', async () => {
    let release: () => void = () => undefined
    const slow = new FakeInput('slow', time, 1, (round) =>
      round === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined,
    )
    const fast = new FakeInput('fast', time)
    const agent = await makeAgent([slow, fast], { interval: '10s', flush_interval: '1h' })
    agent.start()
    await time.advance(10_000)
    expect(fast.rounds).toBe(2)
    expect(slow.rounds).toBe(1)
    expect(agent.stats.gatherSkipped).toBe(1)
    release()
    await agent.stop()
  })

  it('runs each input on its own interval, aligned to its boundaries, shorter ones included', async () => {
    await time.advance(1_234) // start off a boundary
    const fast = new FakeInput('fast', time)
    fast.intervalMs = 1_000
    const normal = new FakeInput('normal', time)
    const slow = new FakeInput('slow', time)
    slow.intervalMs = 30_000
    const agent = await makeAgent([fast, normal, slow], { interval: '10s', flush_interval: '1h' })
    agent.start()
    await time.advance(0)
    expect(fast.rounds + normal.rounds + slow.rounds).toBe(0) // first boundary not reached yet
    await time.advance(30_000 - 1_234)
    expect(fast.startedAt).toEqual(Array.from({ length: 29 }, (_, i) => START + 2_000 + i * 1_000))
    expect(normal.startedAt).toEqual([START + 10_000, START + 20_000, START + 30_000])
    expect(slow.startedAt).toEqual([START + 30_000])
    await agent.stop()
    // the fast input's samples keep their second (precision = min(timestamp_precision, its interval))
    const fastSeries = handed.flatMap((b) => b.batch.series).find((series) => series.labels.input === 'fast')!
    expect(Array.from(fastSeries.timestamps)).toEqual(fast.startedAt)
    expect(time.pendingCount).toBe(0)
  })

  it('without round_interval, starts every input now and keeps its period from there', async () => {
    await time.advance(1_234)
    const fast = new FakeInput('fast', time)
    fast.intervalMs = 500
    const normal = new FakeInput('normal', time)
    const agent = await makeAgent([fast, normal], {
      interval: '2s',
      flush_interval: '1h',
      round_interval: false,
      timestamp_precision: '1ms',
    })
    agent.start()
    await time.advance(2_000)
    const t0 = START + 1_234
    expect(fast.startedAt).toEqual([t0, t0 + 500, t0 + 1_000, t0 + 1_500, t0 + 2_000])
    expect(normal.startedAt).toEqual([t0, t0 + 2_000])
    await agent.stop()
  })

  it('a hung input delays no other input and never overlaps itself; it runs again once it ends', async () => {
    let release: () => void = () => undefined
    const hung = new FakeInput('hung', time, 1, (round) =>
      round === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined,
    )
    const fast = new FakeInput('fast', time)
    fast.intervalMs = 1_000
    const agent = await makeAgent([hung, fast], { interval: '10s', flush_interval: '1h' })
    agent.start()
    await time.advance(25_000)
    expect(fast.rounds).toBe(26) // 0 s ... 25 s, every second, while `hung` never returned
    expect(hung.rounds).toBe(1)
    expect(agent.stats.gatherSkipped).toBe(2) // its 10 s and 20 s rounds
    release()
    await time.advance(5_000)
    expect(hung.startedAt).toEqual([START, START + 30_000])
    await agent.stop()
  })

  it('logs and counts a failing input and a non-finite sample; the rest is still sent', async () => {
    const broken = new FakeInput('broken', time, 1, () => {
      throw new Error('boom')
    })
    const nan: Input = {
      name: 'nan',
      init: async () => undefined,
      gather: async (acc) => {
        acc.add('test.nan', {}, Number.NaN, time.now())
        acc.add('test.ok', {}, 1, time.now())
      },
    }
    const agent = await makeAgent([broken, nan])
    const built = await agent.runOnce()
    expect(built.flatMap((b) => b.batch.series.map((s) => s.name))).toEqual(['test.ok'])
    expect(agent.stats).toMatchObject({ gatherErrors: 1, droppedSamples: 1 })
  })

  /** An agent with one input of 20 samples, on its own config and data_dir (no labels, no jitter). */
  async function twentySampleAgent(
    configInput: { agent?: Record<string, unknown>; limits?: Record<string, unknown> },
    maxBatchBytes?: () => number | undefined,
  ): Promise<Agent> {
    const config = agentConfigSchema.parse({
      ...configInput,
      agent: { id: 'web-1', data_dir: dir, ...configInput.agent },
    })
    return new Agent({
      config,
      agentId: 'web-1',
      hostname: 'h',
      subject: 's.web-1',
      inputs: [new FakeInput('a', time, 20)],
      seq: await SeqStore.open(config.agent.data_dir, 'web-1'),
      handler: async (built) => void handed.push(...built),
      clock: time,
      timers: time,
      logger,
      ...(maxBatchBytes !== undefined ? { maxBatchBytes } : {}),
    })
  }

  it('halves a batch that would exceed limits.max_batch_bytes instead of dropping it', async () => {
    const agent = await twentySampleAgent({ limits: { max_batch_bytes: 400 } })
    const built = await agent.runOnce()
    expect(built.length).toBeGreaterThan(1)
    expect(built.every((b) => b.queued.data.byteLength <= 400)).toBe(true)
    expect(built.reduce((n, b) => n + b.queued.sampleCount, 0)).toBe(20)
    expect(built.map((b) => b.queued.seq)).toEqual(built.map((_, i) => i + 1))
  })

  it('counts a flush it cannot number (the seq store cannot be written) as dropped samples', async () => {
    const stateDir = join(dir, 'state-gone')
    const agent = await twentySampleAgent({ agent: { data_dir: stateDir, batch_max_samples: 10 } })
    // The data_dir goes away under the agent (a real write failure, even as root).
    rmSync(stateDir, { recursive: true, force: true })
    expect(await agent.runOnce()).toEqual([])
    expect(handed).toEqual([])
    expect(agent.stats.droppedSamples).toBe(20)
  })

  it("halves a batch that would exceed the output's own bound (the server's max_payload)", async () => {
    const server: { maxBatchBytes?: number } = {}
    const agent = await twentySampleAgent({}, () => server.maxBatchBytes)
    // Not connected yet: only limits.max_batch_bytes (4 MiB) applies.
    expect(await agent.runOnce()).toHaveLength(1)
    server.maxBatchBytes = 400
    const built = await agent.runOnce()
    expect(built.length).toBeGreaterThan(1)
    expect(built.every((b) => b.queued.data.byteLength <= 400)).toBe(true)
    expect(built.reduce((n, b) => n + b.queued.sampleCount, 0)).toBe(20)
  })
})
