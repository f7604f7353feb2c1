import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createLogger,
  createStore,
  loadRuleFiles,
  migrate,
  retentionSchema,
  seriesId,
  storeSchema,
  type AlertEvent,
  type AlertPublisher,
  type QueryRule,
  type Store,
} from '@tidewatch/shared'
import { FakeTimers } from '../testing/fake-timers.js'
import { QueryRuleRunner } from './runner.js'

// One chDB directory for this file (one per process: the forks pool gives each file a process).
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-query-rules-'))
const logger = createLogger({ service: 'tidewatch-alerter', level: 'silent' })
const MIN = 60_000
// Whole minute, recent enough that no TTL drops the rows.
const T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN
let store: Store

class Collect implements AlertPublisher {
  readonly events: AlertEvent[] = []
  async publish(event: AlertEvent): Promise<void> {
    this.events.push(event)
  }
}

const HOSTS = [
  {
    labels: { host: 'w1', role: 'web', region: 'us-west' },
    value: (ts: number) => (ts <= T0 + 6 * MIN ? 85 : 10),
  },
  {
    labels: { host: 'w2', role: 'web', region: 'us-west' },
    value: (ts: number) => (ts <= T0 + 6 * MIN ? 87 : 12),
  },
  { labels: { host: 'e1', role: 'web', region: 'eu-west' }, value: () => 99 },
  { labels: { host: 'd1', role: 'db', region: 'us-west' }, value: () => 99 },
]

