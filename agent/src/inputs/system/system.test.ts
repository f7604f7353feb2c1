import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir, uptime } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { recorder, testDeps } from '../testing.js'
import { countUtmpSessions, parseLoadavg, parseUptime, SystemInput, UTMP_RECORD_BYTES } from './index.js'

function utmpRecord(type: number, user: string): Buffer {
  const record = Buffer.alloc(UTMP_RECORD_BYTES)
  record.writeInt16LE(type, 0)
  record.write(user, 44)
  return record
}

describe('system input', () => {
  it('parses /proc/loadavg and /proc/uptime', () => {
    expect(parseLoadavg('0.20 0.18 0.12 1/80 11206\n')).toEqual({
      load1: 0.2,
      load5: 0.18,
      load15: 0.12,
      threads: 80,
    })
    expect(parseUptime('350735.47 234388.90\n')).toBe(350735.47)
    expect(() => parseLoadavg('garbage')).toThrow(/loadavg/)
  })

  it('counts login sessions in utmp (USER_PROCESS records)', () => {
    const data = Buffer.concat([
      utmpRecord(2, 'reboot'),
      utmpRecord(7, 'alice'),
      utmpRecord(7, 'bob'),
      utmpRecord(8, 'carol'),
    ])
    expect(countUtmpSessions(data)).toBe(2)
    expect(() => countUtmpSessions(Buffer.alloc(100))).toThrow(/multiple/)
  })

  it('reports load, uptime, processes and threads of this machine', async () => {
    const input = new SystemInput({ enabled: true, timeout: 5000 }, testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const v = Object.fromEntries(samples.map((s) => [s.name, s.value]))
    for (const name of [
      'system.load1',
      'system.load5',
      'system.load15',
      'system.uptime_seconds',
      'system.processes',
      'system.threads',
    ])
      expect(v[name], name).toBeDefined()
    const [l1, l5, l15] = loadavg()
    expect(Math.abs(v['system.load1']! - l1!)).toBeLessThan(1)
    expect(Math.abs(v['system.load5']! - l5!)).toBeLessThan(1)
    expect(Math.abs(v['system.load15']! - l15!)).toBeLessThan(1)
    expect(Math.abs(v['system.uptime_seconds']! - uptime())).toBeLessThan(5)
    const processes = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length
    expect(Math.abs(v['system.processes']! - processes)).toBeLessThan(20)
    expect(v['system.threads']).toBeGreaterThanOrEqual(v['system.processes']! - 20)
    for (const s of samples) expect(s.labels).toEqual({})
  })

  it('reports system.users from a utmp file, and no users series without one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidewatch-utmp-'))
    const utmp = join(dir, 'utmp')
    writeFileSync(utmp, Buffer.concat([utmpRecord(7, 'alice'), utmpRecord(6, 'LOGIN')]))
    const withUtmp = new SystemInput({ enabled: true, timeout: 5000 }, testDeps, {
      paths: { utmp },
      readUsers: true,
    })
    const a = recorder()
    await withUtmp.gather(a.acc)
    expect(a.samples.find((s) => s.name === 'system.users')?.value).toBe(1)
    const without = new SystemInput({ enabled: true, timeout: 5000 }, testDeps, {
      paths: { utmp: join(dir, 'missing') },
      readUsers: true,
    })
    const b = recorder()
    await without.gather(b.acc)
    expect(b.samples.some((s) => s.name === 'system.users')).toBe(false)
    rmSync(dir, { recursive: true, force: true })
  })
})
