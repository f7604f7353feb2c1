import { describe, expect, it } from 'vitest'
import { wireLimitsSchema } from '../config/schema.js'
import { WireError, type WireRejectReason } from '../errors.js'
import { checkBatchBytes, limitsFromConfig, validateBatch } from './checks.js'
import { DecodeCache, decodeBatch, encodeBatch } from './codec.js'
import type { MetricBatch, SeriesSamples, WireLimits } from './types.js'

const NOW = 1_700_000_000_000
const LIMITS: WireLimits = limitsFromConfig(wireLimitsSchema.parse({}))

function limits(overrides: Partial<WireLimits>): WireLimits {
  return { ...LIMITS, ...overrides }
}

function batch(series: SeriesSamples[], overrides: Partial<MetricBatch> = {}): MetricBatch {
  return { agentId: 'i631.us-west', seq: 7, createdMs: NOW, series, ...overrides }
}

function one(
  name: string,
  labels: Record<string, string>,
  values = [1],
  timestamps?: number[],
): SeriesSamples {
  return { name, labels, timestamps: timestamps ?? values.map(() => NOW), values }
}

function reasonOf(run: () => unknown): WireRejectReason | 'accepted' {
  try {
    run()
    return 'accepted'
  } catch (error) {
    if (error instanceof WireError) return error.reason
    throw error
  }
}

function detailOf(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    if (error instanceof WireError) return error.message
    throw error
  }
  throw new Error('expected a WireError')
}

const decode =
  (bytes: Uint8Array, lim: WireLimits = LIMITS) =>
  () =>
    decodeBatch(bytes, lim, NOW)
const validate =
  (b: MetricBatch, lim: WireLimits = LIMITS) =>
  () =>
    validateBatch(b, lim, NOW)

/**
 * Builds v1 bytes field by field, independently of encodeBatch, from the layout in README.md, so
 * tests can write what the encoder refuses to. Symbols are strings or raw bytes; descriptors are
 * written as varints unless `descriptorBytes` replaces them.
 */
interface Raw {
  magic: number[]
  version: number
  flags: number
  agentId: string
  agentIdLength?: number
  seqLow: number
  seqHigh: number
  createdMs: number
  symbols: (string | number[])[]
  symbolLengths?: number[]
  symbolCount?: number
  series: { name: number; labels: [number, number][]; count: number }[]
  seriesCount?: number
  sampleCount?: number
  descriptorBytes?: number[]
  timestamps: number[]
  values: number[]
}

const BASE: Raw = {
  magic: [0x54, 0x57, 0x4d, 0x42],
  version: 1,
  flags: 0,
  agentId: 'i631.us-west',
  seqLow: 7,
  seqHigh: 0,
  createdMs: NOW,
  symbols: ['cpu.usage', 'host', 'i631'],
  series: [{ name: 0, labels: [[1, 2]], count: 1 }],
  timestamps: [NOW],
  values: [0.5],
}

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

function raw(overrides: Partial<Raw> = {}): Uint8Array {
  const r = { ...BASE, ...overrides }
  const text = new TextEncoder()
  const symbolBytes = r.symbols.map((s) => (typeof s === 'string' ? [...text.encode(s)] : s))
  const header = new DataView(new ArrayBuffer(36))
  r.magic.forEach((b, i) => header.setUint8(i, b))
  header.setUint8(4, r.version)
  header.setUint8(5, r.flags)
  header.setUint16(6, r.agentIdLength ?? r.agentId.length, true)
  header.setUint32(8, r.seqLow, true)
  header.setUint32(12, r.seqHigh, true)
  header.setFloat64(16, r.createdMs, true)
  header.setUint32(24, r.symbolCount ?? r.symbols.length, true)
  header.setUint32(28, r.seriesCount ?? r.series.length, true)
  header.setUint32(32, r.sampleCount ?? r.timestamps.length, true)
  const body: number[] = [...new Uint8Array(header.buffer)]
  symbolBytes.forEach((s, i) => body.push(...varint(r.symbolLengths?.[i] ?? s.length)))
  body.push(...text.encode(r.agentId))
  for (const s of symbolBytes) body.push(...s)
  if (r.descriptorBytes) body.push(...r.descriptorBytes)
  else {
    for (const s of r.series) {
      body.push(...varint(s.name), ...varint(s.labels.length))
      for (const [k, v] of s.labels) body.push(...varint(k), ...varint(v))
      body.push(...varint(s.count))
    }
  }
  while (body.length % 8 !== 0) body.push(0)
  const columns = new DataView(new ArrayBuffer(8 * (r.timestamps.length + r.values.length)))
  r.timestamps.forEach((t, i) => columns.setFloat64(8 * i, t, true))
  r.values.forEach((v, i) => columns.setFloat64(8 * (r.timestamps.length + i), v, true))
  return Uint8Array.from([...body, ...new Uint8Array(columns.buffer)])
}

