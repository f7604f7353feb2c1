import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseToml } from 'smol-toml'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConfigError } from '../errors.js'
import { InvalidConfigError, loadConfigFile, parseConfigText, redactSecrets } from './load.js'
import { agentConfigSchema, aggregatorConfigSchema, alerterConfigSchema } from './schema.js'
import { schemaKeyPaths } from './schema-walk.js'

const REPO_CONFIG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config')
const SECRET = 'hunter2-s3cr3t-value'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tidewatch-config-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

/** The ConfigError thrown by `fn`; fails the test when nothing is thrown. */
function configError(fn: () => unknown): InvalidConfigError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect(error).toBeInstanceOf(InvalidConfigError)
    return error as InvalidConfigError
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}

const agent =
  (text: string, env: NodeJS.ProcessEnv = {}) =>
  () =>
    parseConfigText(text, 'config/agent.toml', agentConfigSchema, { env })
const aggregator =
  (text: string, env: NodeJS.ProcessEnv = {}) =>
  () =>
    parseConfigText(text, 'config/aggregator.toml', aggregatorConfigSchema, { env })

describe('loadConfigFile', () => {
  it('loads a valid file and applies defaults', () => {
    const file = write('agent.toml', '[agent]\ninterval = "30s"\n\n[global_labels]\nenv = "prod"\n')
    const config = loadConfigFile(file, agentConfigSchema, { env: {} })
    expect(config.agent.interval).toBe(30_000)
    expect(config.agent.flush_interval).toBe(10_000)
    expect(config.agent.spool_max_bytes).toBe(256 * 1024 * 1024)
    expect(config.global_labels).toEqual({ env: 'prod' })
    expect(config.nats.servers).toEqual(['nats://127.0.0.1:4222'])
    expect(config.inputs.cpu.enabled).toBe(true)
    expect(config.limits.max_past_age).toBe(7 * 86_400_000)
  })

  it('loads an empty file as all defaults', () => {
    const config = loadConfigFile(write('aggregator.toml', ''), aggregatorConfigSchema, { env: {} })
    expect(config.store.url).toBe('chdb://./data/store')
    expect(config.streams.metrics.name).toBe('METRICS')
    expect(config.streams.dlq.max_age).toBe(7 * 86_400_000)
    expect(config.http.listen).toBe('127.0.0.1:8123')
  })

  it('names a missing config file', () => {
    const file = join(dir, 'nope.toml')
    const error = configError(() => loadConfigFile(file, agentConfigSchema))
    expect(error.message).toBe(`${file}: config file not found`)
    expect(error.file).toBe(file)
    expect(error.code).toBe('CONFIG_INVALID')
  })

  it('applies overrides and says when an override is what is wrong', () => {
    const file = write('agent.toml', '[log]\nlevel = "info"\n')
    expect(
      loadConfigFile(file, agentConfigSchema, { env: {}, overrides: { 'log.level': 'debug' } }).log.level,
    ).toBe('debug')
    const error = configError(() =>
      loadConfigFile(file, agentConfigSchema, { env: {}, overrides: { 'log.level': 'loud' } }),
    )
    expect(error.message).toContain(`${file}: log.level: expected one of "trace"`)
    expect(error.message).toContain('found "loud" (from overrides)')
  })
})

