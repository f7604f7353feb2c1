import { readdir, readFile, statfs } from 'node:fs/promises'
import type { AgentConfig, Clock, Logger } from '@tidewatch/shared'
import type { Accumulator, Input, InputDeps, InputFactory } from '../types.js'

export type DiskConfig = AgentConfig['inputs']['disk']

export interface Mount {
  device: string
  mountpoint: string
  fstype: string
}

/** The fields of statfs(2) this input reads (what `fs.statfs` returns). */
export interface FsUsage {
  bsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
}

export interface DiskStats {
  device: string
  reads: number
  readSectors: number
  writes: number
  writeSectors: number
  ioTimeMs: number
}

/** Fields of /proc/self/mounts escape space, tab, newline and backslash as octal (`\040`). */
function unescapeMountField(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** /proc/self/mounts (fstab format). A mount point mounted over keeps only its last (visible) entry. */
export function parseMounts(text: string): Mount[] {
  const byMountpoint = new Map<string, Mount>()
  for (const line of text.split('\n')) {
    const [device, mountpoint, fstype] = line.trim().split(/\s+/)
    if (device === undefined || mountpoint === undefined || fstype === undefined) continue
    const mount = { device: unescapeMountField(device), mountpoint: unescapeMountField(mountpoint), fstype }
    byMountpoint.delete(mount.mountpoint)
    byMountpoint.set(mount.mountpoint, mount)
  }
  return [...byMountpoint.values()]
}

/** Sectors in /proc/diskstats are always 512 bytes, whatever the device's sector size. */
export const DISKSTATS_SECTOR_BYTES = 512

export function parseDiskstats(text: string): DiskStats[] {
  const result: DiskStats[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 14) continue
    const n = (i: number): number => Number(f[i])
    result.push({
      device: f[2] as string,
      reads: n(3),
      readSectors: n(5),
      writes: n(7),
      writeSectors: n(9),
      ioTimeMs: n(12),
    })
  }
  return result
}

/** Whole disks are the entries of /sys/block; loop, ram, zram and floppy devices are left out. */
export const VIRTUAL_BLOCK_DEVICE = /^(loop|ram|zram|fd)\d+$/

/** df's figures: used = blocks - bfree; free = bavail (what an unprivileged user may still write). */
export function usageFigures(u: FsUsage): {
  total: number
  used: number
  free: number
  usedPercent: number
  inodesCapacity: number
  inodesUsed: number
  inodesFree: number
} {
  const used = (u.blocks - u.bfree) * u.bsize
  const free = u.bavail * u.bsize
  return {
    total: u.blocks * u.bsize,
    used,
    free,
    usedPercent: used + free > 0 ? (used / (used + free)) * 100 : 0,
    inodesCapacity: u.files,
    inodesUsed: u.files - u.ffree,
    inodesFree: u.ffree,
  }
}

export interface DiskPaths {
  mounts: string
  diskstats: string
  sysBlock: string
}

export interface DiskInputOptions {
  paths?: Partial<DiskPaths>
  statfs?: (path: string) => Promise<FsUsage>
}

/**
 * Per mount point: disk.total_bytes, disk.used_bytes, disk.free_bytes, disk.used_percent,
 * disk.inodes_capacity, disk.inodes_used, disk.inodes_free. Per whole block device (counters):
 * diskio.read_bytes_total, diskio.write_bytes_total, diskio.reads_total, diskio.writes_total,
 * diskio.io_time_seconds_total. Reads /proc and /sys directly and calls statfs once per mount.
 */
export class DiskInput implements Input {
  readonly name = 'disk'
  private readonly paths: DiskPaths
  private readonly statfs: (path: string) => Promise<FsUsage>
  private readonly clock: Clock
  private readonly log: Logger
  private readonly ignoreFs: Set<string>
  /**
   * statfs of a hung network mount blocks a libuv pool thread until the server answers; a mount whose
   * previous statfs is still pending is skipped, so one dead mount holds at most one thread.
   */
  private readonly pending = new Set<string>()

  constructor(
    private readonly config: DiskConfig,
    deps: InputDeps,
    options: DiskInputOptions = {},
  ) {
    this.paths = {
      mounts: '/proc/self/mounts',
      diskstats: '/proc/diskstats',
      sysBlock: '/sys/block',
      ...options.paths,
    }
    this.statfs = options.statfs ?? ((path) => statfs(path))
    this.clock = deps.clock
    this.log = deps.logger.child({ input: 'disk' })
    this.ignoreFs = new Set(config.ignore_fs)
  }

