// Proves: a connection that arrives while an idle app is being frozen is never spliced to a container that is about
// to be paused. It waits for the freeze to finish and then thaws the app, so every request is answered. Against the
// real agent and runc: once with `runc pause` made slow (the window held open on purpose, so the race is hit every
// time), once with requests fired at the idle deadline as a client would.
import test from 'ava';
import { agentEnv, until, type AgentEnv } from '../support/agent.js';
import { probe, tally, type Outcome } from '../support/http-probe.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withFreezingProbe(run: (env: AgentEnv, port: number) => Promise<void>): Promise<void> {
  const env = await agentEnv({ images: ['probe'], profiles: { office: [{ image: 'probe', idle: { afterSeconds: 1, action: 'freeze' } }] } });
  try {
    await run(env, [...env.agent.apps.get('probe')!.publicPorts.values()][0]!);
  } finally {
    const { leftovers } = await env.teardown();
    if (leftovers.length) throw new Error(`left behind: ${leftovers.join(', ')}`);
  }
}

const answered = (o: Outcome) => 'status' in o && o.status === 200;

test('requests that arrive during a slow runc pause are answered after a thaw', (t) =>
  withFreezingProbe(async (env, port) => {
    const app = env.agent.apps.get('probe')!;
    const runc = env.agent.runc;
    const realPause = runc.pause.bind(runc);
    let pausing: (() => void) | null = null;
    // The container is paused at once; the command takes 300 ms more to return (a busy device): the window in which
    // the agent still takes the app for running.
    runc.pause = async (id: string) => {
      const out = await realPause(id);
      pausing?.();
      await sleep(300);
      return out;
    };
    const all: Outcome[] = [];
    for (let round = 0; round < 3; round++) {
      const first = await probe(port, '/health');
      t.true(answered(first), `round ${round}: the first request: ${JSON.stringify(first)}`);
      await new Promise<void>((resolve) => (pausing = resolve)); // the idle freeze paused the container
      const burst = await Promise.all(Array.from({ length: 10 }, () => probe(port, '/health', 5_000)));
      all.push(...burst);
      t.true(burst.every(answered), `round ${round}: ${tally(burst)}`);
      await until(() => app.state === 'running' && app.connections === 0, 10_000);
    }
    t.log(`${all.length} requests during the pause: ${tally(all)}; slowest ${Math.max(...all.map((o) => o.ms))} ms`);
    t.true(app.starts === 1, 'thawed each time, never restarted');
  }));

test('requests fired as the idle freeze begins are all answered (runc at its own speed)', (t) =>
  withFreezingProbe(async (env, port) => {
    const app = env.agent.apps.get('probe')!;
    const runc = env.agent.runc;
    const realPause = runc.pause.bind(runc);
    let burst: Promise<Outcome[]> | null = null;
    // Only a clock: the moment the idle freeze calls runc, requests go out every 2 ms for 30 ms, while runc pauses.
    runc.pause = (id: string) => {
      burst = Promise.all(Array.from({ length: 15 }, (_, i) => sleep(i * 2).then(() => probe(port, '/health', 5_000))));
      return realPause(id);
    };
    const all: Outcome[] = [];
    for (let round = 0; round < 5; round++) {
      burst = null;
      const first = await probe(port, '/health');
      t.true(answered(first), `round ${round}: ${JSON.stringify(first)}`);
      await until(() => burst !== null, 10_000, 5);
      const outcomes = await burst!;
      all.push(...outcomes);
      t.true(outcomes.every(answered), `round ${round}: ${tally(outcomes)} (app ${app.state})`);
      await until(() => app.connections === 0, 10_000);
    }
    t.log(`${all.length} requests as the freeze began: ${tally(all)}`);
  }));
