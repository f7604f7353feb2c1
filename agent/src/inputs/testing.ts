import { createLogger, systemClock } from '@tidewatch/shared'
import type { Accumulator } from './types.js'

/** What the input tests share: a silent logger and an accumulator that records. */
export const testDeps = { clock: systemClock, logger: createLogger({ service: 'test', level: 'silent' }) }

export interface Recorded {
  name: string
  labels: Record<string, string>
  value: number
  ts: number
}

export function recorder(): { acc: Accumulator; samples: Recorded[] } {
  const samples: Recorded[] = []
  return {
    acc: { add: (name, labels, value, ts) => samples.push({ name, labels: { ...labels }, value, ts }) },
    samples,
  }
}
