import {
  batchId,
  encodeBatch,
  limitsFromConfig,
  validateBatch,
  WireError,
  type AgentConfig,
  type Clock,
  type Labels,
  type Logger,
  type MetricBatch,
  type SeriesSamples,
  type WireLimits,
} from '@tidewatch/shared'
import { SampleBuffer } from './batcher.js'
import type { Accumulator, Input } from './inputs/types.js'
import type { SeqStore } from './seq-store.js'
import type { QueuedBatch } from './spool/types.js'
import type { Timers } from './timers.js'

/*
 * The runner. Inputs only gather; everything else happens here, once, for every input:
 *
 *   each input on its own  inputs[i].gather(acc) --(+host, +global labels)--> SampleBuffer
 *   interval (aligned):
 *   every flush_interval   SampleBuffer.drain --> chunks (batch_max_samples, max_series_per_batch)
 *   (or buffer full):        --> seq (persisted first) --> MetricBatch --> validate --> encode
 *                            --> BatchHandler (RetryingDelivery -> NatsPublisher, or the dry-run printer)
 */

/** A batch as built: the readable form and what goes on the wire. */
export interface BuiltBatch {
  batch: MetricBatch
  queued: QueuedBatch
}

/** Where built batches go; the handler owns them from then on (queueing, retry, printing). */
export type BatchHandler = (batches: BuiltBatch[]) => Promise<void>

export interface AgentStats {
  gatherRounds: number
  gatherErrors: number
  /** Failed gathers by input name. */
  inputErrors: Record<string, number>
  /** Samples the inputs handed over (before batching), the agent's own included. */
  samplesCollected: number
  /** How long the last round took, ms: the inputs due at one instant, run concurrently. */
  lastCollectionMs: number
  /** Rounds of an input skipped because its previous gather was still running. */
  gatherSkipped: number
  /** Rounds of an input not started on time because the process was busy past its next boundary too. */
  gatherMissed: number
  /** Samples refused before batching (non-finite values) or in a batch that failed validation. */
  droppedSamples: number
  batchesBuilt: number
}

export interface AgentOptions {
  config: AgentConfig
  agentId: string
  /** The `host` label of every series. */
  hostname: string
  /** `<output.subject_prefix>.<agent id>` */
  subject: string
  inputs: Input[]
  seq: SeqStore
  handler: BatchHandler
  clock: Clock
  timers: Timers
  logger: Logger
  /** [0, 1); picks the flush jitter. Default Math.random. */
  random?: () => number
  /**
   * The output's own bound on one batch's bytes, asked at every build (NATS: the server's
   * max_payload less the headers, known once connected); batches are split to fit it as they are
   * to fit limits.max_batch_bytes.
   */
  maxBatchBytes?: () => number | undefined
}

export class Agent {
  readonly stats: AgentStats = {
    gatherRounds: 0,
    gatherErrors: 0,
    inputErrors: {},
    samplesCollected: 0,
    lastCollectionMs: 0,
    gatherSkipped: 0,
    gatherMissed: 0,
    droppedSamples: 0,
    batchesBuilt: 0,
  }
  private readonly buffer = new SampleBuffer()
  private readonly limits: WireLimits
  private readonly commonLabels: Labels
  private readonly log: Logger
  private readonly random: () => number
  private readonly busy = new Set<Input>()
  private cancelGatherTimer: (() => void) | undefined
  private cancelFlushTimer: (() => void) | undefined
  private running = false
  private schedule: Scheduled[] = []
  private readonly gathering = new Set<Promise<void>>()
  private flushing: Promise<unknown> = Promise.resolve()

  constructor(private readonly options: AgentOptions) {
    this.limits = limitsFromConfig(options.config.limits)
    // `host` comes last so global labels cannot override it (config loading also rejects global_labels.host).
    this.commonLabels = { ...options.config.global_labels, host: options.hostname }
    this.log = options.logger.child({ component: 'agent', agent_id: options.agentId })
    this.random = options.random ?? Math.random
  }

