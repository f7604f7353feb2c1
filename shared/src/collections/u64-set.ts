/**
 * A set of unsigned 64-bit integers given as (high, low) 32-bit halves: open addressing over one
 * Uint32Array, 8 bytes a slot, so 10 million series ids cost ~160 MB at worst instead of the ~1 GB a
 * `Set<string>` of decimal ids takes.
 */
export class U64Set {
  private slots: Uint32Array
  private used: Uint8Array
  private count = 0

  constructor(initialCapacity = 1024) {
    let capacity = 16
    while (capacity < initialCapacity * 2) capacity *= 2
    this.slots = new Uint32Array(capacity * 2)
    this.used = new Uint8Array(capacity)
  }

  get size(): number {
    return this.count
  }

  has(high: number, low: number): boolean {
    return this.find(high >>> 0, low >>> 0) >= 0
  }

  /** Adds the id; false when it was already there. */
  add(high: number, low: number): boolean {
    high >>>= 0
    low >>>= 0
    if (this.find(high, low) >= 0) return false
    if ((this.count + 1) * 2 > this.used.length) this.grow()
    this.insert(high, low)
    this.count++
    return true
  }

  delete(high: number, low: number): boolean {
    const at = this.find(high >>> 0, low >>> 0)
    if (at < 0) return false
    // Backward-shift deletion keeps probe chains intact without tombstones.
    const mask = this.used.length - 1
    let hole = at
    let next = (hole + 1) & mask
    while (this.used[next] === 1) {
      const home = this.home(this.slots[2 * next]!, this.slots[2 * next + 1]!)
      const distanceToHole = (hole - home + this.used.length) & mask
      const distanceToNext = (next - home + this.used.length) & mask
      if (distanceToHole < distanceToNext) {
        this.slots[2 * hole] = this.slots[2 * next]!
        this.slots[2 * hole + 1] = this.slots[2 * next + 1]!
        hole = next
      }
      next = (next + 1) & mask
    }
    this.used[hole] = 0
    this.count--
    return true
  }

  private home(high: number, low: number): number {
    let h = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b)
    h ^= h >>> 13
    return h & (this.used.length - 1)
  }

  private find(high: number, low: number): number {
    const mask = this.used.length - 1
    for (let i = this.home(high, low); this.used[i] === 1; i = (i + 1) & mask) {
      if (this.slots[2 * i] === high && this.slots[2 * i + 1] === low) return i
    }
    return -1
  }

  private insert(high: number, low: number): void {
    const mask = this.used.length - 1
    let i = this.home(high, low)
    while (this.used[i] === 1) i = (i + 1) & mask
    this.used[i] = 1
    this.slots[2 * i] = high
    this.slots[2 * i + 1] = low
  }

  private grow(): void {
    const oldSlots = this.slots
    const oldUsed = this.used
    this.slots = new Uint32Array(oldSlots.length * 2)
    this.used = new Uint8Array(oldUsed.length * 2)
    for (let i = 0; i < oldUsed.length; i++) {
      if (oldUsed[i] === 1) this.insert(oldSlots[2 * i]!, oldSlots[2 * i + 1]!)
    }
  }
}
