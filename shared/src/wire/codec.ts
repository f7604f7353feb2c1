import { WireError } from '../errors.js'
import type { Labels } from '../series.js'
import {
  checkAgentId,
  checkBatchBytes,
  checkCreatedMs,
  checkLabelCount,
  checkLabelName,
  checkLabelValueBytes,
  checkMetricName,
  checkParallelColumns,
  checkSampleCount,
  checkSamples,
  checkSeq,
  checkSeriesCount,
  checkSeriesSampleCount,
  duplicateLabel,
  loneSurrogate,
  sampleName,
} from './checks.js'
import {
  HEADER_BYTES,
  HOST_IS_LITTLE_ENDIAN,
  KNOWN_FLAGS,
  MAGIC,
  MAX_AGENT_ID_BYTES,
  OFFSET_AGENT_ID_LENGTH,
  OFFSET_CREATED_MS,
  OFFSET_FLAGS,
  OFFSET_SAMPLE_COUNT,
  OFFSET_SEQ,
  OFFSET_SERIES_COUNT,
  OFFSET_SYMBOL_COUNT,
  OFFSET_VERSION,
  VERSION,
  paddingTo8,
  quote,
  utf8Length,
  varintSize,
  writeVarint,
} from './format.js'
import type { DecodedBatch, DecodedSeries, MetricBatch, WireLimits } from './types.js'

/*
 * Wire format v1 (README.md, "Wire format v1", is the byte-by-byte spec):
 *
 *   header (36 B) | symbol lengths (varints) | agent id + symbol bytes (UTF-8)
 *   | series descriptors (varints) | 0-7 B padding | timestamps f64[n] | values f64[n]
 */

// ignoreBOM: a label value that starts with U+FEFF keeps it instead of losing it silently.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

/**
 * Encodes a batch. Refuses (with `WireError`) only what the format cannot carry faithfully: a bad agent
 * id or seq, a non-integer `createdMs`, timestamps and values of different lengths, lone surrogates.
 * Limits, names and sample rules are `validateBatch`'s job; the agent runs it first.
 */
export function encodeBatch(batch: MetricBatch): Uint8Array {
  checkAgentId(batch.agentId)
  checkSeq(batch.seq)
  checkCreatedMs(batch.createdMs)

  // Pass 1: intern every string once, collect descriptor fields, count samples.
  const symbolIndex = new Map<string, number>()
  const symbols: string[] = []
  const intern = (text: string): number => {
    let index = symbolIndex.get(text)
    if (index === undefined) {
      index = symbols.length
      symbolIndex.set(text, index)
      symbols.push(text)
    }
    return index
  }
  const descriptors: number[] = []
  let sampleCount = 0
  for (let s = 0; s < batch.series.length; s++) {
    const series = batch.series[s]!
    const count = checkParallelColumns(series.timestamps.length, series.values.length, s, series.name)
    descriptors.push(intern(series.name))
    const names = Object.keys(series.labels)
    descriptors.push(names.length)
    for (const name of names) descriptors.push(intern(name), intern(series.labels[name]!))
    descriptors.push(count)
    sampleCount += count
  }

  // Pass 2: exact size, then one allocation.
  const symbolBytes = new Uint32Array(symbols.length)
  let size = HEADER_BYTES + batch.agentId.length
  for (let i = 0; i < symbols.length; i++) {
    const bytes = utf8Length(symbols[i]!)
    if (bytes < 0) throw loneSurrogate(`string ${quote(symbols[i]!)}`)
    symbolBytes[i] = bytes
    size += varintSize(bytes) + bytes
  }
  for (const field of descriptors) size += varintSize(field)
  const columnsAt = size + paddingTo8(size)
  size = columnsAt + 16 * sampleCount
  if (sampleCount > 0xffffffff || batch.series.length > 0xffffffff) {
    throw new WireError('too_many_samples', `batch of ${sampleCount} samples does not fit the format`)
  }

  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  out[OFFSET_VERSION] = VERSION
  out[OFFSET_FLAGS] = 0
  view.setUint16(OFFSET_AGENT_ID_LENGTH, batch.agentId.length, true)
  view.setUint32(OFFSET_SEQ, batch.seq % 0x100000000, true)
  view.setUint32(OFFSET_SEQ + 4, Math.floor(batch.seq / 0x100000000), true)
  view.setFloat64(OFFSET_CREATED_MS, batch.createdMs, true)
  view.setUint32(OFFSET_SYMBOL_COUNT, symbols.length, true)
  view.setUint32(OFFSET_SERIES_COUNT, batch.series.length, true)
  view.setUint32(OFFSET_SAMPLE_COUNT, sampleCount, true)

  let pos = HEADER_BYTES
  for (let i = 0; i < symbols.length; i++) pos = writeVarint(out, pos, symbolBytes[i]!)
  pos = writeAscii(out, pos, batch.agentId) // checkAgentId allowed ASCII only
  for (let i = 0; i < symbols.length; i++) {
    const text = symbols[i]!
    if (symbolBytes[i] === text.length) pos = writeAscii(out, pos, text)
    else pos += utf8Encoder.encodeInto(text, out.subarray(pos)).written
  }
  for (const field of descriptors) pos = writeVarint(out, pos, field)

  // The buffer is fresh, so columnsAt (a multiple of 8) is 8-byte aligned for the views.
  if (HOST_IS_LITTLE_ENDIAN) {
    const timestamps = new Float64Array(out.buffer, columnsAt, sampleCount)
    const values = new Float64Array(out.buffer, columnsAt + 8 * sampleCount, sampleCount)
    let offset = 0
    for (const series of batch.series) {
      const n = series.timestamps.length
      if (n > 16) {
        timestamps.set(series.timestamps, offset)
        values.set(series.values, offset)
      } else {
        // For the usual 1-sample series a plain loop beats TypedArray.prototype.set's setup cost.
        for (let i = 0; i < n; i++) {
          timestamps[offset + i] = series.timestamps[i]!
          values[offset + i] = series.values[i]!
        }
      }
      offset += n
    }
  } else {
    let at = columnsAt
    for (const series of batch.series) {
      for (let i = 0; i < series.timestamps.length; i++, at += 8) {
        view.setFloat64(at, series.timestamps[i]!, true)
        view.setFloat64(at + 8 * sampleCount, series.values[i]!, true)
      }
    }
  }
  return out
}

