/** Thrown by `retryUntilAborted` when its signal aborts; the work was not done. */
export class RetryAbortedError extends Error {
  override readonly name = 'RetryAbortedError'
}

export interface RetryOptions {
  signal: AbortSignal
  /** First delay, doubled each attempt up to `maxDelayMs`, with full jitter. Default 200 ms. */
  baseDelayMs?: number
  /** Default 10 s. */
  maxDelayMs?: number
  /** Called after each failure with the attempt number (1-based) and the delay before the next. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void
  /** Errors for which retrying is pointless; they are rethrown at once. */
  isFatal?: (error: unknown) => boolean
}

/** Runs `operation` until it succeeds or the signal aborts, backing off exponentially with jitter. */
export async function retryUntilAborted<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 200
  const max = options.maxDelayMs ?? 10_000
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) throw new RetryAbortedError('stopped before the operation succeeded')
    try {
      return await operation()
    } catch (error) {
      if (options.isFatal?.(error)) throw error
      const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 20))
      const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
      options.onRetry?.(error, attempt, delayMs)
      await abortableDelay(delayMs, options.signal)
    }
  }
}

export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
