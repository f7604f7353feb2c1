#!/usr/bin/env node
// Prints the functions of a V8 .cpuprofile (e.g. `npm run bench:ingest -- --profile=f`) with the
// most self time, and the share of each source file, so a profile can be read without DevTools.
// Usage: node scripts/profile-top.mjs <file.cpuprofile> [rows=40]
import { readFileSync } from 'node:fs'

const [file, rowsArg] = process.argv.slice(2)
if (file === undefined) {
  console.error('usage: node scripts/profile-top.mjs <file.cpuprofile> [rows=40]')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8'))
const rows = Number(rowsArg ?? 40)

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const hits = new Map()
const deltas = profile.timeDeltas
profile.samples.forEach((id, i) => hits.set(id, (hits.get(id) ?? 0) + (deltas[i + 1] ?? 0)))
const total = [...hits.values()].reduce((a, b) => a + b, 0)

const shorten = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '~/')
    .replace(/^.*\/work\/[^/]+\//, '')
const byFunction = new Map()
const byFile = new Map()
for (const [id, micros] of hits) {
  const { callFrame } = byId.get(id)
  const where = shorten(callFrame.url) || '(native)'
  const name = `${callFrame.functionName || '(anonymous)'}  ${where}:${callFrame.lineNumber + 1}`
  byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
  const fileKey = where.startsWith('~/')
    ? where
        .split('/')
        .slice(0, where.startsWith('~/@') ? 3 : 2)
        .join('/')
    : where
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + micros)
}
const print = (title, map, limit) => {
  console.log(`\n${title} (of ${(total / 1e6).toFixed(1)} s sampled)`)
  for (const [name, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit))
    console.log(
      `${((micros / total) * 100).toFixed(1).padStart(5)} %  ${(micros / 1e3).toFixed(0).padStart(7)} ms  ${name}`,
    )
}
print('self time by function', byFunction, rows)
print('self time by file or package', byFile, 25)
