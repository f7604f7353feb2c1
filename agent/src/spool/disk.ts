import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { TidewatchError, type Clock, type Logger } from '@tidewatch/shared'
import { NOTHING_DROPPED, type BatchQueue, type Dropped, type QueuedBatch } from './types.js'

/*
 * The disk spool: a write-ahead FIFO of encoded batches under `<data_dir>/spool/`.
 *
 *   push: [append record to the active segment, fdatasync] --> resolves (the batch is durable)
 *   peek: record at the read cursor (the newest push is kept in memory, so no read in steady state)
 *   ack:  cursor += record; a segment whose records are all acked is deleted
 *
 *   spool/000000000001.seg  000000000002.seg ... (active: the last)   spool/cursor.json
 *
 * Record: u32 magic "TSP1" | u32 body length | u32 CRC-32 of the body | body
 * Body:   f64 seq | u32 sample count | u16 id length | u16 subject length | id | subject | batch bytes
 * (little endian). Durability policy:
 *  - every push is fdatasync'ed before it resolves: a batch the runner handed over survives a crash
 *    or power cut. The agent pushes one batch per flush (10 s by default), so this costs nothing.
 *  - the read cursor (`cursor.json`, temp file + fdatasync + rename) is written when the spool
 *    becomes empty and otherwise at most every `cursorSyncMs` (1 s) while replaying. A crash can
 *    therefore re-send at most the last second of acknowledged batches; they are still inside
 *    JetStream's duplicate window (2 min by default), which drops them.
 *  - at open, every record after the cursor is checked (magic, length, CRC). A bad record and
 *    everything after it in its segment (a torn write, a damaged disk) is cut off, logged at ERROR
 *    and counted (`corruptRegions`, `corruptBytes`); the following segments are still replayed.
 * Bound: the segment files together stay within `maxBytes`. Beyond it whole segments are dropped,
 * oldest first, and counted batch by batch; segments are `maxBytes / 16` (4 KiB to 4 MiB), so a drop
 * loses at most a sixteenth of the spool. A single batch larger than the bound is still kept.
 */

const MAGIC = 0x31505354 // "TSP1"
const HEADER_BYTES = 12
const FIXED_BODY_BYTES = 16
const SEGMENT_RE = /^(\d{12})\.seg$/
export const CURSOR_FILE = 'cursor.json'

export class SpoolError extends TidewatchError {
  override readonly name = 'SpoolError'
  /** Batches a failed push had already dropped to make room. */
  readonly dropped: Dropped
  constructor(message: string, options?: { cause?: unknown; dropped?: Dropped }) {
    super(message, 'SPOOL', true, options)
    this.dropped = options?.dropped ?? NOTHING_DROPPED
  }
}

export interface DiskSpoolOptions {
  /** The spool's own directory (the agent uses `<data_dir>/spool`); created when missing. */
  dir: string
  /** Bound on the segment files' total size, bytes (`agent.spool_max_bytes`). */
  maxBytes: number
  /** Size at which the active segment is closed and a new one started. Default maxBytes/16, 4 KiB..4 MiB. */
  segmentBytes?: number
  /** Longest time the persisted cursor lags behind while replaying, ms. Default 1000. */
  cursorSyncMs?: number
  clock?: Clock
  logger: Logger
}

export interface SpoolStats {
  /** Damaged regions found at open and cut off. */
  corruptRegions: number
  /** Bytes in those regions. */
  corruptBytes: number
  /** Batches waiting on disk when the spool was opened (left by the previous run). */
  recoveredBatches: number
}

interface Segment {
  no: number
  size: number
  /** Records not yet acked (for the head segment: from the cursor on). */
  records: number
  samples: number
}

interface Head {
  batch: QueuedBatch
  recordBytes: number
}

interface Cursor {
  segment: number
  offset: number
}

export class DiskSpool implements BatchQueue {
  readonly stats: SpoolStats = { corruptRegions: 0, corruptBytes: 0, recoveredBatches: 0 }
  private readonly log: Logger
  private readonly clock: Clock
  private readonly segmentBytes: number
  private readonly cursorSyncMs: number
  private lock: Promise<unknown> = Promise.resolve()
  private head: Head | undefined
  private reader: { no: number; handle: FileHandle } | undefined
  private cursorDirty = false
  private lastCursorWriteMs = -Infinity
  private totalBytes = 0
  private totalRecords = 0
  private totalSamples = 0
  private closed = false

