import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitForPort } from '@tidewatch/shared/testing'

/*
 * Real Redis and RabbitMQ servers for the input tests, each on free loopback ports in a temp dir.
 * A missing binary is an error that says how to get it, never a skipped test.
 */

export interface ServiceHandle {
  port: number
  dir: string
  stop(): Promise<void>
}

function requireBinary(path: string, pkg: string): string {
  const found = path.includes('/') ? (existsSync(path) ? path : undefined) : which(path)
  if (found === undefined)
    throw new Error(
      `${path} not found: install the Debian package ${pkg} (.ci/run installs it: apt-get install -y ${pkg})`,
    )
  return found
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

function watchExit(child: ChildProcess, name: string, output: () => string): Promise<never> {
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`cannot start ${name}: ${error.message}`)))
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${output()}`)))
  })
  failed.catch(() => undefined)
  return failed
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref()
  })
}

/** `redis-server --port N --dir <tmp> --save ''` with no persistence. */
export async function startRedisServer(
  options: { binary?: string; password?: string } = {},
): Promise<ServiceHandle> {
  const binary = requireBinary(
    options.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server',
    'redis-server',
  )
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-redis-'))
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
  ]
  if (options.password !== undefined) args.push('--requirepass', options.password)
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  await waitForPort(
    port,
    10_000,
    'redis-server',
    watchExit(child, 'redis-server', () => output),
  ).catch(async (error: unknown) => {
    await stopChild(child)
    rmSync(dir, { recursive: true, force: true })
    throw error
  })
  return {
    port,
    dir,
    stop: async () => {
      await stopChild(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RabbitmqHandle extends ServiceHandle {
  /** Base URL of the management HTTP API. */
  managementUrl: string
  nodeName: string
  /** `rabbitmqctl` with this node's environment; throws with its output on failure. */
  ctl(...args: string[]): string
}

/**
 * Debian's rabbitmq-server with the management plugin, a unique node name, AMQP and management on
 * free ports, and everything (mnesia, logs, config, plugins file) in a temp dir. Slow to start
 * (several seconds): start it once per test file. Statistics are collected every 500 ms so queue
 * figures show up quickly in the management API.
 */
export async function startRabbitmqServer(): Promise<RabbitmqHandle> {
  // Debian's /usr/sbin wrappers switch to the rabbitmq user when run as root, which cannot read a
  // root-owned temp dir; the scripts they wrap run as whoever starts them.
  const bin = process.env.RABBITMQ_BIN_DIR ?? '/usr/lib/rabbitmq/bin'
  const server = requireBinary(join(bin, 'rabbitmq-server'), 'rabbitmq-server')
  const ctlBinary = requireBinary(join(bin, 'rabbitmqctl'), 'rabbitmq-server')
  const [port, managementPort, distPort] = [await freePort(), await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-rabbitmq-'))
  const nodeName = `tidewatch${process.pid}x${port}@localhost`
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_management].\n')
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      `management.tcp.port = ${managementPort}`,
      'management.tcp.ip = 127.0.0.1',
      'collect_statistics_interval = 500',
      'management.rates_mode = basic',
      'loopback_users.guest = true',
      '',
    ].join('\n'),
  )
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The Erlang cookie is created in (and read from) $HOME: keep it in the temp dir too.
    HOME: dir,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_FEATURE_FLAGS_FILE: join(dir, 'feature_flags'),
    RABBITMQ_LOGS: '-',
    ERL_CRASH_DUMP: join(dir, 'erl_crash.dump'),
  }
  mkdirSync(join(dir, 'mnesia'), { recursive: true })
  mkdirSync(join(dir, 'log'), { recursive: true })
  const child = spawn(server, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  await waitForPort(
    managementPort,
    60_000,
    'rabbitmq management',
    watchExit(child, 'rabbitmq-server', () => output),
  ).catch(async (error: unknown) => {
    await stopChild(child)
    rmSync(dir, { recursive: true, force: true })
    throw error
  })
  const ctl = (...args: string[]): string => {
    const result = spawnSync(ctlBinary, ['-n', nodeName, ...args], { env, cwd: dir, encoding: 'utf8' })
    if (result.status !== 0)
      throw new Error(`rabbitmqctl ${args.join(' ')}: ${result.stdout}${result.stderr}`)
    return result.stdout
  }
  return {
    port,
    dir,
    nodeName,
    managementUrl: `http://127.0.0.1:${managementPort}`,
    ctl,
    stop: async () => {
      spawnSync(ctlBinary, ['-n', nodeName, 'stop'], { env, cwd: dir, timeout: 30_000 })
      await stopChild(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