beforeAll(async () => {
  store = createStore(storeSchema.parse({ url: `chdb://${dir}` }))
  await migrate(store, { retention: retentionSchema.parse({}) })
  await store.client.insert({
    table: 'tidewatch.series',
    format: 'JSONEachRow',
    values: HOSTS.map((h) => ({
      series_id: seriesId('cpu.usage_percent', h.labels),
      metric: 'cpu.usage_percent',
      labels: h.labels,
      first_seen: Math.floor(T0 / 1000) - 3600,
      last_seen: Math.floor(T0 / 1000) + 3600,
    })),
  })
  const lines: string[] = []
  for (const h of HOSTS) {
    const id = seriesId('cpu.usage_percent', h.labels)
    for (let ts = T0 - 20 * MIN; ts <= T0 + 30 * MIN; ts += 10_000)
      lines.push(`cpu.usage_percent\t${id}\t${(ts / 1000).toFixed(3)}\t${h.value(ts)}\n`)
  }
  await store.client.insert({
    table: 'tidewatch.samples_raw',
    format: 'TabSeparated',
    values: Readable.from([lines.join('')], { objectMode: false }),
  })
})
afterAll(async () => {
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('QueryRuleRunner against chDB (config/rules/web.toml: DESIGN.md question 2)', () => {
  const rules = loadRuleFiles([resolve(import.meta.dirname, '../../../config/rules/web.toml')], { env: {} })

  it('runs the rule every interval: pending, firing after for, resolved when the average drops', async () => {
    const timers = new FakeTimers(T0)
    const publisher = new Collect()
    const runner = new QueryRuleRunner({
      client: store.client,
      rules,
      publisher,
      logger,
      source: 'alerter-test',
      clock: timers.clock,
      timers,
    })
    // One minute at a time, each run finished before the next is due (chDB answers off the loop).
    const minutes = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await timers.advanceAsync(MIN)
        await runner.idle()
      }
    }
    runner.start()
    await minutes(1)
    expect(publisher.events.map((e) => e.state)).toEqual(['pending'])
    const pending = publisher.events[0] as AlertEvent
    expect(pending).toMatchObject({
      rule: 'uswest_web_cpu_high',
      ruleKind: 'query',
      labels: {
        alertname: 'uswest_web_cpu_high',
        region: 'us-west',
        role: 'web',
        severity: 'ticket',
        team: 'web',
      },
      value: 86,
      activeSinceMs: T0 + MIN,
      source: 'alerter-test',
    })
    expect(pending.annotations.summary).toBe('us-west web CPU 86.0% (10m average)')
    await minutes(5)
    expect(publisher.events.map((e) => [e.state, (e.atMs - T0) / MIN])).toEqual([
      ['pending', 1],
      ['firing', 6],
    ])
    // From 6m on the samples drop to 10-12; at 7m the 10-minute average is about (9*86 + 11)/10 < 80.
    await minutes(5)
    expect(publisher.events.map((e) => [e.state, (e.atMs - T0) / MIN])).toEqual([
      ['pending', 1],
      ['firing', 6],
      ['resolved', 7],
    ])
    expect(runner.counters).toMatchObject({ runs: 11, failures: 0, eventsPublished: 3 })
    await runner.stop()
    expect(timers.size).toBe(0)
  })

  it('never overlaps runs of a rule, and keeps state when a query fails', async () => {
    const timers = new FakeTimers(T0)
    let inFlight = 0
    let maxInFlight = 0
    let calls = 0
    const release: (() => void)[] = []
    const client = {
      query: async () => {
        calls++
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise<void>((resolve) => release.push(resolve))
        inFlight--
        if (calls === 2) throw new Error('store down')
        return { json: async () => [{ value: 90 }] }
      },
    } as unknown as Store['client']
    const publisher = new Collect()
    const rule = { ...(rules[0] as QueryRule), forMs: 0 }
    const runner = new QueryRuleRunner({
      client,
      rules: [rule],
      publisher,
      logger,
      source: 't',
      clock: timers.clock,
      timers,
    })
    runner.start()
    await timers.advanceAsync(10 * MIN)
    expect(calls).toBe(1)
    release.shift()?.()
    await timers.advanceAsync(MIN)
    expect(publisher.events.map((e) => e.state)).toEqual(['firing'])
    expect(calls).toBe(2)
    release.shift()?.()
    await timers.advanceAsync(MIN)
    expect(runner.counters.failures).toBe(1)
    expect(publisher.events.map((e) => e.state)).toEqual(['firing'])
    expect(maxInFlight).toBe(1)
    const stopped = runner.stop()
    release.shift()?.()
    await stopped
  })

  it('publishes only while it holds the lease, and on takeover publishes what the holder may have missed', async () => {
    let value = 90
    const client = { query: async () => ({ json: async () => [{ value }] }) } as unknown as Store['client']
    const publisher = new Collect()
    const rule = { ...(rules[0] as QueryRule), forMs: 0 }
    let holder = false
    const runner = new QueryRuleRunner({
      client,
      rules: [rule],
      publisher,
      logger,
      source: 't',
      publishWhen: async () => holder,
    })
    await runner.runOnce(rule)
    expect(publisher.events).toEqual([])
    expect(runner.counters.eventsSkipped).toBe(1)
    value = 10
    await runner.runOnce(rule)
    // Takeover: the latest transition per alert (resolved) first, then this run's (none).
    holder = true
    await runner.runOnce(rule)
    expect(publisher.events.map((e) => e.state)).toEqual(['resolved'])
    value = 95
    await runner.runOnce(rule)
    expect(publisher.events.map((e) => e.state)).toEqual(['resolved', 'firing'])
  })

  it('holds a transition whose publish failed and publishes it on the next run', async () => {
    let value = 90
    const client = { query: async () => ({ json: async () => [{ value }] }) } as unknown as Store['client']
    let failures = 1
    const publisher = new Collect()
    const flaky: AlertPublisher = {
      publish: async (event) => {
        if (event.state === 'resolved' && failures-- > 0) throw new Error('nats: timeout')
        await publisher.publish(event)
      },
    }
    const rule = { ...(rules[0] as QueryRule), forMs: 0 }
    const runner = new QueryRuleRunner({ client, rules: [rule], publisher: flaky, logger, source: 't' })
    await runner.runOnce(rule)
    value = 10
    await runner.runOnce(rule)
    expect(publisher.events.map((e) => e.state)).toEqual(['firing'])
    expect(runner.counters.publishErrors).toBe(1)
    await runner.runOnce(rule)
    expect(publisher.events.map((e) => e.state)).toEqual(['firing', 'resolved'])
    // Published once: nothing is held any more.
    await runner.runOnce(rule)
    expect(publisher.events).toHaveLength(2)
  })

  it('does not resend a held transition that a later one of the same alert superseded', async () => {
    let value = 90
    const client = { query: async () => ({ json: async () => [{ value }] }) } as unknown as Store['client']
    let down = true
    const publisher = new Collect()
    const flaky: AlertPublisher = {
      publish: async (event) => {
        if (down) throw new Error('nats: timeout')
        await publisher.publish(event)
      },
    }
    const rule = { ...(rules[0] as QueryRule), forMs: 0 }
    const runner = new QueryRuleRunner({ client, rules: [rule], publisher: flaky, logger, source: 't' })
    await runner.runOnce(rule) // firing: fails, held
    value = 10
    await runner.runOnce(rule) // the held firing, then resolved: both fail; resolved is held
    down = false
    await runner.runOnce(rule)
    expect(publisher.events.map((e) => e.state)).toEqual(['resolved'])
  })
})
