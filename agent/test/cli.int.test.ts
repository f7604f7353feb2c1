import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import type { DryRunDocument } from '../src/outputs/dry-run/printer.js'
import { runAgentCli } from '../src/testing/index.js'

const exampleConfig = fileURLToPath(new URL('../../config/agent.toml', import.meta.url))

describe('tidewatch-agent: --test, check-config, and bad flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-cli-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('--help documents every flag and the check-config command', async () => {
    const run = await runAgentCli(['--help'])
    expect(run.code).toBe(0)
    for (const text of [
      '--config',
      '--once',
      '--dry-run',
      '--test',
      '--log-level',
      '--help',
      '--version',
      'check-config <file>',
      'Exit codes',
    ]) {
      expect(run.stdout).toContain(text)
    }
  })

  it('--test collects once, prints it, and sends and writes nothing', async () => {
    const dataDir = join(dir, 'test-data')
    const config = join(dir, 'test.toml')
    // NATS at a port nobody listens on: --test must not even try
    writeFileSync(config, `[agent]\ndata_dir = "${dataDir}"\n[nats]\nservers = ["nats://127.0.0.1:9"]\n`)
    const run = await runAgentCli(['--test', '--config', config])
    expect(run.code).toBe(0)
    const doc = JSON.parse(run.stdout) as DryRunDocument
    expect(doc.batches).toHaveLength(1)
    expect(doc.batches[0]!.series.some((s) => s.name === 'mem.total_bytes')).toBe(true)
    const { existsSync } = await import('node:fs')
    expect(existsSync(dataDir)).toBe(false)
  })

  it('check-config accepts the documented example file', async () => {
    const run = await runAgentCli(['check-config', exampleConfig])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`${exampleConfig}: OK`)
  })

  it('check-config exits 2 with the file, each bad key, the expectation and the line', async () => {
    const config = join(dir, 'broken.toml')
    writeFileSync(
      config,
      '[agent]\nspool_max_bytes = -1\nflush_intervall = "10s"\n[inputs.cpu]\nenabled = "yes"\n',
    )
    const run = await runAgentCli(['check-config', config])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('invalid configuration')
    expect(run.stderr).toContain(`${config}: agent.spool_max_bytes`)
    expect(run.stderr).toMatch(/agent\.flush_intervall: unknown key \(line 3\)/)
    expect(run.stderr).toContain('inputs.cpu.enabled')
  })

  it('check-config of a file that is not there, or is not TOML, exits 2', async () => {
    const missing = await runAgentCli(['check-config', join(dir, 'nope.toml')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.toml')
    const garbage = join(dir, 'garbage.toml')
    writeFileSync(garbage, '[agent\n')
    const bad = await runAgentCli(['check-config', garbage])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('invalid TOML')
  })

  it.each([
    [['--nope'], 'Unknown argument: nope'],
    [['--log-level', 'loud'], 'Invalid values'],
    [['--log-level'], 'Not enough arguments following: log-level'],
    [['--config'], 'Not enough arguments following: config'],
    [['check-config'], 'Not enough non-option arguments'],
    [['check-config', 'a.toml', 'b.toml'], 'b.toml'],
    [['agent.toml'], 'Unknown argument: agent.toml'],
    [['--once=maybe'], '--once is a switch'],
  ])('a bad flag %j exits 2 with a clear message', async (args, message) => {
    const run = await runAgentCli(args)
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain(message)
  })
})