describe('round trip', () => {
  it('keeps names, labels (unicode included) and several samples per series', () => {
    const input = batch(
      [
        one(
          'cpu.usage_user',
          { host: 'i631', env: 'prod', region: 'us-west', cpu: 'cpu0' },
          [0.25, 0.5, 0.75],
          [NOW - 20_000, NOW - 10_000, NOW],
        ),
        one(
          'disk.free',
          { host: 'i631', mount: '/données', city: 'Zürich 東京 🚀', bom: '\uFEFFlead' },
          [1e12],
        ),
        one('up', {}, [1]),
        {
          name: 'net:rx.bytes',
          labels: { host: 'i631', constructor: 'x', toString: 'y' },
          timestamps: Float64Array.of(NOW - 1, NOW),
          values: Float64Array.of(-0, Number.MAX_VALUE),
        },
      ],
      { seq: Number.MAX_SAFE_INTEGER, createdMs: NOW + 5 },
    )
    validateBatch(input, LIMITS, NOW)
    const bytes = encodeBatch(input)
    const out = decodeBatch(bytes, LIMITS, NOW)
    expect(out.version).toBe(1)
    expect(out.agentId).toBe(input.agentId)
    expect(out.seq).toBe(Number.MAX_SAFE_INTEGER)
    expect(out.createdMs).toBe(NOW + 5)
    expect(out.sampleCount).toBe(7)
    expect(out.series.map((s) => [s.name, s.labels, s.offset, s.count])).toEqual(
      input.series.map((s, i) => [s.name, s.labels, [0, 3, 4, 5][i], s.values.length]),
    )
    expect([...out.timestamps]).toEqual(input.series.flatMap((s) => Array.from(s.timestamps)))
    expect([...out.values]).toEqual(input.series.flatMap((s) => Array.from(s.values)))
    expect(Object.is(out.values[5], -0)).toBe(true)
  })

  it('matches the byte layout documented in README.md', () => {
    const bytes = encodeBatch(batch([one('cpu.usage', { host: 'i631' }, [0.5])]))
    expect([...bytes]).toEqual([...raw()])
  })

  it('stores each repeated string once per batch', () => {
    const series = Array.from({ length: 100 }, (_, i) => one(`m${i}`, { host: 'i631-unique', env: 'prod' }))
    const bytes = encodeBatch(batch(series))
    const text = Buffer.from(bytes).toString('latin1')
    expect(text.split('i631-unique').length - 1).toBe(1)
    expect(decodeBatch(bytes, LIMITS, NOW).series[99]!.labels).toEqual({ host: 'i631-unique', env: 'prod' })
  })

  it('gives each series its own label set when sets repeat and interleave', () => {
    const sets: Record<string, string>[] = [
      { host: 'a' },
      { host: 'b' },
      { host: 'a', cpu: '0' },
      { cpu: '0', host: 'a' },
      {},
    ]
    const series = Array.from({ length: 20 }, (_, i) => one(`m${i % 3}`, sets[i % sets.length]!))
    const out = decodeBatch(encodeBatch(batch(series)), LIMITS, NOW)
    expect(out.series.map((s) => s.labels)).toEqual(series.map((s) => s.labels))
    expect(out.series[5]!.labels).toBe(out.series[0]!.labels) // one validated object per distinct set
  })

  it('accepts a batch with no series', () => {
    const out = decodeBatch(encodeBatch(batch([])), LIMITS, NOW)
    expect(out.series).toEqual([])
    expect(out.sampleCount).toBe(0)
  })

  it('views aligned input and copies unaligned input', () => {
    const bytes = encodeBatch(batch([one('m', { a: 'b' }, [1, 2, 3])]))
    const aligned = decodeBatch(bytes, LIMITS, NOW)
    expect(aligned.timestamps.buffer).toBe(bytes.buffer)
    const shifted = new Uint8Array(bytes.byteLength + 1)
    shifted.set(bytes, 1)
    const unaligned = decodeBatch(shifted.subarray(1), LIMITS, NOW)
    expect(unaligned.values.buffer).not.toBe(shifted.buffer)
    expect([...unaligned.values]).toEqual([1, 2, 3])
    expect([...unaligned.timestamps]).toEqual([...aligned.timestamps])
  })

  it('keeps every unaligned batch its own columns while they share a slab, and past its end', () => {
    // 3,000 batches of 3 samples fill several 64 KiB slabs; a large one gets its own array.
    const decoded = Array.from({ length: 3_000 }, (_, i) => {
      const bytes = encodeBatch(batch([one('m', { a: 'b' }, [i, i + 0.5, -i])]))
      const shifted = new Uint8Array(bytes.byteLength + 3)
      shifted.set(bytes, 3)
      return decodeBatch(shifted.subarray(3), LIMITS, NOW)
    })
    const large = encodeBatch(
      batch([
        one(
          'm',
          {},
          Array.from({ length: 5_000 }, (_, i) => i),
        ),
      ]),
    )
    const shiftedLarge = new Uint8Array(large.byteLength + 1)
    shiftedLarge.set(large, 1)
    const big = decodeBatch(shiftedLarge.subarray(1), LIMITS, NOW)
    decoded.forEach((out, i) => expect([...out.values]).toEqual([i, i + 0.5, -i]))
    expect(big.values[4_999]).toBe(4_999)
    expect(decoded[0]!.values.buffer).toBe(decoded[1]!.values.buffer)
    expect(decoded[0]!.values.buffer).not.toBe(decoded[2_999]!.values.buffer)
  })

  it('accepts timestamps exactly at both ends of the window', () => {
    const b = batch([one('m', {}, [1, 2], [NOW - LIMITS.maxPastAgeMs, NOW + LIMITS.maxFutureSkewMs])])
    expect(reasonOf(validate(b))).toBe('accepted')
    expect(reasonOf(decode(encodeBatch(b)))).toBe('accepted')
  })

  it('builds limits from the config table', () => {
    const cfg = wireLimitsSchema.parse({ max_future_skew: '1m', max_past_age: '2h', max_batch_bytes: 1000 })
    expect(limitsFromConfig(cfg)).toMatchObject({
      maxFutureSkewMs: 60_000,
      maxPastAgeMs: 7_200_000,
      maxBatchBytes: 1000,
    })
  })
})

