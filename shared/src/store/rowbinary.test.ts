import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { storeSchema } from '../config/schema.js'
import { decodeRowBinaryWithNamesAndTypes, queryRowBinary, rowOf, type RowBinaryResult } from './rowbinary.js'

const rowsOf = (result: RowBinaryResult) =>
  Array.from({ length: result.rowCount }, (_, r) => rowOf(result, r))
import { createStore } from './store.js'

const root = mkdtempSync(join(tmpdir(), 'tidewatch-rowbinary-test-'))
const store = createStore(storeSchema.parse({ url: `chdb://${root}` }))
afterAll(async () => {
  await store.close()
  rmSync(root, { recursive: true, force: true })
})

// Every supported type, with the values that break naive decoders: 64-bit integers beyond 2^53,
// negative ones, multi-byte UTF-8, a string longer than 127 bytes (two-byte length), NULL.
const QUERY = `SELECT
    toUInt64(18446744073709551615 - number * 9007199254740993) AS u64,
    toInt64(-9007199254740993 - number) AS i64,
    toUInt8(200 + number) AS u8, toInt8(-100 - number) AS i8, toUInt16(65000) AS u16, toInt16(-32000) AS i16,
    toUInt32(4000000000) AS u32, toInt32(-2000000000) AS i32,
    toFloat32(1.5) AS f32, 42.57 + number / 3 AS f64, nan AS f64_nan,
    toDateTime('2026-01-02 03:04:05', 'UTC') + number AS dt,
    toDateTime64('2026-01-02 03:04:05.678', 3, 'UTC') + number AS dt64,
    concat('naïve ✓ ', repeat('x', toUInt32(150 * number))) AS s,
    toLowCardinality(concat('cpu', toString(number))) AS lc,
    if(number = 1, NULL, toNullable(number)) AS n,
    number % 2 = 0 AS b,
    CAST(number / 4, 'SimpleAggregateFunction(min, Float64)') AS saf,
    if(number < 2, 'same', 'other') AS rep
  FROM numbers(3)`

