import { describe, expect, it } from 'vitest'
import type { JsMsg } from '@nats-io/jetstream'
import { ManualClock, type DecodedBatch } from '@tidewatch/shared'
import { BatchCommitter } from '../src/pipeline/committer.js'
import { createCounters } from '../src/pipeline/counters.js'
import type { AcceptedMessage } from '../src/pipeline/classify.js'
import type { BatchIntent, IntentLog, IntentStamp } from '../src/sinks/clickhouse/intent-log.js'
import type { SampleColumns } from '../src/sinks/clickhouse/columns.js'
import type { SampleSink } from '../src/sinks/clickhouse/sample-sink.js'
import { SeriesResolver } from '../src/sinks/clickhouse/series-resolver.js'
import { silentLogger } from './harness.js'

/** A JetStream message that records what was done to it. */
function message(
  seq: number,
  redelivered: boolean,
): AcceptedMessage & { acks: () => number; workings: () => number } {
  let acks = 0
  let workings = 0
  const msg = {
    seq,
    redelivered,
    ack: () => void acks++,
    working: () => void workings++,
    subject: 'metrics.in.x',
  }
  const batch: DecodedBatch = {
    version: 1,
    agentId: 'x',
    seq,
    createdMs: 0,
    series: [{ name: 'm', labels: { host: 'x' }, offset: 0, count: 1 }],
    timestamps: Float64Array.of(seq * 1000),
    values: Float64Array.of(seq),
    sampleCount: 1,
  }
  return {
    kind: 'accepted',
    message: msg as unknown as JsMsg,
    batch,
    acks: () => acks,
    workings: () => workings,
  }
}

/** The intent log and the store in memory, with ClickHouse's token deduplication. */
function memoryStore() {
  const intents = new Map<string, BatchIntent>()
  const tokensWritten: string[] = []
  /** The watermark each write classified its samples with. */
  const watermarks: number[] = []
  const stored = new Map<string, number>()
  let failWrites = 0
  const intentLog = {
    recordIntent: async (token: string, seqs: readonly number[], stamp: IntentStamp) => {
      intents.set(token, { token, seqs: [...seqs], committed: false, watermarkMs: stamp.watermarkMs })
    },
    recordCommit: async (token: string) => {
      intents.get(token)!.committed = true
    },
    lookup: async (seqs: readonly number[]) => {
      const found = new Map<number, BatchIntent>()
      for (const intent of intents.values())
        for (const s of intent.seqs) if (seqs.includes(s)) found.set(s, { ...intent })
      return found
    },
  } as unknown as IntentLog
  const sink: SampleSink = {
    writeSamples: async (token: string, columns: Pick<SampleColumns, 'length'>, lateBeforeMs: number) => {
      if (failWrites > 0) {
        failWrites--
        throw new Error('store down')
      }
      tokensWritten.push(token)
      watermarks.push(lateBeforeMs)
      if (!stored.has(token)) stored.set(token, columns.length)
    },
    close: async () => undefined,
  }
  return {
    intents,
    intentLog,
    sink,
    tokensWritten,
    watermarks,
    storedRows: () => [...stored.values()].reduce((a, b) => a + b, 0),
    failNextWrites: (n: number) => void (failWrites = n),
  }
}

function committerFor(
  store: ReturnType<typeof memoryStore>,
  clock = new ManualClock(1_000_000),
  workingIntervalMs = 1_000,
) {
  return new BatchCommitter({
    consumerName: 'METRICS/test',
    intentLog: store.intentLog,
    sink: store.sink,
    writeSeries: async () => undefined,
    // One replica and no roll-up in the way: the watermark is this replica's, settled as it is.
    rollups: { lateBeforeMs: 60_000, settleWatermark: async (watermarkMs: number) => watermarkMs },
    resolver: new SeriesResolver({ maxSeriesPerMetric: 1_000_000 }),
    clock,
    logger: silentLogger,
    counters: createCounters(),
    signal: new AbortController().signal,
    workingIntervalMs,
    recoveryRecheckMs: 5_000,
  })
}

