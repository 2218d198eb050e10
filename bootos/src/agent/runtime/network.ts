// App networking. `network: none`: the app gets a network namespace of its own with one veth pair to the agent
// (a /30: the agent's side .1, the app's side .2) and no route anywhere else; the agent proxies its public port
// to <app side>:<port>. `network: host`: the app shares the host's stack and the agent proxies to 127.0.0.1.
// Why a veth pair rather than a Unix socket: docs/decisions.md.
//
// Namespaces and veths outlive a container run (created once per app per agent run), so that a start or a thaw
// never waits for `ip`. Each app takes a numbered slot (atomic mkdir under /run/bootos-net, shared by every agent
// on the machine, so concurrent agents never pick the same names or addresses); a slot whose owner process is gone
// is cleaned and reused.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { pidAlive } from '../../../../fetcher/src/core/fs.js';
import { run } from '../../../../fetcher/src/core/proc.js';


/** Slot registry shared by all agents on this machine (tmpfs: gone at reboot, like the namespaces). */
export const SLOTS_DIR = '/run/bootos-net';
const MAX_SLOTS = 16_384; // 10.213.0.0/16 in /30s

export interface AppEndpoint {
  /** Address the agent connects to. */
  host: string;
  /** Address at which the app reaches the agent (its side of the veth; 127.0.0.1 with the host's network). */
  agentHost: string;
  /** Network namespace path for the container, or null for the host's network. */
  netnsPath: string | null;
}

export interface AppNetwork extends AppEndpoint {
  close(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args, { code: 'NETWORK_SETUP', what: `ip ${args.join(' ')}` });
}

/** The owner of a slot: its pid and the pid's start time (so that a reused pid is not taken for the owner). */
async function ownerStamp(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Field 22 (starttime) counts after the command name, which is in parentheses and may hold spaces.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  return `${pid} ${start}`;
}

/** Is the slot's owner still running? An unreadable or half-written slot counts as alive (being claimed). */
async function ownerAlive(dir: string): Promise<boolean> {
  const text = (await readFile(join(dir, 'pid'), 'utf8').catch(() => '')).trim();
  const pid = Number(text.split(' ')[0]);
  if (!(pid > 0)) return true;
  if (!pidAlive(pid)) return false;
  // Written as "pid starttime": the same pid with another start time is another process.
  return !text.includes(' ') || text === (await ownerStamp(pid));
}

/** A slot's namespace, veth and directory, gone. */
async function freeSlot(slot: number): Promise<void> {
  await removeSlotNetwork(slot);
  await rm(join(SLOTS_DIR, String(slot)), { recursive: true, force: true });
}

/**
 * Frees every slot whose owner is gone: its namespace, veth and directory. Run at agent start-up, so that what a
 * killed agent left (say, the network of a version it was starting for a hot update) never lingers until some later
 * agent happens to claim the same slot number. Returns the slots freed.
 */
export async function reclaimDeadSlots(): Promise<number[]> {
  const names = await readdir(SLOTS_DIR).catch((err) => (errnoCode(err) === 'ENOENT' ? [] : Promise.reject(err)));
  const freed: number[] = [];
  for (const name of names) {
    const slot = Number(name);
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS || String(slot) !== name) continue;
    const dir = join(SLOTS_DIR, name);
    if (await ownerAlive(dir)) continue;
    await freeSlot(slot);
    freed.push(slot);
  }
  return freed;
}

export function slotNames(slot: number): { netns: string; hostIf: string; hostIp: string; appIp: string } {
  const base = (slot & 63) << 2;
  const net = `10.213.${slot >> 6}`;
  return { netns: `bootos-${slot}`, hostIf: `bt${slot}`, hostIp: `${net}.${base + 1}`, appIp: `${net}.${base + 2}` };
}

async function removeSlotNetwork(slot: number): Promise<void> {
  const { netns, hostIf } = slotNames(slot);
  await ip(['netns', 'del', netns]).catch(() => {});
  await ip(['link', 'del', hostIf]).catch(() => {});
}

async function claimSlot(owner: string): Promise<number> {
  await mkdir(SLOTS_DIR, { recursive: true, mode: 0o700 });
  for (let slot = 0; slot < MAX_SLOTS; slot++) {
    const dir = join(SLOTS_DIR, String(slot));
    try {
      await mkdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      // Taken: reclaim it only if its owner is gone (a crashed or killed agent).
      if (await ownerAlive(dir)) continue;
      await freeSlot(slot);
      try {
        await mkdir(dir);
      } catch {
        continue;
      }
    }
    await writeFile(join(dir, 'pid'), `${await ownerStamp(process.pid)}\n`);
    await writeFile(join(dir, 'owner'), `${owner}\n`);
    return slot;
  }
  throw new BootosError('NETWORK_SETUP', `all ${MAX_SLOTS} app network slots are taken`);
}

/** A network namespace with a veth pair to the host, for an app with `network: none`. */
export async function createIsolatedNetwork(owner: string): Promise<AppNetwork> {
  const slot = await claimSlot(owner);
  const { netns, hostIf, hostIp, appIp } = slotNames(slot);
  const release = () => freeSlot(slot);
  try {
    await removeSlotNetwork(slot);
    await ip(['netns', 'add', netns]);
    await ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await ip(['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    await ip(['link', 'set', hostIf, 'up']);
    await ip(['-n', netns, 'addr', 'add', `${appIp}/30`, 'dev', 'eth0']);
    await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await release();
    throw err;
  }
  return { host: appIp, agentHost: hostIp, netnsPath: `/run/netns/${netns}`, close: release };
}

export function hostNetwork(): AppNetwork {
  return { host: '127.0.0.1', agentHost: '127.0.0.1', netnsPath: null, close: async () => {} };
}
