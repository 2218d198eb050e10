// GET /api/device: what the device is. It answers in a few milliseconds: what does not change (the processor) is read
// once, the rest comes from a handful of small reads of /proc and /sys and one statfs, each of which may fail alone
// (an absent file gives `unknown`, 0 or []). It used to ask systeminformation, which spawned programs and parsed
// their output: 3.8–4.5 s per request on a QEMU guest, 0.2–0.7 s on the host (docs/decisions.md).
import type { StatsFs } from 'node:fs';
import { readdir, readFile, statfs } from 'node:fs/promises';
import { cpus, hostname, networkInterfaces, totalmem, freemem, uptime } from 'node:os';
import { dirname, join } from 'node:path';

export const BOOTOS_VERSION = '0.1.0';

export interface DeviceInfo {
  hostname: string;
  arch: string;
  uptimeSeconds: number;
  cpu: { brand: string; cores: number };
  memory: { totalBytes: number; availableBytes: number };
  /** The data root: the filesystem that holds the apps' /data and the store (one entry per distinct filesystem). */
  disks: { mount: string; sizeBytes: number; usedBytes: number }[];
  network: { iface: string; ip4: string; mac: string }[];
  bootos: { version: string };
}

export interface DeviceOptions {
  arch: string;
  /** Folders whose filesystems are the device's storage, in order: apps' /data first, then the store. */
  storage: string[];
  /** Where /proc and /sys are (tests point them at fixtures). */
  procDir?: string;
  sysDir?: string;
}

async function part<T>(read: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await read();
  } catch {
    return fallback;
  }
}

/** Reads the device; build it once (at the agent's start), call `read()` per request. */
export class DeviceReader {
  private readonly cpu: { brand: string; cores: number };
  private readonly proc: string;
  private readonly sys: string;

  constructor(private readonly options: DeviceOptions) {
    this.proc = options.procDir ?? '/proc';
    this.sys = options.sysDir ?? '/sys';
    // The processor does not change while the agent runs. (Node reads /proc/cpuinfo and /sys for it.)
    let list: ReturnType<typeof cpus> = [];
    try {
      list = cpus();
    } catch {
      // no /proc/cpuinfo: unknown
    }
    this.cpu = { brand: list[0]?.model.trim() || 'unknown', cores: list.length };
  }

  async read(): Promise<DeviceInfo> {
    const [memory, disks, network] = await Promise.all([
      part(() => this.memory(), { totalBytes: totalmem(), availableBytes: freemem() }),
      part(() => this.disks(), []),
      part(() => this.network(), []),
    ]);
    return {
      hostname: hostname(),
      arch: this.options.arch,
      uptimeSeconds: Math.round(uptime()),
      cpu: { ...this.cpu },
      memory,
      disks,
      network,
      bootos: { version: BOOTOS_VERSION },
    };
  }

  /** MemTotal and MemAvailable of /proc/meminfo (what the kernel could give without swapping), in bytes. */
  private async memory(): Promise<DeviceInfo['memory']> {
    const text = await readFile(join(this.proc, 'meminfo'), 'utf8');
    const kib = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
      return m ? Number(m[1]) * 1024 : null;
    };
    return { totalBytes: kib('MemTotal') ?? totalmem(), availableBytes: kib('MemAvailable') ?? freemem() };
  }

  /**
   * statfs of each storage folder (or its nearest existing parent, before the agent created it); folders on one
   * filesystem (same size and free blocks) are listed once, under the first one's path.
   */
  private async disks(): Promise<DeviceInfo['disks']> {
    const out: (DeviceInfo['disks'][number] & { key: string })[] = [];
    for (const folder of this.options.storage) {
      const fs = await part(() => statfsNearest(folder), null);
      if (!fs) continue;
      const key = `${fs.type}:${fs.blocks}:${fs.bsize}:${fs.files}`;
      if (out.some((d) => d.key === key)) continue;
      out.push({ key, mount: folder, sizeBytes: fs.blocks * fs.bsize, usedBytes: (fs.blocks - fs.bfree) * fs.bsize });
    }
    return out.map(({ key: _key, ...disk }) => disk);
  }

  /**
   * Every interface of /sys/class/net but loopback and the agent's own links to its apps (`bt*`), with its MAC
   * and its first IPv4 address (empty before DHCP has given one).
   */
  private async network(): Promise<DeviceInfo['network']> {
    const addresses = networkInterfaces();
    const names = await readdir(join(this.sys, 'class', 'net'));
    const out: DeviceInfo['network'] = [];
    for (const iface of names.sort()) {
      if (iface === 'lo' || /^bt\d+$/.test(iface)) continue;
      const mac = (await part(() => readFile(join(this.sys, 'class', 'net', iface, 'address'), 'utf8'), '')).trim();
      const ip4 = addresses[iface]?.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? '';
      out.push({ iface, ip4, mac });
    }
    return out;
  }
}

async function statfsNearest(folder: string): Promise<StatsFs> {
  for (let dir = folder; ; dir = dirname(dir)) {
    try {
      return await statfs(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err;
    }
  }
}