function writeAscii(out: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i)
  return pos
}

/** Reads LEB128 varints with bounds checks; `section` and `item` only feed error messages. */
class Cursor {
  section = 'symbol lengths'
  item = 0
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): number {
    const { bytes, end } = this
    let pos = this.pos
    let result = 0
    let scale = 1
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw truncated(`${this.section}, item ${this.item}: varint runs past the end`)
      const byte = bytes[pos++]!
      result += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (result > 0xffffffff) break
        this.pos = pos
        return result
      }
      scale *= 128
    }
    throw new WireError(
      'bad_varint',
      `${this.section}, item ${this.item}: varint at byte ${this.pos} is longer than 5 bytes or above 2^32-1`,
    )
  }
}

function truncated(detail: string): WireError {
  return new WireError('truncated', detail)
}

/**
 * Decodes and validates a batch; throws `WireError` on the first violation. Never allocates more than
 * the input's size justifies, whatever its counts claim. When `bytes` is 8-byte aligned on a
 * little-endian host, `timestamps` and `values` are views into `bytes` (no copy; the input must not be
 * modified afterwards); otherwise they are copied.
 */
/**
 * Remembers, per sender, the structure (symbols and series descriptors) of the last batch decoded. An
 * agent sends the same series every interval, so most batches repeat the previous one's structure
 * byte for byte: those skip string decoding and validation and share the previous `series` array
 * (same object), which lets consumers cache per-series work (series ids) by identity.
 */
export class DecodeCache {
  private readonly entries = new Map<string, StructureEntry>()
  constructor(private readonly maxEntries = 100_000) {}

  get(key: string): StructureEntry | undefined {
    return this.entries.get(key)
  }

  set(key: string, entry: StructureEntry): void {
    this.entries.delete(key)
    this.entries.set(key, entry)
    // Map iteration order is insertion order: evict the least recently stored sender.
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
  }

  get size(): number {
    return this.entries.size
  }
}

interface StructureEntry {
  limits: WireLimits
  /** Header bytes that shape the structure (flags, agent id length, counts) and the structure itself. */
  shape: Uint8Array
  agentId: string
  series: DecodedSeries[]
}

/** Header bytes 5..8 (flags, agent id length) and 24..36 (counts), then the structure bytes. */
function shapeOf(bytes: Uint8Array, structureEnd: number): Uint8Array {
  const shape = new Uint8Array(3 + 12 + (structureEnd - HEADER_BYTES))
  shape.set(bytes.subarray(OFFSET_FLAGS, OFFSET_SEQ), 0)
  shape.set(bytes.subarray(OFFSET_SYMBOL_COUNT, HEADER_BYTES), 3)
  shape.set(bytes.subarray(HEADER_BYTES, structureEnd), 15)
  return shape
}

