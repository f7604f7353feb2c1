import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '@tidewatch/shared'
import { CURSOR_FILE, DiskSpool } from '../src/spool/disk.js'
import type { QueuedBatch } from '../src/spool/types.js'

const logger = createLogger({ service: 'test', level: 'silent' })

function batch(seq: number, bytes = 100, samples = 3): QueuedBatch {
  const data = new Uint8Array(bytes).fill(seq % 251)
  return { id: `a:${seq}`, seq, subject: 'metrics.in.a', data, sampleCount: samples }
}

async function drainAll(spool: DiskSpool): Promise<QueuedBatch[]> {
  const out: QueuedBatch[] = []
  for (;;) {
    const head = await spool.peek()
    if (head === undefined) return out
    out.push(head)
    await spool.ack(head.id)
  }
}

const segments = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort()

describe('DiskSpool', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-spool-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('is a FIFO whose batches come back byte for byte, and it empties its files as it is acked', async () => {
    const spool = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000, logger })
    for (let seq = 1; seq <= 30; seq++) await spool.push(batch(seq))
    expect(spool.length).toBe(30)
    expect(spool.samples).toBe(90)
    expect(segments(dir).length).toBeGreaterThan(3)
    const out = await drainAll(spool)
    expect(out.map((b) => b.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(out[6]).toEqual(batch(7))
    expect(spool.length).toBe(0)
    expect(segments(dir)).toHaveLength(1)
    await spool.close()
  })

  it('ack of a batch that is no longer the head is a no-op', async () => {
    const spool = await DiskSpool.open({ dir, maxBytes: 1 << 20, logger })
    await spool.push(batch(1))
    await spool.push(batch(2))
    await spool.ack('a:2')
    expect((await spool.peek())?.id).toBe('a:1')
    await spool.close()
  })

  it('survives a restart: what was not acked is replayed in order, what was acked is not', async () => {
    const first = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000, logger })
    for (let seq = 1; seq <= 20; seq++) await first.push(batch(seq))
    for (let seq = 1; seq <= 12; seq++) await first.ack(`a:${seq}`)
    await first.close()
    const second = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000, logger })
    expect(second.stats.recoveredBatches).toBe(8)
    await second.push(batch(21))
    expect((await drainAll(second)).map((b) => b.seq)).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21])
    await second.close()
  })

  it('after a crash (no close) replays at most the last second of acked batches, nothing pushed is lost', async () => {
    let now = 0
    const clock = { now: () => now }
    const crashed = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000, logger, clock })
    for (let seq = 1; seq <= 10; seq++) await crashed.push(batch(seq))
    await crashed.ack('a:1') // cursor written (first write)
    now = 500
    await crashed.ack('a:2') // within cursorSyncMs: not yet written
    await crashed.ack('a:3')
    // no close(): the process died here
    const reopened = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000, logger })
    expect((await drainAll(reopened)).map((b) => b.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10])
    await reopened.close()
  })

  it('cuts off a torn record at the tail, counts it, and keeps appending after the good ones', async () => {
    const first = await DiskSpool.open({ dir, maxBytes: 1 << 20, logger })
    for (let seq = 1; seq <= 3; seq++) await first.push(batch(seq))
    await first.close()
    const [only] = segments(dir)
    const file = join(dir, only!)
    const goodSize = statSync(file).size
    // half a record, as a power cut in the middle of a write leaves it
    const torn = readFileSync(file).subarray(0, 60)
    appendFileSync(file, torn)
    const reopened = await DiskSpool.open({ dir, maxBytes: 1 << 20, logger })
    expect(reopened.stats).toMatchObject({ corruptRegions: 1, corruptBytes: 60, recoveredBatches: 3 })
    expect(statSync(file).size).toBe(goodSize)
    await reopened.push(batch(4))
    expect((await drainAll(reopened)).map((b) => b.seq)).toEqual([1, 2, 3, 4])
    await reopened.close()
  })

  it('a flipped bit fails the CRC: the rest of that segment is skipped and counted, later segments still replay', async () => {
    const first = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 500, logger })
    for (let seq = 1; seq <= 12; seq++) await first.push(batch(seq))
    await first.close()
    const names = segments(dir)
    expect(names.length).toBeGreaterThan(2)
    const file = join(dir, names[0]!)
    const bytes = readFileSync(file)
    const recordBytes = 12 + 16 + 'a:1'.length + 'metrics.in.a'.length + 100 // header, fixed body, id, subject, data
    expect(bytes.length).toBe(3 * recordBytes) // 3 records fit in 500 bytes
    bytes[recordBytes + 40] = bytes[recordBytes + 40]! ^ 0xff // inside record 2's body
    writeFileSync(file, bytes)
    const reopened = await DiskSpool.open({ dir, maxBytes: 1 << 20, segmentBytes: 500, logger })
    expect(reopened.stats.corruptRegions).toBe(1)
    expect(reopened.stats.corruptBytes).toBe(2 * recordBytes)
    expect((await drainAll(reopened)).map((b) => b.seq)).toEqual([1, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    await reopened.close()
  })

  it('an unreadable cursor replays from the oldest segment (duplicates are JetStream’s to drop)', async () => {
    const first = await DiskSpool.open({ dir, maxBytes: 1 << 20, logger })
    for (let seq = 1; seq <= 3; seq++) await first.push(batch(seq))
    await first.ack('a:1')
    await first.close()
    writeFileSync(join(dir, CURSOR_FILE), '{not json')
    const reopened = await DiskSpool.open({ dir, maxBytes: 1 << 20, logger })
    expect((await drainAll(reopened)).map((b) => b.seq)).toEqual([1, 2, 3])
    await reopened.close()
  })

  it('stays within maxBytes by dropping the oldest segments, and reports exactly what it dropped', async () => {
    const maxBytes = 8192 // segments of 4096 bytes
    const spool = await DiskSpool.open({ dir, maxBytes, logger })
    await spool.peek() // the head in memory, as the delivery loop keeps it: drops then name their first id
    let droppedBatches = 0
    let droppedSamples = 0
    const firstIds: string[] = []
    for (let seq = 1; seq <= 200; seq++) {
      const dropped = await spool.push(batch(seq, 150, seq % 5))
      droppedBatches += dropped.batches
      droppedSamples += dropped.samples
      if (dropped.firstId !== undefined) firstIds.push(dropped.firstId)
      const onDisk = segments(dir).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0)
      expect(onDisk).toBeLessThanOrEqual(maxBytes)
      expect(spool.bytes).toBe(onDisk)
    }
    const left = await drainAll(spool)
    // oldest first: what is left is the newest, contiguous, ending at the last push
    expect(left.map((b) => b.seq)).toEqual(
      Array.from({ length: left.length }, (_, i) => 201 - left.length + i),
    )
    expect(droppedBatches + left.length).toBe(200)
    const expectedSamples = Array.from({ length: 200 - left.length }, (_, i) => (i + 1) % 5).reduce(
      (a, b) => a + b,
      0,
    )
    expect(droppedSamples).toBe(expectedSamples)
    expect(firstIds[0]).toBe('a:1')
    await spool.close()
  })

  it('drops what an in-flight send is about to ack: the late ack is a no-op and nothing is counted twice', async () => {
    const spool = await DiskSpool.open({ dir, maxBytes: 4096 * 2, logger })
    await spool.push(batch(1, 150))
    const inFlight = await spool.peek()
    let dropped = 0
    for (let seq = 2; seq <= 100; seq++) dropped += (await spool.push(batch(seq, 150))).batches
    await spool.ack(inFlight!.id)
    expect(dropped + spool.length).toBe(100)
    await spool.close()
  })
})
