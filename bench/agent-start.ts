// npm run bench:agent-start — how long the agent takes from spawn to its ready line on this host, for the device
// bundle (dist/agent.mjs) against the CLI bundle (dist/bootos.mjs agent), alternating, with bootos debug timing.
//   AGENT_START_ROUNDS (20), AGENT_START_NODE (this node; e.g. the image's Node 22 from ~/.cache/bootos/node/),
//   AGENT_START_VARIANTS ("name=path/to/bundle.mjs [args],…": more bundles to compare, e.g. builds without a plugin).
// The registry does not answer (the channel keeps retrying); the agent is killed after its ready line. Prints the
// median and minimum spawn → ready and the median of each `bootos: t+…ms` mark. docs/decisions.md keeps figures.
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { makeRegistry, REPO, tempDir } from '../tests/support/registry.js';

const NODE = process.env.AGENT_START_NODE ?? process.execPath;
const ROUNDS = Number(process.env.AGENT_START_ROUNDS ?? 20);
const variants: Array<[string, string[]]> = [
  ['agent.mjs', [join(REPO, 'dist', 'agent.mjs')]],
  ['bootos.mjs agent', [join(REPO, 'dist', 'bootos.mjs'), 'agent']],
];
for (const v of (process.env.AGENT_START_VARIANTS ?? '').split(',').filter(Boolean)) {
  const [name, command] = v.split('=') as [string, string];
  const [file, ...args] = command.split(' ');
  variants.push([name, [resolve(file!), ...args]]);
}

const registry = await makeRegistry();
const base = await tempDir('bootos-agent-start-');
await writeFile(join(base, 'root.json'), registry.rootBytes);

async function startOnce(args: string[], round: number): Promise<{ ms: number; marks: Map<string, number> }> {
  const dir = join(base, String(round));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  const config = {
    registry: 'http://127.0.0.1:9/', root: join(base, 'root.json'), dataRoot: 'var', runDir: 'run', apiHost: '127.0.0.1',
    apiPort: 0, appHost: '127.0.0.1', kioskDir: join(REPO, 'dist', 'kiosk'), debug: true,
  };
  await writeFile(join(dir, 'agent.json'), JSON.stringify(config));
  const started = performance.now();
  const child = spawn(NODE, [...args, '--config', join(dir, 'agent.json')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const ms = await new Promise<number>((done, fail) => {
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('bootos-agent: ready')) done(performance.now() - started);
    });
    child.once('exit', () => fail(new Error(`the agent exited before its ready line:\n${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, 20)); // the marks after the ready line
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const marks = new Map<string, number>();
  for (const m of stderr.matchAll(/^bootos: t\+(\d+)ms (node \w+|[a-z ]+?)(?: at uptime| \(|$)/gm)) marks.set(m[2]!, Number(m[1]));
  return { ms, marks };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, { ms: number[]; marks: Map<string, number[]> }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, args] of variants) {
    const { ms, marks } = await startOnce(args, round);
    const r = results.get(name) ?? { ms: [] as number[], marks: new Map<string, number[]>() };
    results.set(name, r);
    r.ms.push(ms);
    for (const [label, at] of marks) r.marks.set(label, [...(r.marks.get(label) ?? []), at]);
  }
}
console.log(`${NODE}, ${ROUNDS} rounds, ms`);
for (const [name, r] of results) {
  const marks = [...r.marks].filter(([l]) => !/process start|nodeStart|v8Start|environment/.test(l)).map(([l, v]) => `${l.replace('node ', '')} ${median(v)}`);
  console.log(`${name.padEnd(18)} spawn→ready median ${median(r.ms).toFixed(0).padStart(4)} min ${Math.min(...r.ms).toFixed(0).padStart(4)} | ${marks.join(', ')}`);
}
await rm(base, { recursive: true, force: true });
await registry.cleanup();
