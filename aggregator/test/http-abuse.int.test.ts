/**
 * Bad input and abuse of the embedded store's HTTP endpoint must not starve ingestion.
 *
 * One process holds what a deployment's aggregator holds: the pipeline (NATS -> chDB inserts) and
 * the ClickHouse-HTTP endpoint on the same chDB engine. Ingestion is measured twice at the same
 * offered load (200 hosts x 100 series, one sample per series per second, like agents on a 1 s
 * interval): once idle, once while the endpoint is abused by
 *   - 30 clients running heavy reader queries back to back (big GROUP BYs over system.numbers,
 *     cut off by the reader max_execution_time),
 *   - slow clients: a POST declaring a large body that dribbles it, one that stalls after its
 *     headers, one that dribbles its headers, and one that reads a large result very slowly,
 *   - oversized bodies, declared (Content-Length) and undeclared (chunked),
 * while a `SELECT 1` probe checks the endpoint still answers.
 *
 * The bound: ingestion under load keeps >= 70% of the idle rate. The offered load is well under
 * what the aggregator commits on 2 cores, so the idle rate is the offered rate and the loaded rate
 * shows whether commits fall behind. The heavy queries get one engine thread each and at most
 * two of them run at a time (the server's reader defaults), i.e. they can take at most about one
 * of the two cores away from the pipeline; 70% leaves room for that plus the test's own clients
 * and JetStream in the same machine, and a starved pipeline (queries holding every libuv thread,
 * or every core) lands far below it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect as netConnect, type Socket } from 'node:net'
import { request as httpRequest } from 'node:http'
import { connect } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { MetricBatch, SeriesSamples } from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import {
  createChdbQueryEngine,
  startClickHouseHttpServer,
  type ClickHouseHttpServer,
  type QueryEngine,
} from '../src/http/index.js'
import { encodeBatch, silentLogger, tempDir, testAggregatorConfig, waitFor } from './harness.js'

const HOSTS = 200
const SERIES_PER_HOST = 100
const PHASE_MS = 5_000
const OFFERED_PER_SEC = HOSTS * SERIES_PER_HOST
/** Loaded rate / idle rate must stay above this (see the header). */
const MIN_RATE_RATIO = 0.7
/** Everything published in a phase is committed within this long after its last publish. */
const COMMIT_DEADLINE_MS = 5_000
/**
 * `SELECT 1` under load. A light read waits for at most one other light read (the slow reader's
 * query, capped at one second like every light read), then runs: typically a few ms, at worst about
 * two seconds plus CPU contention from the rest of the suite. Queued behind the heavy reads instead,
 * it would wait for ~14 of their 2 s runs (28 queued, 2 slots), or be refused with 503.
 */
const SELECT1_MEDIAN_MAX_MS = 500
const SELECT1_MAX_MS = 4_000
const HEAVY_CLIENTS = 30
const MAX_BODY = 1024 * 1024
/**
 * The test server's timeouts (short, so the test stays short; production defaults are longer). A
 * slow request's cut-off is asserted within its timeout + 4 s: Node checks these deadlines every
 * 500 ms on a loop the abuse keeps busy, and each bound stays under the 10 s and 60 s defaults
 * that would cut it off without them.
 */
const TIMEOUTS = {
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 3_000,
  bodyIdleTimeoutMs: 1_000,
  responseTimeoutMs: 3_000,
}

