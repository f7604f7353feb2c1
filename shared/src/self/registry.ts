import type { Labels } from '../series.js'
import type { SeriesSamples } from '../wire/types.js'

/**
 * A component's own metrics: counters and gauges with labels, rendered in the Prometheus text format
 * for /metrics and turned into series so the component can write them into tidewatch itself.
 * Metric names use the project's dotted style (`aggregator.samples_stored_total`); the Prometheus
 * rendering replaces dots with underscores, as Prometheus names cannot hold dots.
 */
export type MetricKind = 'counter' | 'gauge'

interface Family {
  name: string
  help: string
  kind: MetricKind
  values: Map<string, { labels: Labels; value: number }>
  /** For gauges read at scrape time (queue sizes, lag). */
  collect?: () => Array<{ labels: Labels; value: number }> | number
}

const NAME = /^[a-zA-Z_][a-zA-Z0-9_.]*$/

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',')
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>()

  constructor(private readonly constantLabels: Labels = {}) {}

  private family(name: string, help: string, kind: MetricKind): Family {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`)
    let family = this.families.get(name)
    if (family === undefined) {
      family = { name, help, kind, values: new Map() }
      this.families.set(name, family)
    } else if (family.kind !== kind) {
      throw new Error(`metric ${name} is a ${family.kind}, not a ${kind}`)
    }
    return family
  }

  /** A counter handle: `inc(by, labels)` only ever goes up. */
  counter(name: string, help: string): { inc(by?: number, labels?: Labels): void } {
    const family = this.family(name, help, 'counter')
    return {
      inc: (by = 1, labels = {}) => {
        if (by < 0) throw new Error(`counter ${name} cannot go down`)
        const key = labelKey(labels)
        const entry = family.values.get(key)
        if (entry === undefined) family.values.set(key, { labels, value: by })
        else entry.value += by
      },
    }
  }

  /** A gauge handle: `set(value, labels)`. */
  gauge(name: string, help: string): { set(value: number, labels?: Labels): void } {
    const family = this.family(name, help, 'gauge')
    return {
      set: (value, labels = {}) => {
        family.values.set(labelKey(labels), { labels, value })
      },
    }
  }

  /** A gauge (or counter) read when scraped, from state the component already keeps. */
  collect(
    name: string,
    help: string,
    kind: MetricKind,
    read: () => Array<{ labels: Labels; value: number }> | number,
  ): void {
    this.family(name, help, kind).collect = read
  }

  private samples(family: Family): Array<{ labels: Labels; value: number }> {
    if (family.collect === undefined) return [...family.values.values()]
    const read = family.collect()
    return typeof read === 'number' ? [{ labels: {}, value: read }] : read
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  renderPrometheus(): string {
    let out = ''
    for (const family of this.families.values()) {
      const name = family.name.replace(/\./g, '_')
      out += `# HELP ${name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${family.kind}\n`
      for (const { labels, value } of this.samples(family)) {
        const all = { ...this.constantLabels, ...labels }
        const text = Object.keys(all)
          .map(
            (k) =>
              `${k}="${String(all[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
          )
          .join(',')
        out += `${name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN'}\n`
      }
    }
    return out
  }

  /** Every current value as series stamped `nowMs`, for writing the component's metrics into tidewatch. */
  toSeries(nowMs: number, extraLabels: Labels = {}): SeriesSamples[] {
    const series: SeriesSamples[] = []
    for (const family of this.families.values()) {
      for (const { labels, value } of this.samples(family)) {
        if (!Number.isFinite(value)) continue
        series.push({
          name: family.name,
          labels: { ...this.constantLabels, ...extraLabels, ...labels },
          timestamps: [nowMs],
          values: [value],
        })
      }
    }
    return series
  }
}
