import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const unitFile = fileURLToPath(new URL('../../config/systemd/tidewatch-agent.service', import.meta.url))
const text = readFileSync(unitFile, 'utf8')

/** section -> key -> values (a key may repeat). */
function parseUnit(unit: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of unit.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      current = new Map()
      sections.set(header[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    if (current === undefined || eq < 1) throw new Error(`not a unit line: ${line}`)
    const key = line.slice(0, eq)
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)])
  }
  return sections
}

describe('config/systemd/tidewatch-agent.service', () => {
  const unit = parseUnit(text)
  const service = unit.get('Service')!
  const one = (key: string): string | undefined => service.get(key)?.at(-1)
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-unit-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('runs the installed binary with the config, as its own user, restarting on failure', () => {
    expect(one('ExecStart')).toBe('/usr/local/bin/tidewatch-agent --config /etc/tidewatch/agent.toml')
    expect(one('ExecStartPre')).toContain('check-config /etc/tidewatch/agent.toml')
    expect(one('User')).toBe('tidewatch-agent')
    expect(one('Restart')).toBe('on-failure')
    expect(one('RestartPreventExitStatus')).toBe('2')
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target'])
  })

  it('is hardened: read-only file system except its state directory, no new privileges, no capabilities', () => {
    expect(one('NoNewPrivileges')).toBe('yes')
    expect(one('ProtectSystem')).toBe('strict')
    expect(one('StateDirectory')).toBe('tidewatch-agent')
    expect(one('ReadWritePaths')).toBe('/var/lib/tidewatch-agent')
    expect(one('WorkingDirectory')).toBe('/var/lib/tidewatch-agent')
    expect(one('ProtectHome')).toBe('yes')
    expect(one('PrivateTmp')).toBe('yes')
    expect(one('PrivateDevices')).toBe('yes')
    expect(one('CapabilityBoundingSet')).toBe('')
    expect(one('RestrictSUIDSGID')).toBe('yes')
    expect(service.get('SystemCallFilter')).toContain('@system-service')
    // SIGTERM spools and publishes for shutdown_timeout (5 s by default): systemd must wait longer.
    expect(Number.parseInt(one('TimeoutStopSec')!, 10)).toBeGreaterThan(5)
  })

  it('passes systemd-analyze verify (when systemd is installed), with the binary path pointed at a stub', () => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
    if (probe.error !== undefined) return // no systemd here: the parse checks above still ran
    const stub = join(dir, 'tidewatch-agent')
    writeFileSync(stub, '#!/bin/sh\nexit 0\n')
    chmodSync(stub, 0o755)
    const copy = join(dir, 'tidewatch-agent.service')
    writeFileSync(copy, text.replaceAll('/usr/local/bin/tidewatch-agent', stub))
    const run = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
    // verify also reports the host's own units on some machines; only lines about ours count
    const ours = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => line.includes('tidewatch-agent'))
    expect(ours).toEqual([])
    expect(run.status).toBe(0)
  })
})
