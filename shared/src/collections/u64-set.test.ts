import { describe, expect, it } from 'vitest'
import { U64Set } from './u64-set.js'

describe('U64Set', () => {
  it('behaves like a Set of 64-bit ids through growth and deletions', () => {
    const set = new U64Set(4)
    const reference = new Set<string>()
    let seed = 12345
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed
    }
    const ids: Array<[number, number]> = []
    for (let i = 0; i < 20_000; i++) {
      const id: [number, number] = [random() % 7, random()]
      ids.push(id)
      expect(set.add(id[0], id[1])).toBe(!reference.has(id.join(':')))
      reference.add(id.join(':'))
      if (i % 3 === 0) {
        const victim = ids[random() % ids.length]!
        expect(set.delete(victim[0], victim[1])).toBe(reference.delete(victim.join(':')))
      }
    }
    expect(set.size).toBe(reference.size)
    for (const id of ids) expect(set.has(id[0], id[1])).toBe(reference.has(id.join(':')))
    expect(set.has(0xffffffff, 0xffffffff)).toBe(false)
  })
})
