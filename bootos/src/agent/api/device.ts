// GET /api/device: what the device is, from systeminformation (CPU, memory, disks, network interfaces, uptime).
// Each part is asked separately and may fail alone (a tiny OS lacks some of the tools systeminformation can use).
// systeminformation is large and only this request needs it: it is imported on the first request, not at start-up
// (in the device bundle it is a chunk of its own in agent-chunks/).
import { hostname } from 'node:os';

export const BOOTOS_VERSION = '0.1.0';

export interface DeviceInfo {
  hostname: string;
  arch: string;
  uptimeSeconds: number;
  cpu: { brand: string; cores: number };
  memory: { totalBytes: number; availableBytes: number };
  disks: { mount: string; sizeBytes: number; usedBytes: number }[];
  network: { iface: string; ip4: string; mac: string }[];
  bootos: { version: string };
}

async function part<T>(read: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await read();
  } catch {
    return fallback;
  }
}

export async function deviceInfo(arch: string): Promise<DeviceInfo> {
  const { default: si } = await import('systeminformation');
  const [cpu, mem, disks, ifaces] = await Promise.all([
    part(() => si.cpu(), null),
    part(() => si.mem(), null),
    part(() => si.fsSize(), []),
    part(() => si.networkInterfaces(), []),
  ]);
  const list = Array.isArray(ifaces) ? ifaces : [ifaces];
  return {
    hostname: hostname(),
    arch,
    uptimeSeconds: Math.round(si.time().uptime),
    cpu: { brand: cpu ? `${cpu.manufacturer} ${cpu.brand}`.trim() : 'unknown', cores: cpu?.cores ?? 0 },
    memory: { totalBytes: mem?.total ?? 0, availableBytes: mem?.available ?? 0 },
    disks: disks.map((d) => ({ mount: d.mount, sizeBytes: d.size, usedBytes: d.used })),
    network: list
      // The agent's own veths to its apps are not the device's network.
      .filter((n) => !n.internal && !/^bt\d+$/.test(n.iface))
      .map((n) => ({ iface: n.iface, ip4: n.ip4, mac: n.mac })),
    bootos: { version: BOOTOS_VERSION },
  };
}