  /** Initializes every input; the first that cannot run stops the agent (its error names the input). */
  async init(): Promise<void> {
    for (const input of this.options.inputs) {
      try {
        await input.init()
      } catch (error) {
        throw new Error(
          `input "${input.name}" cannot start: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        )
      }
    }
  }

  /** One collection, built into batches and handed over (for --once). */
  async runOnce(): Promise<BuiltBatch[]> {
    await this.gather()
    return this.flush()
  }

  /**
   * Runs every input on its own schedule: every `intervalMs` of the input (default `agent.interval`),
   * on the multiples of that interval since the epoch when `agent.round_interval` is on (a 10 s input
   * at :00, :10, :20..., whatever the start time), else from now. Flushes every
   * `agent.flush_interval` plus jitter.
   */
  start(): void {
    if (this.running) return
    this.running = true
    const now = this.options.clock.now()
    const { interval, round_interval } = this.options.config.agent
    this.schedule = this.options.inputs.map((input) => {
      const intervalMs = input.intervalMs ?? interval
      return { input, intervalMs, nextAtMs: round_interval ? Math.ceil(now / intervalMs) * intervalMs : now }
    })
    this.armGatherTimer()
    this.scheduleFlush()
  }

  /** Stops the timers, waits for the running gathers (each bounded by its input's timeout), then flushes. */
  async stop(): Promise<void> {
    this.running = false
    this.cancelGatherTimer?.()
    this.cancelFlushTimer?.()
    await Promise.all([...this.gathering])
    await this.flush()
  }

  /** Runs every input once, concurrently; a failing input is logged and counted, the others still report. */
  gather(): Promise<void> {
    return this.gatherRound(this.options.inputs)
  }

  /** One round of `inputs`, concurrently: counted, and timed into lastCollectionMs. */
  private async gatherRound(inputs: readonly Input[]): Promise<void> {
    this.stats.gatherRounds++
    const startedMs = performance.now()
    await Promise.all(inputs.map((input) => this.gatherInput(input)))
    this.stats.lastCollectionMs = performance.now() - startedMs
  }

  /** Cuts everything buffered into batches, numbers, validates and encodes them, and hands them over. */
  flush(): Promise<BuiltBatch[]> {
    // Serialized: a batch's seq is the store's next number at the moment it is encoded.
    const run = this.flushing.then(() => this.buildAndHandOver())
    this.flushing = run.catch(() => undefined)
    return run
  }

  private async buildAndHandOver(): Promise<BuiltBatch[]> {
    const chunks = this.buffer.drain({
      maxSamples: Math.min(this.options.config.agent.batch_max_samples, this.limits.maxSamplesPerBatch),
      maxSeries: this.limits.maxSeriesPerBatch,
    })
    const built: BuiltBatch[] = []
    while (chunks.length > 0) {
      const series = chunks.shift() as SeriesSamples[]
      let result: Awaited<ReturnType<Agent['build']>>
      try {
        result = await this.build(series)
      } catch (error) {
        // The seq store cannot be written (disk full, read-only data_dir): no batch can be numbered.
        // What is built goes on; the rest is lost, and counted as dropped.
        this.dropSamples([series, ...chunks.splice(0)].flat(), error, 'the batch cannot be numbered')
        break
      }
      if (result === 'too_large') {
        const halves = splitInHalf(series)
        if (halves !== undefined) {
          chunks.unshift(...halves)
          continue
        }
        this.dropChunk(
          series,
          new WireError(
            'batch_too_large',
            `one sample does not fit ${this.batchBytesLimit()} bytes (limits.max_batch_bytes, or the server's max_payload)`,
          ),
        )
      } else if (result instanceof WireError) {
        this.dropChunk(series, result)
      } else {
        built.push(result)
      }
    }
    if (built.length > 0) await this.options.handler(built)
    return built
  }

  private async build(series: SeriesSamples[]): Promise<BuiltBatch | WireError | 'too_large'> {
    const nowMs = this.options.clock.now()
    // The seq is fixed-width in the header, so the size measured with the next number is final.
    const batch: MetricBatch = {
      agentId: this.options.agentId,
      seq: this.options.seq.peek(),
      createdMs: Math.floor(nowMs),
      series,
    }
    let data: Uint8Array
    try {
      validateBatch(batch, this.limits, nowMs)
      data = encodeBatch(batch)
    } catch (error) {
      if (error instanceof WireError) return error
      throw error
    }
    if (data.byteLength > this.batchBytesLimit()) return 'too_large'
    const seq = await this.options.seq.next()
    if (seq !== batch.seq) throw new Error(`seq store handed out ${seq}, expected ${batch.seq}`)
    const id = batchId(batch.agentId, seq)
    const sampleCount = series.reduce((sum, s) => sum + s.values.length, 0)
    this.stats.batchesBuilt++
    this.log.debug(
      { batch_id: id, series: series.length, samples: sampleCount, bytes: data.byteLength },
      'batch built',
    )
    return { batch, queued: { id, seq, subject: this.options.subject, data, sampleCount } }
  }

  private batchBytesLimit(): number {
    return Math.min(this.limits.maxBatchBytes, this.options.maxBatchBytes?.() ?? Infinity)
  }

  private dropChunk(series: SeriesSamples[], error: WireError): void {
    this.dropSamples(series, error, 'the batch would be rejected')
  }

  private dropSamples(series: SeriesSamples[], error: unknown, why: string): void {
    const samples = series.reduce((sum, s) => sum + s.values.length, 0)
    this.stats.droppedSamples += samples
    this.log.error(
      {
        err: error,
        ...(error instanceof WireError ? { reason: error.reason } : {}),
        samples,
        dropped_samples_total: this.stats.droppedSamples,
      },
      `samples dropped: ${why}`,
    )
  }

