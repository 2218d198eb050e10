// Proves: connections that arrive while an app is exiting are not reset. An app that closes its listener and exits by
// itself leaves a window (its listener gone, then its exit, then the container's removal) in which the agent still
// routed to it: connections were refused by the app's namespace and reset by the proxy. Now a refused connection
// waits for the instance's exit, and from the exit on new connections wait until it is handled, then start the app
// again: every connection gets an HTTP answer, 200 from the next run or the agent's coded 503. Against the real
// agent and runc, with node's http client hammering the public port.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { agentEnv } from '../support/agent.js';
import { probe, tally, type Outcome } from '../support/http-probe.js';
import { makeImageDir } from '../support/registry.js';

// Answers `ok`; GET /quit answers `bye`, closes its listener and exits 150 ms later (a graceful shutdown of its own).
const QUITTER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url !== '/quit') return res.end('ok');
  res.end('bye', () => {
    server.close();
    console.log('quitter: listener closed');
    setTimeout(() => process.exit(0), 150);
  });
}).listen(8080, () => console.log('quitter: listening'));
`;

const quitterImage = () =>
  makeImageDir(
    { 'server.js': QUITTER },
    ['name: quitter', 'version: 1.0.0', 'runtime: node', 'entrypoint: [node, /app/server.js]', 'ports:', '  - port: 8080', '    public: 18197', 'resources:', '  memory: 64Mi', 'files:', '  - from: server.js', '    to: /app/server.js', ''].join('\n'),
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an app that exits by itself: every connection during and after the exit gets an answer', async (t) => {
  const image = await quitterImage();
  // Every exit is unasked (a crash to the agent): no crash-loop backoff in this test, each connection may restart it.
  const env = await agentEnv({ images: [image], limits: { crashLoopCount: 1000 } });
  try {
    const app = env.agent.apps.get('quitter')!;
    const port = [...app.publicPorts.values()][0]!;
    const all: Outcome[] = [];
    for (let round = 0; round < 4; round++) {
      const up = await probe(port, '/');
      t.is('status' in up ? up.status : up.error, 200, `round ${round}: the app answers`);
      const closed = app.logs.waitFor((line) => line === 'quitter: listener closed', 5_000);
      const bye = await probe(port, '/quit');
      t.true('status' in bye && bye.body === 'bye');
      t.true(await closed, 'the app closed its listener');
      // 400 ms of connections, 8 at a time: the app's last 150 ms, its exit and removal, and the next start.
      const until = Date.now() + 400;
      const workers = Array.from({ length: 8 }, async () => {
        const got: Outcome[] = [];
        while (Date.now() < until) {
          got.push(await probe(port, '/', 10_000));
          await sleep(2);
        }
        return got;
      });
      const outcomes = (await Promise.all(workers)).flat();
      all.push(...outcomes);
      const unanswered = outcomes.filter((o) => !('status' in o) || (o.status !== 200 && o.status !== 503));
      t.deepEqual(unanswered, [], `round ${round}: ${tally(outcomes)}`);
      for (const o of outcomes) if ('status' in o && o.status === 503) t.regex(o.body, /"code":"APP_/, 'a 503 is the agent\'s, with its code');
    }
    t.log(`${all.length} connections around 4 exits: ${tally(all)}; the app started ${app.starts} times`);
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    await rm(image, { recursive: true, force: true });
  }
});

test('an app killed from the host while connections arrive: each gets an answer', async (t) => {
  const image = await quitterImage();
  const env = await agentEnv({ images: [image], limits: { crashLoopCount: 1000 } });
  try {
    const app = env.agent.apps.get('quitter')!;
    const port = [...app.publicPorts.values()][0]!;
    const all: Outcome[] = [];
    for (let round = 0; round < 4; round++) {
      const up = await probe(port, '/');
      t.is('status' in up ? up.status : up.error, 200, `round ${round}: the app answers`);
      // Connections from the moment its process is gone (one that reached the app's accept queue while it died is
      // lost with it, as on any server): while the agent removes the container and starts it again.
      const instance = app.runs.current!;
      await instance.kill();
      await instance.container.exited;
      const until = Date.now() + 300;
      const workers = Array.from({ length: 8 }, async () => {
        const got: Outcome[] = [];
        while (Date.now() < until) {
          got.push(await probe(port, '/', 10_000));
          await sleep(2);
        }
        return got;
      });
      const outcomes = (await Promise.all(workers)).flat();
      all.push(...outcomes);
      const unanswered = outcomes.filter((o) => !('status' in o) || (o.status !== 200 && o.status !== 503));
      t.deepEqual(unanswered, [], `round ${round}: ${tally(outcomes)}`);
    }
    t.log(`${all.length} connections after 4 kills: ${tally(all)}; the app started ${app.starts} times`);
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    await rm(image, { recursive: true, force: true });
  }
});
