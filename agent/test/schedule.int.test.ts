import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { DryRunDocument } from '../src/outputs/dry-run/printer.js'
import { startAgent, waitFor } from './agent-process.js'

const SCRAPE_DELAY_MS = 2_500

/*
 * The real agent process (--dry-run: every flush printed to stdout) with real inputs on their own
 * schedules: agent.interval 10 s for cpu, disk, net, system; memory at 1 s; prometheus at 1 s
 * against a local HTTP server that answers after 2.5 s. Run until two 10 s rounds were printed.
 */
describe('every input on its own schedule (real process, real sources)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-schedule-'))
  let server: Server | undefined
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    rmSync(dir, { recursive: true, force: true })
  })

  it(
    'a 1 s input gathers 10x as often as the 10 s ones, on the second, while a slow scrape neither delays it nor overlaps itself',
    { timeout: 60_000 },
    async () => {
      let open = 0
      let maxOpen = 0
      const requestsAt: number[] = []
      server = createServer((_request, response) => {
        requestsAt.push(Date.now())
        open++
        maxOpen = Math.max(maxOpen, open)
        setTimeout(() => {
          open--
          response.end('# TYPE slow_gauge gauge\nslow_gauge 1\n')
        }, SCRAPE_DELAY_MS)
      })
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as AddressInfo).port
      const config = join(dir, 'agent.toml')
      writeFileSync(
        config,
        [
          '[agent]',
          'id = "schedule"',
          `data_dir = "${join(dir, 'data')}"`,
          'interval = "10s"',
          'flush_interval = "1s"',
          'flush_jitter = "0s"',
          'timestamp_precision = "1ms"',
          'self_metrics = false',
          '[inputs.memory]',
          'interval = "1s"',
          '[inputs.prometheus]',
          'enabled = true',
          'interval = "1s"',
          'timeout = "5s"',
          `urls = ["http://127.0.0.1:${port}/metrics"]`,
        ].join('\n'),
      )
      const agent = startAgent(['--dry-run', '--config', config, '--log-level', 'error'])
      let stdout = ''
      agent.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      /** Sample timestamps per series name, over every document printed so far. */
      const times = (): Map<string, number[]> => {
        const byName = new Map<string, Set<number>>()
        // one pretty-printed JSON document per flush, each starting at column 0
        for (const text of stdout.split(/\n(?=\{)/)) {
          if (!text.trim().endsWith('}')) continue // the last one may still be arriving
          const doc = JSON.parse(text) as DryRunDocument
          for (const series of doc.batches.flatMap((b) => b.series)) {
            const set = byName.get(series.name) ?? new Set()
            for (const s of series.samples) set.add(s.timestamp_ms)
            byName.set(series.name, set)
          }
        }
        return new Map([...byName].map(([name, set]) => [name, [...set].sort((a, b) => a - b)]))
      }
      try {
        await waitFor(() => (times().get('cpu.usage_percent') ?? []).length >= 2, 40_000, 'two cpu rounds')
        // the second cpu round is printed with the flush after it; memory's round at that boundary too
        await new Promise((resolve) => setTimeout(resolve, 1_500))
      } finally {
        expect(await agent.stop()).toBe(0)
      }
      const all = times()
      const cpu = all.get('cpu.usage_percent')!
      const memory = all.get('mem.used_bytes')!
      const [first, second] = cpu as [number, number]
      // the 10 s inputs: on the 10 s boundaries (round_interval), 10 s apart
      expect(Math.round((second - first) / 1_000)).toBe(10)
      expect(first % 10_000).toBeLessThan(500)
      expect(second % 10_000).toBeLessThan(500)
      for (const name of ['disk.used_bytes', 'net.in_bytes_total', 'system.load1']) {
        expect(all.get(name)?.length, name).toBeGreaterThanOrEqual(2)
      }
      // memory: a round every second between the two cpu rounds, ten of them, each soon after its second
      const between = memory.filter((t) => t >= first - 500 && t < second - 500)
      expect(between).toHaveLength(10)
      for (let i = 1; i < between.length; i++) {
        expect(Math.round(between[i]! / 1_000) - Math.round(between[i - 1]! / 1_000)).toBe(1)
      }
      // started on the boundary, not held back by the 2.5 s scrapes running at the same time
      expect(Math.max(...memory.map((t) => t % 1_000))).toBeLessThan(500)
      // prometheus: never two scrapes at once; each boundary during a scrape is skipped
      expect(maxOpen).toBe(1)
      expect(requestsAt.length).toBeGreaterThanOrEqual(3)
      for (let i = 1; i < requestsAt.length; i++) {
        expect(requestsAt[i]! - requestsAt[i - 1]!).toBeGreaterThanOrEqual(SCRAPE_DELAY_MS)
      }
      expect(all.get('slow_gauge')?.length).toBeGreaterThanOrEqual(2)
    },
  )
})