function sameShape(shape: Uint8Array, bytes: Uint8Array, structureEnd: number): boolean {
  if (shape.byteLength !== 15 + structureEnd - HEADER_BYTES) return false
  for (let i = 0; i < 3; i++) if (shape[i] !== bytes[OFFSET_FLAGS + i]) return false
  for (let i = 0; i < 12; i++) if (shape[3 + i] !== bytes[OFFSET_SYMBOL_COUNT + i]) return false
  return Buffer.compare(shape.subarray(15), bytes.subarray(HEADER_BYTES, structureEnd)) === 0
}

export function decodeBatch(
  bytes: Uint8Array,
  limits: WireLimits,
  nowMs: number,
  reuse?: { cache: DecodeCache; key: string },
): DecodedBatch {
  const end = bytes.byteLength
  checkBatchBytes(end, limits)
  for (let i = 0; i < MAGIC.length; i++) {
    if (i >= end) throw truncated(`${end} bytes, shorter than the magic`)
    if (bytes[i] !== MAGIC[i])
      throw new WireError('bad_magic', `byte ${i} is ${bytes[i]}, expected ${MAGIC[i]}`)
  }
  if (end <= OFFSET_VERSION) throw truncated(`${end} bytes, no version byte`)
  const version = bytes[OFFSET_VERSION]!
  if (version !== VERSION)
    throw new WireError('bad_version', `version ${version}, this decoder reads ${VERSION}`)
  if (end < HEADER_BYTES) throw truncated(`${end} bytes, shorter than the ${HEADER_BYTES}-byte header`)

  const view = new DataView(bytes.buffer, bytes.byteOffset, end)
  const flags = bytes[OFFSET_FLAGS]!
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new WireError('bad_flags', `unknown flag bits 0x${flags.toString(16)}`)
  const agentIdLength = view.getUint16(OFFSET_AGENT_ID_LENGTH, true)
  if (agentIdLength === 0 || agentIdLength > MAX_AGENT_ID_BYTES) {
    throw new WireError('bad_agent_id', `agent id is ${agentIdLength} bytes, must be 1-${MAX_AGENT_ID_BYTES}`)
  }
  const seqHigh = view.getUint32(OFFSET_SEQ + 4, true)
  if (seqHigh > 0x1fffff)
    throw new WireError('bad_seq', `seq is above 2^53-1 (high word 0x${seqHigh.toString(16)})`)
  const seq = seqHigh * 0x100000000 + view.getUint32(OFFSET_SEQ, true)
  const createdMs = view.getFloat64(OFFSET_CREATED_MS, true)
  checkCreatedMs(createdMs)
  const symbolCount = view.getUint32(OFFSET_SYMBOL_COUNT, true)
  const seriesCount = view.getUint32(OFFSET_SERIES_COUNT, true)
  const sampleCount = view.getUint32(OFFSET_SAMPLE_COUNT, true)
  checkSeriesCount(seriesCount, limits)
  checkSampleCount(sampleCount, limits)
  // The smallest encoding of each part: a 1-byte length per symbol, 3 bytes per descriptor, 16 per sample.
  // Checking this first bounds every allocation below by the input's size.
  const minimum = HEADER_BYTES + symbolCount + agentIdLength + 3 * seriesCount + 16 * sampleCount
  if (minimum > end) {
    throw truncated(
      `${symbolCount} symbols, ${seriesCount} series and ${sampleCount} samples need at least ${minimum} bytes, batch has ${end}`,
    )
  }

  // The structure ends where the two columns (16 bytes a sample) start, if the batch is well formed.
  const structureEnd = end - 16 * sampleCount
  const cached = reuse?.cache.get(reuse.key)
  if (cached !== undefined && cached.limits === limits && sameShape(cached.shape, bytes, structureEnd)) {
    return decodeColumns(
      bytes,
      view,
      structureEnd,
      version,
      cached.agentId,
      seq,
      createdMs,
      cached.series,
      sampleCount,
      limits,
      nowMs,
    )
  }

  const cursor = new Cursor(bytes, HEADER_BYTES, end)
  const symbolLengths = new Uint32Array(symbolCount)
  let stringBytes = agentIdLength
  for (let i = 0; i < symbolCount; i++) {
    cursor.item = i
    const length = cursor.varint()
    symbolLengths[i] = length
    stringBytes += length
  }
  const stringsAt = cursor.pos
  if (stringsAt + stringBytes > end) {
    throw truncated(`strings need ${stringBytes} bytes at byte ${stringsAt}, batch has ${end}`)
  }
  const { agentId, symbols } = decodeStrings(bytes, stringsAt, agentIdLength, symbolLengths)
  checkAgentId(agentId)
  cursor.pos = stringsAt + stringBytes

  // Series descriptors. Each symbol is checked once per role, however many series use it.
  const METRIC = 1
  const LABEL = 2
  const checked = new Uint8Array(symbolCount)
  const series: DecodedSeries[] = []
  const labelSets = new Map<number, LabelSet>()
  const pairs: number[] = []
  let offset = 0
  cursor.section = 'series descriptors'
  for (let s = 0; s < seriesCount; s++) {
    cursor.item = s
    const nameSymbol = symbolAt(cursor.varint(), symbolCount, s)
    const name = symbols[nameSymbol]!
    if ((checked[nameSymbol]! & METRIC) === 0) {
      checkMetricName(name, limits, s)
      checked[nameSymbol]! |= METRIC
    }
    const labelCount = cursor.varint()
    checkLabelCount(labelCount, limits, s, name)
    // Read the pairs first: a label set already built in this batch (one host's series mostly share
    // theirs) is reused, already validated, instead of building and checking a new object.
    let hash = labelCount
    for (let p = 0; p < 2 * labelCount; p++) {
      const symbol = symbolAt(cursor.varint(), symbolCount, s)
      pairs[p] = symbol
      hash = Math.imul(hash ^ symbol, 0x9e3779b1)
    }
    hash &= 0x3fffffff // stays a small integer: the fastest Map key
    let set = labelSets.get(hash)
    while (set !== undefined && !samePairs(set.pairs, pairs, labelCount)) set = set.next
    if (set === undefined) {
      const labels: Record<string, string> = {}
      for (let p = 0; p < 2 * labelCount; p += 2) {
        const keySymbol = pairs[p]!
        const valueSymbol = pairs[p + 1]!
        const key = symbols[keySymbol]!
        if ((checked[keySymbol]! & LABEL) === 0) {
          checkLabelName(key, limits, s, name)
          checked[keySymbol]! |= LABEL
        }
        checkLabelValueBytes(symbolLengths[valueSymbol]!, limits, s, name, key)
        if (Object.hasOwn(labels, key)) throw duplicateLabel(s, name, key)
        labels[key] = symbols[valueSymbol]!
      }
      set = { pairs: pairs.slice(0, 2 * labelCount), labels, next: labelSets.get(hash) }
      labelSets.set(hash, set)
    }
    const labels = set.labels
    const count = cursor.varint()
    checkSeriesSampleCount(count, s, name)
    series.push({ name, labels, offset, count })
    offset += count
    if (offset > sampleCount) {
      throw new WireError(
        'sample_count_mismatch',
        `series 0-${s} hold ${offset} samples, the header says ${sampleCount}`,
      )
    }
  }
  if (offset !== sampleCount) {
    throw new WireError(
      'sample_count_mismatch',
      `series hold ${offset} samples, the header says ${sampleCount}`,
    )
  }

  const columnsAt = cursor.pos + paddingTo8(cursor.pos)
  const columnsEnd = columnsAt + 16 * sampleCount
  if (columnsEnd > end) throw truncated(`columns need bytes up to ${columnsEnd}, batch has ${end}`)
  if (columnsEnd < end)
    throw new WireError('trailing_bytes', `${end - columnsEnd} bytes after the values column`)
  const batch = decodeColumns(
    bytes,
    view,
    columnsAt,
    version,
    agentId,
    seq,
    createdMs,
    series,
    sampleCount,
    limits,
    nowMs,
  )
  // Only a structure whose samples also passed is remembered.
  reuse?.cache.set(reuse.key, { limits, shape: shapeOf(bytes, columnsAt), agentId, series })
  return batch
}

