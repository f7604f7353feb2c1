import { describe, expect, it } from 'vitest'
import { seriesId, seriesIdHalves, seriesKey, uint64Text } from './series.js'

describe('series identity', () => {
  it('does not depend on label order and escapes values', () => {
    expect(seriesKey('cpu', { b: '2', a: 'x"y' })).toBe('cpu{a="x\\"y",b="2"}')
    expect(seriesId('cpu', { a: '1', b: '2' })).toBe(seriesId('cpu', { b: '2', a: '1' }))
    expect(seriesId('cpu', { a: '1' })).not.toBe(seriesId('cpu', { a: '2' }))
  })

  it('is stable: stored ids depend on it (a change here splits every stored series)', () => {
    // Golden value: computed once with the documented algorithm; it must never change.
    expect(seriesId('cpu.usage_percent', { host: 'i631', env: 'prod' })).toBe('18225321796188873370')
    const { high, low } = seriesIdHalves('cpu.usage_percent{env="prod",host="i631"}')
    expect(uint64Text(high, low)).toBe('18225321796188873370')
  })

  it('formats 64-bit ids exactly on both sides of 2^53', () => {
    expect(uint64Text(0, 42)).toBe('42')
    expect(uint64Text(0x1fffff, 0xffffffff)).toBe('9007199254740991')
    expect(uint64Text(0xffffffff, 0xffffffff)).toBe('18446744073709551615')
    expect(uint64Text(0x200000, 1)).toBe('9007199254740993')
  })
})
