import { Observable, type OperatorFunction } from 'rxjs'

/**
 * Groups items into micro-batches closed by size (a weight such as the sample count) or by the age
 * of the oldest item, whichever comes first. The rest is flushed when the source completes.
 */
export function microBatch<T>(
  maxWeight: number,
  maxWaitMs: number,
  weightOf: (item: T) => number,
): OperatorFunction<T, T[]> {
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let buffer: T[] = []
      let weight = 0
      let timer: NodeJS.Timeout | undefined
      const flush = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        if (buffer.length === 0) return
        const batch = buffer
        buffer = []
        weight = 0
        subscriber.next(batch)
      }
      const subscription = source.subscribe({
        next: (item) => {
          buffer.push(item)
          weight += weightOf(item)
          if (weight >= maxWeight) flush()
          else if (timer === undefined) timer = setTimeout(flush, maxWaitMs)
        },
        error: (error: unknown) => {
          flush()
          subscriber.error(error)
        },
        complete: () => {
          flush()
          subscriber.complete()
        },
      })
      return () => {
        if (timer !== undefined) clearTimeout(timer)
        subscription.unsubscribe()
      }
    })
}
