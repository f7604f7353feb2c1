import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../src/cli.js'

let nats: NatsServerHandle
let dir: string
let configFile: string
beforeAll(async () => {
  nats = await startNatsServer()
  dir = mkdtempSync(join(tmpdir(), 'alerter-cli-'))
  configFile = join(dir, 'alerter.toml')
  writeFileSync(
    configFile,
    `[log]\nlevel = "silent"\n[nats]\nservers = ["${nats.url}"]\n[[receivers]]\nname = "default"\n[receivers.slack]\nwebhook_url = "http://127.0.0.1:9/hook"\n`,
  )
})
afterAll(async () => {
  await nats.dispose()
  rmSync(dir, { recursive: true, force: true })
})

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t) })
  return { code, out, err }
}

describe('tidewatch-alerter silence', () => {
  it('adds, lists and expires a silence', async () => {
    const added = await cli(
      'silence',
      'add',
      '--config',
      configFile,
      '-m',
      'alertname="HighCPU"',
      '-m',
      'pool=~"p1.*"',
      '--duration',
      '1h',
      '--comment',
      'deploy',
    )
    expect(added.code).toBe(0)
    const id = added.out.trim()
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    const listed = await cli('silence', 'list', '--config', configFile)
    expect(listed.out).toContain(`${id}  active`)
    expect(listed.out).toContain('{alertname="HighCPU",pool=~"p1.*"}')
    const expired = await cli('silence', 'expire', id, '--config', configFile)
    expect(expired.out).toContain('expired')
    expect((await cli('silence', 'list', '--config', configFile)).out).toBe('')
    expect((await cli('silence', 'list', '--all', '--config', configFile)).out).toContain(id)
  })

  it('refuses a bad matcher or duration, and an unknown id', async () => {
    expect((await cli('silence', 'add', '--config', configFile, '-m', 'nope')).code).toBe(1)
    expect(
      (await cli('silence', 'add', '--config', configFile, '-m', 'a="b"', '--duration', 'soon')).code,
    ).toBe(2)
    const missing = await cli('silence', 'expire', 'no-such-id', '--config', configFile)
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('no silence with id no-such-id')
  })

  it('names the file and key of a config problem', async () => {
    const bad = join(dir, 'bad.toml')
    writeFileSync(bad, '[route]\nreceiver = "nobody"\n')
    const result = await cli('silence', 'list', '--config', bad)
    expect(result.code).toBe(2)
    expect(result.err).toContain('route.receiver: no receiver named "nobody"')
    writeFileSync(bad, '[store]\nurl = "chdb://./data/store"\n')
    const chdb = await cli('silence', 'list', '--config', bad)
    expect(chdb.code).toBe(2)
    expect(chdb.err).toContain(`${bad}: store.url: expected an http(s):// URL`)
  })
})

describe('tidewatch-alerter run', () => {
  const runCli2 = async (config: string, stopAfterMs: number) => {
    let out = ''
    let err = ''
    const code = await runCli(['run', '--config', config], {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      untilStopped: () => new Promise((resolve) => setTimeout(resolve, stopAfterMs)),
    })
    return { code, out, err }
  }

  it('refuses bad rule files before starting, naming each file, rule and key', async () => {
    const rules = join(dir, 'bad-rules.toml')
    writeFileSync(
      rules,
      '[[rule]]\nname = "web_slow"\nkind = "query"\nsql = "SELECT 1 AS value"\ninterval = "soon"\n\n[[rule]]\nname = "cpu"\nkind = "threshold"\nmetric = "cpu"\nop = ">>"\nthreshold = 1\n',
    )
    const config = join(dir, 'with-bad-rules.toml')
    writeFileSync(
      config,
      `[log]\nlevel = "silent"\n[nats]\nservers = ["${nats.url}"]\n[rules]\nfiles = ["${rules}"]\n[[receivers]]\nname = "default"\n[receivers.slack]\nwebhook_url = "http://127.0.0.1:9/hook"\n`,
    )
    const result = await runCli2(config, 0)
    expect(result.code).toBe(2)
    expect(result.err).toContain(`${rules}: rule "web_slow": interval:`)
    expect(result.err).toContain(`${rules}: rule "cpu": op:`)
  })

  it('starts the query rules of its rule files and stops cleanly', async () => {
    const rules = join(dir, 'query-rules.toml')
    // The store is unreachable: the runs fail (logged, counted), the alerter keeps running.
    writeFileSync(
      rules,
      '[[rule]]\nname = "q1"\nkind = "query"\nsql = "SELECT 1 AS value"\ninterval = "1s"\n',
    )
    const config = join(dir, 'with-query-rules.toml')
    writeFileSync(
      config,
      `[log]\nlevel = "error"\n[nats]\nservers = ["${nats.url}"]\n[rules]\nfiles = ["${rules}"]\n[store]\nurl = "http://127.0.0.1:9"\n[[receivers]]\nname = "default"\n[receivers.slack]\nwebhook_url = "http://127.0.0.1:9/hook"\n`,
    )
    const logged: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk))
      return true
    })
    const clickhouseConsole = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    let result: Awaited<ReturnType<typeof runCli2>>
    try {
      result = await runCli2(config, 1_500)
    } finally {
      spy.mockRestore()
      clickhouseConsole.mockRestore()
    }
    expect(result.err).toBe('')
    expect(result.code).toBe(0)
    // The runner ran the rule (against the unreachable store) at least once.
    expect(logged.join('')).toContain('"rule":"q1"')
    expect(logged.join('')).toContain('query rule failed')
  })
})