  async init(): Promise<void> {
    if (process.platform !== 'linux') throw new Error('the disk input reads /proc and runs on Linux only')
  }

  async gather(accumulator: Accumulator): Promise<void> {
    const timestampMs = this.clock.now()
    const [mounts, ioError] = await Promise.all([this.mounts(), this.gatherIo(accumulator, timestampMs)])
    await Promise.all(mounts.map((mount) => this.gatherMount(mount, accumulator, timestampMs)))
    if (ioError !== undefined) throw ioError
  }

  /** The mounts to report, in /proc/self/mounts order. */
  async mounts(): Promise<Mount[]> {
    const all = parseMounts(await readFile(this.paths.mounts, 'utf8'))
    if (this.config.mount_points.length > 0) {
      const wanted = new Set(this.config.mount_points)
      return all.filter((m) => wanted.has(m.mountpoint))
    }
    return all.filter((m) => !this.ignoreFs.has(m.fstype))
  }

  /** The block devices to report. */
  async devices(): Promise<Set<string>> {
    if (this.config.devices.length > 0) return new Set(this.config.devices)
    const names = await readdir(this.paths.sysBlock)
    return new Set(names.filter((name) => !VIRTUAL_BLOCK_DEVICE.test(name)))
  }

  private async gatherMount(mount: Mount, accumulator: Accumulator, timestampMs: number): Promise<void> {
    if (this.pending.has(mount.mountpoint)) {
      this.log.warn(
        { mountpoint: mount.mountpoint },
        'statfs of this mount still pending from an earlier round; skipped',
      )
      return
    }
    this.pending.add(mount.mountpoint)
    let usage: FsUsage
    try {
      usage = await this.statfs(mount.mountpoint)
    } catch (error) {
      // A mount can vanish between reading the table and statfs, or deny access (EACCES): skip it.
      this.log.debug({ err: error, mountpoint: mount.mountpoint }, 'statfs failed; mount skipped')
      return
    } finally {
      this.pending.delete(mount.mountpoint)
    }
    if (usage.blocks <= 0) return
    const f = usageFigures(usage)
    const labels = { mountpoint: mount.mountpoint, device: mount.device, fstype: mount.fstype }
    accumulator.add('disk.total_bytes', labels, f.total, timestampMs)
    accumulator.add('disk.used_bytes', labels, f.used, timestampMs)
    accumulator.add('disk.free_bytes', labels, f.free, timestampMs)
    accumulator.add('disk.used_percent', labels, f.usedPercent, timestampMs)
    if (f.inodesCapacity > 0) {
      accumulator.add('disk.inodes_capacity', labels, f.inodesCapacity, timestampMs)
      accumulator.add('disk.inodes_used', labels, f.inodesUsed, timestampMs)
      accumulator.add('disk.inodes_free', labels, f.inodesFree, timestampMs)
    }
  }

  /** Resolves to the error instead of rejecting, so space figures are still sent when diskstats fails. */
  private async gatherIo(accumulator: Accumulator, timestampMs: number): Promise<Error | undefined> {
    try {
      const [text, devices] = await Promise.all([readFile(this.paths.diskstats, 'utf8'), this.devices()])
      for (const s of parseDiskstats(text)) {
        if (!devices.has(s.device)) continue
        const labels = { device: s.device }
        accumulator.add(
          'diskio.read_bytes_total',
          labels,
          s.readSectors * DISKSTATS_SECTOR_BYTES,
          timestampMs,
        )
        accumulator.add(
          'diskio.write_bytes_total',
          labels,
          s.writeSectors * DISKSTATS_SECTOR_BYTES,
          timestampMs,
        )
        accumulator.add('diskio.reads_total', labels, s.reads, timestampMs)
        accumulator.add('diskio.writes_total', labels, s.writes, timestampMs)
        accumulator.add('diskio.io_time_seconds_total', labels, s.ioTimeMs / 1000, timestampMs)
      }
      return undefined
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error))
    }
  }
}

export const diskInput: InputFactory<'disk'> = {
  name: 'disk',
  create: (config, deps) => new DiskInput(config, deps),
}
