import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { freePort, waitForPort } from './ports.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A real nats-server with JetStream on a free loopback port and a temp store dir, for tests and local runs. */
export interface NatsServerHandle {
  url: string
  port: number
  dataDir: string
  /** SIGTERM and wait; the data dir is kept so `start()` resumes with the same streams. */
  stop(): Promise<void>
  /** Start again on the same port and data dir (after `stop()`). */
  start(): Promise<void>
  /** Stop and remove the data dir. */
  dispose(): Promise<void>
}

export interface StartNatsServerOptions {
  port?: number
  dataDir?: string
  binary?: string
  /** Extra arguments, e.g. ['-c', configFile]. */
  args?: string[]
}

export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const port = options.port ?? (await freePort())
  const ownsDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tidewatch-nats-'))
  const binary = options.binary ?? process.env.NATS_SERVER_BIN ?? 'nats-server'
  let child: ChildProcess | undefined

  const start = async (): Promise<void> => {
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dataDir, ...(options.args ?? [])]
    const spawned = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    child = spawned
    let stderr = ''
    spawned.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', (error) => reject(new Error(`cannot start ${binary}: ${error.message}`)))
      spawned.once('exit', (code) => reject(new Error(`${binary} exited with ${code}: ${stderr}`)))
    })
    failed.catch(() => undefined)
    await waitForPort(port, 10_000, 'nats-server', failed)
  }

  const stop = async (): Promise<void> => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve())
      running.kill('SIGTERM')
      setTimeout(() => running.kill('SIGKILL'), 5_000).unref()
    })
  }

  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dataDir,
    stop,
    start,
    dispose: async () => {
      await stop()
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
