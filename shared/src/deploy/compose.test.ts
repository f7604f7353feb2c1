import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { loadConfigFile } from '../config/load.js'
import { agentConfigSchema, aggregatorConfigSchema, alerterConfigSchema } from '../config/schema.js'

/*
 * docker-compose.yml against the repository (Docker itself is not run here): every service builds
 * or names an image, has a health check and a restart policy; every file it mounts exists (or is
 * made by config/nats/gen-certs.sh); every ${VAR} it uses is in .env.example; every tidewatch TOML
 * it mounts loads with the real loader and the .env.example values, and points at the services and
 * users the topology defines.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
interface Service {
  image?: string
  build?: string | { context: string }
  command?: string[]
  restart?: string
  env_file?: string | string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  healthcheck?: { test?: string[]; disable?: boolean }
  depends_on?: Record<string, { condition: string }>
}
const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')
const compose = parseYaml(text, { merge: true }) as {
  services: Record<string, Service>
  volumes: Record<string, unknown>
}
const services = compose.services
const envExample = Object.fromEntries(
  readFileSync(join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
)
/** Made by config/nats/gen-certs.sh, git-ignored: not in the repository, by design. */
const GENERATED = /^\.\/config\/nats\/certs(\/|$)/
const SCHEMAS = {
  '/etc/tidewatch/aggregator.toml': aggregatorConfigSchema,
  '/etc/tidewatch/alerter.toml': alerterConfigSchema,
  '/etc/tidewatch/agent.toml': agentConfigSchema,
} as const

function binds(service: Service): [string, string][] {
  return (service.volumes ?? [])
    .map((volume) => volume.split(':'))
    .filter(([source]) => source?.startsWith('./'))
    .map(([source, target]) => [source as string, target as string])
}

describe('docker-compose.yml', () => {
  it('has the topology: NATS, ClickHouse, two aggregators, the alerter, an agent, Grafana', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining([
        'nats',
        'clickhouse',
        'aggregator-1',
        'aggregator-2',
        'alerter',
        'agent',
        'grafana',
        'store-access',
      ]),
    )
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['nats-data', 'clickhouse-data']))
  })

  it('gives every service an image or a build, a restart policy and a health check', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? service.build, name).toBeTruthy()
      if (service.build !== undefined) {
        const context = typeof service.build === 'string' ? service.build : service.build.context
        expect(existsSync(join(ROOT, context, 'Dockerfile')), `${name}: build context`).toBe(true)
      }
      expect(['always', 'unless-stopped', 'on-failure'], `${name}: restart`).toContain(service.restart)
      // The one-shot access migration exits when done: a health check would never pass.
      if (name === 'store-access') expect(service.healthcheck?.disable).toBe(true)
      else expect(service.healthcheck?.test?.length, `${name}: healthcheck`).toBeGreaterThan(0)
    }
  })

  it('mounts only files that exist (or that gen-certs.sh makes), and runs commands that the image has', () => {
    const genCerts = readFileSync(join(ROOT, 'config/nats/gen-certs.sh'), 'utf8')
    for (const [name, service] of Object.entries(services)) {
      for (const [source] of binds(service)) {
        if (GENERATED.test(source)) {
          const file = source.replace(GENERATED, '')
          if (file !== '') expect(genCerts, `${name}: ${source}`).toContain(file)
          continue
        }
        expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true)
      }
      const script = service.command?.find((part) => part.startsWith('/app/'))
      if (script !== undefined) {
        // /app/<pkg>/dist/x.js is built from <pkg>/src/x.ts; the agent's bundled bin from its main.ts.
        const source = script
          .replace(/^\/app\/agent\/dist\/tidewatch-agent\.mjs$/, 'agent/src/main.ts')
          .replace(/^\/app\/([^/]+)\/dist\/(.+)\.js$/, '$1/src/$2.ts')
        expect(existsSync(join(ROOT, source)), `${name}: ${script}`).toBe(true)
      }
    }
  })

  it('takes every ${VAR} from .env.example and holds no secret itself', () => {
    const used = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((match) => match[1] as string)
    for (const name of used) expect(envExample, name).toHaveProperty(name)
    expect(text).not.toMatch(/PASSWORD:\s*[^$\s]/)
    for (const service of Object.values(services)) {
      if (service.env_file !== undefined) expect([service.env_file].flat()).toEqual(['.env'])
    }
  })

  it('mounts tidewatch TOML files that load and agree with the topology', () => {
    const seen: string[] = []
    for (const [name, service] of Object.entries(services)) {
      for (const [source, target] of binds(service)) {
        const schema = SCHEMAS[target as keyof typeof SCHEMAS]
        if (schema === undefined) continue
        seen.push(name)
        const env = { ...envExample, ...service.environment }
        const config = loadConfigFile(join(ROOT, source), schema, { env })
        // NATS: the nats service, over TLS with the mounted CA, as this component's user.
        expect(config.nats.servers, name).toEqual(['tls://nats:4222'])
        expect(services.nats?.ports).toContain('4222:4222')
        const caMount = binds(service).find(([, t]) => t === config.nats.tls?.ca_file)
        expect(caMount?.[0], `${name}: nats.tls.ca_file is mounted`).toBe('./config/nats/certs/ca.pem')
        const user = config.nats.user ?? ''
        const accounts = readFileSync(join(ROOT, 'config/nats/accounts.conf'), 'utf8')
        expect(accounts, `${name}: NATS user ${user}`).toContain(`user: ${user}\n`)
        expect(config.nats.password).toBe(envExample[`NATS_${user.toUpperCase()}_PASSWORD`])
        if ('store' in config && 'http' in config) {
          expect(config.store.url).toBe('http://clickhouse:8123')
          expect(config.store.user).toBe('tidewatch_writer')
          expect(config.store.password).toBe(envExample.TIDEWATCH_WRITER_PASSWORD)
          expect(config.http.enabled).toBe(false)
        }
      }
    }
    expect(seen.sort()).toEqual(['agent', 'aggregator-1', 'aggregator-2', 'alerter'])
  })

  it('starts aggregators after NATS and ClickHouse are healthy and the users exist', () => {
    for (const name of ['aggregator-1', 'aggregator-2']) {
      expect(services[name]?.depends_on).toEqual({
        nats: { condition: 'service_healthy' },
        clickhouse: { condition: 'service_healthy' },
        'store-access': { condition: 'service_completed_successfully' },
      })
    }
    expect(services['store-access']?.environment?.CLICKHOUSE_URL).toBe('http://clickhouse:8123')
  })

  it('provisions Grafana from grafana/provisioning and grafana/dashboards', () => {
    const grafana = binds(services.grafana ?? {}).map(([source]) => source)
    expect(grafana).toEqual(['./grafana/provisioning', './grafana/dashboards'])
  })

  it('sets every ${VAR} the Grafana provisioning files read', () => {
    const dir = join(ROOT, 'grafana', 'provisioning')
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f))
    const used = new Set(
      files.flatMap((f) =>
        [...readFileSync(join(dir, f), 'utf8').matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!),
      ),
    )
    expect(used.size).toBeGreaterThan(0)
    const available = { ...envExample, ...services.grafana?.environment }
    for (const name of used) expect(available, name).toHaveProperty(name)
  })
})
