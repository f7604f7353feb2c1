#!/usr/bin/env node
import { runCli } from './cli.js'

// The exit code is set, not forced, so output is fully written before the process ends.
runCli().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(
      `tidewatch-alerter: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
    process.exitCode = 1
  },
)
