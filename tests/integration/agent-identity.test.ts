// A real agent (in this process) against a real registry server, and the real `bootos` CLI: the device makes its
// identity at the first start (0600, kept across restarts), shows it and an enrolment request in /api/device; the
// request handed to `bootos device enroll` enrols it, and the device finds itself in the devices document at its next
// check; `bootos device revoke` takes that away. A rolled-back devices document served afterwards is refused
// (ROLLBACK in /api/device) and changes nothing.
import test from 'ava';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, json, type AgentEnv } from '../support/agent.js';
import { runCli } from '../support/cli.js';
import { IMAGES } from '../support/registry.js';
import { DEVICES_PATH } from '../../fetcher/src/formats/devices-doc.js';
import { Agent, IDENTITY_FILE } from '../../bootos/src/agent/agent.js';
import { sign } from '../../fetcher/src/publish/signer.js';

let env: AgentEnv;

test.before(async () => {
  env = await agentEnv({ images: [join(IMAGES, 'hello')] });
});

test.after.always(async (t) => {
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, []);
});

async function identity(): Promise<any> {
  return (await json(await env.api('/api/device'))).identity;
}

async function cli(t: import('ava').ExecutionContext, args: string[]): Promise<string> {
  const result = await runCli(args);
  t.is(result.code, 0, `bootos ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const keyFile = () => join(env.base, 'devices.key');

test.serial('first start: an identity of its own, kept 0600 in the state folder; not enrolled yet', async (t) => {
  const id = await identity();
  t.regex(id.id, /^[0-9a-f]{32}$/);
  t.is(Buffer.from(id.keys.sign, 'base64').length, 32);
  t.is(Buffer.from(id.keys.seal, 'base64').length, 32);
  t.false(id.enrolled);
  t.is(id.reason, 'no-document');
  t.is(id.devices.state, 'absent');
  t.is(id.request.id, id.id);
  t.deepEqual(id.request.keys, id.keys);
  const file = join(env.agent.config.stateDir, IDENTITY_FILE);
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.is(env.agent.identity?.id, id.id);
  t.is(env.agent.identity?.sealPrivateKey.asymmetricKeyType, 'x25519');
  // The private keys are never shown.
  t.false(JSON.stringify(await json(await env.api('/api/device'))).includes(JSON.parse(await readFile(file, 'utf8')).sign.private));
});

test.serial('enrol (the request through `bootos device enroll`) → the device finds itself', async (t) => {
  const id = await identity();
  await writeFile(keyFile(), `${env.registry.key.secretKey.toString('base64')}\n`, { mode: 0o600 });
  const request = join(env.base, 'request.json');
  await writeFile(request, JSON.stringify(id.request));
  await cli(t, ['device', 'enroll', request, '--registry', env.registry.dir, '--sign', keyFile(), '--profile', 'office', '--group', 'lab', '--group', 'desk']);
  const listed = await cli(t, ['device', 'list', '--registry', env.registry.dir]);
  t.regex(listed, new RegExp(`^${id.id}\tenrolled\toffice\tlab,desk\t`, 'm'));
  await env.agent.checkChannel();
  const now = await identity();
  t.true(now.enrolled, JSON.stringify(now));
  t.is(now.profile, 'office');
  t.deepEqual(now.groups, ['lab', 'desk']);
  t.is(now.devices.state, 'ok');
  t.is(now.devices.version, 1);
});

test.serial('revoke → the device is no longer enrolled', async (t) => {
  const id = (await identity()).id;
  await cli(t, ['device', 'revoke', id, '--registry', env.registry.dir, '--sign', keyFile()]);
  await env.agent.checkChannel();
  const now = await identity();
  t.false(now.enrolled);
  t.is(now.reason, 'revoked');
  t.is(now.devices.version, 2);
  // Enrolling a revoked id again is refused by the publisher's CLI.
  const again = await runCli(['device', 'enroll', '--id', id, '--sign-pub', now.keys.sign, '--seal-pub', now.keys.seal, '--registry', env.registry.dir, '--sign', keyFile()]);
  t.is(again.code, 2);
  t.regex(again.stderr, /error USAGE: device [0-9a-f]{32} was revoked/);
});

test.serial('rollback: the enrolling version 1 served again → ROLLBACK, and the device stays not enrolled', async (t) => {
  const now0 = await identity();
  // A mirror serves a version 1 that lists this device (really signed by the devices key: only the version is old).
  const signed = { type: 'devices' as const, version: 1, expires: '2099-01-01T00:00:00Z', devices: [{ id: now0.id, keys: now0.keys, groups: [], expires: '2099-01-01T00:00:00Z' }], revoked: [] };
  await writeFile(join(env.registry.dir, DEVICES_PATH), JSON.stringify(sign(signed, [env.registry.key])));
  await env.agent.checkChannel();
  const now = await identity();
  t.is(now.devices.state, 'error');
  t.is(now.devices.error.code, 'ROLLBACK');
  t.false(now.enrolled);
  t.is(now.reason, 'revoked');
});

test.serial('a restart on the same data root: the same identity, and the last verified devices document, registry or not', async (t) => {
  const before = (await identity()).id;
  await env.agent.stop();
  // The registry is out of reach: what the device knows of its enrolment is the document it verified last (version 2).
  const again = await Agent.start({ ...env.agent.config, registry: 'http://127.0.0.1:9/', limits: { ...env.agent.config.limits, maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 1 } }, () => {});
  try {
    await again.settled();
    t.is(again.identity?.id, before);
    const view = again.identityJSON().identity as { enrolled: boolean; reason: string; devices: { version: number } };
    t.false(view.enrolled);
    t.is(view.reason, 'revoked');
    t.is(view.devices.version, 2);
  } finally {
    await again.stop();
  }
});
