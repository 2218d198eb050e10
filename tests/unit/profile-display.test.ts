// What this file proves: a profile names its display app (the device's own screen) with `display: true` on one
// entry, in profiles.yaml and in the signed channel alike; a second display app in one profile, or a display value
// that is not a boolean, is refused naming the field; profileDisplay finds it, or null when the profile has none.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { loadProfiles } from '../../fetcher/src/formats/profiles.js';
import { profileDisplay, readChannel } from '../../fetcher/src/formats/trust-docs.js';
import { tempDir } from '../support/registry.js';

async function profilesFile(text: string): Promise<string> {
  const file = join(await tempDir(), 'profiles.yaml');
  await writeFile(file, text);
  return file;
}

function channel(profiles: unknown): unknown {
  const image = { digest: `sha256:${'a'.repeat(64)}`, size: 1 };
  return {
    signed: { type: 'channel', name: 'stable', version: 1, expires: '2030-01-01T00:00:00Z', images: { hello: image, display: image }, profiles },
    signatures: [],
  };
}

test('profiles.yaml: display: true makes an entry the display app; it is signed into the channel as is', async (t) => {
  const profiles = await loadProfiles(await profilesFile('profiles:\n  office:\n    - hello\n    - { image: display, display: true }\n  bare: [hello]\n'));
  t.deepEqual(profiles.office, ['hello', { image: 'display', display: true }]);
  const c = readChannel(channel(profiles));
  t.deepEqual(profileDisplay(c.signed, 'office'), { image: 'display', display: true });
  t.is(profileDisplay(c.signed, 'bare'), null);
});

test('two display apps in one profile, or a display that is no boolean, are refused naming the field', async (t) => {
  const two = 'profiles:\n  office:\n    - { image: hello, display: true }\n    - { image: display, display: true }\n';
  const err = await t.throwsAsync(loadProfiles(await profilesFile(two)));
  t.true(isBootosError(err, 'SCHEMA_INVALID'), String(err));
  t.regex(err!.message, /profiles\.office\[1\]: a profile has one display app/);
  const notBool = await t.throwsAsync(loadProfiles(await profilesFile('profiles:\n  office:\n    - { image: display, display: "yes" }\n')));
  t.regex(notBool!.message, /profiles\.office\[0\]\.display/);
  const signed = t.throws(() => readChannel(channel({ office: [{ image: 'hello', display: true }, { image: 'display', display: true }] })));
  t.true(isBootosError(signed, 'DOCUMENT_TYPE'), String(signed));
  t.regex(signed!.message, /signed\.profiles\.office\[1\]: a profile has one display app/);
});
