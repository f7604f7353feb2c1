import { describe, expect, it } from 'vitest'
import { isInhibited } from '../inhibition/inhibitor.js'
import { isSilenced, type Silence } from '../silences/silences.js'
import { formatMatcher, matchesAll, parseMatcher } from './matchers.js'
import { groupLabels, routesFor, type Route } from './route.js'

describe('matchers', () => {
  it('parses the four operators and anchors regexes', () => {
    const labels = { env: 'prod', host: 'i631' }
    expect(matchesAll([parseMatcher('env="prod"')], labels)).toBe(true)
    expect(matchesAll([parseMatcher('env!="prod"')], labels)).toBe(false)
    expect(matchesAll([parseMatcher('host=~"i6.*"')], labels)).toBe(true)
    expect(matchesAll([parseMatcher('host=~"i6"')], labels)).toBe(false)
    expect(matchesAll([parseMatcher('host!~"web.*"')], labels)).toBe(true)
    expect(matchesAll([parseMatcher('team=""')], labels)).toBe(true)
    expect(formatMatcher(parseMatcher('a = b'))).toBe('a="b"')
  })
  it('names a bad matcher', () => {
    expect(() => parseMatcher('not a matcher')).toThrow(/expected a matcher/)
    expect(() => parseMatcher('a=~"("')).toThrow(/invalid regular expression/)
  })
})

describe('routing', () => {
  const base = {
    receiver: 'x',
    groupBy: ['alertname'],
    groupWaitMs: 0,
    groupIntervalMs: 0,
    repeatIntervalMs: 0,
    continue: false,
  }
  const root: Route = { ...base, id: 'root', matchers: [] }
  const db: Route = {
    ...base,
    id: 'routes[0]',
    receiver: 'db',
    matchers: [parseMatcher('team="db"')],
    continue: true,
  }
  const prod: Route = { ...base, id: 'routes[1]', receiver: 'prod', matchers: [parseMatcher('env="prod"')] }
  it('takes the first matching child, further ones after continue, else the root', () => {
    expect(routesFor({ root, children: [db, prod] }, { team: 'db', env: 'prod' }).map((r) => r.id)).toEqual([
      'routes[0]',
      'routes[1]',
    ])
    expect(routesFor({ root, children: [db, prod] }, { env: 'prod' }).map((r) => r.id)).toEqual(['routes[1]'])
    expect(routesFor({ root, children: [db, prod] }, {}).map((r) => r.id)).toEqual(['root'])
  })
  it('groups by the listed labels, or all with "..."', () => {
    expect(
      groupLabels({ ...root, groupBy: ['alertname', 'pool'] }, { alertname: 'a', pool: 'p', host: 'h' }),
    ).toEqual({ alertname: 'a', pool: 'p' })
    expect(groupLabels({ ...root, groupBy: ['...'] }, { a: '1', b: '2' })).toEqual({ a: '1', b: '2' })
  })
})

describe('inhibition', () => {
  const rules = [
    {
      sourceMatchers: [parseMatcher('severity="critical"')],
      targetMatchers: [parseMatcher('severity="warning"')],
      equal: ['pool'],
    },
  ]
  const source = { fingerprint: 's', labels: { severity: 'critical', pool: 'p1' } }
  it('mutes a matching target with equal labels, not others, never itself', () => {
    expect(
      isInhibited({ fingerprint: 't', labels: { severity: 'warning', pool: 'p1' } }, [source], rules),
    ).toBe(true)
    expect(
      isInhibited({ fingerprint: 't', labels: { severity: 'warning', pool: 'p2' } }, [source], rules),
    ).toBe(false)
    expect(
      isInhibited({ fingerprint: 't', labels: { severity: 'critical', pool: 'p1' } }, [source], rules),
    ).toBe(false)
    const both = [
      { sourceMatchers: [parseMatcher('a="1"')], targetMatchers: [parseMatcher('a="1"')], equal: [] },
    ]
    expect(
      isInhibited({ fingerprint: 's', labels: { a: '1' } }, [{ fingerprint: 's', labels: { a: '1' } }], both),
    ).toBe(false)
  })
})

describe('silences', () => {
  const silence: Silence = {
    id: '1',
    matchers: [parseMatcher('host="i1"')],
    startsAtMs: 100,
    endsAtMs: 200,
    createdBy: 't',
    comment: '',
    createdAtMs: 0,
    updatedAtMs: 0,
  }
  it('mute only while active', () => {
    expect(isSilenced({ host: 'i1' }, [silence], 50)).toBe(false)
    expect(isSilenced({ host: 'i1' }, [silence], 150)).toBe(true)
    expect(isSilenced({ host: 'i2' }, [silence], 150)).toBe(false)
    expect(isSilenced({ host: 'i1' }, [silence], 200)).toBe(false)
  })
})