function decodeColumns(
  bytes: Uint8Array,
  view: DataView,
  columnsAt: number,
  version: number,
  agentId: string,
  seq: number,
  createdMs: number,
  series: DecodedSeries[],
  sampleCount: number,
  limits: WireLimits,
  nowMs: number,
): DecodedBatch {
  let timestamps: Float64Array
  let values: Float64Array
  if (HOST_IS_LITTLE_ENDIAN && ((bytes.byteOffset + columnsAt) & 7) === 0) {
    timestamps = new Float64Array(bytes.buffer, bytes.byteOffset + columnsAt, sampleCount)
    values = new Float64Array(bytes.buffer, bytes.byteOffset + columnsAt + 8 * sampleCount, sampleCount)
  } else if (HOST_IS_LITTLE_ENDIAN) {
    // One memcpy for both columns, into a shared slab.
    const both = columnSlab(2 * sampleCount)
    new Uint8Array(both.buffer, both.byteOffset, both.byteLength).set(
      bytes.subarray(columnsAt, columnsAt + 16 * sampleCount),
    )
    timestamps = both.subarray(0, sampleCount)
    values = both.subarray(sampleCount)
  } else {
    timestamps = new Float64Array(sampleCount)
    values = new Float64Array(sampleCount)
    for (let i = 0; i < sampleCount; i++) {
      timestamps[i] = view.getFloat64(columnsAt + 8 * i, true)
      values[i] = view.getFloat64(columnsAt + 8 * (sampleCount + i), true)
    }
  }
  checkSamples(timestamps, values, 0, sampleCount, limits, nowMs, (i) => locateSample(series, i))

  return { version, agentId, seq, createdMs, series, timestamps, values, sampleCount }
}

