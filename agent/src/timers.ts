import type { Clock } from '@tidewatch/shared'

/** Timers the runner schedules with; injected so tests move time by hand instead of sleeping. */
export interface Timers {
  /** Calls `callback` after `delayMs`; returns a function that cancels it. Real timers are unref'd. */
  setTimeout(callback: () => void, delayMs: number): () => void
}

export const systemTimers: Timers = {
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, delayMs))
    // The agent's lifetime is held by its NATS connection and signal handlers, not by a pending timer.
    handle.unref()
    return () => clearTimeout(handle)
  },
}

/** Resolves after `delayMs` on the given timers. */
export function sleep(timers: Timers, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    timers.setTimeout(resolve, delayMs)
  })
}

export type { Clock }
