import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/*
 * config/systemd/*.service: systemd's own verifier where it exists (binaries are not installed here,
 * so "is not executable" is the one complaint allowed), and a parser check of the hardening keys
 * every tidewatch unit must carry, matching tidewatch-agent.service.
 */

const DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config/systemd')
const UNITS = ['tidewatch-agent.service', 'tidewatch-aggregator.service', 'tidewatch-alerter.service']

function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      current = new Map()
      sections.set(header[1] as string, current)
      continue
    }
    const eq = line.indexOf('=')
    if (current === undefined || eq < 1) throw new Error(`not a unit file line: ${line}`)
    const key = line.slice(0, eq)
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)])
  }
  return sections
}

const REQUIRED: Record<string, string> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  PrivateDevices: 'yes',
  ProtectKernelTunables: 'yes',
  ProtectKernelModules: 'yes',
  ProtectControlGroups: 'yes',
  RestrictNamespaces: 'yes',
  RestrictSUIDSGID: 'yes',
  LockPersonality: 'yes',
  CapabilityBoundingSet: '',
  SystemCallArchitectures: 'native',
  Restart: 'on-failure',
  RestartPreventExitStatus: '2',
  UMask: '0027',
}

const hasVerify = spawnSync('systemd-analyze', ['--version']).status === 0

describe('systemd units', () => {
  for (const name of UNITS) {
    it(`${name} carries the hardening keys, runs unprivileged and writes only its state directory`, () => {
      const unit = parseUnit(readFileSync(join(DIR, name), 'utf8'))
      const service = unit.get('Service')
      expect(service, name).toBeDefined()
      for (const [key, value] of Object.entries(REQUIRED))
        expect(service?.get(key)?.at(-1), `${name}: ${key}`).toBe(value)
      expect(service?.get('User')?.[0]).toMatch(/^tidewatch/)
      const state = service?.get('StateDirectory')?.[0] ?? ''
      expect(service?.get('ReadWritePaths')).toEqual([`/var/lib/${state}`])
      expect(service?.get('WorkingDirectory')).toEqual([`/var/lib/${state}`])
      expect(service?.get('ExecStart')?.[0]).toMatch(/--config \/etc\/tidewatch\/[a-z]+\.toml$/)
      expect(service?.get('SystemCallFilter')).toEqual(['@system-service', '~@privileged @resources'])
      expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target'])
    })
  }

  it.skipIf(!hasVerify)('pass systemd-analyze verify (binaries aside)', () => {
    const result = spawnSync(
      'systemd-analyze',
      ['verify', '--man=no', ...UNITS.map((unit) => join(DIR, unit))],
      { encoding: 'utf8' },
    )
    const problems = `${result.stdout}\n${result.stderr}`
      .split('\n')
      .filter(
        (line) =>
          line.trim() !== '' && !/Command \/usr\/local\/bin\/tidewatch-[a-z]+ is not executable/.test(line),
      )
    expect(problems).toEqual([])
    expect(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' })).toContain('systemd')
  })
})
