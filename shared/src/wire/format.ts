/**
 * Layout constants and byte helpers of the wire format; README.md ("Wire format v1") is the spec.
 * Internal to wire/: the public surface is codec.ts and checks.ts.
 */

/** "TWMB", TideWatch Metric Batch: the first four bytes of every version. */
export const MAGIC = [0x54, 0x57, 0x4d, 0x42] as const

/** The version this code writes and the only one it reads. A change to the layout takes a new number. */
export const VERSION = 1

/** Fixed header of v1: magic, version, flags, agent id length, seq, createdMs, three counts. */
export const HEADER_BYTES = 36

export const OFFSET_VERSION = 4
export const OFFSET_FLAGS = 5
export const OFFSET_AGENT_ID_LENGTH = 6
export const OFFSET_SEQ = 8
export const OFFSET_CREATED_MS = 16
export const OFFSET_SYMBOL_COUNT = 24
export const OFFSET_SERIES_COUNT = 28
export const OFFSET_SAMPLE_COUNT = 32

/** Flag bits a v1 decoder understands: none yet; any set bit is rejected with `bad_flags`. */
export const KNOWN_FLAGS = 0

/** Longest agent id, in bytes (the id is ASCII, so also in characters). */
export const MAX_AGENT_ID_BYTES = 128

/** Float64Array views read the host's byte order; the format is little-endian. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/** Bytes an unsigned LEB128 varint of `n` (0 <= n < 2^32) takes. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
}

/** Writes `n` (0 <= n < 2^32) as an unsigned LEB128 varint at `pos`; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[pos++] = n
  return pos
}

/** Padding that brings `pos` to the next multiple of 8, so the Float64 columns are 8-byte aligned. */
export function paddingTo8(pos: number): number {
  return (8 - (pos & 7)) & 7
}

/**
 * UTF-8 length of `text` in bytes, or -1 when it holds a lone surrogate (which TextEncoder would
 * silently turn into U+FFFD, changing the series).
 */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1)
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return -1
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/** A string for an error message: quoted, escaped, and cut short so a hostile 1 MB name stays out of logs. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? text.slice(0, 64) + '...' : text)
}