describe('invalid files', () => {
  it('reports a TOML syntax error with line and column', () => {
    const error = configError(agent('[agent]\ninterval = "10s"\nflush_interval = \n'))
    expect(error.message).toMatch(/^config\/agent\.toml: invalid TOML at line 3, column \d+: \S/)
    expect(error.issues[0]?.line).toBe(3)
  })

  it('keeps the code excerpt of a syntax error out of the message (it may hold a secret)', () => {
    const error = configError(agent(`[nats]\npassword = "${SECRET}\n`))
    expect(error.message).toContain('config/agent.toml: invalid TOML at line 2')
    expect(error.message).not.toContain(SECRET)
  })

  it('names a nested unknown key and its line', () => {
    const error = configError(agent('[inputs.cpu]\nenabeld = true\n'))
    expect(error.message).toBe('config/agent.toml: inputs.cpu.enabeld: unknown key (line 2)')
    expect(error.keyPath).toBe('inputs.cpu.enabeld')
  })

  it('names a wrong type with what was expected and found', () => {
    const error = configError(agent('[nats]\nconnect_timeout = "5s"\nservers = 3\n'))
    expect(error.message).toBe('config/agent.toml: nats.servers: expected array, found number (3) (line 3)')
    expect(error.expected).toBe('array')
    expect(error.found).toBe('number (3)')
  })

  it('names a bad duration', () => {
    const error = configError(agent('[agent]\ninterval = "10 parsecs"\n'))
    expect(error.message).toBe(
      'config/agent.toml: agent.interval: expected a duration such as "10s", "500ms" or "7d", found "10 parsecs" (line 2)',
    )
  })

  it('names a duration given as a number', () => {
    const error = configError(agent('agent.interval = 10\n'))
    expect(error.message).toContain('config/agent.toml: agent.interval: expected a duration such as "10s"')
    expect(error.message).toContain('found number (10) (line 1)')
  })

  it('names a bad enum value and lists the allowed ones', () => {
    const error = configError(aggregator('[streams.dlq]\nstorage = "disk"\n'))
    expect(error.message).toBe(
      'config/aggregator.toml: streams.dlq.storage: expected one of "file", "memory", found "disk" (line 2)',
    )
  })

  it('names numbers out of range, non-integers and bad label names', () => {
    const error = configError(
      agent('[agent]\nbatch_max_samples = 1.5\nspool_max_bytes = 0\n[global_labels]\n"bad-name" = "x"\n'),
    )
    expect(error.message.split('\n')).toEqual([
      'config/agent.toml: agent.batch_max_samples: expected integer, found number (1.5) (line 2)',
      'config/agent.toml: agent.spool_max_bytes: expected a positive number, found 0 (line 3)',
      'config/agent.toml: global_labels.bad-name: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), found key "bad-name" (line 5)',
    ])
  })

  it('lists every problem in one ConfigError, in file order', () => {
    const error = configError(agent('[log]\nlevel = "loud"\n[agent]\ninterval = "often"\nbogus = 1\n'))
    expect(error.issues.map((issue) => [issue.keyPath, issue.line])).toEqual([
      ['log.level', 2],
      ['agent.interval', 4],
      ['agent.bogus', 5],
    ])
    expect(error.message.split('\n')).toHaveLength(3)
    expect(error.keyPath).toBe('log.level')
  })

  it('never echoes a secret of the wrong type', () => {
    const error = configError(aggregator(`[store]\npassword = ["${SECRET}"]\n`))
    expect(error.message).toBe(
      'config/aggregator.toml: store.password: expected string, found array (line 2)',
    )
    expect(error.message).not.toContain(SECRET)
  })
})

describe('environment variables', () => {
  it('interpolates ${VAR} in every string, arrays included', () => {
    const config = agent('[agent]\nid = "${HOST_ID}"\n[nats]\nservers = ["nats://${NATS_HOST}:4222"]\n', {
      HOST_ID: 'web-7',
      NATS_HOST: 'bus',
    })()
    expect(config.agent.id).toBe('web-7')
    expect(config.nats.servers).toEqual(['nats://bus:4222'])
  })

  it('uses the default of ${VAR:-default} when the variable is unset or empty', () => {
    const text = '[log]\nlevel = "${LOG_LEVEL:-warn}"\n'
    expect(agent(text)().log.level).toBe('warn')
    expect(agent(text, { LOG_LEVEL: '' })().log.level).toBe('warn')
    expect(agent(text, { LOG_LEVEL: 'debug' })().log.level).toBe('debug')
  })

  it('keeps $${ as a literal ${', () => {
    expect(agent('[global_labels]\nraw = "$${NOT_A_VAR}"\n')().global_labels).toEqual({ raw: '${NOT_A_VAR}' })
  })

  it('names the key path and the variable when one is missing', () => {
    const error = configError(agent('[nats]\nuser = "agent"\npassword = "${NATS_PASSWORD}"\n'))
    expect(error.message).toContain(
      'config/agent.toml: nats.password: environment variable NATS_PASSWORD is not set',
    )
    expect(error.message).toContain('(line 3)')
    expect(error.keyPath).toBe('nats.password')
  })

  it('reports every missing variable at once, and never echoes a malformed reference', () => {
    const error = configError(
      agent(`[agent]\nid = "\${AGENT_ID}"\n[nats]\npassword = "p\${${SECRET}}"\nuser = "\${NATS_USER}"\n`),
    )
    expect(error.issues.map((issue) => issue.keyPath)).toEqual(['agent.id', 'nats.password', 'nats.user'])
    expect(error.message).toContain('nats.password: invalid variable reference')
    expect(error.message).not.toContain(SECRET)
  })

  it('validates what the variable expanded to', () => {
    const error = configError(agent('[agent]\ninterval = "${INTERVAL}"\n', { INTERVAL: 'soon' }))
    expect(error.message).toContain('agent.interval: expected a duration such as "10s"')
    expect(error.message).toContain('found "soon"')
  })
})

