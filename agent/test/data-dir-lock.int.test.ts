import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runAgentCli } from '../src/testing/index.js'
import { startAgent, waitFor } from './agent-process.js'

describe('one publishing agent per data_dir (real processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-lock-cli-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("an operator's --once next to the running service exits 1 naming the data_dir and the pid", async () => {
    const config = join(dir, 'agent.toml')
    // NATS unreachable on purpose: the service spools, which is all this needs.
    writeFileSync(
      config,
      `[agent]\nid = "lock-test"\ndata_dir = "${join(dir, 'data')}"\n[nats]\nservers = ["nats://127.0.0.1:1"]\nconnect_timeout = "200ms"\n[admin]\nlisten = ""\n`,
    )
    const service = startAgent(['--config', config])
    try {
      await waitFor(() => service.logs().some((l) => l.msg === 'agent started'), 20_000, 'the service')
      const once = await runAgentCli(['--config', config, '--once'])
      expect(once.code).toBe(1)
      expect(once.stderr).toContain(
        `data_dir ${join(dir, 'data')} is in use by another tidewatch-agent (pid ${service.child.pid})`,
      )
    } finally {
      expect(await service.stop('SIGTERM')).toBe(0)
    }
    // Stopped, it gave the data_dir up: a --once run gets past the lock (and fails on the unreachable NATS).
    const after = await runAgentCli(['--config', config, '--once'])
    expect(after.stderr).not.toContain('is in use')
    expect(after.stderr).toContain('cannot connect to NATS')
  }, 60_000)
})
