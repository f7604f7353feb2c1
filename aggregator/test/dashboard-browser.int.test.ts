import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { chromium, type Browser, type Page } from 'playwright-core'
import { batchId, type Labels, type MetricBatch, type SeriesSamples } from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import { encodeBatch, silentLogger, tempDir, testAggregatorConfig, waitFor } from './harness.js'

// The built-in dashboard in real headless Chromium (Debian's `chromium`, driven by playwright-core)
// against a running pipeline: real nats-server, an in-process aggregator on a temp chDB directory
// serving the store and the dashboard on one port, agent-shaped batches published to JetStream,
// and alerter state written to the alerter's KV buckets as the alerter writes it.
// Screenshots: aggregator/test-artifacts/dashboard-*.png.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts')
const STEP_MS = 30_000
const SPAN_MS = 2 * 3600_000

const HOSTS: Array<{ host: string; labels: Labels; busy: number; silentForMs: number }> = [
  {
    host: 'web-1',
    labels: { env: 'prod', region: 'us-west', pool: 'web-a', role: 'web' },
    busy: 35,
    silentForMs: 0,
  },
  {
    host: 'web-2',
    labels: { env: 'prod', region: 'us-west', pool: 'web-a', role: 'web' },
    busy: 55,
    silentForMs: 0,
  },
  {
    host: 'db-1',
    labels: { env: 'prod', region: 'eu-west', pool: 'db-a', role: 'db' },
    busy: 20,
    silentForMs: 0,
  },
  {
    host: 'db-2',
    labels: { env: 'prod', region: 'eu-west', pool: 'db-a', role: 'db' },
    busy: 25,
    silentForMs: 20 * 60_000,
  },
]

/** One host's batch of agent series (names and labels as agent/src/inputs send them) over [startMs, endMs). */
function hostBatch(h: (typeof HOSTS)[number], seq: number, startMs: number, endMs: number): MetricBatch {
  const times: number[] = []
  for (let t = startMs; t < endMs; t += STEP_MS) times.push(t)
  const base = { host: h.host, ...h.labels }
  const wave = (t: number, period: number, phase = 0) => Math.sin((t / period) * 2 * Math.PI + phase)
  const noise = (t: number, k: number) => (Math.sin(t * 0.000713 * k + k) + Math.sin(t * 0.00171 * k)) / 2
  const series: SeriesSamples[] = []
  const add = (name: string, labels: Labels, f: (t: number) => number) => {
    series.push({ name, labels: { ...base, ...labels }, timestamps: times, values: times.map(f) })
  }
  const cpu = (t: number) => Math.max(0, Math.min(100, h.busy + 15 * wave(t, 1800_000) + 5 * noise(t, 1)))
  const total = { cpu: 'total' }
  add('cpu.usage_percent', total, cpu)
  add('cpu.user_percent', total, (t) => cpu(t) * 0.7)
  add('cpu.system_percent', total, (t) => cpu(t) * 0.25)
  add('cpu.iowait_percent', total, (t) => 1 + noise(t, 3))
  const memTotal = 16 * 1024 ** 3
  add('mem.total_bytes', {}, () => memTotal)
  add('mem.used_bytes', {}, (t) => memTotal * (0.5 + 0.1 * wave(t, 3600_000) + 0.02 * noise(t, 2)))
  add('mem.available_bytes', {}, (t) => memTotal * (0.5 - 0.1 * wave(t, 3600_000) - 0.02 * noise(t, 2)))
  add(
    'disk.used_percent',
    { mountpoint: '/', device: 'sda1', fstype: 'ext4' },
    (t) => 41 + (t - startMs) / 3600_000,
  )
  add(
    'disk.used_percent',
    { mountpoint: '/data', device: 'sdb1', fstype: 'ext4' },
    (t) => 63 + 0.5 * noise(t, 5),
  )
  // Counters: a steady rate plus a slow wave (its slope stays well under the rate, so they only grow).
  add('net.in_bytes_total', { interface: 'eth0' }, (t) =>
    Math.floor((t / 1000) * 2_000_000 + 1e8 * wave(t, 2400_000)),
  )
  add('net.out_bytes_total', { interface: 'eth0' }, (t) =>
    Math.floor((t / 1000) * 1_200_000 + 4e7 * wave(t, 1800_000, 1)),
  )
  add('system.load1', {}, (t) => (cpu(t) / 100) * 8)
  add('system.load5', {}, (t) => (h.busy / 100) * 8 + 0.3 * wave(t, 1800_000))
  add('system.load15', {}, () => (h.busy / 100) * 8)
  if (h.host === 'web-1') {
    for (const [queue, depth] of [
      ['orders', 120],
      ['emails', 40],
      ['billing', 15],
    ] as const) {
      add('rabbitmq.queue_messages', { vhost: '/', queue }, (t) =>
        Math.max(0, depth * (1 + wave(t, 1200_000, depth)) + 5 * noise(t, 4)),
      )
    }
    add('jetstream.consumer_num_pending', { stream: 'METRICS', consumer: 'aggregator' }, (t) =>
      Math.max(0, 30 * noise(t, 6)),
    )
  }
  return { agentId: h.host, seq, createdMs: endMs, series }
}

