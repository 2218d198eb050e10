// What this file proves: the mistakes of a newcomer's first hour get messages a person can act on, from the real CLI
// (bin/bootos.mjs; `npm run build` first). For each case: the exit code (2 usage, 1 failure), the code in
// `error CODE:`, the hint that says what to do, and no stack trace. A busy port is PORT_IN_USE naming --port; a
// misspelt flag or verb names the nearest one; a JSON or YAML error names its file; a registry that is down is named
// by the URL the user gave, not by an internal document; a registry without its scheme is refused with http://…,
// by the verbs that read one and by those that write one.
import test from 'ava';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateKey } from '../../fetcher/src/trust/keys.js';
import { initRoot } from '../../fetcher/src/publish/signer.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/registry.js';

let dir = '';
let reg = '';
/** A port nothing listens on (a server was there and closed), a port held by a server, one answering 503. */
let closedPort = 0;
let busy: Server;
let unavailable: Server;

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
};

test.before(async () => {
  dir = await tempDir('bootos-cli-messages-');
  reg = join(dir, 'reg');
  const key = generateKey();
  await initRoot({ registry: reg, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 86_400_000 });
  await writeFile(join(dir, 'dev.pub'), `${Buffer.from(key.publicKey).toString('base64')}\n`);
  await writeFile(join(dir, 'broken.json'), '{"registry": "http://x/",');
  await writeFile(join(dir, 'typo.json'), JSON.stringify({ registry: 'http://127.0.0.1:1/', chanel: 'beta' }));
  await mkdir(join(dir, 'img'));
  await writeFile(join(dir, 'img', 'image.yaml'), 'name: hello\nversion: 1\n  entrypoint: [x]\n');
  const gone = createServer();
  closedPort = await listen(gone);
  await new Promise((done) => gone.close(done));
  busy = createServer();
  unavailable = createServer((_req, res) => void res.writeHead(503).end());
  await listen(busy);
  await listen(unavailable);
});

