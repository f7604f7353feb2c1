import { readFileSync } from 'node:fs'
import { httpGet } from '../http-client.js'
import type { AgentConfig, Clock, Labels, Logger } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'
import { parsePrometheusText, type PromSample } from './parse.js'

export type PrometheusConfig = AgentConfig['inputs']['prometheus']

/** Labels the scrape sets itself; an exposed label of the same name is kept as `exported_<name>`, as Prometheus does. */
const RESERVED_LABELS = ['job', 'instance', 'host'] as const
/** Exposed timestamps this far from the scrape time are replaced by it (the wire refuses stale or future samples). */
export const MAX_TIMESTAMP_PAST_MS = 60 * 60_000
export const MAX_TIMESTAMP_FUTURE_MS = 60_000
/** Leaves room under limits.max_labels_per_series (32 by default) for job, instance, host and global labels. */
export const MAX_EXPOSED_LABELS = 24
const MAX_LABEL_VALUE_BYTES = 2048
const MAX_NAME_LENGTH = 256

export interface PrometheusStats {
  scrapes: number
  failedScrapes: number
  /** NaN and +-Inf values: the wire format carries finite numbers only. */
  skippedNonFinite: number
  /** Series the wire would refuse (too many labels, a `__` label, a value or name too long). */
  skippedInvalid: number
  /** Exposed timestamps out of range, replaced by the scrape time. */
  timestampsReplaced: number
}

/** `host:port` of a URL, with the scheme's default port when it has none (Prometheus' `instance`). */
export function instanceOf(url: URL): string {
  if (url.port !== '') return url.host
  return `${url.host}:${url.protocol === 'https:' ? 443 : 80}`
}

/** Exposed labels plus job and instance; exposed job/instance/host become exported_job, ... */
export function scrapeLabels(exposed: Record<string, string>, job: string, instance: string): Labels {
  const labels: Record<string, string> = {}
  for (const [name, value] of Object.entries(exposed)) {
    // In Prometheus an empty label value is the same as no label.
    if (value === '') continue
    const reserved = (RESERVED_LABELS as readonly string[]).includes(name)
    labels[reserved ? `exported_${name}` : name] = value
  }
  labels.job = job
  labels.instance = instance
  return labels
}

/** One scrape target, checked and with its credentials and CA read (init). */
interface Target {
  url: URL
  instance: string
  job: string
  /** `Basic ...` or `Bearer ...`; never logged. */
  authorization: string | undefined
  /** PEM, from tls_ca_file. */
  ca: string | undefined
}

type TargetSection = Partial<PrometheusConfig['targets'][number]> & { url: string }