describe('abuse of the embedded HTTP endpoint does not starve ingestion', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  let js: JetStreamClient
  let aggregator: RunningAggregator
  let engine: QueryEngine
  let server: ClickHouseHttpServer
  const store = tempDir('tidewatch-abuse-')
  const seqs = new Map<string, number>()
  let published = 0

  beforeAll(async () => {
    nats = await startNatsServer()
    aggregator = await startAggregator(
      testAggregatorConfig(nats.url, store.path, { http: { enabled: false } }),
      { logger: silentLogger },
    )
    // The endpoint as startEmbeddedHttp builds it, with short timeouts and a 2 s reader ceiling.
    engine = createChdbQueryEngine({ path: store.path })
    server = await startClickHouseHttpServer({
      listen: '127.0.0.1:0',
      engine,
      logger: silentLogger,
      limits: { maxRequestBodyBytes: MAX_BODY, reader: { maxExecutionTimeSecs: 2 }, ...TIMEOUTS },
    })
    client = await connect({ servers: nats.url })
    js = jetstream(client)
  })
  afterAll(async () => {
    await client?.close()
    await server?.close()
    await engine?.close()
    await aggregator?.stop()
    await nats?.dispose()
    store.remove()
  })

  function batchFor(host: string, nowMs: number): MetricBatch {
    const seq = (seqs.get(host) ?? 0) + 1
    seqs.set(host, seq)
    const series: SeriesSamples[] = []
    for (let s = 0; s < SERIES_PER_HOST; s++) {
      series.push({
        name: `abuse.metric_${s % 10}`,
        labels: { host, slot: String(s) },
        timestamps: [nowMs],
        values: [(seq * 7 + s) % 100],
      })
    }
    return { agentId: host, seq, createdMs: nowMs, series }
  }

  /** Each host publishes one batch a second, hosts spread over ten 100 ms ticks. */
  async function publishFor(
    durationMs: number,
  ): Promise<{ startedMs: number; endedMs: number; samples: number }> {
    const startedMs = Date.now()
    let samples = 0
    const ticks = Math.round(durationMs / 100)
    for (let tick = 0; tick < ticks; tick++) {
      const due = startedMs + tick * 100
      const wait = due - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const now = Date.now()
      const sends: Promise<unknown>[] = []
      for (let h = tick % 10; h < HOSTS; h += 10) {
        const batch = batchFor(`abuse-host-${h}`, now)
        sends.push(js.publish(`metrics.in.${batch.agentId}`, encodeBatch(batch)))
        samples += SERIES_PER_HOST
      }
      await Promise.all(sends)
    }
    published += samples
    return { startedMs, endedMs: Date.now(), samples }
  }

  /** Publishes for PHASE_MS; the committed rate over that window, and the time to commit all of it. */
  async function measurePhase(): Promise<{ rate: number; lagMs: number }> {
    await waitFor(
      async () => aggregator.counters.samplesStored,
      (n) => n >= published,
      10_000,
      'previous samples',
    )
    const before = aggregator.counters.samplesStored
    const run = await publishFor(PHASE_MS)
    const during = aggregator.counters.samplesStored - before
    const rate = (during / (run.endedMs - run.startedMs)) * 1000
    // Not a failure here: the lag is reported with the rates, then asserted.
    await waitFor(
      async () => aggregator.counters.samplesStored,
      (n) => n >= published,
      COMMIT_DEADLINE_MS + 2_000,
      'all samples committed',
    ).catch(() => undefined)
    const lagMs = aggregator.counters.samplesStored >= published ? Date.now() - run.endedMs : Infinity
    return { rate, lagMs }
  }

  it('keeps ingesting at full rate while the endpoint is abused, and cuts the abusers off', async () => {
    // Warm-up: every series exists before either measurement.
    await publishFor(1_000)
    await waitFor(
      async () => aggregator.counters.samplesStored,
      (n) => n >= published,
      20_000,
      'warm-up committed',
    )

    const idle = await measurePhase()

    const stop = new AbortController()
    const heavy = Array.from({ length: HEAVY_CLIENTS }, (_, i) => heavyClient(server.url, i, stop.signal))
    const probes = selectOneProbe(server.url, stop.signal)
    // Let the burst fill the queue before measuring.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const slow = [
      dribbleBody(server.url),
      stallAfterHeaders(server.url),
      dribbleHeaders(server.url),
      slowReader(server.url),
    ]
    const oversized = [
      declaredOversize(server.url),
      declaredOversize(server.url),
      chunkedOversize(server.url),
      chunkedOversize(server.url),
    ]
    const loaded = await measurePhase()
    stop.abort()

    const heavyResults = (await Promise.all(heavy)).flat()
    const probeLatencies = await probes
    const slowResults = await Promise.all(slow)
    const oversizedResults = await Promise.all(oversized)

    const report = {
      offered_per_sec: OFFERED_PER_SEC,
      idle_rate: Math.round(idle.rate),
      idle_commit_lag_ms: idle.lagMs,
      loaded_rate: Math.round(loaded.rate),
      loaded_commit_lag_ms: loaded.lagMs,
      ratio: Number((loaded.rate / idle.rate).toFixed(3)),
      heavy_queries: countBy(heavyResults),
      select1_ms: {
        n: probeLatencies.length,
        max: Math.max(...probeLatencies),
        median: median(probeLatencies),
      },
      slow_clients: slowResults,
      oversized: oversizedResults,
    }
    console.log(JSON.stringify(report, null, 2))

    expect(idle.rate).toBeGreaterThan(OFFERED_PER_SEC * 0.7)
    expect(loaded.rate).toBeGreaterThanOrEqual(idle.rate * MIN_RATE_RATIO)
    expect(loaded.lagMs).toBeLessThanOrEqual(COMMIT_DEADLINE_MS)
    expect(aggregator.counters.samplesStored).toBe(published)
    // The heavy queries really ran into the execution-time ceiling or the queue.
    expect(heavyResults.length).toBeGreaterThan(0)
    expect(heavyResults.every((r) => r !== 'network')).toBe(true)
    expect(probeLatencies.length).toBeGreaterThan(5)
    expect(median(probeLatencies)).toBeLessThan(SELECT1_MEDIAN_MAX_MS)
    expect(Math.max(...probeLatencies)).toBeLessThan(SELECT1_MAX_MS)
    for (const r of oversizedResults) {
      expect(r.status).toBe(413)
      expect(r.ms).toBeLessThan(2_000)
    }
    for (const r of slowResults) {
      expect(r.cutOff, r.name).toBe(true)
      expect(r.ms, r.name).toBeLessThan(r.boundMs)
    }
  }, 60_000)
})

