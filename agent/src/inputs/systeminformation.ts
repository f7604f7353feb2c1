import type SystemInformation from 'systeminformation'

let loaded: Promise<typeof SystemInformation> | undefined

/**
 * systeminformation, loaded on first use: on Linux the inputs read /proc and /sys directly (cheaper,
 * and with fields it lacks, like iowait); it is the portable fallback elsewhere, and the agent should
 * not keep its ~12 MB resident where it is never called.
 */
export function systemInformation(): Promise<typeof SystemInformation> {
  loaded ??= import('systeminformation').then((module) => module.default)
  return loaded
}
