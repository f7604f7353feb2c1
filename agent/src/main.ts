#!/usr/bin/env node
import { runCli } from './cli.js'

// The exit code is set, not forced, so stdout (the --dry-run document) is fully written before exit.
runCli().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(
      `tidewatch-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
    process.exitCode = 1
  },
)
