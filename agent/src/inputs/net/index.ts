import { readFile } from 'node:fs/promises'
import type { AgentConfig, Clock } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type NetConfig = AgentConfig['inputs']['net']

export interface InterfaceCounters {
  interface: string
  inBytes: number
  inPackets: number
  inErrors: number
  inDrops: number
  outBytes: number
  outPackets: number
  outErrors: number
  outDrops: number
}

/**
 * /proc/net/dev: two header lines, then `name: <8 receive fields> <8 transmit fields>`. The name is
 * split at the last colon (old kernels print `eth0:123` with no space; alias names hold colons).
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const result: InterfaceCounters[] = []
  for (const line of text.split('\n').slice(2)) {
    const colon = line.lastIndexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number)
    if (name === '' || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue
    const at = (i: number): number => f[i] as number
    result.push({
      interface: name,
      inBytes: at(0),
      inPackets: at(1),
      inErrors: at(2),
      inDrops: at(3),
      outBytes: at(8),
      outPackets: at(9),
      outErrors: at(10),
      outDrops: at(11),
    })
  }
  return result
}

export interface NetInputOptions {
  path?: string
}

/**
 * Per interface, as the kernel's cumulative counters (rates are the store's job, as with
 * Prometheus' node_exporter): net.in_bytes_total, net.out_bytes_total, net.in_packets_total,
 * net.out_packets_total, net.in_errors_total, net.out_errors_total, net.in_drops_total,
 * net.out_drops_total.
 */
export class NetInput implements Input {
  readonly name = 'net'
  private readonly path: string
  private readonly clock: Clock
  private readonly wanted: Set<string> | undefined

  constructor(config: NetConfig, deps: InputDeps, options: NetInputOptions = {}) {
    this.path = options.path ?? '/proc/net/dev'
    this.clock = deps.clock
    this.wanted = config.interfaces.length > 0 ? new Set(config.interfaces) : undefined
  }

  async init(): Promise<void> {
    if (process.platform !== 'linux')
      throw new Error('the net input reads /proc/net/dev and runs on Linux only')
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const timestampMs = this.clock.now()
    const counters = parseNetDev(await readFile(this.path, 'utf8'))
    for (const c of counters) {
      if (this.wanted ? !this.wanted.has(c.interface) : c.interface === 'lo') continue
      const labels = { interface: c.interface }
      accumulator.add('net.in_bytes_total', labels, c.inBytes, timestampMs)
      accumulator.add('net.out_bytes_total', labels, c.outBytes, timestampMs)
      accumulator.add('net.in_packets_total', labels, c.inPackets, timestampMs)
      accumulator.add('net.out_packets_total', labels, c.outPackets, timestampMs)
      accumulator.add('net.in_errors_total', labels, c.inErrors, timestampMs)
      accumulator.add('net.out_errors_total', labels, c.outErrors, timestampMs)
      accumulator.add('net.in_drops_total', labels, c.inDrops, timestampMs)
      accumulator.add('net.out_drops_total', labels, c.outDrops, timestampMs)
    }
  }
}

export const netInput: InputFactory<'net'> = {
  name: 'net',
  create: (config, deps) => new NetInput(config, deps),
}
