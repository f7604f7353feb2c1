/**
 * Micro-benchmark of the wire format on the realistic shape: one host's batch of 100 series x 1
 * sample with host/env/region/pool/cpu labels. Run from shared/: `npx tsx src/wire/bench.ts`.
 */
import { validateBatch } from './checks.js'
import { decodeBatch, encodeBatch } from './codec.js'
import type { MetricBatch, SeriesSamples, WireLimits } from './types.js'

const BATCHES = 10_000
const SERIES = 100
const ROUNDS = 5
const NOW = Date.now()
const LIMITS: WireLimits = {
  maxBatchBytes: 4 * 1024 * 1024,
  maxSeriesPerBatch: 10_000,
  maxSamplesPerBatch: 200_000,
  maxLabelsPerSeries: 32,
  maxNameLength: 256,
  maxLabelValueLength: 2048,
  maxFutureSkewMs: 600_000,
  maxPastAgeMs: 7 * 86_400_000,
}

const METRICS = [
  'cpu.usage_user',
  'cpu.usage_system',
  'cpu.usage_idle',
  'cpu.usage_iowait',
  'cpu.usage_steal',
  'mem.used_bytes',
  'mem.free_bytes',
  'mem.cached_bytes',
  'disk.read_bytes',
  'disk.write_bytes',
  'net.rx_bytes',
  'net.tx_bytes',
  'net.rx_errors',
  'load.load1',
  'load.load5',
  'load.load15',
  'queue.depth',
  'http.requests_total',
  'http.latency_p99',
  'process.open_fds',
]
const REGIONS = ['us-west', 'us-east', 'eu-central', 'ap-south']

function hostBatch(host: number): MetricBatch {
  const series: SeriesSamples[] = []
  const common = {
    host: `i${host}`,
    env: host % 10 === 0 ? 'staging' : 'prod',
    region: REGIONS[host % REGIONS.length]!,
    pool: `web-${host % 1000}`,
  }
  for (let i = 0; i < SERIES; i++) {
    series.push({
      name: METRICS[i % METRICS.length]!,
      labels: { ...common, cpu: `cpu${Math.floor(i / METRICS.length)}` },
      timestamps: [NOW - (host % 10_000)],
      values: [Math.random() * 100],
    })
  }
  return { agentId: `agent-${host}`, seq: host, createdMs: NOW, series }
}

function rate(label: string, samples: number, ms: number, unit = 'samples/s'): void {
  const perSecond = Math.round((samples / ms) * 1000)
  console.log(`${label.padEnd(32)} ${perSecond.toLocaleString('en-US').padStart(14)} ${unit}`)
}

/** Best of ROUNDS: the first rounds include JIT warm-up and GC noise. */
function best(run: () => void): number {
  let fastest = Infinity
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now()
    run()
    fastest = Math.min(fastest, performance.now() - started)
  }
  return fastest
}

const batches = Array.from({ length: BATCHES }, (_, i) => hostBatch(i))
const samples = BATCHES * SERIES
let encoded: Uint8Array[] = []
let sink = 0

const encodeMs = best(() => {
  encoded = batches.map(encodeBatch)
})
const validateMs = best(() => {
  for (const batch of batches) validateBatch(batch, LIMITS, NOW)
})
const decodeMs = best(() => {
  for (const bytes of encoded) sink += decodeBatch(bytes, LIMITS, NOW).sampleCount
})
// The same bytes at an odd offset: the columns are copied instead of viewed.
const unaligned = encoded.map((bytes) => {
  const shifted = new Uint8Array(bytes.byteLength + 1)
  shifted.set(bytes, 1)
  return shifted.subarray(1)
})
const decodeCopyMs = best(() => {
  for (const bytes of unaligned) sink += decodeBatch(bytes, LIMITS, NOW).sampleCount
})
const totalBytes = encoded.reduce((sum, bytes) => sum + bytes.byteLength, 0)

console.log(
  `${BATCHES} batches x ${SERIES} series x 1 sample, best of ${ROUNDS} rounds (node ${process.version})`,
)
rate('encode', samples, encodeMs)
rate('validate (agent side)', samples, validateMs)
rate('decode (aligned, column views)', samples, decodeMs)
rate('decode (unaligned, column copy)', samples, decodeCopyMs)
rate('decode (aligned)', BATCHES, decodeMs, 'batches/s')
console.log(`${'encoded size'.padEnd(32)} ${(totalBytes / BATCHES).toFixed(0).padStart(14)} bytes/batch`)
console.log(`${'encoded size'.padEnd(32)} ${(totalBytes / samples).toFixed(1).padStart(14)} bytes/sample`)
if (sink === 0) console.log('unreachable: keeps the decode loop from being optimised away')
