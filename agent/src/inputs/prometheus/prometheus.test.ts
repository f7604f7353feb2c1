import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentConfigSchema, loadConfigFile } from '@tidewatch/shared'
import { recorder, testDeps } from '../testing.js'
import { instanceOf, PrometheusInput, scrapeLabels } from './index.js'
import { parsePrometheusText, parsePromValue, PromParseError } from './parse.js'

const EXPOSITION = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# A summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99"} NaN
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# TYPE queue_depth gauge
queue_depth{job="batch",instance="w1",host="h",trailing="comma",} 7
`

describe('Prometheus text parser', () => {
  const { samples, families } = parsePrometheusText(EXPOSITION)
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

  it('reads HELP and TYPE', () => {
    expect(families.get('http_requests_total')).toEqual({
      type: 'counter',
      help: 'The total number of HTTP requests.',
    })
    expect(families.get('rpc_duration_seconds')?.type).toBe('summary')
    expect(families.get('queue_depth')).toEqual({ type: 'gauge' })
  })

  it('reads labels, values and optional timestamps', () => {
    expect(find('http_requests_total', { code: '400' })).toEqual({
      name: 'http_requests_total',
      labels: { method: 'post', code: '400' },
      value: 3,
      timestampMs: 1395066363000,
      family: 'http_requests_total',
      type: 'counter',
    })
    expect(find('metric_without_timestamp_and_labels')).toMatchObject({
      value: 12.47,
      labels: {},
      type: 'untyped',
    })
    expect(find('metric_without_timestamp_and_labels')?.timestampMs).toBeUndefined()
    expect(find('something_weird')).toMatchObject({ value: Infinity, timestampMs: -3982045 })
    expect(find('queue_depth')?.labels).toEqual({
      job: 'batch',
      instance: 'w1',
      host: 'h',
      trailing: 'comma',
    })
  })

  it('unescapes label values: backslash, double quote, newline', () => {
    expect(find('msdos_file_access_time_seconds')?.labels).toEqual({
      path: 'C:\\DIR\\FILE.TXT',
      error: 'Cannot find file:\n"FILE.TXT"',
    })
  })

  it('puts histogram and summary series in their family', () => {
    expect(find('http_request_duration_seconds_bucket', { le: '+Inf' })).toMatchObject({
      value: 144320,
      family: 'http_request_duration_seconds',
      type: 'histogram',
    })
    expect(find('http_request_duration_seconds_sum')?.family).toBe('http_request_duration_seconds')
    expect(find('rpc_duration_seconds', { quantile: '0.5' })).toMatchObject({ value: 4773, type: 'summary' })
    expect(find('rpc_duration_seconds_count')).toMatchObject({ family: 'rpc_duration_seconds', value: 2693 })
    expect(Number.isNaN(find('rpc_duration_seconds', { quantile: '0.99' })?.value)).toBe(true)
  })

  it('reads every float spelling Prometheus clients emit', () => {
    expect(parsePromValue('-Inf')).toBe(-Infinity)
    expect(parsePromValue('+inf')).toBe(Infinity)
    expect(parsePromValue('1e-3')).toBe(0.001)
    expect(parsePromValue('.5')).toBe(0.5)
    expect(parsePromValue('-0')).toBe(-0)
    expect(parsePromValue('12abc')).toBeUndefined()
    expect(parsePromValue('')).toBeUndefined()
  })

  it.each([
    ['bad{a="b"', /unterminated|expected/],
    ['m{a="\\x"} 1', /invalid escape/],
    ['m{a="1",a="2"} 1', /duplicate label/],
    ['m 1 2 3', /unexpected text/],
    ['m abc', /invalid value/],
    ['m', /no value/],
    ['m 1 1.5', /invalid timestamp/],
    ['# TYPE m nonsense', /unknown metric type/],
    ['# TYPE m counter\n# TYPE m gauge', /second TYPE/],
    ['# TYPE h histogram\nh_bucket 1', /no "le" label/],
    ['9metric 1', /expected a metric name/],
  ])('rejects %j', (text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(PromParseError)
    expect(() => parsePrometheusText(text)).toThrow(message)
  })

  it('names the line of a parse error', () => {
    expect(() => parsePrometheusText('ok 1\n\nbroken{')).toThrow(/^line 3: /)
  })
})

describe('prometheus input against a local HTTP server', () => {
  let server: Server
  let base: string
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        res.end(EXPOSITION.replaceAll('1395066363000', String(Date.now() - 1000)))
      } else if (req.url === '/gzip') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' })
        res.end(gzipSync('gz_metric{a="b"} 5\n'))
      } else if (req.url === '/big') {
        res.end('big_metric 1\n'.repeat(200_000)) // 2.6 MB, over max_body_bytes
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late 1\n'), 5_000).unref()
      } else {
        res.writeHead(500)
        res.end('oops')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const config = (urls: string[]) => ({
    enabled: true,
    timeout: 2_000,
    urls,
    job: 'app',
    max_body_bytes: 1 << 20,
    targets: [],
  })

  it('sends every finite sample under its own name with job and instance, plus up and scrape figures', async () => {
    const input = new PrometheusInput(config([`${base}/metrics`, `${base}/gzip`]), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const instance = base.replace('http://', '')
    const req = samples.find((s) => s.name === 'http_requests_total' && s.labels.code === '200')
    expect(req?.labels).toEqual({ method: 'post', code: '200', job: 'app', instance })
    expect(req?.value).toBe(1027)
    expect(Math.abs(req!.ts - (Date.now() - 1000))).toBeLessThan(5_000) // a recent exposed timestamp is kept
    expect(
      samples.filter((s) => s.name === 'http_request_duration_seconds_bucket').map((s) => s.labels.le),
    ).toEqual(['0.05', '0.1', '+Inf'])
    expect(samples.find((s) => s.name === 'rpc_duration_seconds_sum')?.value).toBe(1.7560473e7)
    expect(samples.filter((s) => s.name === 'rpc_duration_seconds').map((s) => s.labels.quantile)).toEqual([
      '0.01',
      '0.5',
    ])
    expect(samples.some((s) => s.name === 'something_weird')).toBe(false)
    expect(samples.find((s) => s.name === 'queue_depth')?.labels).toEqual({
      exported_job: 'batch',
      exported_instance: 'w1',
      exported_host: 'h',
      trailing: 'comma',
      job: 'app',
      instance,
    })
    expect(samples.find((s) => s.name === 'gz_metric')?.value).toBe(5)
    expect(input.stats.skippedNonFinite).toBe(2)
    const ups = samples.filter((s) => s.name === 'up')
    expect(ups.map((s) => s.value)).toEqual([1, 1])
    expect(
      samples.find((s) => s.name === 'scrape_samples_scraped' && s.labels.instance === instance)?.value,
    ).toBeGreaterThan(0)
    for (const s of samples) expect(Number.isFinite(s.value)).toBe(true)
  })

  it('replaces an exposed timestamp far in the past by the scrape time', async () => {
    const stale = createServer((_req, res) => res.end('old_metric 1 1395066363000\n'))
    await new Promise<void>((resolve) => stale.listen(0, '127.0.0.1', resolve))
    const port = (stale.address() as { port: number }).port
    const input = new PrometheusInput(config([`http://127.0.0.1:${port}/`]), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(Math.abs(samples.find((s) => s.name === 'old_metric')!.ts - Date.now())).toBeLessThan(5_000)
    expect(input.stats.timestampsReplaced).toBe(1)
    await new Promise((resolve) => stale.close(resolve))
  })

  it('keeps the good targets when one fails, reports up=0 for it, and fails the round', async () => {
    const input = new PrometheusInput(config([`${base}/metrics`, `${base}/broken`]), testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await expect(input.gather(acc)).rejects.toThrow(/scrape failed for/)
    expect(samples.some((s) => s.name === 'http_requests_total')).toBe(true)
    expect(
      samples
        .filter((s) => s.name === 'up')
        .map((s) => s.value)
        .sort(),
    ).toEqual([0, 1])
  })

  it('stops a slow scrape when the round is aborted', async () => {
    const input = new PrometheusInput(config([`${base}/slow`]), testDeps)
    await input.init()
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const started = Date.now()
    await expect(input.gather(recorder().acc, controller.signal)).rejects.toThrow()
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('fails a target that does not answer within timeout, or answers more than max_body_bytes', async () => {
    const input = new PrometheusInput({ ...config([`${base}/slow`, `${base}/big`]), timeout: 300 }, testDeps)
    await input.init()
    const { acc, samples } = recorder()
    const started = Date.now()
    await expect(input.gather(acc)).rejects.toThrow(/scrape failed for/)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(samples.filter((s) => s.name === 'up').map((s) => s.value)).toEqual([0, 0])
    expect(samples.some((s) => s.name === 'big_metric' || s.name === 'late')).toBe(false)
    expect(input.stats.failedScrapes).toBe(2)
  })

  it('refuses a URL that is not http(s) in init', async () => {
    await expect(new PrometheusInput(config(['ftp://x/']), testDeps).init()).rejects.toThrow(/http or https/)
  })

  it('derives instance and renames reserved labels as Prometheus does', () => {
    expect(instanceOf(new URL('http://h/metrics'))).toBe('h:80')
    expect(instanceOf(new URL('https://h/metrics'))).toBe('h:443')
    expect(instanceOf(new URL('http://[::1]:9100/metrics'))).toBe('[::1]:9100')
    expect(scrapeLabels({ job: 'x', a: '', b: 'c' }, 'j', 'i:1')).toEqual({
      exported_job: 'x',
      b: 'c',
      job: 'j',
      instance: 'i:1',
    })
  })
})

/*
 * A real HTTPS server with a certificate signed by a CA made here with openssl, for 127.0.0.1; it
 * wants `Authorization: Bearer <token>` on /bearer and basic auth on /basic.
 */
describe('prometheus targets with credentials and a CA, against a local HTTPS server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-prom-tls-'))
  const file = (name: string): string => join(dir, name)
  const TOKEN = 'tok-3f9a'
  const BASIC = `Basic ${Buffer.from('scraper:s3cret').toString('base64')}`
  let server: HttpsServer
  let base: string
  const seen: (string | undefined)[] = []

  beforeAll(async () => {
    const openssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
    }
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=tidewatch test CA',
    )
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'other-ca.key',
      '-out',
      'other-ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=other test CA',
    )
    writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n')
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    )
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    )
    server = createHttpsServer(
      { key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')) },
      (req, res) => {
        seen.push(req.headers.authorization)
        const wanted = req.url === '/bearer' ? `Bearer ${TOKEN}` : req.url === '/basic' ? BASIC : undefined
        if (wanted === undefined || req.headers.authorization !== wanted) {
          res.writeHead(401)
          res.end('unauthorized')
          return
        }
        res.end(`secured_metric{path="${req.url}"} 7\n`)
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    writeFileSync(file('token'), `${TOKEN}\n`)
    writeFileSync(file('password'), 's3cret\n')
  })
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
    rmSync(dir, { recursive: true, force: true })
  })

  /** The input as the agent builds it: from a TOML file through the real loader (*_file secrets). */
  function fromToml(lines: string[]): PrometheusInput {
    writeFileSync(
      file('agent.toml'),
      ['[inputs.prometheus]', 'enabled = true', 'job = "default_job"', ...lines].join('\n'),
    )
    const config = loadConfigFile(file('agent.toml'), agentConfigSchema)
    return new PrometheusInput(config.inputs.prometheus, testDeps)
  }

  it('scrapes each target with its own job, bearer token and basic auth from *_file secrets, trusting tls_ca_file', async () => {
    const input = fromToml([
      '[[inputs.prometheus.targets]]',
      `url = "${base}/bearer"`,
      'job = "api"',
      `bearer_token_file = "${file('token')}"`,
      `tls_ca_file = "${file('ca.pem')}"`,
      '[[inputs.prometheus.targets]]',
      `url = "${base}/basic"`,
      'username = "scraper"',
      `password_file = "${file('password')}"`,
      `tls_ca_file = "${file('ca.pem')}"`,
    ])
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const metrics = samples.filter((s) => s.name === 'secured_metric')
    expect(metrics.map((s) => [s.labels.path, s.labels.job, s.value]).sort()).toEqual([
      ['/basic', 'default_job', 7],
      ['/bearer', 'api', 7],
    ])
    expect(samples.filter((s) => s.name === 'up').map((s) => s.value)).toEqual([1, 1])
    expect(seen).toContain(`Bearer ${TOKEN}`)
    expect(seen).toContain(BASIC)
  })

  it('fails a target whose certificate its CA does not sign, or whose credentials are wrong', async () => {
    writeFileSync(file('wrong-token'), 'nope\n')
    const input = fromToml([
      '[[inputs.prometheus.targets]]', // the system CAs do not know the test CA
      `url = "${base}/bearer"`,
      `bearer_token_file = "${file('token')}"`,
      '[[inputs.prometheus.targets]]', // a CA that did not sign the server's certificate
      `url = "${base}/bearer"`,
      `bearer_token_file = "${file('token')}"`,
      `tls_ca_file = "${file('other-ca.pem')}"`,
      '[[inputs.prometheus.targets]]', // the right CA, the wrong token: HTTP 401
      `url = "${base}/bearer"`,
      `bearer_token_file = "${file('wrong-token')}"`,
      `tls_ca_file = "${file('ca.pem')}"`,
    ])
    await input.init()
    const { acc, samples } = recorder()
    await expect(input.gather(acc)).rejects.toThrow(/scrape failed for/)
    expect(samples.filter((s) => s.name === 'up').map((s) => s.value)).toEqual([0, 0, 0])
    expect(samples.some((s) => s.name === 'secured_metric')).toBe(false)
    expect(input.stats.failedScrapes).toBe(3)
  })

  it('refuses in init: basic auth with a bearer token, half of basic auth, a CA for http, an unreadable or non-PEM CA', async () => {
    const section = (extra: string[]): string[] => ['[[inputs.prometheus.targets]]', ...extra]
    const cases: [string[], RegExp][] = [
      [section([`url = "${base}/x"`, 'username = "u"', 'password = "p"', 'bearer_token = "t"']), /not both/],
      [section([`url = "${base}/x"`, 'username = "u"']), /needs both username and password/],
      [section(['url = "http://127.0.0.1:1/x"', `tls_ca_file = "${file('ca.pem')}"`]), /only for https/],
      [
        section([`url = "${base}/x"`, `tls_ca_file = "${file('missing.pem')}"`]),
        /cannot read tls_ca_file .*ENOENT/,
      ],
      [section([`url = "${base}/x"`, `tls_ca_file = "${file('token')}"`]), /holds no PEM certificate/],
      [section(['url = "https://u:p@127.0.0.1:1/x"']), /not in the URL/],
    ]
    for (const [lines, message] of cases) {
      await expect(fromToml(lines).init(), lines.join(' ')).rejects.toThrow(message)
    }
    expect(() =>
      fromToml(
        section([`url = "${base}/x"`, 'bearer_token = "a"', `bearer_token_file = "${file('token')}"`]),
      ),
    ).toThrow(/either bearer_token or bearer_token_file/)
  })
})