describe('built-in dashboard in headless Chromium', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  let aggregator: RunningAggregator
  let browser: Browser
  const store = tempDir('tidewatch-dashboard-')
  let url = ''
  const nowMs = Date.now()

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    nats = await startNatsServer()
    aggregator = await startAggregator(testAggregatorConfig(nats.url, store.path), { logger: silentLogger })
    url = aggregator.httpUrl ?? ''
    client = await connect({ servers: nats.url })
    const js = jetstream(client)
    const startMs = Math.floor((nowMs - SPAN_MS) / STEP_MS) * STEP_MS
    let expected = 0
    for (const h of HOSTS) {
      let seq = 0
      const endMs = nowMs - h.silentForMs
      for (let chunk = startMs; chunk < endMs; chunk += 20 * 60_000) {
        const batch = hostBatch(h, ++seq, chunk, Math.min(chunk + 20 * 60_000, endMs))
        expected += batch.series.reduce((n, s) => n + s.values.length, 0)
        await js.publish(`metrics.in.${h.host}`, encodeBatch(batch), { msgID: batchId(h.host, seq) })
      }
    }
    await waitFor(
      async () => {
        const rs = await aggregator.store.client.query({
          query: 'SELECT count() AS n FROM tidewatch.samples_raw',
          format: 'JSONEachRow',
        })
        return Number(((await rs.json<{ n: number }>())[0] ?? { n: 0 }).n)
      },
      (n) => n >= expected,
      30_000,
      `${expected} stored samples`,
    )

    // The alerter's state, in its buckets and record shapes (alerter/src/state, silences).
    const kvm = new Kvm(client)
    const alerts = await kvm.create('tidewatch_alerter_alerts')
    const silences = await kvm.create('tidewatch_alerter_silences')
    const nflog = await kvm.create('tidewatch_alerter_nflog')
    const alert = (fingerprint: string, rule: string, state: string, labels: Labels, sinceMs: number) =>
      alerts.put(
        `a.${fingerprint}`,
        JSON.stringify({
          fingerprint,
          rule,
          state,
          labels: { alertname: rule, ...labels },
          annotations: { summary: `${rule} on ${labels.host}` },
          value: 93.5,
          activeSinceMs: sinceMs,
          atMs: sinceMs,
          ...(state === 'firing' ? { firedAtMs: sinceMs + 60_000 } : {}),
        }),
      )
    await alert('f1', 'HighCPU', 'firing', { host: 'web-2', severity: 'page' }, nowMs - 15 * 60_000)
    await alert('f2', 'DiskFilling', 'pending', { host: 'db-1', severity: 'ticket' }, nowMs - 2 * 60_000)
    await alert('f3', 'HostSilent', 'firing', { host: 'db-2', severity: 'page' }, nowMs - 10 * 60_000)
    await silences.put(
      's.s1',
      JSON.stringify({
        id: 's1',
        matchers: [{ name: 'host', op: '=', value: 'db-2' }],
        startsAtMs: nowMs - 3600_000,
        endsAtMs: nowMs + 3600_000,
        createdBy: 'ops',
        comment: 'decommissioning db-2',
        createdAtMs: nowMs - 3600_000,
        updatedAtMs: nowMs - 3600_000,
      }),
    )
    await nflog.put(
      'slack-ops.abc123',
      JSON.stringify({
        groupKey: '{alertname="HighCPU"}',
        firing: { f1: nowMs - 15 * 60_000 },
        lastSentMs: nowMs - 14 * 60_000,
      }),
    )

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
  })

  afterAll(async () => {
    await browser?.close()
    await client?.close()
    await aggregator?.stop()
    await nats?.dispose()
    store.remove()
  })

  /** Opens a page with a fresh context; collects console errors and page errors. */
  async function open(
    hash: string,
    options: { fakeClock?: boolean } = {},
  ): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } })
    // Offline: nothing but the aggregator may be fetched (no CDN).
    await context.route(/.*/, (route) =>
      route.request().url().startsWith(url) ? route.continue() : route.abort(),
    )
    const page = await context.newPage()
    const errors: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`))
    if (options.fakeClock === true) await page.clock.install()
    await page.goto(`${url}/dashboard/${hash}`)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 20_000 })
    return { page, errors }
  }

  async function panels(
    page: Page,
  ): Promise<Array<{ id: string; kind: string; state: string; rows: number; canvases: number }>> {
    return page.$$eval('section.panel', (els) =>
      els.map((el) => ({
        id: el.getAttribute('data-panel') ?? '',
        kind: el.getAttribute('data-kind') ?? '',
        state: el.getAttribute('data-state') ?? '',
        rows: Number(el.getAttribute('data-rows') ?? 0),
        canvases: el.querySelectorAll('canvas').length,
      })),
    )
  }

  for (const [name, hash, minPanels] of [
    ['fleet', '#/fleet?range=3600000&refresh=0', 3],
    ['host', '#/host?host=web-2&range=3600000&refresh=0', 5],
    ['queues', '#/queues?range=3600000&refresh=0', 5],
  ] as const) {
    it(`${name}: loads without console errors and draws its charts from the pipeline's data`, async () => {
      const { page, errors } = await open(hash)
      const shown = await panels(page)
      expect(shown.length).toBeGreaterThanOrEqual(minPanels)
      for (const p of shown) expect(p.state, `${name}/${p.id}`).toBe('done')
      const charts = shown.filter((p) => p.kind === 'timeseries' && p.rows > 0)
      expect(charts.length, `${name}: charts with data`).toBeGreaterThanOrEqual(name === 'queues' ? 2 : 1)
      for (const c of charts) expect(c.canvases, `${name}/${c.id} canvas`).toBeGreaterThan(0)
      // The fleet chart reads its 1-minute rollup (fleet_1m), never raw.
      expect(await page.getAttribute('body', 'data-tier')).toBe(name === 'fleet' ? '1m' : 'raw')
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true })
      expect(errors).toEqual([])
      await page.context().close()
    })
  }

  it('fleet: counts the silent host and lists pools', async () => {
    const { page, errors } = await open('#/fleet?range=3600000&refresh=0')
    const stats = await page.$$eval('section[data-panel="hosts"] .stat b', (els) =>
      els.map((e) => e.textContent),
    )
    expect(stats).toEqual(['3', '1'])
    const pools = await page.$$eval('section[data-panel="pools"] tbody tr', (rows) =>
      rows.map((r) => r.textContent),
    )
    expect(pools.length).toBe(2)
    expect(errors).toEqual([])
    await page.context().close()
  })

  it('host: the range picker changes the query tier (raw, 1m, 1h) and the charts still have data', async () => {
    const { page, errors } = await open('#/host?host=web-1&range=3600000&refresh=0')
    expect(await page.getAttribute('body', 'data-tier')).toBe('raw')
    for (const [range, tier] of [
      ['604800000', '1m'],
      ['7776000000', '1h'],
      ['21600000', 'raw'],
    ] as const) {
      const seen: string[] = []
      const onRequest = (r: { url(): string; postData(): string | null }) => {
        if (r.url().startsWith(`${url}/?`)) seen.push(r.postData() ?? '')
      }
      page.on('request', onRequest)
      await page.selectOption('#range', range)
      await page.waitForFunction(
        `document.body.dataset.tier === '${tier}' && document.body.dataset.loaded === 'true'`,
        undefined,
        { timeout: 20_000 },
      )
      page.off('request', onRequest)
      const table = tier === 'raw' ? 'samples_raw' : `samples_${tier}`
      const panelQueries = seen.filter((sql) => sql.includes('tidewatch.samples_'))
      expect(panelQueries.length).toBeGreaterThan(0)
      for (const sql of panelQueries)
        expect(
          sql.match(/tidewatch\.samples_\w+/g)?.every((t) => t === `tidewatch.${table}`),
          sql.slice(0, 200),
        ).toBe(true)
      const shown = await panels(page)
      expect(
        shown.filter((p) => p.state === 'done' && p.rows > 0 && p.canvases > 0).length,
        `charts at ${tier}`,
      ).toBeGreaterThanOrEqual(4)
      expect(await page.textContent('#tier')).toContain(tier)
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-host-${tier}.png`), fullPage: true })
    }
    expect(errors).toEqual([])
    await page.context().close()
  })

  it('alerts: firing, pending, silenced and recent notifications from the alerter KV buckets', async () => {
    const { page, errors } = await open('#/alerts?refresh=0')
    const text = async (id: string) => (await page.textContent(`section[data-panel="${id}"]`)) ?? ''
    expect(await text('firing')).toContain('HighCPU')
    expect(await text('firing')).not.toContain('HostSilent')
    expect(await text('pending')).toContain('DiskFilling')
    expect(await text('silenced')).toContain('HostSilent')
    expect(await text('silences')).toContain('decommissioning db-2')
    expect(await text('notifications')).toContain('slack-ops')
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-alerts.png'), fullPage: true })
    expect(errors).toEqual([])
    await page.context().close()
  })

  it('auto-refresh reloads the page on its interval', async () => {
    const { page, errors } = await open('#/queues?range=3600000&refresh=0', { fakeClock: true })
    let queries = 0
    page.on('request', (r) => {
      if (r.url().startsWith(`${url}/dashboard/api/page`)) queries++
    })
    await page.selectOption('#refresh', '10000')
    await page.clock.runFor(10_500)
    await waitFor(
      async () => queries,
      (n) => n >= 1,
      10_000,
      'a refresh',
    )
    await page.waitForSelector('body[data-loaded="true"]')
    expect(errors).toEqual([])
    await page.context().close()
  })
})
