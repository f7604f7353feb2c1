/** The scheduling seam: production uses unref'd setTimeout; tests drive a fake with a ManualClock. */
export interface Timers {
  /** Calls `fn` after `delayMs`; the handle cancels it. */
  set(delayMs: number, fn: () => void): TimerHandle
  clear(handle: TimerHandle): void
}

export type TimerHandle = { readonly id: unknown }

export const systemTimers: Timers = {
  set(delayMs, fn) {
    const timer = setTimeout(fn, Math.max(0, delayMs))
    timer.unref()
    return { id: timer }
  },
  clear(handle) {
    clearTimeout(handle.id as NodeJS.Timeout)
  },
}