  private constructor(
    private readonly options: DiskSpoolOptions,
    private readonly segments: Segment[],
    private cursor: Cursor,
    private active: FileHandle,
  ) {
    this.log = options.logger.child({ component: 'spool', dir: options.dir })
    this.clock = options.clock ?? { now: () => Date.now() }
    this.segmentBytes = segmentBytesFor(options.maxBytes, options.segmentBytes)
    this.cursorSyncMs = options.cursorSyncMs ?? 1_000
    for (const s of segments) {
      this.totalBytes += s.size
      this.totalRecords += s.records
      this.totalSamples += s.samples
    }
  }

  /** Opens (or creates) the spool, checks what a previous run left and truncates damaged tails. */
  static async open(options: DiskSpoolOptions): Promise<DiskSpool> {
    const { dir, logger } = options
    const log = logger.child({ component: 'spool', dir })
    try {
      await mkdir(dir, { recursive: true })
    } catch (error) {
      throw new SpoolError(`cannot create the spool directory ${dir}: ${(error as Error).message}`, {
        cause: error,
      })
    }
    const saved = await readCursor(join(dir, CURSOR_FILE), log)
    const numbers = (await readdir(dir))
      .map((name) => SEGMENT_RE.exec(name)?.[1])
      .filter((no): no is string => no !== undefined)
      .map(Number)
      .sort((a, b) => a - b)

    const stats: SpoolStats = { corruptRegions: 0, corruptBytes: 0, recoveredBatches: 0 }
    const segments: Segment[] = []
    let cursor: Cursor | undefined
    for (const no of numbers) {
      const path = segmentPath(dir, no)
      if (saved !== undefined && no < saved.segment) {
        // Fully acked before the last run ended; only its deletion was lost.
        await unlink(path).catch(() => undefined)
        continue
      }
      const data = await readFile(path)
      const start = saved !== undefined && no === saved.segment ? Math.min(saved.offset, data.length) : 0
      const scan = scanSegment(data, start)
      if (scan.validEnd < data.length) {
        const lost = data.length - scan.validEnd
        stats.corruptRegions++
        stats.corruptBytes += lost
        log.error(
          { segment: path, offset: scan.validEnd, bytes: lost, corrupt_regions_total: stats.corruptRegions },
          'spool segment damaged (torn write or bad disk); the damaged part is cut off',
        )
        const handle = await open(path, 'r+')
        try {
          await handle.truncate(scan.validEnd)
          await handle.sync()
        } finally {
          await handle.close()
        }
      }
      cursor ??= { segment: no, offset: start }
      segments.push({ no, size: scan.validEnd, records: scan.records, samples: scan.samples })
      stats.recoveredBatches += scan.records
    }
    if (segments.length === 0) {
      const no = (saved?.segment ?? 0) + 1
      segments.push({ no, size: 0, records: 0, samples: 0 })
      cursor = { segment: no, offset: 0 }
    }
    const last = segments[segments.length - 1] as Segment
    const active = await open(segmentPath(dir, last.no), 'a')
    const spool = new DiskSpool(options, segments, cursor as Cursor, active)
    Object.assign(spool.stats, stats)
    await spool.reclaim()
    if (spool.length > 0) {
      log.info(
        { batches: spool.length, samples: spool.samples, bytes: spool.bytes },
        'spooled batches from an earlier run will be sent first',
      )
    }
    return spool
  }

  get length(): number {
    return this.totalRecords
  }

  get samples(): number {
    return this.totalSamples
  }

  get bytes(): number {
    return this.totalBytes
  }

  push(batch: QueuedBatch): Promise<Dropped> {
    return this.locked(async () => {
      const record = encodeRecord(batch)
      let current = this.segments[this.segments.length - 1] as Segment
      if (current.size > 0 && current.size + record.length > this.segmentBytes) current = await this.roll()
      const dropped: Dropped = { batches: 0, samples: 0 }
      while (this.totalBytes + record.length > this.options.maxBytes && this.segments.length > 1) {
        const oldest = this.segments[0] as Segment
        if (oldest.records > 0) {
          // the head's id when it is in memory; reading it here could itself change the segments
          dropped.firstId ??= this.head?.batch.id
          dropped.batches += oldest.records
          dropped.samples += oldest.samples
        }
        await this.removeHeadSegment()
      }
      try {
        await this.active.write(record)
        await this.active.datasync()
      } catch (error) {
        // Cut a partial record off, or the next open would find it and drop the records behind it.
        await this.active.truncate(current.size).catch(() => undefined)
        throw new SpoolError(`cannot write batch ${batch.id} to the spool: ${(error as Error).message}`, {
          cause: error,
          dropped,
        })
      }
      current.size += record.length
      current.records++
      current.samples += batch.sampleCount
      this.totalBytes += record.length
      this.totalRecords++
      this.totalSamples += batch.sampleCount
      await this.reclaim()
      // Alone in the spool, the newest batch is the head: keep it so peek need not read it back.
      if (this.totalRecords === 1) this.head = { batch, recordBytes: record.length }
      if (dropped.batches > 0) this.cursorDirty = true
      return dropped
    })
  }