/**
 * Column copies of unaligned batches (a NATS payload starts anywhere in its read buffer) are carved
 * from shared 64 KiB slabs: one ArrayBuffer per ~40 agent batches instead of one each, as every
 * ArrayBuffer is external memory V8 tracks, sweeps and counts towards its next full collection. A
 * slab lives while any batch in it does; 64 KiB bounds what one long-held batch pins.
 */
const SLAB_BYTES = 64 * 1024
let slab = new ArrayBuffer(0)
let slabUsed = 0

function columnSlab(length: number): Float64Array {
  const bytes = 8 * length
  if (bytes > SLAB_BYTES / 4) return new Float64Array(length)
  if (slabUsed + bytes > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabUsed = 0
  }
  const out = new Float64Array(slab, slabUsed, length)
  slabUsed += bytes
  return out
}

/** A label set built once per batch; `pairs` are its (name symbol, value symbol) indices. */
interface LabelSet {
  pairs: number[]
  labels: Labels
  next: LabelSet | undefined
}

function samePairs(known: number[], pairs: number[], labelCount: number): boolean {
  if (known.length !== 2 * labelCount) return false
  for (let p = 0; p < known.length; p++) if (known[p] !== pairs[p]) return false
  return true
}

function symbolAt(index: number, symbolCount: number, series: number): number {
  if (index >= symbolCount) {
    throw new WireError(
      'bad_symbol',
      `series ${series}: symbol ${index} out of range (batch has ${symbolCount})`,
    )
  }
  return index
}

/**
 * The agent id and every symbol. Fast path: one TextDecoder call for all of them; when the result has
 * as many UTF-16 units as there were bytes, every byte was ASCII and byte offsets are string offsets.
 * Otherwise (non-ASCII text, or invalid UTF-8 to pin on one symbol) each string is decoded on its own,
 * which also catches a multi-byte character split across two symbols.
 */
function decodeStrings(
  bytes: Uint8Array,
  at: number,
  agentIdLength: number,
  symbolLengths: Uint32Array,
): { agentId: string; symbols: string[] } {
  let total = agentIdLength
  for (let i = 0; i < symbolLengths.length; i++) total += symbolLengths[i]!
  let whole: string | undefined
  try {
    whole = utf8Decoder.decode(bytes.subarray(at, at + total))
  } catch {
    whole = undefined // pinned on one string below
  }
  const symbols: string[] = []
  if (whole !== undefined && whole.length === total) {
    let pos = agentIdLength
    for (let i = 0; i < symbolLengths.length; i++) {
      const next = pos + symbolLengths[i]!
      symbols.push(whole.slice(pos, next))
      pos = next
    }
    return { agentId: whole.slice(0, agentIdLength), symbols }
  }
  const agentId = decodeOne(bytes, at, agentIdLength, 'agent id')
  let pos = at + agentIdLength
  for (let i = 0; i < symbolLengths.length; i++) {
    symbols.push(decodeOne(bytes, pos, symbolLengths[i]!, `symbol ${i}`))
    pos += symbolLengths[i]!
  }
  return { agentId, symbols }
}

function decodeOne(bytes: Uint8Array, at: number, length: number, what: string): string {
  try {
    return utf8Decoder.decode(bytes.subarray(at, at + length))
  } catch {
    throw new WireError('bad_utf8', `${what} (bytes ${at}-${at + length}) is not valid UTF-8`)
  }
}

function locateSample(series: DecodedSeries[], index: number): string {
  let low = 0
  let high = series.length - 1
  while (low < high) {
    const mid = (low + high + 1) >>> 1
    if (series[mid]!.offset <= index) low = mid
    else high = mid - 1
  }
  const found = series[low]!
  return `${sampleName(low, found.name, index - found.offset)} (column index ${index})`
}
