// npm run bench:update — what clients see while a running app is hot-updated, against the same load without an
// update, measured in this script (real agent, real runc, real registry server on loopback; run as root):
//   switch gap     time from the last answer of the old version to the first answer of the new one
//                  (negative: both answered at once for that long: no gap at all)
//   latency        per request (a new connection each, 200 requests a second, open loop), in the ±500 ms around the
//                  switch, against the same load on the running app with no update (the baseline)
// For the hand-over modes `signal` (new version beside the old) and `exclusive` (old stopped first: connections
// wait). UPDATE_ROUNDS updates per mode (default 3); medians over rounds. docs/performance.md (## Update) keeps the
// figures.
import { rm } from 'node:fs/promises';
import { agentEnv } from '../tests/support/agent.js';
import { steadyLoad, switchStory, updImage, type Answer } from '../tests/support/update.js';

const ROUNDS = Number(process.env.UPDATE_ROUNDS ?? 3);
const RATE = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * q))]! : NaN;
};
const median = (xs: number[]) => quantile(xs, 0.5);
const lat = (answers: Answer[]) => answers.filter((a) => a.error === null).map((a) => a.end - a.start);

interface Row {
  mode: string;
  gap: number[];
  p50: number[];
  p99: number[];
  max: number[];
  failed: number;
  requests: number;
  update: number[];
}

const rows: Row[] = [];
const baselineLatencies: number[] = [];

for (const mode of ['signal', 'exclusive'] as const) {
  const dirs: string[] = [await updImage('1.0.0', { handover: mode, publicPort: 18395 })];
  const env = await agentEnv({ images: dirs, limits: { channelPollIntervalMs: 0, updateGraceMs: 300 } });
  const port = env.agent.apps.get('upd')!.publicPorts.get('http')!;
  if (process.env.BENCH_DEBUG) {
    const t0 = performance.now();
    env.agent.onStep((app, message) => process.stderr.write(`${(performance.now() - t0).toFixed(1)} ${app}: ${message}\n`));
  }
  await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  const row: Row = { mode, gap: [], p50: [], p99: [], max: [], failed: 0, requests: 0, update: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const from = `${round + 1}.0.0`;
    const to = `${round + 2}.0.0`;
    const dir = await updImage(to, { handover: mode, publicPort: 18395 });
    dirs.push(dir);
    const load = steadyLoad(port, { ratePerSecond: RATE, maxRequests: RATE * 10 });
    await sleep(1000);
    // The baseline: the same load, same run, same moment, before the update begins (first 200 ms skipped: warm-up).
    baselineLatencies.push(...lat(load.answers.filter((a) => a.start >= 200 && a.start < 1000)));
    await env.registry.publish(dir);
    await env.registry.sign();
    const t = performance.now();
    await env.agent.checkChannel();
    row.update.push(performance.now() - t);
    await sleep(800);
    const answers = await load.stop();
    const story = switchStory(answers, from, to);
    if (story.firstNew === null || story.lastOld === null) throw new Error(`round ${round}: no switch seen (${story.versions})`);
    row.gap.push(story.firstNew - story.lastOld);
    const around = answers.filter((a) => Math.abs(a.start - story.firstNew!) <= 500);
    const l = lat(around);
    row.p50.push(quantile(l, 0.5));
    row.p99.push(quantile(l, 0.99));
    row.max.push(Math.max(...l));
    row.failed += story.failed.length;
    row.requests += answers.length;
    process.stderr.write(`${mode} ${from} → ${to}: gap ${(story.firstNew - story.lastOld).toFixed(1)} ms, p99 around the switch ${quantile(l, 0.99).toFixed(1)} ms\n`);
  }
  rows.push(row);
  await env.teardown();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

const f = (n: number) => n.toFixed(1);
const baseline = { p50: quantile(baselineLatencies, 0.5), p99: quantile(baselineLatencies, 0.99), max: Math.max(...baselineLatencies), requests: baselineLatencies.length };
console.log(`\nHot update under ${RATE} req/s (new connection per request), ${ROUNDS} update(s) per mode; medians over updates\n`);
console.log('| scenario | switch gap ms | p50 ms | p99 ms | max ms | failed | update takes ms |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(`| no update (baseline: the same load before each update, ${baseline.requests} requests) | — | ${f(baseline.p50)} | ${f(baseline.p99)} | ${f(baseline.max)} | 0 | — |`);
for (const r of rows) {
  console.log(
    `| update, hand-over ${r.mode} (±500 ms around the switch) | ${f(median(r.gap))} | ${f(median(r.p50))} (+${f(median(r.p50) - baseline.p50)}) | ` +
      `${f(median(r.p99))} (+${f(median(r.p99) - baseline.p99)}) | ${f(median(r.max))} | ${r.failed} of ${r.requests} | ${f(median(r.update))} |`,
  );
}
