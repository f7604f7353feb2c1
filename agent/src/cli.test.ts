import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DryRunDocument } from './outputs/dry-run/printer.js'
import { runAgentCli } from './testing/index.js'

describe('tidewatch-agent CLI', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-cli-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('--once --dry-run prints one collection as JSON and exits 0 without NATS', async () => {
    const config = join(dir, 'agent.toml')
    writeFileSync(
      config,
      `[agent]\nid = "cli-test"\nhostname = "i631"\ndata_dir = "${join(dir, 'data')}"\n\n[global_labels]\nenv = "prod"\n\n[nats]\nservers = ["nats://127.0.0.1:1"]\n\n[inputs.cpu]\nper_cpu = false\n[inputs.disk]\nenabled = false\n[inputs.net]\nenabled = false\n[inputs.system]\nenabled = false\n`,
    )
    const run = await runAgentCli(['--config', config, '--once', '--dry-run'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as DryRunDocument
    expect(doc.batches).toHaveLength(1)
    const [batch] = doc.batches
    expect(batch).toMatchObject({
      id: 'cli-test:1',
      subject: 'metrics.in.cli-test',
      agent_id: 'cli-test',
      seq: 1,
      sample_count: 12,
    })
    expect(batch!.encoded_bytes).toBeGreaterThan(0)
    expect(batch!.series.map((s) => s.name).sort()).toEqual([
      'cpu.idle_percent',
      'cpu.iowait_percent',
      'cpu.steal_percent',
      'cpu.system_percent',
      'cpu.usage_percent',
      'cpu.user_percent',
      'mem.available_bytes',
      'mem.cached_bytes',
      'mem.swap_total_bytes',
      'mem.swap_used_bytes',
      'mem.total_bytes',
      'mem.used_bytes',
    ])
    for (const series of batch!.series) {
      expect(series.labels).toMatchObject({ host: 'i631', env: 'prod' })
      expect(series.labels.cpu).toBe(series.name.startsWith('cpu.') ? 'total' : undefined)
      expect(series.samples).toHaveLength(1)
      expect(Number.isFinite(series.samples[0]!.value)).toBe(true)
      expect(new Date(series.samples[0]!.time).getTime()).toBe(series.samples[0]!.timestamp_ms)
    }
    // a dry run does not advance the stored sequence
    const again = await runAgentCli(['--config', config, '--once', '--dry-run'])
    expect((JSON.parse(again.stdout) as DryRunDocument).batches[0]!.id).toBe('cli-test:1')
  })

  it('runs on defaults without --config', async () => {
    // the default data_dir (./data/agent) is only read by a dry run, never created
    const run = await runAgentCli(['--once', '--dry-run', '--log-level', 'warn'])
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as DryRunDocument
    expect(doc.batches[0]!.series.some((s) => s.name === 'mem.total_bytes')).toBe(true)
  })

  it('--help documents every flag', async () => {
    const run = await runAgentCli(['--help'])
    expect(run.code).toBe(0)
    for (const flag of ['--config', '--once', '--dry-run', '--log-level']) expect(run.stdout).toContain(flag)
  })

  it('a wrong flag exits 2 and names it', async () => {
    const run = await runAgentCli(['--once', '--dryrun'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('Unknown argument: dryrun')
    expect(run.stdout).toBe('')
  })

  it('a broken config file exits 2 naming the file and each bad key', async () => {
    const config = join(dir, 'broken.toml')
    writeFileSync(config, `[agent]\ninterval = "ten seconds"\nbatch_max_smples = 10\n`)
    const run = await runAgentCli(['--config', config, '--once', '--dry-run'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('invalid configuration')
    expect(run.stderr).toContain(config)
    expect(run.stderr).toContain('agent.interval')
    expect(run.stderr).toContain('batch_max_smples')
  })

  it('a config file that is not TOML, or not there, exits 2', async () => {
    const config = join(dir, 'garbage.toml')
    writeFileSync(config, `[agent\nid = `)
    const garbage = await runAgentCli(['--config', config, '--once', '--dry-run'])
    expect(garbage.code).toBe(2)
    expect(garbage.stderr).toContain(config)
    const missing = await runAgentCli(['--config', join(dir, 'nope.toml'), '--once', '--dry-run'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.toml')
  })

  it('global_labels.host is refused: the host label comes from agent.hostname', async () => {
    const config = join(dir, 'host.toml')
    writeFileSync(config, `[global_labels]\nhost = "x"\n`)
    const run = await runAgentCli(['--config', config, '--once', '--dry-run'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('global_labels.host')
  })
})
