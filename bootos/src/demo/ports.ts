// Which host ports the demo forwards to the guest. The guest listens on the same port numbers as the host (the
// agent's `bootos.port_map` moves an image's public port where the host has room), so the port in /api/apps, the
// kiosk's links, the printed URLs and the forward are one number: what a person opens is what the kiosk links to.
// The kiosk's own port is the exception: the guest's API stays on 8080 and the host port is forwarded to it (the
// kiosk asks its API on the page's own origin, whatever the port).
import { BootosError } from '../../../fetcher/src/core/error.js';

/** The guest's API/kiosk port (qemu/src/guest.ts GUEST_API_PORT): no app may be mapped onto it. */
const GUEST_API_PORT = 8080;

export interface PortPlan {
  /** Host port of the kiosk (forwarded to the guest's 8080). */
  apiPort: number;
  /** Each public port of the images → the port it is opened at, on the host and in the guest alike. */
  apps: Array<{ publicPort: number; port: number }>;
  /** Lines for the person: which port went where, and why. */
  notes: string[];
}

export interface PortRequest {
  /** `--ports BASE`: the kiosk on BASE, the apps on BASE+1, BASE+2, … in the order of their public ports. */
  base?: number;
  /** `--api-port`: the kiosk's host port (default 8080). */
  apiPort?: number;
}

/**
 * Without `base`: every port where it is (8080, 8081, …) unless the host has it taken, then a free one. With `base`:
 * exactly the ports asked for, and an error when one is taken (the person chose them). `free(p)` returns p when the
 * host has it free, else some free port (qemu/src/guest.ts freePort).
 */
export async function planPorts(publicPorts: number[], request: PortRequest, free: (preferred: number) => Promise<number>): Promise<PortPlan> {
  const sorted = [...new Set(publicPorts)].sort((a, b) => a - b);
  const notes: string[] = [];
  if (request.base !== undefined) {
    const base = request.base;
    if (base + sorted.length > 65535) throw new BootosError('USAGE', `--ports ${base}: the ${sorted.length} app port(s) after it go past 65535; choose a lower base`);
    const wanted = [base, ...sorted.map((_, i) => base + 1 + i)];
    if (wanted.slice(1).includes(GUEST_API_PORT)) {
      throw new BootosError('USAGE', `--ports ${base} would open an app on ${GUEST_API_PORT}, the guest's kiosk port; choose a base below ${GUEST_API_PORT - sorted.length} or from ${GUEST_API_PORT} up`);
    }
    for (const port of wanted) {
      if ((await free(port)) !== port) throw new BootosError('PORT_IN_USE', `--ports ${base}: host port ${port} is in use by another program; choose another base (or leave --ports out to take free ones)`);
    }
    const apps = sorted.map((publicPort, i) => ({ publicPort, port: base + 1 + i }));
    notes.push(`ports: the kiosk on ${base}, ${apps.map((a) => `${a.publicPort} on ${a.port}`).join(', ')} (--ports ${base})`);
    return { apiPort: base, apps, notes };
  }
  const preferredApi = request.apiPort ?? GUEST_API_PORT;
  const apiPort = await free(preferredApi);
  if (apiPort !== preferredApi) notes.push(`ports: host port ${preferredApi} is taken: the kiosk is on ${apiPort}`);
  // A port the guest would open anyway (another image's public port, the API) must not be taken for a moved one.
  const taken = new Set<number>([apiPort, GUEST_API_PORT, ...sorted]);
  const apps: PortPlan['apps'] = [];
  for (const publicPort of sorted) {
    let port = await free(publicPort);
    for (let tries = 0; port !== publicPort && taken.has(port); tries++) {
      if (tries >= 10) throw new BootosError('PORT_IN_USE', `no free host port found for the apps' port ${publicPort}`);
      port = await free(0);
    }
    taken.add(port);
    if (port !== publicPort) notes.push(`ports: host port ${publicPort} is taken: that app is on ${port} (the guest opens it there too)`);
    apps.push({ publicPort, port });
  }
  return { apiPort, apps, notes };
}

/** The agent's kernel argument for the moved ports (none when every port stayed where it is). */
export function portMapArg(plan: PortPlan): string[] {
  const moved = plan.apps.filter((a) => a.port !== a.publicPort);
  return moved.length ? [`bootos.port_map=${moved.map((a) => `${a.publicPort}:${a.port}`).join(',')}`] : [];
}

/** `--ports 9080` → 9080; anything else is a usage error naming the option. */
export function parsePortsOption(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new BootosError('USAGE', `--ports must be a port number (the kiosk's; the apps get the ones after it), got ${text}`);
  }
  return Number(text);
}