/** Checks a target's section (where: its key path, for errors) and reads its CA file. */
function target(where: string, section: TargetSection, defaultJob: string): Target {
  let url: URL
  try {
    url = new URL(section.url)
  } catch {
    throw new Error(`${where}: "${section.url}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${where}: "${section.url}" must be http or https`)
  if (url.username !== '' || url.password !== '')
    throw new Error(`${where}: put credentials in username and password(_file), not in the URL`)
  const basic = section.username !== undefined || section.password !== undefined
  if (basic && (section.username === undefined || section.password === undefined))
    throw new Error(`${where}: basic auth needs both username and password (or password_file)`)
  if (basic && section.bearer_token !== undefined)
    throw new Error(`${where}: give basic auth (username, password) or bearer_token, not both`)
  let ca: string | undefined
  if (section.tls_ca_file !== undefined) {
    if (url.protocol !== 'https:') throw new Error(`${where}: tls_ca_file is only for https URLs`)
    try {
      ca = readFileSync(section.tls_ca_file, 'utf8')
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message
      throw new Error(`${where}: cannot read tls_ca_file "${section.tls_ca_file}" (${reason})`)
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new Error(`${where}: tls_ca_file "${section.tls_ca_file}" holds no PEM certificate`)
  }
  const authorization = basic
    ? `Basic ${Buffer.from(`${section.username}:${section.password}`).toString('base64')}`
    : section.bearer_token !== undefined
      ? `Bearer ${section.bearer_token}`
      : undefined
  return { url, instance: instanceOf(url), job: section.job ?? defaultJob, authorization, ca }
}

export interface ScrapeResult {
  samples: PromSample[]
}

/**
 * Scrapes every URL on each gather, concurrently, and sends every sample under its exposed name
 * with its labels plus `job` and `instance`, as Prometheus stores it: counters, gauges and untyped
 * as they are; histograms as `<name>_bucket{le}`, `<name>_sum`, `<name>_count`; summaries as
 * `<name>{quantile}`, `<name>_sum`, `<name>_count`. Per target it also sends Prometheus' own
 * `up`, `scrape_duration_seconds` and `scrape_samples_scraped`. One failing target does not stop
 * the others; the round still fails (logged and counted by the runner) naming the failed targets.
 */
export class PrometheusInput implements Input {
  readonly name = 'prometheus'
  readonly stats: PrometheusStats = {
    scrapes: 0,
    failedScrapes: 0,
    skippedNonFinite: 0,
    skippedInvalid: 0,
    timestampsReplaced: 0,
  }
  private readonly targets: Target[] = []
  private readonly clock: Clock
  private readonly log: Logger

  constructor(
    private readonly config: PrometheusConfig,
    deps: InputDeps,
  ) {
    this.clock = deps.clock
    this.log = deps.logger.child({ input: 'prometheus' })
  }

  async init(): Promise<void> {
    this.targets.length = 0
    this.config.urls.forEach((text, i) =>
      this.targets.push(target(`inputs.prometheus.urls[${i}]`, { url: text }, this.config.job)),
    )
    this.config.targets.forEach((section, i) =>
      this.targets.push(target(`inputs.prometheus.targets[${i}]`, section, this.config.job)),
    )
  }

  async gather(accumulator: Accumulator, signal?: AbortSignal): Promise<void> {
    const failed: string[] = []
    await Promise.all(
      this.targets.map(async (target) => {
        const startedMs = this.clock.now()
        const base = { job: target.job, instance: target.instance }
        let up = 1
        let count = 0
        try {
          const body = await this.fetch(target, signal)
          const { samples } = parsePrometheusText(body)
          count = samples.length
          for (const sample of samples) this.emit(sample, base, startedMs, accumulator)
        } catch (error) {
          up = 0
          failed.push(target.instance)
          this.stats.failedScrapes++
          this.log.warn({ err: error, url: target.url.href }, 'scrape failed')
        }
        this.stats.scrapes++
        const doneMs = this.clock.now()
        accumulator.add('up', base, up, startedMs)
        accumulator.add('scrape_duration_seconds', base, (doneMs - startedMs) / 1000, startedMs)
        accumulator.add('scrape_samples_scraped', base, count, startedMs)
      }),
    )
    if (failed.length > 0) throw new Error(`scrape failed for ${failed.join(', ')}`)
  }

  private emit(
    sample: PromSample,
    base: { job: string; instance: string },
    scrapeMs: number,
    accumulator: Accumulator,
  ): void {
    if (!Number.isFinite(sample.value)) {
      this.stats.skippedNonFinite++
      return
    }
    if (!this.acceptable(sample)) {
      this.stats.skippedInvalid++
      return
    }
    let timestampMs = scrapeMs
    if (sample.timestampMs !== undefined) {
      const offset = sample.timestampMs - scrapeMs
      if (offset >= -MAX_TIMESTAMP_PAST_MS && offset <= MAX_TIMESTAMP_FUTURE_MS)
        timestampMs = sample.timestampMs
      else this.stats.timestampsReplaced++
    }
    accumulator.add(
      sample.name,
      scrapeLabels(sample.labels, base.job, base.instance),
      sample.value,
      timestampMs,
    )
  }

  /** The wire refuses a whole batch for one bad series, so series it would refuse are dropped here. */
  private acceptable(sample: PromSample): boolean {
    if (sample.name.length > MAX_NAME_LENGTH) return false
    const entries = Object.entries(sample.labels)
    if (entries.length > MAX_EXPOSED_LABELS) return false
    return entries.every(
      ([name, value]) =>
        !name.startsWith('__') &&
        name.length <= MAX_NAME_LENGTH &&
        Buffer.byteLength(value) <= MAX_LABEL_VALUE_BYTES,
    )
  }

  private async fetch(target: Target, signal: AbortSignal | undefined): Promise<string> {
    const response = await httpGet(target.url, {
      headers: {
        accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
        'accept-encoding': 'gzip',
        'user-agent': 'tidewatch-agent',
        ...(target.authorization !== undefined ? { authorization: target.authorization } : {}),
      },
      signal,
      ca: target.ca,
      timeoutMs: this.config.timeout,
      maxBodyBytes: this.config.max_body_bytes,
    })
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`)
    return response.body.toString('utf8')
  }
}

export const prometheusInput: InputFactory<'prometheus'> = {
  name: 'prometheus',
  create: (config, deps) => new PrometheusInput(config, deps),
}