  peek(): Promise<QueuedBatch | undefined> {
    return this.locked(async () => (await this.loadHead())?.batch)
  }

  ack(id: string): Promise<void> {
    return this.locked(async () => {
      const head = await this.loadHead()
      if (head === undefined || head.batch.id !== id) return
      const segment = this.segments[0] as Segment
      this.cursor = { segment: segment.no, offset: this.cursor.offset + head.recordBytes }
      segment.records--
      segment.samples -= head.batch.sampleCount
      this.totalRecords--
      this.totalSamples -= head.batch.sampleCount
      this.head = undefined
      this.cursorDirty = true
      await this.reclaim()
      const now = this.clock.now()
      if (this.totalRecords === 0 || now - this.lastCursorWriteMs >= this.cursorSyncMs)
        await this.writeCursor()
    })
  }

  close(): Promise<void> {
    return this.locked(async () => {
      if (this.closed) return
      this.closed = true
      if (this.cursorDirty) await this.writeCursor()
      await this.reader?.handle.close().catch(() => undefined)
      this.reader = undefined
      await this.active.close()
    })
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(() => {
      if (this.closed) throw new SpoolError('the spool is closed')
      return fn()
    })
    this.lock = run.catch(() => undefined)
    return run
  }

  /** The record at the cursor, read from disk unless cached; a damaged one is skipped with its segment's rest. */
  private async loadHead(): Promise<Head | undefined> {
    for (;;) {
      if (this.head !== undefined) return this.head
      if (this.totalRecords === 0) return undefined
      const segment = this.segments[0] as Segment
      const handle = await this.readerFor(segment.no)
      const header = Buffer.alloc(HEADER_BYTES)
      await handle.read(header, 0, HEADER_BYTES, this.cursor.offset)
      const bodyLength = header.readUInt32LE(4)
      const fits = this.cursor.offset + HEADER_BYTES + bodyLength <= segment.size
      const body = Buffer.alloc(fits ? bodyLength : 0)
      if (fits) await handle.read(body, 0, bodyLength, this.cursor.offset + HEADER_BYTES)
      const batch =
        header.readUInt32LE(0) === MAGIC && fits && crc32(body) === header.readUInt32LE(8)
          ? decodeBody(body)
          : undefined
      if (batch !== undefined) {
        this.head = { batch, recordBytes: HEADER_BYTES + bodyLength }
        return this.head
      }
      // Checked at open and written by us since: only a disk going bad gets here.
      this.stats.corruptRegions++
      this.stats.corruptBytes += segment.size - this.cursor.offset
      this.log.error(
        { segment: segment.no, offset: this.cursor.offset, records_lost: segment.records },
        'spool record damaged on disk; the rest of its segment is skipped',
      )
      this.totalRecords -= segment.records
      this.totalSamples -= segment.samples
      segment.records = 0
      segment.samples = 0
      this.cursor = { segment: segment.no, offset: segment.size }
      this.cursorDirty = true
      await this.reclaim()
    }
  }

  private async readerFor(no: number): Promise<FileHandle> {
    if (this.reader?.no === no) return this.reader.handle
    await this.reader?.handle.close().catch(() => undefined)
    const handle = await open(segmentPath(this.options.dir, no), 'r')
    this.reader = { no, handle }
    return handle
  }

  /** Closes the active segment and starts the next one. */
  private async roll(): Promise<Segment> {
    const previous = this.segments[this.segments.length - 1] as Segment
    const next: Segment = { no: previous.no + 1, size: 0, records: 0, samples: 0 }
    const handle = await open(segmentPath(this.options.dir, next.no), 'a')
    await this.active.close()
    this.active = handle
    this.segments.push(next)
    await syncDir(this.options.dir)
    return next
  }

  /** Deletes leading segments with nothing left to send (never the active one). */
  private async reclaim(): Promise<void> {
    while (this.segments.length > 1 && (this.segments[0] as Segment).records === 0) {
      await this.removeHeadSegment()
    }
  }

