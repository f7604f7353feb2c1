import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { LeaseResult } from '../leases/leases.js'
import type { Notification, Notifier } from '../notifiers/types.js'
import { parseMatcher } from '../routing/matchers.js'
import type { Route } from '../routing/route.js'
import type { StoredAlert } from '../state/alert-store.js'
import type { NflogEntry, StoredNflog } from '../state/nflog.js'
import type { AlertRecord } from '../state/transition.js'
import { NotifyError } from '../errors.js'
import { FakeTimers } from '../testing/fake-timers.js'
import { Dispatcher } from './dispatcher.js'

const route = (over: Partial<Route> = {}): Route => ({
  id: 'root',
  receiver: 'r',
  matchers: [],
  continue: false,
  groupBy: ['alertname'],
  groupWaitMs: 30_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 3_600_000,
  ...over,
})

function setup(options: { leaseHeldElsewhereUntil?: number } = {}) {
  const timers = new FakeTimers()
  const sent: Notification[] = []
  let refusing = false
  const nflog = new Map<string, StoredNflog>()
  let revision = 0
  let heldElsewhereUntil = options.leaseHeldElsewhereUntil ?? 0
  const notifier: Notifier = {
    kind: 'fake',
    sendResolved: true,
    send: async (n) => {
      if (refusing) throw new NotifyError('slack webhook: 403 invalid_token', 403, 'invalid_token', false)
      sent.push(n)
      return {}
    },
    close: async () => undefined,
  }
  const closed: string[] = []
  const dispatcher = new Dispatcher({
    routes: {
      root: route(),
      children: [route({ id: 'routes[0]', matchers: [parseMatcher('team="db"')], groupWaitMs: 0 })],
    },
    inhibitRules: [],
    silences: { isSilenced: () => false },
    leases: {
      acquire: async (): Promise<LeaseResult> =>
        timers.clock.now() < heldElsewhereUntil
          ? { held: false, owner: 'other', expiresAtMs: heldElsewhereUntil }
          : { held: true },
      holds: () => timers.clock.now() >= heldElsewhereUntil,
      release: async () => undefined,
    },
    nflog: {
      get: async (key) => nflog.get(key),
      put: async (key, entry: NflogEntry) => (nflog.set(key, { entry, revision: ++revision }), 'stored'),
      delete: async (key) => void nflog.delete(key),
    },
    store: { close: async (stored) => (closed.push(stored.record.fingerprint), true) },
    notifiers: new Map([['r', notifier]]),
    clock: timers.clock,
    timers,
    logger: pino({ level: 'silent' }),
    retry: { initialDelayMs: 100, maxDelayMs: 1_000 },
  })
  const alert = (
    host: string,
    extra: Record<string, string> = {},
    state: AlertRecord['state'] = 'firing',
  ): StoredAlert => ({
    record: {
      fingerprint: `fp-${host}`,
      rule: 'HighCPU',
      state,
      labels: { alertname: 'HighCPU', host, ...extra },
      annotations: {},
      value: 1,
      activeSinceMs: 1,
      atMs: 1,
    },
    revision: 1,
  })
  const settle = () => new Promise((resolve) => setImmediate(resolve))
  return {
    timers,
    sent,
    closed,
    nflog,
    dispatcher,
    alert,
    settle,
    setHeldElsewhere: (until: number) => (heldElsewhereUntil = until),
    setRefusing: (refuse: boolean) => (refusing = refuse),
  }
}

describe('Dispatcher timing (fake clock)', () => {
  it('waits group_wait, batches alerts arriving meanwhile, then holds changes to group_interval', async () => {
    const { timers, sent, dispatcher, alert, settle } = setup()
    dispatcher.onAlert('fp-a', alert('a'))
    await timers.advanceAsync(10_000)
    dispatcher.onAlert('fp-b', alert('b'))
    await timers.advanceAsync(19_999)
    await settle()
    expect(sent).toHaveLength(0)
    await timers.advanceAsync(1)
    await settle()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.firing).toHaveLength(2)

    dispatcher.onAlert('fp-c', alert('c'))
    await timers.advanceAsync(299_000)
    await settle()
    expect(sent).toHaveLength(1)
    await timers.advanceAsync(1_000)
    await settle()
    expect(sent).toHaveLength(2)
    expect(sent[1]!.firing).toHaveLength(3)
  })

  it('records nothing as sent when the receiver refuses, and sends again at the next group_interval', async () => {
    const { timers, sent, closed, nflog, dispatcher, alert, settle, setRefusing } = setup()
    setRefusing(true)
    dispatcher.onAlert('fp-a', alert('a'))
    await timers.advanceAsync(30_000)
    await settle()
    expect(sent).toHaveLength(0)
    expect(nflog.size).toBe(0)
    // The token is fixed: the next group_interval sends the firing message.
    setRefusing(false)
    await timers.advanceAsync(300_000)
    await settle()
    expect(sent.map((n) => n.kind)).toEqual(['firing'])
    // Resolved while the receiver refuses again: not closed without its message, sent once it accepts.
    setRefusing(true)
    dispatcher.onAlert('fp-a', { ...alert('a', {}, 'resolved'), revision: 2 })
    await timers.advanceAsync(300_000)
    await settle()
    expect(sent).toHaveLength(1)
    expect(closed).toEqual([])
    setRefusing(false)
    await timers.advanceAsync(300_000)
    await settle()
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved'])
    expect(closed).toEqual(['fp-a'])
  })

  it('routes by labels: a child route with group_wait 0 sends at once', async () => {
    const { timers, sent, dispatcher, alert } = setup()
    dispatcher.onAlert('fp-d', alert('d', { team: 'db' }))
    await timers.advanceAsync(0)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.groupKey).toContain('routes[0]')
  })

  it('leaves sending to the lease holder and takes over when its lease lapses', async () => {
    const { timers, sent, dispatcher, alert, settle, setHeldElsewhere } = setup({
      leaseHeldElsewhereUntil: Infinity,
    })
    dispatcher.onAlert('fp-d', alert('d', { team: 'db' }))
    await settle()
    expect(sent).toHaveLength(0)
    setHeldElsewhere(timers.clock.now() + 5_000)
    // The holder renewed once more, then died: the standby looks again just after the lease lapses.
    dispatcher.onAlert('fp-e', alert('e', { team: 'db' }))
    await timers.advanceAsync(300_000)
    await settle()
    expect(sent).toHaveLength(1)
  })
})