test.after.always(async () => {
  busy?.close();
  unavailable?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const port = (server: Server) => String((server.address() as AddressInfo).port);
const root = () => join(reg, 'root.json');

interface Case {
  name: string;
  args: () => string[];
  exit: number;
  code: string;
  /** What the message must say: the file, the registry, the nearest flag, what to do. */
  says: RegExp;
  /** What it must not say. */
  not?: RegExp;
}

const cases: Case[] = [
  {
    name: 'serve on a busy port',
    args: () => ['serve', '--registry', reg, '--port', port(busy)],
    exit: 1,
    code: 'PORT_IN_USE',
    says: /127\.0\.0\.1:\d+ is in use by another program: choose another with --port N \(--port 0 picks a free one\)/,
  },
  {
    name: 'a misspelt flag',
    args: () => ['verify', '--regsitry', reg, '--root', root(), '--channel', 'stable'],
    exit: 2,
    code: 'USAGE',
    says: /unknown option --regsitry \(did you mean --registry\?\)\nusage: bootos verify /,
    not: /To specify a positional argument/,
  },
  {
    name: 'a flag nothing is close to',
    args: () => ['publish', '--colour', 'red'],
    exit: 2,
    code: 'USAGE',
    says: /unknown option --colour \(see bootos publish --help\)/,
  },
  { name: 'a flag without its value', args: () => ['verify', '--registry'], exit: 2, code: 'USAGE', says: /--registry needs a value/ },
  {
    name: 'a misspelt verb',
    args: () => ['verfy', '--registry', reg],
    exit: 2,
    code: 'USAGE',
    says: /unknown verb "verfy" \(did you mean bootos verify\?\)/,
    not: /verbs:\n/,
  },
  { name: 'a misspelt second word', args: () => ['key', 'generat', 'dev'], exit: 2, code: 'USAGE', says: /unknown verb "key generat" \(did you mean bootos key generate\?\)/ },
  { name: 'a misspelt two-word verb', args: () => ['chanel', 'sign'], exit: 2, code: 'USAGE', says: /unknown verb "chanel" \(did you mean bootos channel sign\?\)/ },
  {
    name: '--root names a key, not a root',
    args: () => ['verify', '--registry', reg, '--root', join(dir, 'dev.pub'), '--channel', 'stable'],
    exit: 1,
    code: 'JSON_INVALID',
    says: /root file \S+\/dev\.pub: not valid JSON/,
    not: /baked-in/,
  },
  {
    name: 'agent.json that does not parse',
    args: () => ['agent', '--config', join(dir, 'broken.json')],
    exit: 1,
    code: 'JSON_INVALID',
    says: /\S+\/broken\.json: not valid JSON/,
  },
  {
    name: 'agent.json with a misspelt field',
    args: () => ['agent', '--config', join(dir, 'typo.json')],
    exit: 1,
    code: 'CONFIG_INVALID',
    says: /\S+\/typo\.json: chanel: unknown field \(did you mean channel\?\)/,
  },
  {
    name: 'image.yaml that does not parse',
    args: () => ['publish', join(dir, 'img'), '--registry', reg],
    exit: 1,
    code: 'YAML_INVALID',
    says: /\S+\/img\/image\.yaml: /,
  },
  {
    name: 'a registry that is down',
    args: () => ['verify', '--registry', `http://127.0.0.1:${closedPort}/`, '--root', root(), '--channel', 'stable'],
    exit: 1,
    code: 'NETWORK',
    says: /error NETWORK: registry http:\/\/127\.0\.0\.1:\d+\/: connect ECONNREFUSED [\d.:]+ \(roots\/2\.root\.json\)\n/,
    not: /request to|error NETWORK: http/,
  },
  {
    name: 'a registry that answers 503',
    args: () => ['verify', '--registry', `http://127.0.0.1:${port(unavailable)}/`, '--root', root(), '--channel', 'stable'],
    exit: 1,
    code: 'HTTP_ERROR',
    says: /error HTTP_ERROR: registry http:\/\/127\.0\.0\.1:\d+\/: HTTP 503 \(roots\/2\.root\.json\)\n/,
  },
  {
    name: 'a registry HOST:PORT without http://',
    args: () => ['verify', '--registry', '127.0.0.1:8080', '--root', root(), '--channel', 'stable'],
    exit: 2,
    code: 'USAGE',
    says: /127\.0\.0\.1:8080 has no scheme: write http:\/\/127\.0\.0\.1:8080\//,
  },
  {
    name: 'a registry HOST/PATH without http://',
    args: () => ['verify', '--registry', 'registry.example.com/bootos', '--root', root(), '--channel', 'stable'],
    exit: 2,
    code: 'USAGE',
    says: /registry\.example\.com\/bootos has no scheme and is not a directory: write http:\/\/registry\.example\.com\/bootos\//,
  },
  {
    name: 'root init into HOST/PATH: refused, not a new folder named after it',
    args: () => ['root', 'init', '--registry', 'registry.example.com/bootos', '--key', join(dir, 'dev.pub'), '--sign', join(dir, 'none.key')],
    exit: 2,
    code: 'USAGE',
    says: /write http:\/\/registry\.example\.com\/bootos\/ or oci:\/\/registry\.example\.com\/bootos, or \.\/registry\.example\.com\/bootos for a new directory/,
  },
  {
    name: 'publish to a URL',
    args: () => ['publish', join(dir, 'img'), '--registry', 'http://127.0.0.1:8080/'],
    exit: 2,
    code: 'USAGE',
    says: /--registry http:\/\/127\.0\.0\.1:8080\/: this verb needs a registry directory, not a URL \(bootos serve makes/,
  },
];

for (const c of cases) {
  test(c.name, async (t) => {
    const result = await runCli(c.args(), { cwd: dir });
    t.is(result.code, c.exit, result.stderr);
    t.regex(result.stderr, new RegExp(`^bootos(?: [a-z]+)*: error ${c.code}: `), result.stderr);
    t.regex(result.stderr, c.says);
    if (c.not) t.notRegex(result.stderr, c.not);
    t.notRegex(result.stderr, /unexpected error|^\s+at /m, 'no stack trace');
    t.is(result.stdout, '');
  });
}

// Not an error, but the first thing to look at when one is not understood: what the agent would use, defaults filled in.
test('agent --print-config: a host config answers loopback and writes beside the file; the device keeps its places', async (t) => {
  await writeFile(join(dir, 'lab.json'), JSON.stringify({ registry: 'http://127.0.0.1:8080/', root: 'reg/root.json' }));
  const host = await runCli(['agent', '--config', join(dir, 'lab.json'), '--print-config']);
  t.is(host.code, 0, host.stderr);
  const c = JSON.parse(host.stdout);
  t.like(c, { apiHost: '127.0.0.1', appHost: '127.0.0.1', apiPort: 8080, rootFile: root(), stateDir: join(dir, 'lab-data', 'state'), runDir: join(dir, 'lab-data', 'run') });
  t.is(c.limits.channelPollIntervalMs, 300_000);
  await writeFile(join(dir, 'cmdline'), 'console=ttyS0 bootos.registry=http://10.0.2.2:8080/ bootos.poll_seconds=60\n');
  const device = await runCli(['agent', '--cmdline', '--cmdline-file', join(dir, 'cmdline'), '--print-config']);
  t.is(device.code, 0, device.stderr);
  t.like(JSON.parse(device.stdout), { apiHost: '0.0.0.0', stateDir: '/var/lib/bootos/state', runDir: '/run/bootos', limits: { channelPollIntervalMs: 60_000 } });
});
