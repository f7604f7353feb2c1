import type { Clock } from '@tidewatch/shared'
import type { Timers } from '../timers.js'

interface Pending {
  at: number
  order: number
  callback: () => void
}

/** A clock plus timers that tests move by hand; `advance` fires due timers in time order. */
export class FakeTime implements Clock, Timers {
  private pending: Pending[] = []
  private order = 0

  constructor(private ms = 0) {}

  now(): number {
    return this.ms
  }

  setTimeout(callback: () => void, delayMs: number): () => void {
    const entry: Pending = { at: this.ms + Math.max(0, delayMs), order: this.order++, callback }
    this.pending.push(entry)
    return () => {
      this.pending = this.pending.filter((p) => p !== entry)
    }
  }

  /** Number of timers not yet fired. */
  get pendingCount(): number {
    return this.pending.length
  }

  /** Moves time forward, firing each due timer and letting promises settle after each one. */
  async advance(ms: number): Promise<void> {
    const target = this.ms + ms
    for (;;) {
      await settle()
      this.pending.sort((a, b) => a.at - b.at || a.order - b.order)
      const next = this.pending[0]
      if (!next || next.at > target) break
      this.pending.shift()
      this.ms = next.at
      next.callback()
    }
    this.ms = target
    await settle()
  }
}

/** Lets queued promise callbacks (and a few chained ones) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