type HeavyResult = string

const HEAVY_SQL =
  'SELECT number % 1000003 AS k, count(), uniqExact(number) FROM (SELECT number FROM system.numbers LIMIT 50000000) GROUP BY k FORMAT Null'

/** One client sending heavy reader queries back to back until stopped; the outcome of each. */
async function heavyClient(url: string, index: number, signal: AbortSignal): Promise<HeavyResult[]> {
  const results: HeavyResult[] = []
  while (!signal.aborted) {
    const sql =
      index % 3 === 2 ? 'SELECT count() FROM system.numbers AS a, system.numbers AS b FORMAT Null' : HEAVY_SQL
    try {
      // Stopping hangs up on queued queries: the server drops them without running them.
      const res = await fetch(`${url}/?query=${encodeURIComponent(sql)}`, { signal })
      const code = res.headers.get('x-clickhouse-exception-code')
      await res.arrayBuffer()
      results.push(`${res.status}${code ? `/${code}` : ''}`)
    } catch {
      if (!signal.aborted) results.push('network')
    }
  }
  return results
}

/** `SELECT 1` every 200 ms until stopped; each latency in ms. */
async function selectOneProbe(url: string, signal: AbortSignal): Promise<number[]> {
  const latencies: number[] = []
  while (!signal.aborted) {
    const started = performance.now()
    const res = await fetch(`${url}/?query=SELECT%201`)
    const text = await res.text()
    latencies.push(Math.round(performance.now() - started))
    if (res.status !== 200 || text.trim() !== '1') throw new Error(`SELECT 1 answered ${res.status}: ${text}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return latencies
}

interface SlowResult {
  name: string
  cutOff: boolean
  ms: number
  boundMs: number
  status?: string
}

function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: hostname, port: Number(port) }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Resolves when the server closes the socket: how long it took and the status line it sent, if any. */
function closedBy(socket: Socket, started: number): Promise<{ ms: number; status?: string }> {
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    if (received.length < 200) received += chunk.toString('latin1')
  })
  socket.on('error', () => undefined)
  return new Promise((resolve) =>
    socket.once('close', () => {
      const status = /^HTTP\/1\.1 (\d+)/.exec(received)?.[1]
      resolve({ ms: Math.round(performance.now() - started), ...(status !== undefined ? { status } : {}) })
    }),
  )
}

/** Declares a 1 MB body and sends a byte every 200 ms: the request deadline cuts it off. */
async function dribbleBody(url: string): Promise<SlowResult> {
  const socket = await rawSocket(url)
  const started = performance.now()
  const closed = closedBy(socket, started)
  socket.write(`POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY - 10}\r\n\r\n`)
  const timer = setInterval(() => socket.writable && socket.write('x'), 200)
  const result = await withCap(closed, 15_000)
  clearInterval(timer)
  socket.destroy()
  return {
    name: 'dribbled body',
    cutOff: result !== undefined,
    ms: result?.ms ?? -1,
    boundMs: TIMEOUTS.requestTimeoutMs + 4_000,
    ...statusOf(result),
  }
}

/** Declares a body and never sends it: the body idle timeout cuts it off. */
async function stallAfterHeaders(url: string): Promise<SlowResult> {
  const socket = await rawSocket(url)
  const started = performance.now()
  const closed = closedBy(socket, started)
  socket.write(`POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nSELECT`)
  const result = await withCap(closed, 15_000)
  socket.destroy()
  return {
    name: 'stalled body',
    cutOff: result !== undefined,
    ms: result?.ms ?? -1,
    boundMs: TIMEOUTS.bodyIdleTimeoutMs + 4_000,
    ...statusOf(result),
  }
}

/** Sends its headers a few bytes at a time, never finishing them: the headers timeout cuts it off. */
async function dribbleHeaders(url: string): Promise<SlowResult> {
  const socket = await rawSocket(url)
  const started = performance.now()
  const closed = closedBy(socket, started)
  socket.write('GET /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\n')
  let n = 0
  const timer = setInterval(() => socket.writable && socket.write(`X-Slow-${n++}: y\r\n`), 200)
  const result = await withCap(closed, 15_000)
  clearInterval(timer)
  socket.destroy()
  return {
    name: 'dribbled headers',
    cutOff: result !== undefined,
    ms: result?.ms ?? -1,
    boundMs: TIMEOUTS.headersTimeoutMs + 4_000,
    ...statusOf(result),
  }
}

/**
 * Asks for a ~30 MB result and reads 256 KiB of it every 100 ms (reading it all would take ~12 s):
 * the response deadline cuts it off, and it gets less than the Content-Length it was promised.
 * Timed from the response's headers, when the deadline starts (building the result before them
 * takes seconds of CPU on a busy machine), to the close the client sees after reading what its
 * socket buffers still held: deadline + up to 8 s, below the ~12 s a whole read takes.
 */
async function slowReader(url: string): Promise<SlowResult> {
  let started = performance.now()
  // No table: a light read, so it is not queued behind the heavy ones.
  const sql = 'SELECT arrayJoin(range(4000000)) AS n, toString(n) FORMAT TabSeparated'
  const answered = new Promise<{ ms: number; status?: string; complete: boolean }>((resolve) => {
    const req = httpRequest(`${url}/?query=${encodeURIComponent(sql)}`, (res) => {
      started = performance.now()
      res.pause()
      let received = 0
      const timer = setInterval(() => {
        const chunk = res.read(256 * 1024) as Buffer | null
        if (chunk !== null) received += chunk.length
        else if (res.readableLength > 0) received += (res.read() as Buffer).length
      }, 100)
      const promised = Number(res.headers['content-length'])
      res.once('error', () => undefined)
      res.once('close', () => {
        clearInterval(timer)
        resolve({
          ms: Math.round(performance.now() - started),
          status: String(res.statusCode),
          complete: received >= promised,
        })
      })
    })
    req.once('error', () => resolve({ ms: Math.round(performance.now() - started), complete: false }))
    req.end()
  })
  const result = (await withCap(answered, 20_000)) ?? { ms: -1, complete: false }
  return {
    name: 'slow reader',
    cutOff: !result.complete && result.ms >= 0,
    ms: result.ms,
    boundMs: TIMEOUTS.responseTimeoutMs + 8_000,
    ...(result.status !== undefined ? { status: result.status } : {}),
  }
}

/** Declares a body over the limit and sends only its first bytes: 413 at once, from the headers. */
async function declaredOversize(url: string): Promise<{ kind: string; status: number; ms: number }> {
  const socket = await rawSocket(url)
  const started = performance.now()
  const closed = closedBy(socket, started)
  socket.write(`POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * MAX_BODY}\r\n\r\n`)
  socket.write(Buffer.alloc(64 * 1024, 0x20))
  const result = await withCap(closed, 10_000)
  socket.destroy()
  return { kind: 'declared', status: Number(result?.status ?? 0), ms: result?.ms ?? -1 }
}

/** Streams a chunked body with no length until the server answers: 413 once it passes the limit. */
async function chunkedOversize(
  url: string,
): Promise<{ kind: string; status: number; ms: number; sentBytes: number }> {
  const socket = await rawSocket(url)
  const started = performance.now()
  const closed = closedBy(socket, started)
  let done = false
  void closed.then(() => (done = true))
  socket.write('POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  let sentBytes = 0
  while (!done && sentBytes < 20 * MAX_BODY) {
    const ok = socket.write(`${chunk.length.toString(16)}\r\n`) && socket.write(chunk) && socket.write('\r\n')
    sentBytes += chunk.length
    if (!ok) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed])
  }
  const result = await withCap(closed, 10_000)
  socket.destroy()
  return { kind: 'chunked', status: Number(result?.status ?? 0), ms: result?.ms ?? -1, sentBytes }
}

function withCap<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms)),
  ])
}

function statusOf(result: { status?: string } | undefined): { status?: string } {
  return result?.status !== undefined ? { status: result.status } : {}
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}