  private async gatherInput(input: Input): Promise<void> {
    if (this.busy.has(input)) {
      this.stats.gatherSkipped++
      this.log.warn({ input: input.name }, 'previous gather still running; skipping this round')
      return
    }
    this.busy.add(input)
    try {
      await input.gather(this.accumulatorFor(input))
    } catch (error) {
      this.stats.gatherErrors++
      this.stats.inputErrors[input.name] = (this.stats.inputErrors[input.name] ?? 0) + 1
      this.log.error(
        { err: error, input: input.name, gather_errors_total: this.stats.gatherErrors },
        'gather failed; this round of the input is lost',
      )
    } finally {
      this.busy.delete(input)
    }
  }

  private accumulatorFor(input: Input): Accumulator {
    return {
      add: (name, labels, value, timestampMs) => {
        if (!Number.isFinite(value)) {
          this.stats.droppedSamples++
          this.log.warn(
            { input: input.name, metric: name, value: String(value) },
            'non-finite sample dropped',
          )
          return
        }
        this.stats.samplesCollected++
        // Never coarser than the input's interval, or two rounds would share a timestamp.
        const precision = Math.min(
          this.options.config.agent.timestamp_precision,
          input.intervalMs ?? this.options.config.agent.interval,
        )
        this.buffer.add(
          name,
          { ...labels, ...this.commonLabels },
          value,
          Math.round(timestampMs / precision) * precision,
        )
      },
    }
  }

  /** One timer for all inputs, set to the earliest next boundary. */
  private armGatherTimer(): void {
    if (!this.running || this.schedule.length === 0) return
    const next = Math.min(...this.schedule.map((s) => s.nextAtMs))
    this.cancelGatherTimer = this.options.timers.setTimeout(
      () => this.onGatherTimer(),
      next - this.options.clock.now(),
    )
  }

  /**
   * Starts the inputs whose boundary has come, without waiting for them: a slow input delays
   * neither the timer nor the other inputs, and an input still running its previous round skips
   * this one (gatherInput). Boundaries are anchored, so a late timer does not make the schedule
   * drift; boundaries passed while the process was busy are skipped, not caught up.
   */
  private onGatherTimer(): void {
    if (!this.running) return
    const now = this.options.clock.now()
    const due: Input[] = []
    for (const entry of this.schedule) {
      if (entry.nextAtMs > now) continue
      due.push(entry.input)
      entry.nextAtMs += entry.intervalMs
      if (entry.nextAtMs <= now) {
        const missed = Math.floor((now - entry.nextAtMs) / entry.intervalMs) + 1
        this.stats.gatherMissed += missed
        entry.nextAtMs += missed * entry.intervalMs
      }
    }
    if (due.length > 0) this.runRound(due)
    this.armGatherTimer()
  }

  private runRound(inputs: Input[]): void {
    const round = this.gatherRound(inputs).then(() => {
      if (this.buffer.sampleCount >= this.options.config.agent.batch_max_samples) void this.flushQuietly()
    })
    this.gathering.add(round)
    void round.finally(() => this.gathering.delete(round))
  }

  private scheduleFlush(): void {
    if (!this.running) return
    const { flush_interval, flush_jitter } = this.options.config.agent
    const delay = flush_interval + Math.floor(this.random() * flush_jitter)
    this.cancelFlushTimer = this.options.timers.setTimeout(() => {
      void this.flushQuietly().finally(() => this.scheduleFlush())
    }, delay)
  }

  private async flushQuietly(): Promise<void> {
    try {
      await this.flush()
    } catch (error) {
      this.log.error({ err: error }, 'flush failed; the samples of this flush are lost')
    }
  }
}

/** An input's place in the runner's schedule. */
interface Scheduled {
  input: Input
  intervalMs: number
  /** The next boundary it runs at (clock ms). */
  nextAtMs: number
}

/** Halves a chunk (by series, or by samples when it is one series); undefined when it is one sample. */
function splitInHalf(series: SeriesSamples[]): [SeriesSamples[], SeriesSamples[]] | undefined {
  if (series.length > 1) {
    const mid = Math.ceil(series.length / 2)
    return [series.slice(0, mid), series.slice(mid)]
  }
  const only = series[0]
  if (only === undefined || only.values.length < 2) return undefined
  const mid = Math.ceil(only.values.length / 2)
  const part = (from: number, to: number): SeriesSamples => ({
    name: only.name,
    labels: only.labels,
    timestamps: Array.from(only.timestamps).slice(from, to),
    values: Array.from(only.values).slice(from, to),
  })
  return [[part(0, mid)], [part(mid, only.values.length)]]
}