describe('every limit rejects with its reason', () => {
  it('raw() builds a valid batch, the base of the hostile cases', () => {
    expect(decodeBatch(raw(), LIMITS, NOW).series[0]!.labels).toEqual({ host: 'i631' })
  })

  it('batch_too_large, checked before parsing', () => {
    const bytes = raw()
    expect(reasonOf(decode(bytes, limits({ maxBatchBytes: bytes.byteLength - 1 })))).toBe('batch_too_large')
    expect(reasonOf(decode(bytes, limits({ maxBatchBytes: bytes.byteLength })))).toBe('accepted')
    expect(reasonOf(decode(new Uint8Array(100), limits({ maxBatchBytes: 99 })))).toBe('batch_too_large')
    expect(reasonOf(() => checkBatchBytes(101, limits({ maxBatchBytes: 100 })))).toBe('batch_too_large')
  })

  it('bad_magic', () => {
    expect(reasonOf(decode(raw({ magic: [0x54, 0x57, 0x4d, 0x43] })))).toBe('bad_magic')
    expect(reasonOf(decode(Uint8Array.of(0x7b, 0x22)))).toBe('bad_magic') // '{"': JSON on the wrong subject
  })

  it('bad_version', () => {
    expect(reasonOf(decode(raw({ version: 2 })))).toBe('bad_version')
    expect(reasonOf(decode(raw({ version: 0 })))).toBe('bad_version')
    expect(reasonOf(decode(Uint8Array.of(0x54, 0x57, 0x4d, 0x42, 2)))).toBe('bad_version')
  })

  it('bad_flags', () => {
    expect(reasonOf(decode(raw({ flags: 1 })))).toBe('bad_flags')
  })

  it('truncated: every prefix of a valid batch', () => {
    const bytes = encodeBatch(batch([one('cpu.usage', { host: 'i631', env: 'prod' }, [1, 2], [NOW, NOW])]))
    for (let length = 0; length < bytes.byteLength; length++) {
      expect(reasonOf(decode(bytes.subarray(0, length))), `prefix of ${length}`).toBe('truncated')
    }
  })

  it('truncated: hostile counts are refused without allocating', () => {
    expect(reasonOf(decode(raw({ symbolCount: 0xffffffff })))).toBe('truncated')
    expect(reasonOf(decode(raw({ sampleCount: 100_000 })))).toBe('truncated')
    expect(reasonOf(decode(raw({ seriesCount: 5000 })))).toBe('truncated')
    const huge = limits({ maxSeriesPerBatch: 2 ** 32, maxSamplesPerBatch: 2 ** 32 })
    expect(reasonOf(decode(raw({ seriesCount: 0xffffffff, sampleCount: 0xffffffff }), huge))).toBe(
      'truncated',
    )
    expect(reasonOf(decode(raw({ symbolLengths: [9, 4, 0xffffffff] })))).toBe('truncated')
  })

  it('trailing_bytes', () => {
    const bytes = raw()
    const longer = new Uint8Array(bytes.byteLength + 1)
    longer.set(bytes)
    expect(reasonOf(decode(longer))).toBe('trailing_bytes')
    expect(reasonOf(decode(raw({ values: [0.5, 0.5] })))).toBe('trailing_bytes')
  })

  it('too_many_series', () => {
    const b = batch([one('a', {}), one('b', {}), one('c', {})])
    expect(reasonOf(validate(b, limits({ maxSeriesPerBatch: 2 })))).toBe('too_many_series')
    expect(reasonOf(decode(encodeBatch(b), limits({ maxSeriesPerBatch: 2 })))).toBe('too_many_series')
    expect(reasonOf(decode(raw({ seriesCount: 0xffffffff })))).toBe('too_many_series')
  })

  it('too_many_samples', () => {
    const b = batch([one('a', {}, [1, 2]), one('b', {}, [3, 4])])
    expect(reasonOf(validate(b, limits({ maxSamplesPerBatch: 3 })))).toBe('too_many_samples')
    expect(reasonOf(decode(encodeBatch(b), limits({ maxSamplesPerBatch: 3 })))).toBe('too_many_samples')
    expect(reasonOf(decode(raw({ sampleCount: 0xffffffff })))).toBe('too_many_samples')
  })

  it('too_many_labels', () => {
    const b = batch([one('a', { a: '1', b: '2', c: '3' })])
    expect(reasonOf(validate(b, limits({ maxLabelsPerSeries: 2 })))).toBe('too_many_labels')
    expect(reasonOf(decode(encodeBatch(b), limits({ maxLabelsPerSeries: 2 })))).toBe('too_many_labels')
    const hostile = raw({ descriptorBytes: [0, ...varint(0xffffffff)] })
    expect(reasonOf(decode(hostile))).toBe('too_many_labels')
  })

  it('bad_metric_name', () => {
    for (const name of ['cpu usage', '1cpu', '', 'cpu-usage', 'é', 'a'.repeat(LIMITS.maxNameLength + 1)]) {
      const b = batch([one('ok', {}), one(name, {})])
      expect(reasonOf(validate(b)), name).toBe('bad_metric_name')
      expect(reasonOf(decode(encodeBatch(b))), name).toBe('bad_metric_name')
    }
    for (const name of ['cpu.usage', ':recorded:rule', '_x', 'a'.repeat(LIMITS.maxNameLength)]) {
      expect(reasonOf(validate(batch([one(name, {})]))), name).toBe('accepted')
    }
    expect(detailOf(validate(batch([one('ok', {}), one('cpu usage', {})])))).toContain('series 1')
  })

  it('bad_label_name', () => {
    for (const name of [
      '__name__',
      '__x',
      'host-name',
      '1host',
      '',
      'hôte',
      'a'.repeat(LIMITS.maxNameLength + 1),
    ]) {
      const b = batch([one('m', { ok: '1', [name]: 'v' })])
      expect(reasonOf(validate(b)), name).toBe('bad_label_name')
      expect(reasonOf(decode(encodeBatch(b))), name).toBe('bad_label_name')
    }
    expect(reasonOf(validate(batch([one('m', { _x: '1', a_1: '2' })])))).toBe('accepted')
    expect(detailOf(validate(batch([one('m', { 'host-name': 'v' })])))).toContain('"host-name"')
  })

  it('label_value_too_long, counted in UTF-8 bytes', () => {
    const lim = limits({ maxLabelValueLength: 4 })
    expect(reasonOf(validate(batch([one('m', { a: 'abcd' })]), lim))).toBe('accepted')
    expect(reasonOf(validate(batch([one('m', { a: 'abcde' })]), lim))).toBe('label_value_too_long')
    const accented = batch([one('m', { a: 'ééé' })]) // 3 characters, 6 bytes
    expect(reasonOf(validate(accented, lim))).toBe('label_value_too_long')
    expect(reasonOf(decode(encodeBatch(accented), lim))).toBe('label_value_too_long')
  })

  it('duplicate_label (only bytes can say it: an object has unique keys)', () => {
    expect(
      reasonOf(
        decode(
          raw({
            series: [
              {
                name: 0,
                labels: [
                  [1, 2],
                  [1, 2],
                ],
                count: 1,
              },
            ],
          }),
        ),
      ),
    ).toBe('duplicate_label')
    const twoSymbolsSameText = raw({
      symbols: ['cpu.usage', 'host', 'i631', 'host'],
      series: [
        {
          name: 0,
          labels: [
            [1, 2],
            [3, 2],
          ],
          count: 1,
        },
      ],
    })
    expect(reasonOf(decode(twoSymbolsSameText))).toBe('duplicate_label')
  })

  it('non_finite_value: NaN and +-Infinity', () => {
    for (const v of [NaN, Infinity, -Infinity]) {
      const b = batch([one('m', {}, [1, v])])
      expect(reasonOf(validate(b)), String(v)).toBe('non_finite_value')
      expect(reasonOf(decode(encodeBatch(b))), String(v)).toBe('non_finite_value')
    }
    const detail = detailOf(decode(encodeBatch(batch([one('a', {}, [1, 2]), one('b', {}, [3, NaN])]))))
    expect(detail).toContain('series 1 ("b") sample 1 (column index 3)')
  })

  it('timestamp_too_old, timestamp_too_new, bad_timestamp', () => {
    const cases: [number, WireRejectReason][] = [
      [NOW - LIMITS.maxPastAgeMs - 1, 'timestamp_too_old'],
      [0, 'timestamp_too_old'],
      [NOW + LIMITS.maxFutureSkewMs + 1, 'timestamp_too_new'],
      [NOW + 0.5, 'bad_timestamp'],
      [NaN, 'bad_timestamp'],
      [Infinity, 'bad_timestamp'],
    ]
    for (const [t, reason] of cases) {
      const b = batch([one('m', {}, [1, 2], [NOW, t])])
      expect(reasonOf(validate(b)), String(t)).toBe(reason)
      expect(reasonOf(decode(encodeBatch(b))), String(t)).toBe(reason)
    }
    expect(reasonOf(decode(raw({ createdMs: 1.5 })))).toBe('bad_timestamp')
    expect(reasonOf(() => encodeBatch(batch([], { createdMs: -1 })))).toBe('bad_timestamp')
  })

  it('bad_utf8', () => {
    const invalid: number[][] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]
    for (const bytes of invalid) {
      expect(reasonOf(decode(raw({ symbols: ['cpu.usage', 'host', bytes] }))), String(bytes)).toBe('bad_utf8')
    }
    // "é" (c3 a9) split across two symbols: the whole run is valid UTF-8, each symbol is not.
    const split = raw({ symbols: ['cpu.usage', 'host', [0x61, 0xc3], [0xa9]] })
    expect(reasonOf(decode(split))).toBe('bad_utf8')
    expect(detailOf(decode(split))).toContain('symbol 2')
    const lone = batch([one('m', { a: 'x\ud800y' })])
    expect(reasonOf(validate(lone))).toBe('bad_utf8')
    expect(reasonOf(() => encodeBatch(lone))).toBe('bad_utf8')
  })

  it('bad_agent_id', () => {
    for (const agentId of ['', 'a'.repeat(129), 'has space', 'a.*', 'a..b', 'a.', 'é']) {
      expect(reasonOf(validate(batch([], { agentId }))), agentId).toBe('bad_agent_id')
      expect(
        reasonOf(() => encodeBatch(batch([], { agentId }))),
        agentId,
      ).toBe('bad_agent_id')
    }
    expect(reasonOf(validate(batch([], { agentId: 'a'.repeat(128) })))).toBe('accepted')
    expect(reasonOf(decode(raw({ agentId: '', agentIdLength: 0 })))).toBe('bad_agent_id')
    expect(reasonOf(decode(raw({ agentId: 'has space' })))).toBe('bad_agent_id')
    expect(reasonOf(decode(raw({ agentId: 'a'.repeat(129) })))).toBe('bad_agent_id')
  })

  it('bad_seq', () => {
    for (const seq of [-1, 1.5, NaN, 2 ** 53]) {
      expect(reasonOf(validate(batch([], { seq }))), String(seq)).toBe('bad_seq')
      expect(
        reasonOf(() => encodeBatch(batch([], { seq }))),
        String(seq),
      ).toBe('bad_seq')
    }
    expect(reasonOf(decode(raw({ seqHigh: 0x200000 })))).toBe('bad_seq')
    expect(decodeBatch(raw({ seqHigh: 0x1fffff, seqLow: 0xffffffff }), LIMITS, NOW).seq).toBe(2 ** 53 - 1)
  })

  it('bad_symbol', () => {
    expect(reasonOf(decode(raw({ series: [{ name: 3, labels: [], count: 1 }] })))).toBe('bad_symbol')
    expect(reasonOf(decode(raw({ series: [{ name: 0, labels: [[1, 9]], count: 1 }] })))).toBe('bad_symbol')
  })

  it('bad_varint', () => {
    expect(reasonOf(decode(raw({ descriptorBytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 1] })))).toBe(
      'bad_varint',
    )
    expect(reasonOf(decode(raw({ descriptorBytes: [0xff, 0xff, 0xff, 0xff, 0x1f, 0, 1] })))).toBe(
      'bad_varint',
    )
  })

  it('sample_count_mismatch', () => {
    const twoInHeader = raw({ timestamps: [NOW, NOW], values: [1, 1] }) // one series of 1 sample
    expect(reasonOf(decode(twoInHeader))).toBe('sample_count_mismatch')
    const tooMany = raw({ series: [{ name: 0, labels: [], count: 2 }] })
    expect(reasonOf(decode(tooMany))).toBe('sample_count_mismatch')
    const uneven: SeriesSamples = { name: 'm', labels: {}, timestamps: [NOW, NOW], values: [1] }
    expect(reasonOf(validate(batch([uneven])))).toBe('sample_count_mismatch')
    expect(reasonOf(() => encodeBatch(batch([uneven])))).toBe('sample_count_mismatch')
  })

  it('empty_series', () => {
    const b = batch([one('m', {}, [])])
    expect(reasonOf(validate(b))).toBe('empty_series')
    expect(reasonOf(decode(encodeBatch(b)))).toBe('empty_series')
  })
})

