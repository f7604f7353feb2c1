import { connect, type Socket } from 'node:net'

/** A reply of the RESP2 protocol. Error replies are values, not throws, so one bad key does not fail the rest. */
export type RespValue = string | number | null | RespError | RespValue[]

export class RespError {
  constructor(readonly message: string) {}
}

/** `*<n>\r\n$<len>\r\n<arg>\r\n...`: how a client sends a command. */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8')
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
export function parseReply(buffer: Buffer, offset = 0): { value: RespValue; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset)
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buffer[offset] as number)
  const line = buffer.toString('utf8', offset + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, next }
    case '-':
      return { value: new RespError(line), next }
    case ':':
      return { value: Number(line), next }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, next }
      if (buffer.length < next + length + 2) return undefined
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, next }
      const items: RespValue[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at)
        if (item === undefined) return undefined
        items.push(item.value)
        at = item.next
      }
      return { value: items, next: at }
    }
    default:
      throw new Error(`unexpected RESP reply type "${type}"`)
  }
}

export interface PipelineOptions {
  host: string
  port: number
  timeoutMs: number
  signal?: AbortSignal
}

/**
 * Connects, sends every command in one write (pipelined), reads one reply per command, and closes.
 * A connection per gather: at one gather every few seconds that costs less than keeping state.
 */
export function pipeline(
  commands: readonly (readonly string[])[],
  options: PipelineOptions,
): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: options.host, port: options.port })
    let buffer: Buffer = Buffer.alloc(0)
    let offset = 0
    const replies: RespValue[] = []
    let settled = false
    const finish = (error: Error | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      if (error) reject(error)
      else resolve(replies)
    }
    const onAbort = (): void => finish(new Error('aborted'))
    const timer = setTimeout(
      () =>
        finish(
          new Error(`redis at ${options.host}:${options.port} did not answer within ${options.timeoutMs} ms`),
        ),
      options.timeoutMs,
    )
    timer.unref()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    socket.setNoDelay(true)
    socket.once('connect', () => socket.write(Buffer.concat(commands.map((c) => encodeCommand(c)))))
    socket.on('data', (chunk: Buffer) => {
      buffer = offset === buffer.length ? chunk : Buffer.concat([buffer.subarray(offset), chunk])
      offset = 0
      try {
        for (;;) {
          const reply = parseReply(buffer, offset)
          if (reply === undefined) break
          replies.push(reply.value)
          offset = reply.next
          if (replies.length === commands.length) return finish(undefined)
        }
      } catch (error) {
        finish(error as Error)
      }
    })
    socket.once('error', (error) => finish(error))
    socket.once('close', () =>
      finish(new Error(`redis closed the connection after ${replies.length} of ${commands.length} replies`)),
    )
  })
}
