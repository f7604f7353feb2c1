import type { AgentConfig, Clock, Logger } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'
import { pipeline, RespError, type RespValue } from './resp.js'

export type RedisConfig = AgentConfig['inputs']['redis']

/** `db0:keys=3,expires=1,avg_ttl=0` lines of `INFO keyspace`. */
export function parseKeyspace(info: string): { db: string; keys: number; expires: number }[] {
  const result: { db: string; keys: number; expires: number }[] = []
  for (const line of info.split(/\r?\n/)) {
    const match = /^db(\d+):keys=(\d+),expires=(\d+)/.exec(line)
    if (match) result.push({ db: match[1] as string, keys: Number(match[2]), expires: Number(match[3]) })
  }
  return result
}

export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address)
  const port = Number(match?.[3])
  if (!match || !(port > 0 && port < 65536))
    throw new Error(`inputs.redis.address: expected host:port, found "${address}"`)
  return { host: (match[1] ?? match[2]) as string, port }
}

/**
 * redis.list_length{db,key} (LLEN), redis.stream_length{db,key} (XLEN) of the configured keys, and
 * redis.keys{db} / redis.expires{db} from INFO keyspace for every database that holds keys. Speaks
 * RESP itself over one pipelined connection per gather (AUTH, SELECT, the lengths, INFO): no client
 * library, no connection state between rounds. A key of the wrong type is logged and left out; the
 * round then fails (counted) after sending the rest.
 */
export class RedisInput implements Input {
  readonly name = 'redis'
  private readonly clock: Clock
  private readonly log: Logger
  private target: { host: string; port: number } | undefined

  constructor(
    private readonly config: RedisConfig,
    deps: InputDeps,
  ) {
    this.clock = deps.clock
    this.log = deps.logger.child({ input: 'redis' })
  }

  async init(): Promise<void> {
    this.target = parseAddress(this.config.address)
    if (this.config.username !== undefined && this.config.password === undefined)
      throw new Error('inputs.redis.username needs a password (or password_file)')
  }

  async gather(accumulator: Accumulator, signal?: AbortSignal): Promise<void> {
    const target = this.target ?? parseAddress(this.config.address)
    const { lists, streams, db, username, password } = this.config
    const commands: string[][] = []
    if (password !== undefined)
      commands.push(username !== undefined ? ['AUTH', username, password] : ['AUTH', password])
    commands.push(['SELECT', String(db)])
    const firstLength = commands.length
    for (const key of lists) commands.push(['LLEN', key])
    for (const key of streams) commands.push(['XLEN', key])
    commands.push(['INFO', 'keyspace'])
    const timestampMs = this.clock.now()
    const replies = await pipeline(commands, {
      ...target,
      timeoutMs: this.config.timeout,
      ...(signal ? { signal } : {}),
    })
    for (let i = 0; i < firstLength; i++) {
      const reply = replies[i]
      // Never echo AUTH's arguments; Redis' message names no secret.
      if (reply instanceof RespError) throw new Error(`redis refused ${commands[i]?.[0]}: ${reply.message}`)
    }
    const failedKeys: string[] = []
    const lengthOf = (reply: RespValue | undefined, key: string): number | undefined => {
      if (typeof reply === 'number') return reply
      failedKeys.push(key)
      this.log.warn(
        { key, reply: reply instanceof RespError ? reply.message : String(reply) },
        'length of a configured key could not be read',
      )
      return undefined
    }
    let at = firstLength
    const dbLabel = String(db)
    for (const key of lists) {
      const length = lengthOf(replies[at++], key)
      if (length !== undefined)
        accumulator.add('redis.list_length', { db: dbLabel, key }, length, timestampMs)
    }
    for (const key of streams) {
      const length = lengthOf(replies[at++], key)
      if (length !== undefined)
        accumulator.add('redis.stream_length', { db: dbLabel, key }, length, timestampMs)
    }
    const info = replies[at]
    if (typeof info !== 'string') throw new Error('INFO keyspace did not return text')
    for (const space of parseKeyspace(info)) {
      accumulator.add('redis.keys', { db: space.db }, space.keys, timestampMs)
      accumulator.add('redis.expires', { db: space.db }, space.expires, timestampMs)
    }
    if (failedKeys.length > 0) throw new Error(`could not read the length of ${failedKeys.join(', ')}`)
  }
}

export const redisInput: InputFactory<'redis'> = {
  name: 'redis',
  create: (config, deps) => new RedisInput(config, deps),
}
