/*
 * bench:agent — the real agent process, as users run it: shared and agent are packed (`npm pack`)
 * and installed (`npm install -g --prefix <tmp> --offline`), and the installed `tidewatch-agent`
 * bin runs (the bundled file, whose first line starts node with the agent's flags), at a 10 s
 * interval with the default inputs, against a local nats-server, for N minutes:
 *
 *   bench --spawn--> <tmp>/prefix/bin/tidewatch-agent --config <tmp>/agent.toml --(batches)--> nats-server (METRICS)
 *     |  every second: /proc/<pid>/stat (utime+stime), /proc/<pid>/status (VmHWM)      |
 *     +-------------- subscribes to metrics.in.> and reads agent.collection_duration_ms <+
 *
 * Prints, one per line with units: CPU % of one core (average after a warm-up, and over the whole
 * run), peak RSS, and the time of one collection of the default inputs (p50, p99), both as the
 * agent reported it and measured in this process over many rounds.
 *
 *   npx turbo build && npm run bench -w agent                # 3 minutes
 *   npm run bench -w agent -- --minutes 1                    # shorter
 *   npm run bench -w agent -- --entry dist/main.js --node-args "--max-semi-space-size=1"
 *                                          # node <flags> <entry> instead of the installed bin
 */
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  agentConfigSchema,
  connectNats,
  createLogger,
  decodeBatch,
  ensureStreams,
  limitsFromConfig,
  natsSchema,
  streamSchema,
  systemClock,
} from '@tidewatch/shared'
import { startNatsServer } from '@tidewatch/shared/testing'
import { buildInputs } from '../inputs/index.js'

interface Args {
  minutes: number
  intervalSecs: number
  rounds: number
  /** With --entry: node flags for the agent process (e.g. "--max-old-space-size=32"), space-separated. */
  nodeArgs: string[]
  /** Run `node <nodeArgs> <entry>` instead of the installed bin (to compare builds and flags). */
  entry: string | undefined
}

