import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { ensureStreams, streamSchema } from '@tidewatch/shared'
import { freePort, startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { runCli } from '../src/cli.js'
import { alertEvent, publishAlert } from '../src/testing/events.js'

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('tidewatch-alerter run: admin endpoint and self metrics (real nats-server)', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-alerter-admin-'))

  beforeAll(async () => {
    nats = await startNatsServer()
    client = await connect({ servers: nats.url })
    // The aggregator owns METRICS in production; here the test makes it for the self reports.
    await ensureStreams(client, [
      streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({}),
    ])
  })
  afterAll(async () => {
    await client?.close()
    await nats?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves /healthz, /readyz and /metrics, counts failed notifications, and reports itself into METRICS', async () => {
    const port = await freePort()
    const config = join(dir, 'alerter.toml')
    // Slack is unreachable (port 9, discard): every attempt fails and is retried.
    writeFileSync(
      config,
      `[alerter]\nid = "adm-1"\n[admin]\nlisten = "127.0.0.1:${port}"\nself_metrics_interval = "300ms"\n[log]\nlevel = "silent"\n[nats]\nservers = ["${nats.url}"]\n[kv]\nstorage = "memory"\n[notify]\nretry_initial_delay = "50ms"\nretry_max_delay = "200ms"\n[route]\ngroup_wait = "0s"\n[[receivers]]\nname = "default"\n[receivers.slack]\nwebhook_url = "http://127.0.0.1:9/hook"\nrequest_timeout = "500ms"\n`,
    )
    const url = `http://127.0.0.1:${port}`
    let stop: () => void = () => undefined
    const running = runCli(['run', '--config', config], {
      out: () => undefined,
      err: () => undefined,
      untilStopped: () => new Promise<void>((resolve) => (stop = resolve)),
    })
    try {
      await until(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, '/readyz')
      expect((await fetch(`${url}/healthz`)).status).toBe(200)

      await publishAlert(client, alertEvent('disk_full', { host: 'web-1' }, 'firing', Date.now()))
      let text = ''
      await until(
        async () => {
          text = await (await fetch(`${url}/metrics`)).text()
          return /alerter_notification_errors_total\{[^}]*receiver="default"[^}]*\} [1-9]/.test(text)
        },
        10_000,
        'a failed notification',
      )
      expect(text).toMatch(/alerter_events_consumed_total\{[^}]*\} 1\n/)
      expect(text).toMatch(/alerter_alerts_firing\{[^}]*\} 1\n/)
      expect(text).toMatch(/alerter_notifications_sent_total\{[^}]*receiver="default"[^}]*\} 0\n/)
      expect(text).toMatch(/alerter_notification_retries_total\{[^}]*receiver="default"[^}]*\} [1-9]/)
      expect(text).toMatch(/alerter_receiver_reachable\{[^}]*receiver="default"[^}]*\} 0\n/)
      expect(text).toMatch(/alerter_notify_last_failure_seconds\{[^}]*\} 1\d{9}/)

      const manager = await jetstreamManager(client)
      await until(
        async () =>
          ((await manager.streams.info('METRICS', { subjects_filter: '>' })).state.subjects ?? {})[
            'metrics.in.tidewatch-alerter-adm-1'
          ] !== undefined,
        10_000,
        'a self report in METRICS',
      )
    } finally {
      stop()
      expect(await running).toBe(0)
    }
  })
})