describe('*_file secrets', () => {
  it('reads the file, drops the trailing newline and sets the base key', () => {
    const secretFile = write('nats_password', `${SECRET}\n`)
    const tokenFile = write('writer', `${SECRET}-w\r\n`)
    const text = `[nats]\nuser = "a"\npassword_file = "${secretFile}"\n[http]\nwriter_user = "w"\nwriter_password_file = "${tokenFile}"\n`
    const config = aggregator(text)()
    expect(config.nats.password).toBe(SECRET)
    expect(config.nats.password_file).toBe(secretFile)
    expect(config.http.writer_password).toBe(`${SECRET}-w`)
  })

  it('takes the path of a secret file from an environment variable', () => {
    const secretFile = write('token', SECRET)
    const config = agent('[nats]\ntoken_file = "${TOKEN_FILE}"\n', { TOKEN_FILE: secretFile })()
    expect(config.nats.token).toBe(SECRET)
  })

  it('keeps nats.creds_file as a path, not a secret to inline', () => {
    const credsFile = write('agent.creds', 'not read')
    const config = agent(`[nats]\ncreds_file = "${credsFile}"\n`)()
    expect(config.nats.creds_file).toBe(credsFile)
    expect(config.nats).not.toHaveProperty('creds')
  })

  it('refuses both the value and the file', () => {
    const secretFile = write('pw', SECRET)
    const error = configError(
      aggregator(`[store]\npassword = "${SECRET}"\npassword_file = "${secretFile}"\n`),
    )
    expect(error.message).toBe(
      'config/aggregator.toml: store.password_file: give either password or password_file, not both (line 3)',
    )
    expect(error.message).not.toContain(SECRET)
  })

  it('refuses a client certificate without its key (and a key without its certificate), naming the missing key', () => {
    const noKey = configError(agent('[nats.tls]\ncert_file = "/etc/tidewatch/agent.crt"\n'))
    expect(noKey.message).toContain('config/agent.toml: nats.tls.key_file: expected key_file too')
    expect(noKey.keyPath).toBe('nats.tls.key_file')
    const noCert = configError(aggregator('[nats.tls]\nkey_file = "/etc/tidewatch/agg.key"\n'))
    expect(noCert.message).toContain('config/aggregator.toml: nats.tls.cert_file: expected cert_file too')
  })

  it('names the key and the file when the secret file cannot be read', () => {
    const missing = join(dir, 'missing-secret')
    const error = configError(agent(`[nats]\npassword_file = "${missing}"\n`))
    expect(error.message).toBe(
      `config/agent.toml: nats.password_file: cannot read secret file "${missing}" (ENOENT) (line 2)`,
    )
  })

  it('names an unreadable (not just missing) secret file', () => {
    // A directory, not a file without read permission: permissions do not bind root.
    const error = configError(agent(`[nats]\npassword_file = "${dir}"\n`))
    expect(error.message).toContain(`nats.password_file: cannot read secret file "${dir}" (EISDIR)`)
    expect(error.message).not.toContain(SECRET)
  })
})

