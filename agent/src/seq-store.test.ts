import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SEQ_FILE, SeqStore, SeqStoreError } from './seq-store.js'

describe('SeqStore', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidewatch-seq-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('starts at 1 and persists every number before handing it out, so a restart continues', async () => {
    const first = await SeqStore.open(join(dir, 'nested'), 'web-1')
    expect(first.peek()).toBe(1)
    expect(await first.next()).toBe(1)
    expect(await first.next()).toBe(2)
    const reopened = await SeqStore.open(join(dir, 'nested'), 'web-1')
    expect(reopened.peek()).toBe(3)
    expect(await reopened.next()).toBe(3)
    expect(JSON.parse(readFileSync(join(dir, 'nested', SEQ_FILE), 'utf8'))).toEqual({
      version: 1,
      next: { 'web-1': 4 },
    })
    // atomic write leaves no temp file behind
    expect(readdirSync(join(dir, 'nested'))).toEqual([SEQ_FILE])
  })

  it('keeps a separate sequence per agent id in the same data dir', async () => {
    const a = await SeqStore.open(dir, 'a')
    await a.next()
    await a.next()
    const b = await SeqStore.open(dir, 'b')
    expect(await b.next()).toBe(1)
    expect((await SeqStore.open(dir, 'a')).peek()).toBe(3)
  })

  it('read-only (dry run) hands out numbers without writing', async () => {
    const live = await SeqStore.open(dir, 'a')
    await live.next()
    const dry = await SeqStore.open(dir, 'a', { readOnly: true })
    expect(await dry.next()).toBe(2)
    expect(await dry.next()).toBe(3)
    expect((await SeqStore.open(dir, 'a')).peek()).toBe(2)
    const none = join(dir, 'never-created')
    expect(await (await SeqStore.open(none, 'a', { readOnly: true })).next()).toBe(1)
    expect(() => readdirSync(none)).toThrow()
  })

  it('refuses a corrupt file instead of restarting at 1 (which would reuse batch ids)', async () => {
    writeFileSync(join(dir, SEQ_FILE), '{"version":1,"next":{"a":')
    await expect(SeqStore.open(dir, 'a')).rejects.toBeInstanceOf(SeqStoreError)
    writeFileSync(join(dir, SEQ_FILE), '{"version":1,"next":{"a":-3}}')
    await expect(SeqStore.open(dir, 'a')).rejects.toThrow(/positive integer/)
  })
})
