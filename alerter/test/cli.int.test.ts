import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../src/cli.js'

let nats: NatsServerHandle
let dir: string
let configFile: string
beforeAll(async () => {
  nats = await startNatsServer()
  dir = mkdtempSync(join(tmpdir(), 'alerter-cli-'))
  configFile = join(dir, 'alerter.toml')
  writeFileSync(configFile, `[log]\nlevel = "silent"\n[nats]\nservers = ["${nats.url}"]\n[[receivers]]\nname = "default"\n[receivers.slack]\nwebhook_url = "http://127.0.0.1:9/hook"\n`)
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
    const added = await cli('silence', 'add', '--config', configFile, '-m', 'alertname="HighCPU"', '-m', 'pool=~"p1.*"', '--duration', '1h', '--comment', 'deploy')
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
    expect((await cli('silence', 'add', '--config', configFile, '-m', 'a="b"', '--duration', 'soon')).code).toBe(2)
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
  })
})
