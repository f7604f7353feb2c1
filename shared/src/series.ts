/**
 * Series identity. A series is a metric name plus labels; its id is a 64-bit hash of the canonical
 * key `name{k1="v1",k2="v2"}` (labels sorted by name, values with `\` and `"` escaped). The hash is
 * two independent 32-bit lanes (Murmur3-style mixing over UTF-16 code units, seeds 0x9747b28c and
 * 0x85ebca6b), joined high:low. It is part of the storage contract: changing it splits every series.
 */
export type Labels = Readonly<Record<string, string>>

export function seriesKey(name: string, labels: Labels): string {
  const names = Object.keys(labels).sort()
  let key = name + '{'
  for (let i = 0; i < names.length; i++) {
    const labelName = names[i] as string
    if (i > 0) key += ','
    key += labelName + '="' + escapeLabelValue(labels[labelName] as string) + '"'
  }
  return key + '}'
}

function escapeLabelValue(value: string): string {
  return value.includes('\\') || value.includes('"') || value.includes('\n')
    ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    : value
}

function hashLane(text: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    let k = text.charCodeAt(i)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  h ^= text.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The two 32-bit halves of a key's series id, for columnar (typed array) use. */
export function seriesIdHalves(key: string): { high: number; low: number } {
  return { high: hashLane(key, 0x9747b28c), low: hashLane(key, 0x85ebca6b) }
}

/** An unsigned 64-bit integer from its halves, as the decimal text ClickHouse's UInt64 takes. */
export function uint64Text(high: number, low: number): string {
  if (high === 0) return String(low)
  // Below 2^53 a double is exact; above it BigInt is.
  if (high < 0x200000) return String(high * 0x100000000 + low)
  return ((BigInt(high) << 32n) | BigInt(low)).toString()
}

/** The series id of a canonical key, as an unsigned 64-bit decimal string (what ClickHouse's UInt64 takes). */
export function seriesIdOfKey(key: string): string {
  const { high, low } = seriesIdHalves(key)
  return uint64Text(high, low)
}

export function seriesId(name: string, labels: Labels): string {
  return seriesIdOfKey(seriesKey(name, labels))
}