describe('hostile input', () => {
  // mulberry32: a seeded generator, so a failure names a reproducible case.
  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }

  function outcome(bytes: Uint8Array): string {
    try {
      decodeBatch(bytes, LIMITS, NOW)
      return 'accepted'
    } catch (error) {
      if (error instanceof WireError) return error.reason
      throw error
    }
  }

  it('random bytes and single-byte mutations only ever throw WireError', () => {
    const next = random(20240601)
    const valid = encodeBatch(
      batch([
        one('cpu.usage', { host: 'i631', env: 'prod', region: 'us-west' }, [0.1, 0.2], [NOW - 1, NOW]),
        one('mem.used', { host: 'i631', env: 'prod', zone: 'Zürich' }, [3]),
      ]),
    )
    const seen = new Map<string, number>()
    const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1)
    for (let i = 0; i < 10_000; i++) {
      const bytes = new Uint8Array(Math.floor(next() * 200))
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256)
      if (i % 2 === 0 && bytes.length >= 5) bytes.set([0x54, 0x57, 0x4d, 0x42, 1]) // get past magic and version
      count(outcome(bytes))
    }
    for (let i = 0; i < 10_000; i++) {
      const bytes = valid.slice()
      bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256)
      count(outcome(bytes))
    }
    // Mutations reach deep checks, not only the header.
    expect(seen.get('bad_symbol')).toBeGreaterThan(0)
    expect(seen.get('bad_utf8')).toBeGreaterThan(0)
    expect(seen.get('accepted')).toBeGreaterThan(0)
  })
})

