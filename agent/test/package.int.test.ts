import { execFile, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000 })
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`,
    )
  }
  return result
}

/*
 * The documented install, for real and offline: build, `npm pack` shared and agent, then
 * `npm install -g --prefix <tmp> --offline` both tarballs (shared is not on a registry, so a plain
 * `npm install -g @tidewatch/agent` cannot resolve it). Third-party dependencies come from the npm
 * cache, so this needs them cached once (any `npm ci` of this repo does that).
 */
describe('npm install -g of the packed agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-pack-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it(
    'gives a working tidewatch-agent: --help, --version, check-config, and --test with an HTTP input',
    { timeout: 300_000 },
    async () => {
      run(
        process.execPath,
        [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'shared/tsconfig.build.json'],
        repoRoot,
      )
      run(
        process.execPath,
        [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'agent/tsconfig.build.json'],
        repoRoot,
      )
      // the bin: one bundled file (agent/scripts/bundle.mjs)
      run(process.execPath, [join(repoRoot, 'agent/scripts/bundle.mjs')], repoRoot)
      for (const workspace of ['shared', 'agent']) {
        // prepack would build again: done just above
        run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], join(repoRoot, workspace))
      }
      const tarballs = readdirSync(dir)
        .filter((name) => name.endsWith('.tgz'))
        .sort()
      expect(tarballs).toEqual(['tidewatch-agent-0.1.0.tgz', 'tidewatch-shared-0.1.0.tgz'])

      const prefix = join(dir, 'prefix')
      run(
        'npm',
        [
          'install',
          '-g',
          '--prefix',
          prefix,
          '--offline',
          '--no-audit',
          '--no-fund',
          ...tarballs.map((t) => `./${t}`),
        ],
        dir,
      )
      const bin = join(prefix, 'bin', 'tidewatch-agent')
      expect(existsSync(bin)).toBe(true)
      // the installed package holds no tests and no source
      const installed = join(prefix, 'lib', 'node_modules', '@tidewatch', 'agent')
      expect(existsSync(join(installed, 'src'))).toBe(false)
      expect(readdirSync(join(installed, 'dist')).some((name) => name.includes('.test.'))).toBe(false)

      const help = spawnSync(bin, ['--help'], { encoding: 'utf8' })
      expect(help.status).toBe(0)
      for (const flag of ['--config', '--once', '--dry-run', '--test', '--log-level', 'check-config']) {
        expect(help.stdout).toContain(flag)
      }
      const version = spawnSync(bin, ['--version'], { encoding: 'utf8' })
      expect(version.stdout.trim()).toBe('0.1.0')
      const check = spawnSync(bin, ['check-config', join(repoRoot, 'config', 'agent.toml')], {
        encoding: 'utf8',
      })
      expect(check.stderr).toBe('')
      expect(check.status).toBe(0)

      // the bin is the bundle, and starts node with its memory flags (--lite-mode turns WebAssembly
      // off: the HTTP inputs must work without it)
      const installedBin = join(installed, 'dist', 'tidewatch-agent.mjs')
      const shebang = readFileSync(installedBin, 'utf8').split('\n')[0]
      expect(shebang).toMatch(
        /^#!\/usr\/bin\/env -S node --max-semi-space-size=1 .*--lite-mode --no-expose-wasm$/,
      )
      const server = createServer((_request, response) => response.end('installed_check 42\n'))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const config = join(dir, 'agent.toml')
        writeFileSync(
          config,
          [
            '[agent]',
            `data_dir = "${join(dir, 'data')}"`,
            '[inputs.prometheus]',
            'enabled = true',
            `urls = ["http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics"]`,
          ].join('\n'),
        )
        const test = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = execFile(bin, ['--test', '--config', config], (error, stdout, stderr) =>
            resolve({ code: error ? (child.exitCode ?? 1) : 0, stdout, stderr }),
          )
        })
        expect(test.stderr).toBe('')
        expect(test.code).toBe(0)
        const series = (
          JSON.parse(test.stdout) as {
            batches: { series: { name: string; samples: { value: number }[] }[] }[]
          }
        ).batches.flatMap((b) => b.series)
        expect(series.find((s) => s.name === 'installed_check')?.samples[0]?.value).toBe(42)
        expect(series.find((s) => s.name === 'up')?.samples[0]?.value).toBe(1)
        expect(series.some((s) => s.name === 'cpu.usage_percent')).toBe(true)
      } finally {
        server.close()
      }
    },
  )
})
