import { describe, expect, it } from 'vitest'
import { compileTemplate, humanize, TemplateSyntaxError } from './template.js'

const render = (source: string, value: number | null = 91.2345, labels = { host: 'web-1' }) =>
  compileTemplate(source).render({ value, labels, threshold: 80, rule: 'cpu_high', silent: 'host="a"' })

describe('templates', () => {
  it('renders values, labels and pipes', () => {
    expect(render('CPU on {{ $labels.host }} is {{ $value }}%')).toBe('CPU on web-1 is 91.2345%')
    expect(render('{{ $value | printf "%.1f" }}')).toBe('91.2')
    expect(render('{{$value|printf "%d"}} > {{ $threshold }}')).toBe('91 > 80')
    expect(render('{{ $labels.missing | default "n/a" }} {{ $labels.host | upper }}')).toBe('n/a WEB-1')
    expect(render('{{ $value | humanize }}', 1_234_567)).toBe('1.2346M')
    expect(render('{{ $rule }}: {{ $silent }} {{ "x" }}')).toBe('cpu_high: host="a" x')
    expect(render('{{ $value }}', null)).toBe('')
    expect(render('plain text')).toBe('plain text')
    expect(render('{{ $value | printf "%5.1f%%" }}', 9.25)).toBe('  9.3%')
  })

  it('lists the variables it reads', () => {
    expect([...compileTemplate('{{ $labels.host }} {{ $value }}').variables].sort()).toEqual([
      'labels',
      'value',
    ])
  })

  it.each([
    ['{{ $valu }}', 'unknown variable $valu'],
    ['{{ $labels }}', '$labels needs a label name'],
    ['{{ $value', 'unclosed "{{"'],
    ['oops }}', '"}}" without "{{"'],
    ['{{ }}', 'empty expression'],
    ['{{ $value | printf "%.1f %s" }}', 'exactly one verb'],
    ['{{ $value | printf "%x" }}', 'unsupported verb'],
    ['{{ $value | shout }}', 'unknown function "shout"'],
    ['{{ $value $labels.host }}', 'use | to apply a function'],
    ['{{ $value | printf }}', 'printf takes one quoted string argument'],
    ['{{ "open }}', 'unterminated string'],
    ['{{ $value | upper "x" }}', 'upper takes no arguments'],
  ])('refuses %s', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(TemplateSyntaxError)
    expect(() => compileTemplate(source)).toThrow(message)
  })

  it('humanizes', () => {
    expect(humanize(999)).toBe('999')
    expect(humanize(1500)).toBe('1.5k')
    expect(humanize(0)).toBe('0')
  })
})