describe('DecodeCache', () => {
  const limits = limitsFromConfig(wireLimitsSchema.parse({}))
  const now = Date.UTC(2026, 0, 1)
  const batchAt = (seq: number, value: number): Uint8Array =>
    encodeBatch({
      agentId: 'web-1',
      seq,
      createdMs: now,
      series: [
        {
          name: 'cpu.usage_percent',
          labels: { host: 'web-1', cpu: 'total' },
          timestamps: [now - 1000],
          values: [value],
        },
        {
          name: 'mem.used_bytes',
          labels: { host: 'web-1' },
          timestamps: [now - 1000, now],
          values: [value * 2, value * 3],
        },
      ],
    })

  it('reuses the series of a batch with the same structure and still reads its own samples', () => {
    const cache = new DecodeCache()
    const first = decodeBatch(batchAt(1, 10), limits, now, { cache, key: 'metrics.in.web-1' })
    const second = decodeBatch(batchAt(2, 20), limits, now, { cache, key: 'metrics.in.web-1' })
    expect(second.series).toBe(first.series)
    expect(second.seq).toBe(2)
    expect(Array.from(second.values)).toEqual([20, 40, 60])
    expect(second).toEqual(decodeBatch(batchAt(2, 20), limits, now))
  })

  it('decodes afresh when the structure differs, and still validates the samples of a cached structure', () => {
    const cache = new DecodeCache()
    const key = { cache, key: 'k' }
    const first = decodeBatch(batchAt(1, 10), limits, now, key)
    const other = encodeBatch({
      agentId: 'web-1',
      seq: 3,
      createdMs: now,
      series: [
        {
          name: 'cpu.usage_percent',
          labels: { host: 'web-2', cpu: 'total' },
          timestamps: [now],
          values: [1],
        },
      ],
    })
    const third = decodeBatch(other, limits, now, key)
    expect(third.series).not.toBe(first.series)
    expect(third.series[0]!.labels).toEqual({ host: 'web-2', cpu: 'total' })
    decodeBatch(batchAt(4, 1), limits, now, key)
    expect(() => decodeBatch(batchAt(5, Number.NaN), limits, now, key)).toThrow(WireError)
  })

  it('forgets the least recently stored sender beyond its bound', () => {
    const cache = new DecodeCache(2)
    for (const key of ['a', 'b', 'c']) decodeBatch(batchAt(1, 1), limits, now, { cache, key })
    expect(cache.size).toBe(2)
    expect(cache.get('a')).toBeUndefined()
  })
})
