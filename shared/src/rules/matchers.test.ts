import { describe, expect, it } from 'vitest'
import { formatMatcher, matches, MatcherSyntaxError, parseMatcher } from './matchers.js'

describe('label matchers', () => {
  const labels = { host: 'web-1', region: 'us-west', role: 'web' }
  const all = (...texts: string[]) => matches(texts.map(parseMatcher), labels)

  it('matches =, !=, =~ and !~, regexes anchored, a missing label as ""', () => {
    expect(all('host="web-1"', 'region!="eu-west"')).toBe(true)
    expect(all('role=~"web|api"')).toBe(true)
    expect(all('host=~"web"')).toBe(false)
    expect(all('host=~"web-.*"', 'region!~"eu-.*"')).toBe(true)
    expect(all('region!~"us-.*"')).toBe(false)
    expect(all('dc=""', 'dc!="x"')).toBe(true)
    expect(all('dc=~".+"')).toBe(false)
    expect(all()).toBe(true)
  })

  it('keeps escapes and formats back', () => {
    const m = parseMatcher('path="a\\"b"')
    expect(m.value).toBe('a"b')
    expect(formatMatcher(parseMatcher(' role =~ "web|api" '))).toBe('role=~"web|api"')
  })

  it.each(['host', 'host==web', '1host="x"', 'host=web', 'host=~"(web"', 'host="x'])('refuses %s', (text) => {
    expect(() => parseMatcher(text)).toThrow(MatcherSyntaxError)
  })
})
