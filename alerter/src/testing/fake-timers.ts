import { ManualClock } from '@tidewatch/shared'
import type { TimerHandle, Timers } from '../timers.js'

/** Timers driven by a ManualClock: `advance(ms)` moves the clock and runs what came due, in order. */
export class FakeTimers implements Timers {
  readonly clock: ManualClock
  private pending = new Map<number, { at: number; fn: () => void }>()
  private nextId = 1

  constructor(startMs = 1_700_000_000_000) {
    this.clock = new ManualClock(startMs)
  }

  set(delayMs: number, fn: () => void): TimerHandle {
    const id = this.nextId++
    this.pending.set(id, { at: this.clock.now() + Math.max(0, delayMs), fn })
    return { id }
  }

  clear(handle: TimerHandle): void {
    this.pending.delete(handle.id as number)
  }

  /** Moves time forward by `ms`, firing due timers in time order (timers set while firing included). */
  advance(ms: number): void {
    const end = this.clock.now() + ms
    for (;;) {
      let nextId: number | undefined
      let nextAt = Infinity
      for (const [id, timer] of this.pending) {
        if (timer.at < nextAt || (timer.at === nextAt && id < (nextId ?? Infinity))) {
          nextAt = timer.at
          nextId = id
        }
      }
      if (nextId === undefined || nextAt > end) break
      const timer = this.pending.get(nextId)
      this.pending.delete(nextId)
      this.clock.set(Math.max(this.clock.now(), nextAt))
      timer?.fn()
    }
    this.clock.set(end)
  }

  /**
   * As `advance`, but lets async work triggered by each timer settle (a few macrotask turns) before
   * the next one fires, so code that awaits and then re-arms a timer behaves as in real time.
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.clock.now() + ms
    for (;;) {
      await settle()
      let nextAt = Infinity
      for (const timer of this.pending.values()) nextAt = Math.min(nextAt, timer.at)
      if (nextAt > end) break
      this.advance(Math.max(0, nextAt - this.clock.now()))
    }
    this.clock.set(end)
    await settle()
  }

  get size(): number {
    return this.pending.size
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}
