import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { recorder, testDeps } from '../testing.js'
import { NetInput, parseNetDev } from './index.js'

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0
  eth0:123456 789 1 2 0 0 0 0 654321 987 3 4 0 0 0 0
`

describe('net input', () => {
  it('parses /proc/net/dev, also a name glued to its first counter', () => {
    expect(parseNetDev(SAMPLE)[1]).toEqual({
      interface: 'eth0',
      inBytes: 123456,
      inPackets: 789,
      inErrors: 1,
      inDrops: 2,
      outBytes: 654321,
      outPackets: 987,
      outErrors: 3,
      outDrops: 4,
    })
  })

  it('reports the counters of every interface of this machine but lo', async () => {
    const input = new NetInput({ enabled: true, timeout: 5000, interfaces: [] }, testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const expected = parseNetDev(readFileSync('/proc/net/dev', 'utf8')).filter((c) => c.interface !== 'lo')
    expect(expected.length).toBeGreaterThan(0)
    expect(samples.some((s) => s.labels.interface === 'lo')).toBe(false)
    for (const c of expected) {
      const mine = samples.filter((s) => s.labels.interface === c.interface)
      expect(mine.map((s) => s.name)).toEqual([
        'net.in_bytes_total',
        'net.out_bytes_total',
        'net.in_packets_total',
        'net.out_packets_total',
        'net.in_errors_total',
        'net.out_errors_total',
        'net.in_drops_total',
        'net.out_drops_total',
      ])
      expect(mine[0]!.value).toBeGreaterThanOrEqual(c.inBytes)
      expect(mine[1]!.value).toBeGreaterThanOrEqual(c.outBytes)
    }
  })

  it('reports only the configured interfaces, lo included when named', async () => {
    const input = new NetInput({ enabled: true, timeout: 5000, interfaces: ['lo'] }, testDeps)
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(new Set(samples.map((s) => s.labels.interface))).toEqual(new Set(['lo']))
    expect(samples).toHaveLength(8)
  })
})
