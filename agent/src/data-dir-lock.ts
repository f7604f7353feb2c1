import { readFileSync } from 'node:fs'
import { mkdir, open, readFile, unlink } from 'node:fs/promises'
import { resolve } from 'node:path'
import { TidewatchError } from '@tidewatch/shared'

const LOCK_FILE = 'agent.lock'
/** data_dirs locked by this process (the pid in the file cannot tell two of its own runs apart). */
const heldHere = new Set<string>()

/** Held while a publishing agent owns its data_dir; `release` gives it up. */
export interface DataDirLock {
  release(): Promise<void>
}

/**
 * One publishing agent per data_dir. Two (the service and an operator's `--once`) would each keep
 * their own next seq, so both publish `<id>:<n>` and JetStream drops one as a duplicate, and both
 * would append to and ack the same spool. The lock file holds the owner's pid and, on Linux, its
 * start time: a lock whose process is gone (a crash, a kill -9, a reboot that gave its pid to
 * another program) is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true })
  const path = resolve(dataDir, LOCK_FILE)
  const mine = holderLine(process.pid)
  if (heldHere.has(path)) throw inUse(dataDir, process.pid)
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx')
      try {
        await handle.writeFile(`${mine}\n`)
        await handle.sync()
      } finally {
        await handle.close()
      }
      heldHere.add(path)
      return {
        release: async () => {
          heldHere.delete(path)
          // Only our own lock: never remove one a later owner took over.
          const holder = await readFile(path, 'utf8').catch(() => '')
          if (holder.trim() === mine) await unlink(path).catch(() => undefined)
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error
    }
    const [pidText, startText] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ')
    const holder = Number(pidText)
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder, startText))
      throw inUse(dataDir, holder)
    // Stale (its process is gone) or unreadable: take it over.
    await unlink(path).catch(() => undefined)
  }
}

function inUse(dataDir: string, pid: number): TidewatchError {
  return new TidewatchError(
    `data_dir ${dataDir} is in use by another tidewatch-agent (pid ${pid}); stop it, or give this one another agent.data_dir`,
    'DATA_DIR_IN_USE',
    false,
  )
}

/** `<pid>` and, where /proc tells it, `<start time>` (clock ticks after boot). */
function holderLine(pid: number): string {
  const started = startTime(pid)
  return started === undefined ? String(pid) : `${pid} ${started}`
}

/** Field 22 of /proc/<pid>/stat; the fields after the command name, which may hold spaces, start at 3. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function isAlive(pid: number, lockedStartTime: string | undefined): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists, owned by another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  // A process with that pid, but started at another time: the pid was given to another program.
  const started = startTime(pid)
  return lockedStartTime === undefined || started === undefined || started === lockedStartTime
}
