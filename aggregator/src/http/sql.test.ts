import { describe, expect, it } from 'vitest'
import { inspectSql, isReadStatement } from './sql.js'

describe('inspectSql', () => {
  it('finds the first keyword and a trailing FORMAT', () => {
    expect(inspectSql('select 1 format JSONEachRow')).toEqual({
      keyword: 'SELECT',
      format: 'JSONEachRow',
      multiStatement: false,
      readsTables: false,
    })
    expect(inspectSql('SELECT 1 FORMAT JSON SETTINGS max_threads = 1;').format).toBe('JSON')
    expect(inspectSql("SELECT format('{}', 'x') AS format FROM t").format).toBeUndefined()
    expect(inspectSql('SELECT * FROM (SELECT 1 FORMAT CSV)').format).toBeUndefined()
    expect(inspectSql('-- c\n/* d */ (SELECT 1)').keyword).toBe('(')
  })

  it('spots a second statement but not a semicolon inside strings or comments', () => {
    expect(inspectSql('SELECT 1; DROP TABLE t').multiStatement).toBe(true)
    expect(inspectSql("SELECT ';drop' -- ; x\n;").multiStatement).toBe(false)
    expect(inspectSql("SELECT 'it\\'s; x', `a;b`").multiStatement).toBe(false)
  })

  it('stops at INSERT data', () => {
    const shape = inspectSql('INSERT INTO t FORMAT TSV\n1\tx; DROP TABLE t\n')
    expect(shape).toEqual({ keyword: 'INSERT', format: 'TSV', multiStatement: false, readsTables: false })
    expect(isReadStatement(shape)).toBe(false)
    expect(isReadStatement(inspectSql('WITH 1 AS x SELECT x'))).toBe(true)
    expect(isReadStatement(inspectSql('KILL QUERY WHERE 1'))).toBe(false)
  })

  it('tells a statement that may read tables from a constant one', () => {
    expect(inspectSql('SELECT 1').readsTables).toBe(false)
    expect(inspectSql("SELECT 'from' AS `join`, version() -- FROM t").readsTables).toBe(false)
    expect(inspectSql('SELECT (SELECT count() from numbers(10))').readsTables).toBe(true)
    expect(inspectSql('SELECT * FROM a LEFT JOIN b USING x').readsTables).toBe(true)
  })
})
