/**
 * Time the committer takes to store one micro-batch (intent, series, samples, commit record), ms.
 * Cheap: a count, a sum, the last value, and the largest over a sliding window kept as two buckets
 * (the current one and the one before), so reading never resets anything and the max a scrape or a
 * self-report sees covers between one and two windows.
 */
export class CommitLatency {
  count = 0
  sumMs = 0
  lastMs = 0
  private bucketStartMs = 0
  private currentMaxMs = 0
  private previousMaxMs = 0

  /** @param windowMs length of one bucket of the max. Default 60000. */
  constructor(private readonly windowMs = 60_000) {}

  record(tookMs: number, nowMs: number): void {
    this.roll(nowMs)
    this.count++
    this.sumMs += tookMs
    this.lastMs = tookMs
    if (tookMs > this.currentMaxMs) this.currentMaxMs = tookMs
  }

  /** Largest commit time over the last one to two windows; 0 when none. */
  maxMs(nowMs: number): number {
    this.roll(nowMs)
    return Math.max(this.currentMaxMs, this.previousMaxMs)
  }

  private roll(nowMs: number): void {
    const elapsed = nowMs - this.bucketStartMs
    if (elapsed < this.windowMs) return
    this.previousMaxMs = elapsed < 2 * this.windowMs ? this.currentMaxMs : 0
    this.currentMaxMs = 0
    this.bucketStartMs = nowMs - (elapsed % this.windowMs)
  }
}
