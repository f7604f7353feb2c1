import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import { uint64Text } from '@tidewatch/shared'
import type { SampleColumns } from './columns.js'
import { createMinuteRollup, recordSample } from '../../rollups/minute.js'
import { dedupSettings, hasLateSamples, type SampleSink } from './sample-sink.js'

/** Seconds with milliseconds: the text DateTime64(3) parses without time-zone ambiguity. */
export function formatEpochMs(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  const millis = ms - seconds * 1000
  return seconds + '.' + (millis < 10 ? '00' : millis < 100 ? '0' : '') + millis
}

/**
 * Writes samples to a ClickHouse server (or the embedded store's HTTP endpoint) as TabSeparated text
 * through `@clickhouse/client`. Metric names are validated to [a-zA-Z0-9_:.] by the wire format, so
 * they hold no tab, newline or backslash; nothing a client sent is ever put into SQL text.
 */
export class TsvSampleSink implements SampleSink {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
  ) {}

  async writeSamples(token: string, columns: SampleColumns, lateBeforeMs: number): Promise<void> {
    if (columns.length === 0) return
    const words = new Uint32Array(columns.seriesIds.buffer, columns.seriesIds.byteOffset, 2 * columns.length)
    const chunks: string[] = []
    let chunk = ''
    for (let i = 0; i < columns.length; i++) {
      chunk +=
        columns.metrics[columns.metricIndex[i]!] +
        '\t' +
        uint64Text(words[2 * i + 1]!, words[2 * i]!) +
        '\t' +
        formatEpochMs(columns.timestampsMs[i]!) +
        '\t' +
        columns.values[i] +
        '\n'
      if (chunk.length > 1 << 20) {
        chunks.push(chunk)
        chunk = ''
      }
    }
    chunks.push(chunk)
    await this.client.insert({
      table: `${this.database}.samples_raw`,
      columns: ['metric', 'series_id', 'ts', 'value'],
      values: Readable.from(chunks, { objectMode: false }),
      format: 'TabSeparated',
      clickhouse_settings: dedupSettings(token),
    })
    if (hasLateSamples(columns, lateBeforeMs))
      await this.writeLatePartials(token, columns, words, lateBeforeMs)
  }

  private async writeLatePartials(
    token: string,
    columns: SampleColumns,
    words: Uint32Array,
    lateBeforeMs: number,
  ): Promise<void> {
    const rollup = createMinuteRollup()
    for (let i = 0; i < columns.length; i++) {
      const ts = columns.timestampsMs[i]!
      if (ts >= lateBeforeMs) continue
      const metric = columns.metrics[columns.metricIndex[i]!]!
      recordSample(rollup, metric, uint64Text(words[2 * i + 1]!, words[2 * i]!), ts, columns.values[i]!)
    }
    let text = ''
    for (const p of rollup.values()) {
      text +=
        p.metric +
        '\t' +
        p.seriesId +
        '\t' +
        p.minuteSec +
        '\t' +
        p.count +
        '\t' +
        p.sum +
        '\t' +
        p.min +
        '\t' +
        p.max +
        "\t('" +
        formatEpochMs(p.lastMs) +
        "'," +
        p.lastValue +
        ')\n'
    }
    await this.client.insert({
      table: `${this.database}.samples_1m`,
      columns: ['metric', 'series_id', 'ts', 'count', 'sum', 'min', 'max', 'last'],
      values: Readable.from([text], { objectMode: false }),
      format: 'TabSeparated',
      clickhouse_settings: dedupSettings(token),
    })
  }

  async close(): Promise<void> {}
}
