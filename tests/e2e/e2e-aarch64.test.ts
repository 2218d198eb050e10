// End to end on aarch64 (QEMU virt, emulated under TCG: about three times slower than x86_64 here), kernel and
// initramfs booted directly: verify, first request starts hello, idle stop, update, python-web (arm64 Debian
// packages) answers, poweroff.
import test from 'ava';
import { e2eImage, fullFlow } from '../support/e2e.js';

test.before(async (t) => {
  t.timeout(15 * 60_000);
  const image = await e2eImage('aarch64', (l) => t.log(l));
  t.log(`image ${image.key}${image.cached ? ' (cached)' : ' (built)'}`);
});

test.serial('aarch64 direct boot: verify, first request starts hello, idle stop, update, python-web answers, poweroff', async (t) => {
  t.timeout(15 * 60_000);
  await fullFlow(t, { arch: 'aarch64', mode: 'direct', python: true });
});
