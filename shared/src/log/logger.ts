import { hostname } from 'node:os'
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino'

export type { Logger }

/** Keys whose values never reach a log line, at any depth we configure. */
export const REDACTED_PATHS = [
  'password',
  'token',
  'secret',
  'webhook_url',
  '*.password',
  '*.token',
  '*.secret',
  '*.webhook_url',
  '*.*.password',
  '*.*.token',
  '*.*.webhook_url',
  'config.nats.password',
  'config.store.password',
  'config.http.writer_password',
]

export interface LoggerOptions {
  /** The program: `tidewatch-agent`, `tidewatch-aggregator`, ... Parts of it log with `child({ component })`. */
  service: string
  level?: LevelWithSilent
  /** Defaults to the machine's host name. */
  host?: string
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: DestinationStream
}

/** The one root logger of a process; components take `logger.child({ component })` from it. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, host: options.host ?? hostname(), pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  )
}
