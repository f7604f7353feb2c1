#!/usr/bin/env node
// Runs the whole pipeline on this machine with the embedded defaults:
//   nats-server (JetStream under ./data/nats, unless NATS_URL is set) -> aggregator (chDB under
//   ./data/store, ClickHouse HTTP on 127.0.0.1:8123) -> agent for this host.
// Ctrl-C stops everything, children first, and waits for them.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dataDir = join(root, 'data')
const natsPort = Number(process.env.TIDEWATCH_NATS_PORT ?? 4222)
const httpPort = Number(process.env.TIDEWATCH_HTTP_PORT ?? 8123)
const children = []
let stopping = false

function log(message) {
  process.stdout.write(`[start-local] ${message}\n`)
}

function run(name, command, args, env = {}) {
  const child = spawn(command, args, {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
  })
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping the rest`)
      void stopAll(1)
    }
  })
  children.push({ name, child })
  return child
}

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function waitForPort(port, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!(await portOpen(port))) {
    if (stopping) return
    if (Date.now() > deadline) {
      log(`${what} did not open port ${port} within ${timeoutMs / 1000} s`)
      await stopAll(1)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function stopAll(exitCode) {
  if (stopping) return
  stopping = true
  for (const { name, child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    log(`stopping ${name}`)
    await new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.kill('SIGTERM')
    })
  }
  process.exit(exitCode)
}

process.on('SIGINT', () => void stopAll(0))
process.on('SIGTERM', () => void stopAll(0))

mkdirSync(dataDir, { recursive: true })
const env = {}
if (process.env.NATS_URL) {
  log(`using NATS at ${process.env.NATS_URL}`)
  env.NATS_URL = process.env.NATS_URL
} else {
  const natsBinary = process.env.NATS_SERVER_BIN ?? 'nats-server'
  const probe = spawnSync(natsBinary, ['--version'], { encoding: 'utf8' })
  if (probe.error) {
    log(
      `cannot find ${natsBinary}. Install it with:  sudo apt-get install -y nats-server   (or set NATS_URL to a running server)`,
    )
    process.exit(1)
  }
  if (await portOpen(natsPort)) {
    log(`port ${natsPort} is in use; set TIDEWATCH_NATS_PORT, or NATS_URL to use the server already there`)
    process.exit(1)
  }
  run('nats-server', natsBinary, [
    '-a',
    '127.0.0.1',
    '-p',
    String(natsPort),
    '-js',
    '-sd',
    join(dataDir, 'nats'),
  ])
  env.NATS_URL = `nats://127.0.0.1:${natsPort}`
  await waitForPort(natsPort, 'nats-server', 10_000)
  log(`nats-server with JetStream on ${env.NATS_URL} (data in data/nats)`)
}

env.TIDEWATCH_HTTP_LISTEN = `127.0.0.1:${httpPort}`
run(
  'aggregator',
  process.execPath,
  [join(root, 'aggregator/dist/main.js'), '--config', join(root, 'config/aggregator.toml')],
  env,
)
await waitForPort(httpPort, 'aggregator', 60_000)
run(
  'agent',
  process.execPath,
  [join(root, 'agent/dist/main.js'), '--config', join(root, 'config/agent.toml')],
  env,
)
log(`pipeline running. Query it:
  curl 'http://127.0.0.1:${httpPort}/?query=SELECT+metric,count()+FROM+tidewatch.samples_raw+GROUP+BY+metric'
Press Ctrl-C to stop.`)