describe('redactSecrets', () => {
  it('returns a deep copy with every secret replaced and URL passwords masked', () => {
    const secretFile = write('pw', `${SECRET}\n`)
    const config = aggregator(
      `[nats]\ntoken = "${SECRET}"\n[store]\nurl = "https://tw:${SECRET}@ch.example:8443"\npassword_file = "${secretFile}"\n[http]\nwriter_user = "w"\nwriter_password = "${SECRET}"\n`,
    )()
    const redacted = redactSecrets(config)
    const text = JSON.stringify(redacted)
    expect(text).not.toContain(SECRET)
    expect(redacted.nats.token).toBe('[redacted]')
    expect(redacted.store.password).toBe('[redacted]')
    expect(redacted.store.password_file).toBe(secretFile)
    expect(redacted.store.url).toBe('https://tw:[redacted]@ch.example:8443')
    expect(redacted.http.writer_password).toBe('[redacted]')
    expect(redacted.http.writer_user).toBe('w')
    expect(redacted.nats.password).toBeUndefined()
    // The original is untouched.
    expect(config.nats.token).toBe(SECRET)
    expect(redacted.nats.servers).not.toBe(config.nats.servers)
  })

  it('covers secret keys in any schema, e.g. a webhook_url', () => {
    const schema = z.strictObject({
      slack: z.strictObject({
        webhook_url: z.string(),
        webhook_url_file: z.string().optional(),
        channel: z.string(),
      }),
    })
    const hook = write('hook', `https://hooks.slack.com/services/${SECRET}\n`)
    const config = parseConfigText(
      `[slack]\nchannel = "#ops"\nwebhook_url_file = "${hook}"\n`,
      'alerter.toml',
      schema,
      { env: {} },
    )
    expect(config.slack.webhook_url).toContain(SECRET)
    expect(redactSecrets(config)).toEqual({
      slack: { webhook_url: '[redacted]', webhook_url_file: hook, channel: '#ops' },
    })
  })
})

describe('example files in config/', () => {
  const examples = [
    { name: 'agent.toml', schema: agentConfigSchema },
    { name: 'aggregator.toml', schema: aggregatorConfigSchema },
    { name: 'alerter.toml', schema: alerterConfigSchema },
  ] as const

  for (const { name, schema } of examples) {
    it(`${name} loads with no environment variables and equals the defaults`, () => {
      const file = join(REPO_CONFIG_DIR, name)
      const config = loadConfigFile(file, schema, { env: {} })
      const defaults = schema.parse({})
      if (name === 'agent.toml')
        expect(config).toEqual({ ...defaults, global_labels: { env: 'dev', region: 'us-west', role: 'web' } })
      // The alerter's example carries one Slack receiver, whose webhook comes from the environment.
      else if (name === 'alerter.toml')
        expect(config).toEqual({
          ...defaults,
          receivers: alerterConfigSchema.parse({
            receivers: [{ name: 'default', slack: { webhook_url: '' } }],
          }).receivers,
        })
      else expect(config).toEqual(defaults)
    })

    it(`${name} documents every key of the schema, and no other, each with a comment above`, () => {
      const text = readFileSync(join(REPO_CONFIG_DIR, name), 'utf8')
      // Keys without a default are shown commented out: uncomment them to see every key.
      const uncommented = text.replace(/^# ([a-z_]+ = .*)$/gm, '$1')
      const documented = tableKeyPaths(parseToml(uncommented))
      const expected = schemaKeyPaths(schema).filter((path) => !path.startsWith('global_labels.'))
      expect(documented.filter((path) => !path.startsWith('global_labels.')).sort()).toEqual(expected.sort())

      // Every key line, commented out or not, has a line of prose comment right above it.
      const original = text.split('\n')
      uncommented.split('\n').forEach((line, index) => {
        if (!/^[a-z_]+ = /.test(line)) return
        const above = original[index - 1] ?? ''
        expect(
          /^# /.test(above) && !/^# [a-z_]+ = /.test(above),
          `comment above line ${index + 1} of ${name}`,
        ).toBe(true)
      })
    })
  }
})

function tableKeyPaths(value: unknown, prefix: string[] = []): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return []
  return Object.entries(value).flatMap(([key, child]) => [
    [...prefix, key].join('.'),
    ...tableKeyPaths(child, [...prefix, key]),
  ])
}
