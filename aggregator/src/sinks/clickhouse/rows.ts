import type { DecodedBatch } from '@tidewatch/shared'
import { createMinuteRollup, recordSample, type MinuteRollup } from '../../rollups/minute.js'
import type { SeriesRegistry, SeriesRow } from './series-registry.js'

/** Rows for one micro-batch, already in the text the store takes (TabSeparated). */
export interface PreparedRows {
  rawTsv: string
  rawRows: number
  minuteTsv: string
  minuteRows: number
  newSeries: SeriesRow[]
}

/** Seconds with milliseconds, the text form DateTime64(3) parses without time-zone ambiguity. */
export function formatEpochMs(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  const millis = ms - seconds * 1000
  return seconds + '.' + (millis < 10 ? '00' : millis < 100 ? '0' : '') + millis
}

/**
 * Turns decoded batches into raw rows and one-minute partial rollups. Metric names and label values
 * never reach SQL text: they travel as TabSeparated data (names are validated to [a-zA-Z0-9_:.] by the
 * wire format, so they hold no tab, newline or backslash) or JSON.
 */
export function prepareRows(batches: readonly DecodedBatch[], registry: SeriesRegistry, nowSec: number): PreparedRows {
  const rollup: MinuteRollup = createMinuteRollup()
  const newSeries: SeriesRow[] = []
  let rawTsv = ''
  let rawRows = 0
  for (const batch of batches) {
    for (const series of batch.series) {
      const { id, newRow } = registry.resolve(series.name, series.labels, nowSec)
      if (newRow !== undefined) newSeries.push(newRow)
      const prefix = series.name + '\t' + id + '\t'
      const end = series.offset + series.count
      for (let i = series.offset; i < end; i++) {
        const ts = batch.timestamps[i] as number
        const value = batch.values[i] as number
        rawTsv += prefix + formatEpochMs(ts) + '\t' + value + '\n'
        recordSample(rollup, series.name, id, ts, value)
      }
      rawRows += series.count
    }
  }
  let minuteTsv = ''
  for (const p of rollup.values()) {
    minuteTsv +=
      p.metric + '\t' + p.seriesId + '\t' + p.minuteSec + '\t' + p.count + '\t' + p.sum + '\t' + p.min + '\t' + p.max +
      "\t('" + formatEpochMs(p.lastMs) + "'," + p.lastValue + ')\n'
  }
  return { rawTsv, rawRows, minuteTsv, minuteRows: rollup.size, newSeries }
}
