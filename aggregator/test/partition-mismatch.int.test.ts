/*
 * Agents publishing with another partition count than the aggregator's consumer.partitions: their
 * messages either wait in the stream on subjects no consumer reads, or reach a partition their agent
 * id does not belong to. The aggregator says so: an error log, /readyz 503 with the reason, metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { batchId, encodeBatch, type MetricBatch } from '@tidewatch/shared'
import { startNatsServer, type NatsServerHandle } from '@tidewatch/shared/testing'
import { startAggregator, type RunningAggregator } from '../src/index.js'
import { pino } from 'pino'
import { hostBatch, partitionOf, tempDir, testAggregatorConfig, waitFor } from './harness.js'

const PARTITIONS = 2

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('partition count mismatch between agents and the aggregator (real nats-server, real chDB)', () => {
  let nats: NatsServerHandle
  let client: NatsConnection
  let js: JetStreamClient
  let aggregator: RunningAggregator
  const store = tempDir('tidewatch-partition-mismatch-')
  const baseMs = Date.now() - 10 * 60_000
  const errors: string[] = []

  beforeAll(async () => {
    nats = await startNatsServer()
    // Error lines as the aggregator logs them (pino JSON).
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) })
    aggregator = await startAggregator(
      testAggregatorConfig(nats.url, store.path, {
        admin: { listen: '127.0.0.1:0', self_metrics_interval: '0s' },
        consumer: { ack_wait: '20s', partitions: PARTITIONS, lease_ttl: '3s' },
      }),
      { logger, partitionSweepMs: 200 },
    )
    client = await connect({ servers: nats.url })
    js = jetstream(client)
  })
  afterAll(async () => {
    await client?.close()
    await aggregator?.stop()
    await nats?.dispose()
    store.remove()
  })

  const publishOn = (subject: string, batch: MetricBatch) =>
    js.publish(subject, encodeBatch(batch), { msgID: batchId(batch.agentId, batch.seq) })
  const readyz = async () => {
    const response = await fetch(`${aggregator.adminUrl}/readyz`)
    return { status: response.status, body: await response.text() }
  }
  const metrics = async () => (await fetch(`${aggregator.adminUrl}/metrics`)).text()

  it('is ready while every agent agrees, and says which subjects no consumer reads when some do not', async () => {
    await waitFor(
      async () => aggregator.partitions().length,
      (n) => n === PARTITIONS,
      30_000,
      'leases',
    )
    const good = hostBatch({ host: 'agrees', seq: 1, baseMs })
    await publishOn(`metrics.in.${partitionOf('agrees', PARTITIONS)}.agrees`, good)
    await waitFor(
      async () => aggregator.counters.messagesAcked,
      (n) => n >= 1,
      30_000,
      'the good batch',
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(aggregator.partitionMismatch()).toBeUndefined()
    expect(await readyz()).toEqual({ status: 200, body: 'ready\n' })
    expect(sample(await metrics(), 'aggregator_partition_mismatch')).toBe(0)

    // An agent left with output.partitions = 1, and one with 4 partitions whose id falls in partition 2.
    await publishOn('metrics.in.flat-agent', hostBatch({ host: 'flat-agent', seq: 1, baseMs }))
    const beyond = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((id) => partitionOf(id, 4) === 2)!
    await publishOn(`metrics.in.2.${beyond}`, hostBatch({ host: beyond, seq: 1, baseMs }))
    const mismatch = await waitFor(
      async () => aggregator.partitionMismatch(),
      (m) => m !== undefined,
      10_000,
      'the sweep to find unread subjects',
    )
    expect(mismatch!.reason).toContain('2 subject(s) in stream METRICS that no consumer reads')
    expect(mismatch!.reason).toContain('consumer.partitions = 2')
    const answer = await readyz()
    expect(answer.status).toBe(503)
    expect(answer.body).toContain('not ready: 2 subject(s) in stream METRICS that no consumer reads')
    const text = await metrics()
    expect(sample(text, 'aggregator_partition_mismatch')).toBe(1)
    expect(sample(text, 'aggregator_unread_subjects')).toBe(2)
    expect(errors.some((e) => e.includes('no consumer reads'))).toBe(true)
  })

  it('notices a delivered message whose subject names another partition than its agent id has here', async () => {
    // An agent with 3 partitions whose id maps to a partition below 2 there, and to the other one here.
    const id = Array.from({ length: 50 }, (_, i) => `host-${i}`).find(
      (h) => partitionOf(h, 3) < PARTITIONS && partitionOf(h, 3) !== partitionOf(h, PARTITIONS),
    )!
    await publishOn(`metrics.in.${partitionOf(id, 3)}.${id}`, hostBatch({ host: id, seq: 1, baseMs }))
    await waitFor(
      async () => sample(await metrics(), 'aggregator_partition_mismatched_messages_total'),
      (n) => n === 1,
      30_000,
      'the mismatched message',
    )
    const reason = aggregator.partitionMismatch()!.reason
    expect(reason).toContain(`a message on metrics.in.${partitionOf(id, 3)}.${id}`)
    expect(reason).toContain('partitionOf(agent id, 2)')
    expect((await readyz()).status).toBe(503)
    expect(errors.some((e) => e.includes(`a message on metrics.in.${partitionOf(id, 3)}.${id}`))).toBe(true)
    // It is still stored: the check only reports.
    await waitFor(
      async () => aggregator.counters.messagesAcked,
      (n) => n >= 2,
      30_000,
      'the batch stored',
    )
  })
})
