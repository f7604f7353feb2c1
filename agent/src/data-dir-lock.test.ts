import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { lockDataDir } from './data-dir-lock.js'

describe('lockDataDir', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-lock-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const lockHolder = (): number => Number(readFileSync(join(dir, 'agent.lock'), 'utf8').split(' ')[0])

  it('holds the data_dir until released, also against a second run in the same process', async () => {
    const lock = await lockDataDir(dir)
    expect(lockHolder()).toBe(process.pid)
    await expect(lockDataDir(dir)).rejects.toThrow(`data_dir ${dir} is in use by another tidewatch-agent`)
    await lock.release()
    expect(existsSync(join(dir, 'agent.lock'))).toBe(false)
    await (await lockDataDir(dir)).release()
  })

  it('refuses a data_dir whose lock names a live process, naming its pid', async () => {
    const other = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      writeFileSync(join(dir, 'agent.lock'), `${other.pid}\n`)
      await expect(lockDataDir(dir)).rejects.toThrow(`(pid ${other.pid})`)
      expect(lockHolder()).toBe(other.pid)
    } finally {
      other.kill()
    }
  })

  it('takes over the lock of a process that is gone (a crash, a kill -9)', async () => {
    const gone = spawn('true', { stdio: 'ignore' })
    await new Promise((resolve) => gone.once('exit', resolve))
    writeFileSync(join(dir, 'agent.lock'), `${gone.pid}\n`)
    const lock = await lockDataDir(dir)
    expect(lockHolder()).toBe(process.pid)
    await lock.release()
  })

  it('takes over the lock of a pid now given to another program (started at another time)', async () => {
    const other = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      // The recorded start time is not that of the process now holding the pid.
      writeFileSync(join(dir, 'agent.lock'), `${other.pid} 1\n`)
      const lock = await lockDataDir(dir)
      expect(lockHolder()).toBe(process.pid)
      await lock.release()
    } finally {
      other.kill()
    }
  })
})
