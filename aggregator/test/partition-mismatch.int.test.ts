/*
 * Agents publishing with another partition count than the aggregator's consumer.partitions: their
 * messages either wait in the stream on subjects no consumer reads, or reach a partition their agent
 * id does not belong to. The aggregator says so: an error log, /readyz 503 with the reason, metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { batchId, encodeBatch, type MetricBatch } from '@tidewatch/shared'
import { pino } from 'pino'
import {
  hostBatch,
  partitionOf,
  promSample,
  startTestPipeline,
  waitFor,
  type TestPipeline,
} from './harness.js'

const PARTITIONS = 2

describe('partition count mismatch between agents and the aggregator (real nats-server, real chDB)', () => {
  let pipeline: TestPipeline
  const baseMs = Date.now() - 10 * 60_000
  const errors: string[] = []

  beforeAll(async () => {
    // Error lines as the aggregator logs them (pino JSON).
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) })
    pipeline = await startTestPipeline(
      'tidewatch-partition-mismatch-',
      {
        admin: { listen: '127.0.0.1:0', self_metrics_interval: '0s' },
        consumer: { ack_wait: '20s', partitions: PARTITIONS, lease_ttl: '3s' },
      },
      { logger, partitionSweepMs: 200 },
    )
  })
  afterAll(() => pipeline?.stop())

  const publishOn = (subject: string, batch: MetricBatch) =>
    pipeline.js.publish(subject, encodeBatch(batch), { msgID: batchId(batch.agentId, batch.seq) })
  const readyz = async () => {
    const response = await fetch(`${pipeline.aggregator.adminUrl}/readyz`)
    return { status: response.status, body: await response.text() }
  }
  const metrics = async () => (await fetch(`${pipeline.aggregator.adminUrl}/metrics`)).text()

  it('is ready while every agent agrees, and says which subjects no consumer reads when some do not', async () => {
    await waitFor(
      async () => pipeline.aggregator.partitions().length,
      (n) => n === PARTITIONS,
      30_000,
      'leases',
    )
    const good = hostBatch({ host: 'agrees', seq: 1, baseMs })
    await publishOn(`metrics.in.${partitionOf('agrees', PARTITIONS)}.agrees`, good)
    await waitFor(
      async () => pipeline.aggregator.counters.messagesAcked,
      (n) => n >= 1,
      30_000,
      'the good batch',
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(pipeline.aggregator.partitionMismatch()).toBeUndefined()
    expect(await readyz()).toEqual({ status: 200, body: 'ready\n' })
    expect(promSample(await metrics(), 'aggregator_partition_mismatch')).toBe(0)

    // An agent left with output.partitions = 1, and one with 4 partitions whose id falls in partition 2.
    await publishOn('metrics.in.flat-agent', hostBatch({ host: 'flat-agent', seq: 1, baseMs }))
    const beyond = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((id) => partitionOf(id, 4) === 2)!
    await publishOn(`metrics.in.2.${beyond}`, hostBatch({ host: beyond, seq: 1, baseMs }))
    const mismatch = await waitFor(
      async () => pipeline.aggregator.partitionMismatch(),
      // Both subjects: a sweep between the two publishes sees only the first.
      (m) => m?.reason.includes('2 subject(s)') === true,
      10_000,
      'the sweep to find both unread subjects',
    )
    expect(mismatch!.reason).toContain('2 subject(s) in stream METRICS that no consumer reads')
    expect(mismatch!.reason).toContain('consumer.partitions = 2')
    const answer = await readyz()
    expect(answer.status).toBe(503)
    expect(answer.body).toContain('not ready: 2 subject(s) in stream METRICS that no consumer reads')
    const text = await metrics()
    expect(promSample(text, 'aggregator_partition_mismatch')).toBe(1)
    expect(promSample(text, 'aggregator_unread_subjects')).toBe(2)
    expect(errors.some((e) => e.includes('no consumer reads'))).toBe(true)
  })

  it('notices a delivered message whose subject names another partition than its agent id has here', async () => {
    // An agent with 3 partitions whose id maps to a partition below 2 there, and to the other one here.
    const id = Array.from({ length: 50 }, (_, i) => `host-${i}`).find(
      (h) => partitionOf(h, 3) < PARTITIONS && partitionOf(h, 3) !== partitionOf(h, PARTITIONS),
    )!
    await publishOn(`metrics.in.${partitionOf(id, 3)}.${id}`, hostBatch({ host: id, seq: 1, baseMs }))
    await waitFor(
      async () => promSample(await metrics(), 'aggregator_partition_mismatched_messages_total'),
      (n) => n === 1,
      30_000,
      'the mismatched message',
    )
    const reason = pipeline.aggregator.partitionMismatch()!.reason
    expect(reason).toContain(`a message on metrics.in.${partitionOf(id, 3)}.${id}`)
    expect(reason).toContain('partitionOf(agent id, 2)')
    expect((await readyz()).status).toBe(503)
    expect(errors.some((e) => e.includes(`a message on metrics.in.${partitionOf(id, 3)}.${id}`))).toBe(true)
    // It is still stored: the check only reports.
    await waitFor(
      async () => pipeline.aggregator.counters.messagesAcked,
      (n) => n >= 2,
      30_000,
      'the batch stored',
    )
  })
})
