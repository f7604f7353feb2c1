import { readFileSync, statfsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { agentConfigSchema } from '@tidewatch/shared'
import { recorder, testDeps } from '../testing.js'
import { DiskInput, parseDiskstats, parseMounts, usageFigures } from './index.js'

const defaults = agentConfigSchema.parse({}).inputs.disk

describe('disk input: parsing', () => {
  it('parses mounts, unescaping octal and keeping the last mount of a mount point', () => {
    const mounts = parseMounts(
      '/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n/dev/sdc1 / xfs rw 0 0\n',
    )
    expect(mounts).toEqual([
      { device: '/dev/sdb1', mountpoint: '/mnt/my disk', fstype: 'xfs' },
      { device: '/dev/sdc1', mountpoint: '/', fstype: 'xfs' },
    ])
  })

  it('parses /proc/diskstats; sectors are 512 bytes', () => {
    const [vda] = parseDiskstats(
      ' 254       0 vda 89307 23810 5201138 57862 13771 36872 4656792 15652 0 8804 74592 9560 12 895568 1033 1148 44\n',
    )
    expect(vda).toEqual({
      device: 'vda',
      reads: 89307,
      readSectors: 5201138,
      writes: 13771,
      writeSectors: 4656792,
      ioTimeMs: 8804,
    })
  })

  it('computes df figures', () => {
    const f = usageFigures({ bsize: 4096, blocks: 100, bfree: 30, bavail: 20, files: 50, ffree: 10 })
    expect(f).toEqual({
      total: 409600,
      used: 70 * 4096,
      free: 20 * 4096,
      usedPercent: (70 / 90) * 100,
      inodesCapacity: 50,
      inodesUsed: 40,
      inodesFree: 10,
    })
  })
})

describe('disk input on this machine', () => {
  it('reports space of "/" matching statfs and counters of whole disks from /proc/diskstats', async () => {
    const input = new DiskInput(defaults, testDeps)
    await input.init()
    const { acc, samples } = recorder()
    await input.gather(acc)
    const mounts = await input.mounts()
    expect(mounts.some((m) => ['proc', 'sysfs', 'cgroup', 'tmpfs', 'devpts'].includes(m.fstype))).toBe(false)
    const root = mounts.find((m) => m.mountpoint === '/')
    expect(root).toBeDefined()
    const rootSamples = samples.filter((s) => s.labels.mountpoint === '/')
    expect(rootSamples.map((s) => s.name)).toEqual([
      'disk.total_bytes',
      'disk.used_bytes',
      'disk.free_bytes',
      'disk.used_percent',
      'disk.inodes_capacity',
      'disk.inodes_used',
      'disk.inodes_free',
    ])
    expect(rootSamples[0]?.labels).toEqual({ mountpoint: '/', device: root!.device, fstype: root!.fstype })
    const st = statfsSync('/')
    const v = Object.fromEntries(rootSamples.map((s) => [s.name, s.value]))
    expect(v['disk.total_bytes']).toBe(st.blocks * st.bsize)
    expect(Math.abs(v['disk.free_bytes']! - st.bavail * st.bsize)).toBeLessThan(256 * 1024 * 1024)
    expect(v['disk.used_percent']).toBeGreaterThan(0)
    expect(v['disk.used_percent']).toBeLessThan(100)

    const devices = await input.devices()
    const stats = parseDiskstats(readFileSync('/proc/diskstats', 'utf8')).filter((d) => devices.has(d.device))
    expect(stats.length).toBeGreaterThan(0)
    expect([...devices].some((d) => /^(loop|ram|zram)\d+$/.test(d))).toBe(false)
    for (const d of stats) {
      const io = samples.filter((s) => s.labels.device === d.device && s.name.startsWith('diskio.'))
      expect(io.map((s) => s.name)).toEqual([
        'diskio.read_bytes_total',
        'diskio.write_bytes_total',
        'diskio.reads_total',
        'diskio.writes_total',
        'diskio.io_time_seconds_total',
      ])
      expect(io[0]!.value).toBeGreaterThanOrEqual(d.readSectors * 512)
      expect(io[2]!.value).toBeGreaterThanOrEqual(d.reads)
    }
    expect(samples.some((s) => s.labels.device?.startsWith('loop') && s.name.startsWith('diskio.'))).toBe(
      false,
    )
  })

  it('reports only the configured mount points and devices', async () => {
    const input = new DiskInput({ ...defaults, mount_points: ['/'], devices: ['no-such-disk'] }, testDeps)
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(new Set(samples.map((s) => s.labels.mountpoint))).toEqual(new Set(['/']))
    expect(samples.some((s) => s.name.startsWith('diskio.'))).toBe(false)
  })

  it('skips a mount whose statfs is still pending from an earlier round (a hung network mount)', async () => {
    let calls = 0
    let firstCall: () => void = () => undefined
    const firstCalled = new Promise<void>((resolve) => (firstCall = resolve))
    const input = new DiskInput({ ...defaults, mount_points: ['/'] }, testDeps, {
      statfs: () => {
        calls++
        firstCall()
        return new Promise(() => undefined)
      },
    })
    void input.gather(recorder().acc)
    await firstCalled
    const { acc, samples } = recorder()
    await input.gather(acc)
    expect(calls).toBe(1)
    expect(samples.filter((s) => s.name.startsWith('disk.'))).toEqual([])
  })
})
