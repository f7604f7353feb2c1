#!/usr/bin/env node
// Adds up the vitest JSON reports of every package into one closing line: "N passed, N failed".
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
let passed = 0
let failed = 0
let skipped = 0
for (const pkg of ['shared', 'agent', 'aggregator', 'alerter']) {
  const file = join(root, pkg, 'test-artifacts', 'vitest.json')
  if (!existsSync(file)) continue
  const report = JSON.parse(readFileSync(file, 'utf8'))
  passed += report.numPassedTests ?? 0
  // A suite that fails to load has no failed tests of its own: count it as one failure.
  failed += Math.max(report.numFailedTests ?? 0, report.numFailedTestSuites ?? 0)
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
}
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
