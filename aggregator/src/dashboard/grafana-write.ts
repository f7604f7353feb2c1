/**
 * Writes grafana/dashboards/*.json from grafana.ts: `npx tsx aggregator/src/dashboard/grafana-write.ts`
 * (from the repo root). test/dashboard-grafana.int.test.ts fails while the files are out of date.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { grafanaDashboards } from './grafana.js'

export const GRAFANA_DASHBOARDS_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'grafana',
  'dashboards',
)

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(GRAFANA_DASHBOARDS_DIR, { recursive: true })
  for (const [name, text] of grafanaDashboards()) {
    writeFileSync(join(GRAFANA_DASHBOARDS_DIR, name), text)
    console.log(`wrote grafana/dashboards/${name}`)
  }
}
