import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { TidewatchError } from '@tidewatch/shared'

/** The file under `data_dir` that holds each agent id's next sequence number. */
export const SEQ_FILE = 'seq.json'

interface SeqFile {
  version: 1
  /** agent id -> the next sequence number to hand out */
  next: Record<string, number>
}

export class SeqStoreError extends TidewatchError {
  override readonly name = 'SeqStoreError'
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(message, 'SEQ_STORE', false, options)
  }
}

/**
 * Batch sequence numbers that survive restarts, so a new batch never reuses an old batch id (which
 * JetStream would drop as a duplicate inside its window). A number is persisted as used *before* the
 * batch that carries it leaves the agent: a crash can skip one number, never repeat one.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the directory). One small write per batch is
 * cheap at the agent's rate (a batch per flush interval). A file that cannot be parsed is an error,
 * not a reset to 1, since a reset would silently reuse ids.
 */
export class SeqStore {
  private constructor(
    private readonly file: string,
    private readonly agentId: string,
    private state: SeqFile,
    private readonly readOnly: boolean,
  ) {}

  /** Opens `<dir>/seq.json`; `readOnly` (dry runs) hands out numbers without writing anything. */
  static async open(dir: string, agentId: string, options: { readOnly?: boolean } = {}): Promise<SeqStore> {
    const file = join(dir, SEQ_FILE)
    const readOnly = options.readOnly ?? false
    if (!readOnly) await mkdir(dir, { recursive: true })
    let text: string | undefined
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SeqStoreError(`cannot read ${file}: ${(error as Error).message}`, file, { cause: error })
      }
    }
    const state = text === undefined ? { version: 1 as const, next: {} } : parseSeqFile(text, file)
    return new SeqStore(file, agentId, state, readOnly)
  }

  /** The number the next batch will get. */
  peek(): number {
    return this.state.next[this.agentId] ?? 1
  }

  /** Hands out the next number after recording it as used. Calls are serialized by the caller (the runner). */
  async next(): Promise<number> {
    const seq = this.peek()
    const state: SeqFile = { version: 1, next: { ...this.state.next, [this.agentId]: seq + 1 } }
    if (!this.readOnly) await writeAtomically(this.file, JSON.stringify(state, null, 2) + '\n')
    this.state = state
    return seq
  }
}

function parseSeqFile(text: string, file: string): SeqFile {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new SeqStoreError(
      `${file} is not valid JSON; fix or remove it (removing it restarts batch ids at 1)`,
      file,
      { cause: error },
    )
  }
  const next = (parsed as { next?: unknown } | null)?.next
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    (parsed as { version?: unknown }).version !== 1 ||
    typeof next !== 'object' ||
    next === null ||
    Object.values(next).some((v) => !Number.isSafeInteger(v) || (v as number) < 1)
  ) {
    throw new SeqStoreError(
      `${file} does not hold {"version":1,"next":{"<agent id>":<positive integer>}}`,
      file,
    )
  }
  return { version: 1, next: next as Record<string, number> }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  const handle = await open(temp, 'w', 0o644)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, file)
  // fsync the directory so the rename itself survives a power cut; not every platform allows it.
  try {
    const dir = await open(join(file, '..'), 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } catch {
    // best effort: the data file is already durable
  }
}