describe('BatchCommitter', () => {
  it('records the intent, writes, records the commit, then acks', async () => {
    const store = memoryStore()
    const messages = [message(1, false), message(2, false)]
    await committerFor(store).commit(messages)
    expect(store.tokensWritten).toEqual(['METRICS/test:1-2:2'])
    expect(store.intents.get('METRICS/test:1-2:2')).toEqual({
      token: 'METRICS/test:1-2:2',
      seqs: [1, 2],
      committed: true,
      watermarkMs: 60_000,
    })
    expect(messages.map((m) => m.acks())).toEqual([1, 1])
  })

  it('retries a failing store in place and acks only after it succeeds', async () => {
    const store = memoryStore()
    store.failNextWrites(2)
    const messages = [message(5, false)]
    await committerFor(store).commit(messages)
    expect(store.tokensWritten).toEqual(['METRICS/test:5-5:1'])
    expect(messages[0]!.acks()).toBe(1)
  })

  it('keeps the messages in progress in JetStream while a slow store works, so none is redelivered meanwhile', async () => {
    const store = memoryStore()
    const messages = [message(11, false)]
    // The write lasts until the message has been kept in progress twice (40 ms apart), or 5 s.
    const writeUntilWorkedTwice = async (): Promise<void> => {
      const giveUpAt = Date.now() + 5_000
      while (messages[0]!.workings() < 2 && Date.now() < giveUpAt)
        await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const slow = { ...store, sink: { ...store.sink, writeSamples: writeUntilWorkedTwice } }
    await committerFor(slow, new ManualClock(1_000_000), 40).commit(messages)
    expect(messages[0]!.workings()).toBeGreaterThanOrEqual(2)
    expect(messages[0]!.acks()).toBe(1)
  })

  it('only acks a redelivered message whose batch was committed before the crash', async () => {
    const store = memoryStore()
    await committerFor(store).commit([message(1, false), message(2, false)])
    const again = [message(2, true), message(1, true)]
    await committerFor(store).commit(again)
    expect(store.tokensWritten).toHaveLength(1)
    expect(again.map((m) => m.acks())).toEqual([1, 1])
    expect(store.storedRows()).toBe(2)
  })

  it('re-sends an uncommitted batch exactly as first sent, once all its messages are back', async () => {
    const store = memoryStore()
    // A crash after the intent and the data, before the commit record and the acks.
    // It was classified with an older watermark than this replica's: it is re-sent with that one.
    const stamp = { watermarkMs: 30_000, minTsMs: 1_000, maxTsMs: 3_000 }
    await store.intentLog.recordIntent('METRICS/test:1-3:3', [1, 2, 3], stamp)
    await store.sink.writeSamples('METRICS/test:1-3:3', { length: 3 } as SampleColumns, stamp.watermarkMs)

    const committer = committerFor(store)
    const first = [message(3, true), message(1, true), message(9, false)]
    await committer.commit(first)
    // 9 is fresh and goes on; 1 and 3 wait for 2.
    expect(store.tokensWritten).toEqual(['METRICS/test:1-3:3', 'METRICS/test:9-9:1'])
    expect(store.watermarks).toEqual([30_000, 60_000])
    expect(first.map((m) => m.acks())).toEqual([0, 0, 1])

    const rest = [message(2, true)]
    await committer.commit(rest)
    expect(store.tokensWritten.at(-1)).toBe('METRICS/test:1-3:3')
    expect(store.watermarks.at(-1)).toBe(30_000)
    expect([...first.slice(0, 2), ...rest].map((m) => m.acks())).toEqual([1, 1, 1])
    expect(store.intents.get('METRICS/test:1-3:3')?.committed).toBe(true)
    // The store deduplicated the re-sent batch by its token: 3 rows from it, 1 from seq 9.
    expect(store.storedRows()).toBe(4)
  })

  it('treats a redelivered message without an intent as fresh (the crash came before the intent)', async () => {
    const store = memoryStore()
    const messages = [message(7, true)]
    await committerFor(store).commit(messages)
    expect(store.tokensWritten).toEqual(['METRICS/test:7-7:1'])
    expect(messages[0]!.acks()).toBe(1)
  })

  it('acks held messages once a re-check finds their batch committed elsewhere', async () => {
    const store = memoryStore()
    const stamp = { watermarkMs: 60_000, minTsMs: 1_000, maxTsMs: 2_000 }
    await store.intentLog.recordIntent('METRICS/test:1-2:2', [1, 2], stamp)
    const clock = new ManualClock(1_000_000)
    const committer = committerFor(store, clock)
    const held = [message(1, true)]
    await committer.commit(held)
    expect(held[0]!.acks()).toBe(0)
    await store.intentLog.recordCommit('METRICS/test:1-2:2', [1, 2], stamp)
    clock.advance(6_000)
    await committer.commit([])
    expect(held[0]!.acks()).toBe(1)
    expect(store.tokensWritten).toEqual([])
  })
})
