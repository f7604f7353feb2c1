import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createStore, migrate, retentionSchema } from '@tidewatch/shared'
import { generateDashboardData } from './testdata.js'
import { PAGES, builtinDialect, dashboardTier, bucketSecs } from './sql.js'
const logger = pino({ level: 'warn' })
const dir = mkdtempSync(join(tmpdir(), 'dash-'))
const store = createStore({ url: `chdb://${dir}`, database: 'tidewatch', request_timeout: 30000 } as never, { logger })
const retention = retentionSchema.parse({})
await migrate(store, { retention, logger })
const now = Date.now()
let t = performance.now()
console.log(await generateDashboardData(store, { hosts: Number(process.argv[2] ?? 5), rollupDays: Number(process.argv[3] ?? 2), rawHours: 3, nowMs: now, silentHosts: 1 }), performance.now() - t)
for (const hours of [1, 48, 24 * 40]) {
  const from = now - hours * 3600_000
  const tier = dashboardTier(from, now, now, retention)
  const step = bucketSecs(from, now, tier)
  const d = builtinDialect('tidewatch', tier, retention)
  for (const [id, page] of Object.entries(PAGES)) {
    const p = page(d)
    for (const panel of p.panels) {
      t = performance.now()
      try {
        const rs = await store.client.query({ query: panel.sql, query_params: { from: new Date(from).toISOString().replace('T', ' ').replace('Z', ''), to: new Date(now).toISOString().replace('T', ' ').replace('Z', ''), step, host: 'i1' }, format: 'JSONCompact' })
        const j = (await rs.json()) as { data: unknown[][] }
        console.log(hours, tier, id, panel.id, j.data.length, JSON.stringify(j.data[0]), Math.round(performance.now() - t))
      } catch (e) { console.log(hours, id, panel.id, 'ERR', (e as Error).message.slice(0, 400)) }
    }
  }
}
await store.close()