describe('RowBinaryWithNamesAndTypes', () => {
  it('decodes what chDB writes to the values the JSON formats give', async () => {
    const binary = await queryRowBinary(store.client, { query: QUERY })
    // ClickHouse 26 writes 64-bit integers in JSON as bare numbers (JSON.parse rounds them beyond
    // 2^53), so their exact text comes from toString.
    const json = await (
      await store.client.query({
        query: `SELECT toString(u64), toString(i64), * EXCEPT (u64, i64) FROM (${QUERY})`,
        format: 'JSONCompactEachRow',
      })
    ).json<unknown[]>()
    expect(binary.names).toEqual([
      'u64',
      'i64',
      'u8',
      'i8',
      'u16',
      'i16',
      'u32',
      'i32',
      'f32',
      'f64',
      'f64_nan',
      'dt',
      'dt64',
      's',
      'lc',
      'n',
      'b',
      'saf',
      'rep',
    ])
    expect(binary.types).toContain('LowCardinality(String)')
    expect(binary.types).toContain('Nullable(UInt64)')
    const rows = rowsOf(binary)
    expect(rows).toHaveLength(3)
    // A String column makes rows variable-width: decoded row by row, numbers into Float64Arrays,
    // 64-bit integers, strings and nullable values into arrays.
    expect(binary.columns[0]).toBeInstanceOf(Array)
    expect(binary.columns[9]).toBeInstanceOf(Float64Array)
    expect(binary.columns[9]).toHaveLength(3)
    expect(binary.columns[15]).toBeInstanceOf(Array)
    rows.forEach((row, r) => {
      const expected = json[r] as unknown[]
      // 64-bit integers: exact decimal strings, as JSON quotes them.
      expect(row[0]).toBe(expected[0])
      expect(row[1]).toBe(expected[1])
      for (const i of [2, 3, 4, 5, 6, 7, 8, 9]) expect(row[i]).toBe(expected[i])
      expect(row[10]).toBeNaN()
      // Times as epoch milliseconds.
      expect(row[11]).toBe(Date.parse(`${String(expected[11]).replace(' ', 'T')}Z`))
      expect(row[12]).toBe(Date.parse(`${String(expected[12]).replace(' ', 'T')}Z`))
      expect(row[13]).toBe(expected[13])
      expect(row[14]).toBe(expected[14])
      expect(row[15]).toBe(expected[15] === null ? null : String(expected[15]))
      expect(row[16]).toBe(Number(expected[16]))
      expect(row[17]).toBe(r / 4)
      // A repeated string is reused, a new one decoded.
      expect(row[18]).toBe(expected[18])
      expect(binary.types[17]).toBe('SimpleAggregateFunction(min, Float64)')
    })
    expect(rows[0]?.[0]).toBe('18446744073709551615')
    expect(rows[2]?.[0]).toBe((18446744073709551615n - 2n * 9007199254740993n).toString())
    expect(rows[2]?.[1]).toBe('-9007199254740995')
  })

  it('reads fixed-width rows column by column into typed arrays, with the same values', async () => {
    // The shape of a rollup query: 64-bit id, time, aggregates (SimpleAggregateFunction types).
    const query = `SELECT toUInt64(18446744073709551615 - intDiv(number, 5)) AS series_id,
        toDateTime('2026-01-02 00:00:00', 'UTC') + number * 60 AS ts,
        toDateTime64('2026-01-02 00:00:00.250', 3, 'UTC') + number AS last_ts,
        number / 7 AS avg, CAST(-number / 3, 'SimpleAggregateFunction(min, Float64)') AS min,
        toUInt8(number % 256) AS u8, toInt32(-number) AS i32, toFloat32(number / 4) AS f32
      FROM numbers(1000)`
    const binary = await queryRowBinary(store.client, { query })
    expect(binary.rowCount).toBe(1000)
    expect(binary.columns[0]).toBeInstanceOf(Array)
    for (const i of [1, 2, 3, 4, 5, 6, 7]) expect(binary.columns[i]).toBeInstanceOf(Float64Array)
    const json = await (
      await store.client.query({
        query: `SELECT toString(series_id), * EXCEPT series_id FROM (${query})`,
        format: 'JSONCompactEachRow',
      })
    ).json<unknown[]>()
    const epoch = (text: unknown) => Date.parse(`${String(text).replace(' ', 'T')}Z`)
    expect(rowsOf(binary)).toEqual(
      json.map((row) => [row[0], epoch(row[1]), epoch(row[2]), row[3], row[4], row[5], row[6], row[7]]),
    )
    expect(rowsOf(binary)[999]?.[0]).toBe((18446744073709551615n - 199n).toString())
  })

  it('gives the header and no rows for an empty result, and nothing for an empty body', async () => {
    const empty = await queryRowBinary(store.client, {
      query: 'SELECT number AS n, toString(number) AS s FROM numbers(10) WHERE number > 100',
    })
    expect(empty).toEqual({ names: ['n', 's'], types: ['UInt64', 'String'], columns: [[], []], rowCount: 0 })
    expect(decodeRowBinaryWithNamesAndTypes(new Uint8Array(0))).toEqual({
      names: [],
      types: [],
      columns: [],
      rowCount: 0,
    })
  })

  it('refuses a type it does not decode, naming it, and a truncated body', async () => {
    await expect(queryRowBinary(store.client, { query: 'SELECT [1, 2] AS a' })).rejects.toThrow(
      /type Array\(UInt8\) is not supported/,
    )
    const { stream } = await store.client.exec({
      query: 'SELECT toUInt64(number) AS n FROM numbers(2) FORMAT RowBinaryWithNamesAndTypes',
    })
    const chunks: Buffer[] = []
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
    const whole = Buffer.concat(chunks)
    expect(rowsOf(decodeRowBinaryWithNamesAndTypes(whole))).toEqual([['0'], ['1']])
    expect(() => decodeRowBinaryWithNamesAndTypes(whole.subarray(0, whole.length - 3))).toThrow(/truncated/)
  })
})