  private async removeHeadSegment(): Promise<void> {
    const oldest = this.segments.shift() as Segment
    const next = this.segments[0] as Segment
    this.totalBytes -= oldest.size
    this.totalRecords -= oldest.records
    this.totalSamples -= oldest.samples
    this.head = undefined
    this.cursor = { segment: next.no, offset: 0 }
    this.cursorDirty = true
    if (this.reader?.no === oldest.no) {
      await this.reader.handle.close().catch(() => undefined)
      this.reader = undefined
    }
    // A crash before the cursor is written leaves it on a deleted segment: open starts at the next one.
    await unlink(segmentPath(this.options.dir, oldest.no)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }

  private async writeCursor(): Promise<void> {
    const file = join(this.options.dir, CURSOR_FILE)
    const temp = `${file}.tmp`
    const handle = await open(temp, 'w', 0o644)
    try {
      await handle.writeFile(JSON.stringify({ version: 1, ...this.cursor }) + '\n')
      await handle.datasync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
    this.cursorDirty = false
    this.lastCursorWriteMs = this.clock.now()
  }
}

function segmentBytesFor(maxBytes: number, requested: number | undefined): number {
  const wanted = requested ?? Math.min(4 * 1024 * 1024, Math.max(4096, Math.floor(maxBytes / 16)))
  // A segment larger than the bound could never be dropped to make room.
  return Math.max(1, Math.min(wanted, maxBytes))
}

function segmentPath(dir: string, no: number): string {
  return join(dir, `${String(no).padStart(12, '0')}.seg`)
}

export function encodeRecord(batch: QueuedBatch): Buffer {
  const id = Buffer.from(batch.id)
  const subject = Buffer.from(batch.subject)
  if (id.length > 0xffff || subject.length > 0xffff) throw new SpoolError('batch id or subject too long')
  const bodyLength = FIXED_BODY_BYTES + id.length + subject.length + batch.data.byteLength
  const record = Buffer.allocUnsafe(HEADER_BYTES + bodyLength)
  record.writeUInt32LE(MAGIC, 0)
  record.writeUInt32LE(bodyLength, 4)
  let at = HEADER_BYTES
  at = record.writeDoubleLE(batch.seq, at)
  at = record.writeUInt32LE(batch.sampleCount, at)
  at = record.writeUInt16LE(id.length, at)
  at = record.writeUInt16LE(subject.length, at)
  at += id.copy(record, at)
  at += subject.copy(record, at)
  record.set(batch.data, at)
  record.writeUInt32LE(crc32(record.subarray(HEADER_BYTES)), 8)
  return record
}

function decodeBody(body: Buffer): QueuedBatch | undefined {
  if (body.length < FIXED_BODY_BYTES) return undefined
  const seq = body.readDoubleLE(0)
  const sampleCount = body.readUInt32LE(8)
  const idLength = body.readUInt16LE(12)
  const subjectLength = body.readUInt16LE(14)
  const dataStart = FIXED_BODY_BYTES + idLength + subjectLength
  if (dataStart > body.length) return undefined
  return {
    id: body.toString('utf8', FIXED_BODY_BYTES, FIXED_BODY_BYTES + idLength),
    seq,
    subject: body.toString('utf8', FIXED_BODY_BYTES + idLength, dataStart),
    // A copy: the body buffer may be a slice of a whole segment read at open.
    data: new Uint8Array(body.subarray(dataStart)),
    sampleCount,
  }
}

/** Walks valid records from `start`; `validEnd` is where the first bad one begins (or the end). */
function scanSegment(data: Buffer, start: number): { validEnd: number; records: number; samples: number } {
  let at = start
  let records = 0
  let samples = 0
  while (at < data.length) {
    if (data.length - at < HEADER_BYTES || data.readUInt32LE(at) !== MAGIC) break
    const bodyLength = data.readUInt32LE(at + 4)
    const end = at + HEADER_BYTES + bodyLength
    if (bodyLength < FIXED_BODY_BYTES || end > data.length) break
    const body = data.subarray(at + HEADER_BYTES, end)
    if (crc32(body) !== data.readUInt32LE(at + 8)) break
    const sampleCount = body.readUInt32LE(8)
    if (FIXED_BODY_BYTES + body.readUInt16LE(12) + body.readUInt16LE(14) > body.length) break
    records++
    samples += sampleCount
    at = end
  }
  return { validEnd: at, records, samples }
}

async function readCursor(file: string, log: Logger): Promise<Cursor | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SpoolError(`cannot read ${file}: ${(error as Error).message}`, { cause: error })
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; segment?: unknown; offset?: unknown }
    if (
      parsed.version === 1 &&
      Number.isSafeInteger(parsed.segment) &&
      Number.isSafeInteger(parsed.offset) &&
      (parsed.offset as number) >= 0
    ) {
      return { segment: parsed.segment as number, offset: parsed.offset as number }
    }
  } catch {
    // reported below
  }
  // Replaying from the oldest segment re-sends acked batches; JetStream drops those still in its window.
  log.warn({ file }, 'spool cursor unreadable; replaying the spool from its oldest segment')
  return undefined
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // best effort: not every platform can fsync a directory
  }
}