function parseArgs(argv: string[]): Args {
  const args: Args = { minutes: 3, intervalSecs: 10, rounds: 100, nodeArgs: [], entry: undefined }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = Number(argv[i + 1])
    const take = (key: 'minutes' | 'intervalSecs' | 'rounds'): void => {
      if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} needs a positive number`)
      args[key] = value
      i++
    }
    if (flag === '--minutes') take('minutes')
    else if (flag === '--interval-secs') take('intervalSecs')
    else if (flag === '--rounds') take('rounds')
    else if (flag === '--node-args') {
      args.nodeArgs = (argv[i + 1] ?? '').split(' ').filter((a) => a !== '')
      i++
    } else if (flag === '--entry') {
      args.entry = argv[i + 1]
      i++
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'bench:agent [--minutes 3] [--interval-secs 10] [--rounds 100] [--entry FILE [--node-args "..."]]\n' +
          '  --minutes        how long the agent runs (default 3)\n' +
          '  --interval-secs  agent.interval and flush_interval (default 10)\n' +
          '  --rounds         in-process collections timed for p50/p99, 300 ms apart (default 100)\n' +
          '  --entry          run node <node-args> FILE instead of the packed and installed bin\n' +
          '  --node-args      node flags with --entry, space-separated\n',
      )
      process.exit(0)
    } else throw new Error(`unknown flag ${flag} (try --help)`)
  }
  return args
}

interface ProcSample {
  atMs: number
  cpuTicks: number
  hwmKb: number
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after the parenthesised command name; utime and stime are fields 14 and 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const cpuTicks = Number(fields[11]) + Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { atMs: performance.now(), cpuTicks, hwmKb }
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
}

const fmt = (n: number, digits = 2): string => n.toFixed(digits)

async function collectionTimesInProcess(rounds: number): Promise<number[]> {
  const logger = createLogger({ service: 'bench', level: 'silent' })
  const inputs = buildInputs(agentConfigSchema.parse({}).inputs, { clock: systemClock, logger })
  for (const input of inputs) await input.init()
  const acc = { add: () => undefined }
  const times: number[] = []
  for (let i = 0; i < rounds + 5; i++) {
    const started = performance.now()
    await Promise.all(inputs.map((input) => input.gather(acc)))
    if (i >= 5) times.push(performance.now() - started) // the first rounds warm up the JIT
    // the cpu input waits until 250 ms have passed since its last reading (a rate needs a window)
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  return times
}

/** `npm pack` shared and agent (built already), install both into `<dir>/prefix`; returns the bin. */
function installAgent(dir: string): string {
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
  const npm = (args: string[], cwd: string): void => {
    execFileSync('npm', [...args, '--loglevel=error'], { cwd, stdio: ['ignore', 'ignore', 'inherit'] })
  }
  const tarballs: string[] = []
  for (const workspace of ['shared', 'agent']) {
    npm(['pack', '--ignore-scripts', '--pack-destination', dir], join(repoRoot, workspace))
  }
  for (const name of readdirSync(dir)) if (name.endsWith('.tgz')) tarballs.push(join(dir, name))
  npm(
    ['install', '-g', '--prefix', join(dir, 'prefix'), '--offline', '--no-audit', '--no-fund', ...tarballs],
    dir,
  )
  return join(dir, 'prefix', 'bin', 'tidewatch-agent')
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-agent-'))
  const [command, commandArgs] =
    args.entry === undefined ? [installAgent(dir), []] : [process.execPath, [...args.nodeArgs, args.entry]]
  const logger = createLogger({ service: 'bench', level: 'silent' })
  const server = await startNatsServer()
  // the nats-server child would keep this process alive after an error
  process.once('exit', () => void server.dispose())
  const connection = await connectNats(
    natsSchema.parse({ servers: [server.url], connect_timeout: '2s', reconnect_wait: '200ms' }),
    { name: 'bench', logger },
  )
  await ensureStreams(connection, [
    streamSchema({ name: 'METRICS', subjects: ['metrics.in.>'], max_age: '1h' }).parse({}),
  ])
  const limits = limitsFromConfig(agentConfigSchema.parse({}).limits)
  const reported: number[] = []
  let batches = 0
  let samples = 0
  const subscription = connection.subscribe('metrics.in.>', {
    callback: (error, msg) => {
      if (error) return
      const batch = decodeBatch(msg.data, limits, Date.now())
      batches++
      samples += batch.sampleCount
      for (const series of batch.series) {
        if (series.name === 'agent.collection_duration_ms')
          reported.push(batch.values[series.offset] as number)
      }
    },
  })

  const config = join(dir, 'agent.toml')
  writeFileSync(
    config,
    [
      '[agent]',
      'id = "bench"',
      `data_dir = "${join(dir, 'data')}"`,
      `interval = "${args.intervalSecs}s"`,
      `flush_interval = "${args.intervalSecs}s"`,
      '[nats]',
      `servers = ["${server.url}"]`,
      // the admin endpoint runs as by default, on a free port (parallel runs must not collide)
      '[admin]',
      'listen = "127.0.0.1:0"',
      '[log]',
      'level = "warn"',
    ].join('\n'),
  )
  process.stderr.write(
    `bench:agent: running ${[command, ...commandArgs].join(' ')} for ${args.minutes} min at a ${args.intervalSecs} s interval (default inputs)\n`,
  )
  const child = spawn(command, [...commandArgs, '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const pid = child.pid as number

  const samplesProc: ProcSample[] = []
  const durationMs = args.minutes * 60_000
  const warmupMs = Math.min(15_000, durationMs / 4)
  const startedMs = performance.now()
  await new Promise((resolve) => setTimeout(resolve, 200))
  while (performance.now() - startedMs < durationMs) {
    if (child.exitCode !== null) throw new Error(`the agent exited early (${child.exitCode}): ${stderr}`)
    samplesProc.push(sampleProc(pid))
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  const last = sampleProc(pid)
  samplesProc.push(last)
  child.kill('SIGTERM')
  const code = await exited
  await subscription.drain()
  await connection.close()
  await server.dispose()

  const first = samplesProc[0] as ProcSample
  const afterWarmup = samplesProc.find((s) => s.atMs - startedMs >= warmupMs) ?? first
  const cpuPercent = (from: ProcSample, to: ProcSample): number =>
    ((to.cpuTicks - from.cpuTicks) / CLK_TCK / ((to.atMs - from.atMs) / 1000)) * 100
  const inProcess = await collectionTimesInProcess(args.rounds)
  rmSync(dir, { recursive: true, force: true })

  const lines = [
    `duration: ${fmt((last.atMs - startedMs) / 60_000, 1)} min`,
    `interval: ${args.intervalSecs} s`,
    `cpu_avg_after_warmup: ${fmt(cpuPercent(afterWarmup, last), 3)} % of one core`,
    `cpu_avg_whole_run: ${fmt(cpuPercent(first, last), 3)} % of one core`,
    `peak_rss: ${fmt(last.hwmKb / 1024, 1)} MB`,
    `collection_p50: ${fmt(quantile(inProcess, 0.5), 3)} ms (in process, ${inProcess.length} rounds)`,
    `collection_p99: ${fmt(quantile(inProcess, 0.99), 3)} ms (in process, ${inProcess.length} rounds)`,
    `collection_p50_reported: ${fmt(quantile(reported, 0.5), 3)} ms (agent.collection_duration_ms, ${reported.length} rounds)`,
    `collection_p99_reported: ${fmt(quantile(reported, 0.99), 3)} ms (agent.collection_duration_ms, ${reported.length} rounds)`,
    `batches_received: ${batches}`,
    `samples_received: ${samples}`,
    `agent_exit_code: ${code}`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
  if (code !== 0) {
    process.stderr.write(`the agent exited with ${code}: ${stderr}\n`)
    process.exitCode = 1
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  // the NATS connection and server would keep the process alive
  process.exit(1)
})
