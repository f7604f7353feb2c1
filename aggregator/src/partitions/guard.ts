/*
 * Agents and aggregators must agree on the partition count P (agent `output.partitions`,
 * aggregator `consumer.partitions`): an agent publishes on `<prefix>.<k>.<agent id>` with
 * k = FNV-1a(agent id) mod P_agent, and partition k's consumer reads `<prefix>.<k>.>`. When they
 * differ, nothing fails: messages on a subject no consumer filters wait in the stream unread, and
 * an agent's series may be split between two partitions. This notices both, with P > 1:
 *
 *   every delivered message ─► k of its subject = partitionOf(agent id, P)?  (cached per subject)
 *   every sweep (30 s)      ─► stream subjects no consumer reads: `<prefix>.*` (unpartitioned agents)
 *                              and `<prefix>.<k>.>` for k >= P (P..2P-1 each time, the rest to 1024
 *                              a chunk per sweep)
 *
 * Either sets `mismatch` (a gauge, /readyz answers 503 with the reason) and logs an error naming a
 * subject and both counts. A message's check clears after `holdMs` without another; the sweep's
 * holds while such subjects are in the stream (they leave with max_age, or when purged).
 * With P = 1 one consumer reads the whole stream, so nothing waits unread: nothing to check.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import { partitionOf, type Clock, type Logger } from '@tidewatch/shared'

/** The highest partition count the config allows (`consumer.partitions`, `output.partitions`). */
const MAX_PARTITIONS = 1024
/** Out-of-range partitions looked at per sweep. */
const SWEEP_CHUNK = 16
const CACHE_LIMIT = 100_000

export interface PartitionGuardOptions {
  /** Subject prefix of the METRICS stream (`metrics.in`). */
  prefix: string
  partitions: number
  stream: string
  clock: Clock
  logger: Logger
  /** How long a mismatch seen on a delivered message keeps the flag up. Default 10 min. */
  holdMs?: number
}

export interface PartitionMismatch {
  subject: string
  reason: string
}

export class PartitionGuard {
  /** Delivered messages whose subject names another partition than this replica's count gives. */
  mismatchedMessages = 0
  /** Subjects in the stream that no consumer reads, at the last sweep (sampled: see `sweep`). */
  unreadSubjects = 0
  private readonly checked = new Map<string, boolean>()
  private lastSeen: (PartitionMismatch & { atMs: number }) | undefined
  private swept: PartitionMismatch | undefined
  private nextK: number
  private foundThisRound = false
  private readonly prefixDot: string

  constructor(private readonly options: PartitionGuardOptions) {
    this.prefixDot = `${options.prefix}.`
    this.nextK = options.partitions
  }

  /** The current mismatch, if any: what /readyz and the gauge report. */
  get mismatch(): PartitionMismatch | undefined {
    const holdMs = this.options.holdMs ?? 600_000
    if (this.lastSeen !== undefined && this.options.clock.now() - this.lastSeen.atMs <= holdMs) {
      return { subject: this.lastSeen.subject, reason: this.lastSeen.reason }
    }
    return this.swept
  }

  /** Checks a delivered message's subject. Cheap: cached per subject. */
  check(subject: string): void {
    if (this.options.partitions <= 1) return
    let ok = this.checked.get(subject)
    if (ok === undefined) {
      ok = this.subjectAgrees(subject)
      if (this.checked.size >= CACHE_LIMIT) this.checked.clear()
      this.checked.set(subject, ok)
    }
    if (ok) return
    this.mismatchedMessages++
    const first = this.lastSeen === undefined || this.lastSeen.subject !== subject
    const reason = `a message on ${subject} names a partition other than partitionOf(agent id, ${this.options.partitions}): the agent's output.partitions differs from consumer.partitions = ${this.options.partitions}`
    this.lastSeen = { subject, reason, atMs: this.options.clock.now() }
    if (first) this.options.logger.error({ subject, partitions: this.options.partitions }, reason)
  }

  /**
   * One look at the stream for subjects no consumer of this partition count reads: unpartitioned
   * subjects and partitions P..2P-1 every time (the likely mistakes), the rest up to 1024 a chunk
   * per sweep.
   */
  async sweep(manager: JetStreamManager): Promise<void> {
    const { partitions, prefix, stream, logger } = this.options
    if (partitions <= 1) return
    const near = Math.min(MAX_PARTITIONS, 2 * partitions)
    const filters = [`${prefix}.*`]
    for (let k = partitions; k < near; k++) filters.push(`${prefix}.${k}.>`)
    const from = Math.max(this.nextK, near)
    const to = Math.min(MAX_PARTITIONS, from + SWEEP_CHUNK)
    for (let k = from; k < to; k++) filters.push(`${prefix}.${k}.>`)
    const roundDone = to >= MAX_PARTITIONS
    this.nextK = roundDone ? near : to
    let found: string | undefined
    let count = 0
    for (const filter of filters) {
      const info = await manager.streams.info(stream, { subjects_filter: filter })
      const subjects = Object.keys(info.state.subjects ?? {})
      count += subjects.length
      if (found === undefined && subjects.length > 0) found = subjects[0]
    }
    this.unreadSubjects = count
    if (found !== undefined) {
      const reason = `${count} subject(s) in stream ${stream} that no consumer reads, e.g. ${found}: an agent's output.partitions differs from consumer.partitions = ${partitions}`
      if (this.swept?.subject !== found) logger.error({ subject: found, subjects: count, partitions }, reason)
      this.swept = { subject: found, reason }
      this.foundThisRound = true
    }
    // The flag stays up until a whole round over the far partitions found nothing.
    if (roundDone) {
      if (!this.foundThisRound) this.swept = undefined
      this.foundThisRound = false
    }
  }

  private subjectAgrees(subject: string): boolean {
    if (!subject.startsWith(this.prefixDot)) return true
    const rest = subject.slice(this.prefixDot.length)
    const dot = rest.indexOf('.')
    if (dot <= 0) return false
    const k = rest.slice(0, dot)
    return k === String(partitionOf(rest.slice(dot + 1), this.options.partitions))
  }
}
