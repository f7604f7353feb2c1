import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { alertEvent, publishAlert } from '../src/testing/events.js'
import { harness, headerOf, sleep, until, type Harness } from './helpers.js'

let h: Harness
beforeEach(async () => {
  h = await harness()
})
afterEach(async () => {
  await h.close()
})

const t0 = Date.now()

describe('alerter end to end (nats-server + Slack-like receiver)', () => {
  it('sends one firing message, then one resolved message, and never logs the webhook URL', async () => {
    await h.startAlerter()
    const firing = alertEvent('HighCPU', { host: 'i631', pool: 'p12', severity: 'critical' }, 'firing', t0)
    await publishAlert(h.connection, firing)
    const [first] = await h.receiver.waitForLanded(1)
    expect(headerOf(first!)).toContain('FIRING (1) · HighCPU')
    await publishAlert(
      h.connection,
      alertEvent('HighCPU', { host: 'i631', pool: 'p12', severity: 'critical' }, 'resolved', t0 + 5_000, {
        activeSinceMs: t0,
      }),
    )
    const landed = await h.receiver.waitForLanded(2)
    expect(headerOf(landed[1]!)).toContain('RESOLVED (1) · HighCPU')
    // A re-published transition (same message id) is dropped by JetStream; nothing more arrives.
    await publishAlert(h.connection, firing)
    await sleep(700)
    expect(h.receiver.landed).toHaveLength(2)
    expect(h.receiver.requests).toHaveLength(2)
    expect(h.logs.join('')).not.toContain('secret-path')
  })

  it('sends nothing for a silenced alert', async () => {
    const alerter = await h.startAlerter()
    await alerter.silences!.add({
      matchers: ['host="i1"'],
      durationMs: 3_600_000,
      createdBy: 'test',
      comment: 'maintenance',
    })
    await publishAlert(h.connection, alertEvent('HighCPU', { host: 'i1' }, 'firing', t0))
    await publishAlert(h.connection, alertEvent('HighCPU', { host: 'i2' }, 'firing', t0))
    const [only] = await h.receiver.waitForLanded(1)
    await sleep(700)
    expect(h.receiver.landed).toHaveLength(1)
    expect(JSON.stringify(only!.body)).toContain('host=i2')
    // Resolving the silenced alert sends nothing either: it was never notified.
    await publishAlert(
      h.connection,
      alertEvent('HighCPU', { host: 'i1' }, 'resolved', t0 + 1_000, { activeSinceMs: t0 }),
    )
    await sleep(700)
    expect(h.receiver.landed).toHaveLength(1)
  })

  it('sends nothing for an inhibited alert', async () => {
    const config = h.config({
      inhibit_rules: [
        {
          source_matchers: ['severity="critical"'],
          target_matchers: ['severity="warning"'],
          equal: ['pool'],
        },
      ],
    })
    await h.startAlerter(config)
    await publishAlert(
      h.connection,
      alertEvent('PoolDown', { pool: 'p1', host: 'lb1', severity: 'critical' }, 'firing', t0),
    )
    await h.receiver.waitForLanded(1)
    await publishAlert(
      h.connection,
      alertEvent('HighLatency', { pool: 'p1', host: 'i1', severity: 'warning' }, 'firing', t0 + 1),
    )
    await publishAlert(
      h.connection,
      alertEvent('HighLatency', { pool: 'p2', host: 'i9', severity: 'warning' }, 'firing', t0 + 1),
    )
    await h.receiver.waitForLanded(2)
    await sleep(700)
    expect(h.receiver.landed).toHaveLength(2)
    expect(JSON.stringify(h.receiver.landed[1]!.body)).toContain('pool=p2')
  })

  it('lands exactly one message through 429 Retry-After, 500 x3 and a dropped connection', async () => {
    await h.startAlerter()
    h.receiver.respond({ kind: 'status', status: 429, body: 'rate_limited', retryAfterSecs: 1 })
    await publishAlert(h.connection, alertEvent('A429', { host: 'h1' }, 'firing', t0))
    await h.receiver.waitForLanded(1)
    expect(h.receiver.requests.map((r) => r.status)).toEqual([429, 200])
    // The retry waits what Retry-After says (1 s), not less and not a backoff of its own on top.
    const retryGapMs = h.receiver.requests[1]!.atMs - h.receiver.requests[0]!.atMs
    expect(retryGapMs).toBeGreaterThanOrEqual(950)
    expect(retryGapMs).toBeLessThan(2_500)

    h.receiver.respond(
      ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500, body: 'internal_error' })),
    )
    await publishAlert(h.connection, alertEvent('A500', { host: 'h1' }, 'firing', t0))
    await h.receiver.waitForLanded(2)
    expect(h.receiver.requests.slice(2).map((r) => r.status)).toEqual([500, 500, 500, 200])

    h.receiver.respond({ kind: 'drop' })
    await publishAlert(h.connection, alertEvent('ADrop', { host: 'h1' }, 'firing', t0))
    await h.receiver.waitForLanded(3)
    expect(h.receiver.requests.slice(6).map((r) => r.status)).toEqual([0, 200])
    await sleep(700)
    expect(h.receiver.landed).toHaveLength(3)
  })

  it('keeps state across a restart: no duplicate firing message, no lost resolved message', async () => {
    const first = await h.startAlerter()
    await publishAlert(h.connection, alertEvent('Disk', { host: 'a' }, 'firing', t0))
    await publishAlert(h.connection, alertEvent('Disk', { host: 'b' }, 'firing', t0))
    await h.receiver.waitForLanded(2)
    await first.stop()
    h.alerters.splice(h.alerters.indexOf(first), 1)

    // While no alerter runs, one alert resolves.
    await publishAlert(
      h.connection,
      alertEvent('Disk', { host: 'a' }, 'resolved', t0 + 2_000, { activeSinceMs: t0 }),
    )
    await h.startAlerter()
    const landed = await h.receiver.waitForLanded(3)
    expect(headerOf(landed[2]!)).toContain('RESOLVED (1) · Disk')
    expect(JSON.stringify(landed[2]!.body)).toContain('host=a')
    await sleep(800)
    expect(h.receiver.landed).toHaveLength(3)
  })

  it('with two replicas sends exactly one message per notification, and the survivor takes over', async () => {
    await h.startAlerter(undefined, 'alerter-a')
    await h.startAlerter(undefined, 'alerter-b')
    for (let i = 0; i < 10; i++)
      await publishAlert(h.connection, alertEvent('Mem', { host: `h${i}` }, 'firing', t0))
    await h.receiver.waitForLanded(10)
    for (let i = 0; i < 10; i++)
      await publishAlert(
        h.connection,
        alertEvent('Mem', { host: `h${i}` }, 'resolved', t0 + 1_000, { activeSinceMs: t0 }),
      )
    await h.receiver.waitForLanded(20)
    await sleep(800)
    expect(h.receiver.landed).toHaveLength(20)
    expect(h.receiver.landed.filter((r) => headerOf(r).includes('FIRING'))).toHaveLength(10)

    // The receiver fails; whichever replica holds the group keeps retrying. Stop it: the other sends, once.
    h.receiver.respond(
      ...Array.from({ length: 1_000 }, () => ({ kind: 'status' as const, status: 503, body: 'unavailable' })),
    )
    await publishAlert(h.connection, alertEvent('Mem', { host: 'x' }, 'firing', t0 + 2_000))
    // The receiver records a request before it answers 503: wait for the alerter's count of the retry.
    const retrying = () => h.alerters.find((a) => (a.dispatcher?.stats.retries ?? 0) > 0)
    await until(() => retrying() !== undefined, 5_000, 'a retry')
    const holder = retrying()!
    expect(holder).toBeDefined()
    await holder.stop()
    h.alerters.splice(h.alerters.indexOf(holder), 1)
    h.receiver.clearScript()
    await h.receiver.waitForLanded(21, 10_000)
    await sleep(800)
    expect(h.receiver.landed).toHaveLength(21)
  })
})
