// `bootos device enroll | revoke | sign | list` as a user runs them (the built CLI): a request altered on its way is
// refused (exit 1, SIGNATURE_INVALID), bad flags are usage errors (exit 2) with a hint, each change is one version
// more, and --json prints the signed document.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { makeRegistry, testDir } from '../support/registry.js';
import { DeviceIdentity } from '../../bootos/src/agent/identity/identity.js';
import { FileKeyStore } from '../../bootos/src/agent/identity/key-store.js';

test('device enroll, sign, list, revoke: versions, --json, coded refusals and usage errors', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const dir = await testDir(t);
  const key = join(dir, 'dev.key');
  await writeFile(key, `${reg.key.secretKey.toString('base64')}\n`, { mode: 0o600 });
  const { identity } = await DeviceIdentity.open(new FileKeyStore(join(dir, 'identity.json')));
  const request = identity.enrolmentRequest({ hostname: 'desk-1' });
  const signing = ['--registry', reg.dir, '--sign', key];

  const altered = join(dir, 'altered.json');
  await writeFile(altered, JSON.stringify({ ...request, hostname: 'desk-2' }));
  const refused = await runCli(['device', 'enroll', altered, ...signing]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /error SIGNATURE_INVALID: .*not signed by the device key/);

  const mismatch = await runCli(['device', 'enroll', '--id', 'a'.repeat(32), '--sign-pub', identity.keys.sign, '--seal-pub', identity.keys.seal, ...signing]);
  t.is(mismatch.code, 2);
  t.regex(mismatch.stderr, /is not the fingerprint of --sign-pub/);
  t.is((await runCli(['device', 'enroll', '--id', identity.id, ...signing])).code, 2, '--sign-pub is required with --id');
  t.is((await runCli(['device', 'revoke', 'not-an-id', ...signing])).code, 2);
  t.is((await runCli(['device', 'enroll', '--id', identity.id, '--sign-pub', identity.keys.sign, '--seal-pub', identity.keys.seal, '--group', 'Bad Group', ...signing])).code, 2);

  const good = join(dir, 'request.json');
  await writeFile(good, JSON.stringify(request));
  const enrolled = await runCli(['device', 'enroll', good, ...signing, '--group', 'lab', '--expires', '30d', '--json']);
  t.is(enrolled.code, 0, enrolled.stderr);
  const doc = JSON.parse(enrolled.stdout);
  t.is(doc.signed.version, 1);
  t.is(doc.signed.devices[0].id, identity.id);
  t.deepEqual(doc.signed.devices[0].groups, ['lab']);
  const resigned = await runCli(['device', 'sign', ...signing, '--document-expires', '1d']);
  t.is(resigned.code, 0, resigned.stderr);
  t.regex(resigned.stderr, /version 2: 1 device\(s\), 0 revoked/);
  t.is((await runCli(['device', 'revoke', identity.id, ...signing])).code, 0);
  const again = await runCli(['device', 'revoke', identity.id, ...signing]);
  t.is(again.code, 2);
  t.regex(again.stderr, /already revoked/);
  const listed = await runCli(['device', 'list', '--registry', reg.dir, '--json']);
  const signed = JSON.parse(listed.stdout);
  t.is(signed.version, 3);
  t.deepEqual(signed.revoked, [identity.id]);
  t.deepEqual(signed.devices, []);
  // The wrong key: not of the devices role.
  const other = join(dir, 'other');
  t.is((await runCli(['key', 'generate', other])).code, 0);
  const wrong = await runCli(['device', 'sign', '--registry', reg.dir, '--sign', `${other}.key`]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /error UNKNOWN_KEY:/);
});
