/*
 * Bundles the agent's command line into one minified ESM file, dist/tidewatch-agent.mjs: the
 * package's `bin`. One module record instead of ~300 (our dist, shared, nats, zod, pino, yargs),
 * tree-shaken, no source maps: it keeps the installed agent's resident memory down (figures in
 * agent/README.md, "Benchmarks"). systeminformation stays outside it: it is loaded from
 * node_modules, lazily, only where /proc is missing.
 *
 * Its first line runs node with NODE_FLAGS (V8 flags cannot all go in NODE_OPTIONS), so every way
 * of starting the installed agent (the npm bin, the systemd unit, a shell) runs with them.
 *
 *   node scripts/bundle.mjs          (part of `npm run build` and `prepack`)
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

/**
 * --max-semi-space-size=1: a 1 MB young generation (the agent allocates little);
 * --initial-old-space-size=2: the first old-generation collections come early, during start-up,
 *   before module loading and the first connection have piled up garbage (peak RSS ~5 MB lower);
 * --lite-mode: no optimizing compilers, so no optimized code and no feedback vectors kept resident
 *   (it turns WebAssembly off, hence node:http in the HTTP inputs, not undici);
 * --no-expose-wasm: says so, or V8 warns about it on stderr at every start.
 * Measured with `npm run bench -w agent` (agent/README.md, "Benchmarks").
 */
export const NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--initial-old-space-size=2',
  '--lite-mode',
  '--no-expose-wasm',
]

const root = fileURLToPath(new URL('..', import.meta.url))
const outfile = `${root}dist/tidewatch-agent.mjs`

await build({
  entryPoints: [`${root}src/main.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // @tidewatch/shared from its TypeScript sources, as the tests run it
  conditions: ['source'],
  minify: true,
  // error types in logs keep their names
  keepNames: true,
  legalComments: 'none',
  external: ['systeminformation'],
  // a few CommonJS dependencies (pino) call require() at load time
  banner: { js: "import{createRequire as __tw_cr}from'node:module';const require=__tw_cr(import.meta.url);" },
  logLevel: 'warning',
})

const text = readFileSync(outfile, 'utf8').replace(/^#!.*\n/, '')
writeFileSync(outfile, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}\n${text}`)
chmodSync(outfile, 0o755)
