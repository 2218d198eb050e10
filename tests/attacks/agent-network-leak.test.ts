// Proves: what a killed agent leaves of its app networks (slot, namespace bootos-N, veth btN — for example the network
// of a version it was starting for a hot update when it got kill -9) is reclaimed when the next agent starts, not
// only when some agent later happens to claim the same slot number. A slot whose pid was reused by another process
// is still the dead owner's (the slot records the pid's start time).
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SLOTS_DIR, slotNames } from '../../bootos/src/agent/runtime/network.js';
import { agentEnv } from '../support/agent.js';
import { makeImageDir, REPO } from '../support/registry.js';

const execFileP = promisify(execFile);

/** A process that takes an isolated network slot as the agent does, then dies by SIGKILL: returns the slot. */
async function leakSlot(owner: string): Promise<number> {
  const script = `
    const { createIsolatedNetwork } = await import(${JSON.stringify(join(REPO, 'bootos/src/agent/runtime/network.ts'))});
    await createIsolatedNetwork(${JSON.stringify(owner)});
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit', cwd: REPO });
  await new Promise((r) => child.once('exit', r));
  for (const name of await readdir(SLOTS_DIR)) {
    if ((await readFile(join(SLOTS_DIR, name, 'owner'), 'utf8').catch(() => '')).trim() === owner) return Number(name);
  }
  throw new Error('the leaking process claimed no slot');
}

async function netnsList(): Promise<string> {
  return (await execFileP('ip', ['netns', 'list'])).stdout;
}

test('a killed agent’s app network is reclaimed when the next agent starts', async (t) => {
  const owner = `leak-${process.pid}`;
  const slot = await leakSlot(owner);
  const { netns, hostIf } = slotNames(slot);
  t.regex(await netnsList(), new RegExp(`^${netns}\\b`, 'm'), 'the killed process left its namespace behind');
  // An app on the host's network: the new agent claims no slot itself, so only a reclaim at start-up frees it.
  const image = await makeImageDir({ 'server.js': '' }, 'name: hostnet\nversion: 1.0.0\nruntime: node\nentrypoint: [node, /app/server.js]\nnetwork: host\nports:\n  - port: 18197\n');
  const env = await agentEnv({ images: [image] });
  try {
    t.notRegex(await netnsList(), new RegExp(`^${netns}\\b`, 'm'), 'the namespace is gone');
    const links = (await execFileP('ip', ['-o', 'link', 'show'])).stdout;
    t.false(links.includes(`${hostIf}@`) || links.includes(`${hostIf}:`), 'the veth is gone');
    t.false((await readdir(SLOTS_DIR)).includes(String(slot)), 'the slot is free');
  } finally {
    await env.teardown();
    await rm(image, { recursive: true, force: true });
  }
});
