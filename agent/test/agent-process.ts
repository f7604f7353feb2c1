import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { jetstream, type JetStreamManager } from '@nats-io/jetstream'
import { decodeBatch, type DecodedBatch, type NatsConnection, type WireLimits } from '@tidewatch/shared'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

/** The real agent as a long-running process (on the sources, through tsx), the way systemd runs it. */
export interface AgentProcess {
  child: ChildProcess
  stderr: () => string
  /** Log lines (pino JSON on stderr), parsed. */
  logs: () => Record<string, unknown>[]
  /** Sends `signal` and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export function startAgent(args: string[]): AgentProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout!.resume()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    stderr: () => stderr,
    logs: () =>
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export interface StoredBatch {
  msgId: string | undefined
  batch: DecodedBatch
}

/** Every message of `stream`, in stream order, decoded. */
export async function readStream(
  connection: NatsConnection,
  manager: JetStreamManager,
  stream: string,
  limits: WireLimits,
): Promise<StoredBatch[]> {
  const count = (await manager.streams.info(stream)).state.messages
  const consumer = await jetstream(connection).consumers.get(stream)
  const out: StoredBatch[] = []
  for (let i = 0; i < count; i++) {
    const msg = await consumer.next({ expires: 5_000 })
    if (msg === null) throw new Error(`expected ${count} messages, got ${i}`)
    // Decode against the batch's own time so old batches from the outage pass the age checks.
    out.push({ msgId: msg.headers?.get('Nats-Msg-Id'), batch: decodeBatch(msg.data, limits, Date.now()) })
  }
  await consumer.delete()
  return out
}

/** The values of one series across batches, in batch order, with their timestamps. */
export function seriesPoints(batches: StoredBatch[], name: string): { t: number; v: number }[] {
  const points: { t: number; v: number }[] = []
  for (const { batch } of batches) {
    for (const series of batch.series) {
      if (series.name !== name) continue
      for (let i = series.offset; i < series.offset + series.count; i++) {
        points.push({ t: batch.timestamps[i]!, v: batch.values[i]! })
      }
    }
  }
  return points
}
