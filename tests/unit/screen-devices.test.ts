// What this file proves: the display app's devices are found by name and kind (DRM card/render nodes and evdev
// nodes that are character devices; anything else under /dev/dri or /dev/input is ignored; no folder, no devices),
// a device number splits as Linux encodes it, and the OCI config gives exactly those nodes (made by runc in the
// container's /dev, group video or input, 0660), a device cgroup that denies everything else and allows only read
// and write of them, and the two groups as supplementary groups; an app without devices gets none of it.
import test from 'ava';
import { statSync } from 'node:fs';
import { mkdir as mkdirP, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INPUT_GID, VIDEO_GID, hasScreen, screenDevices, splitDeviceNumber } from '../../bootos/src/agent/runtime/screen-devices.js';
import { containerSpec } from '../../bootos/src/agent/runtime/runc.js';
import { readImageConfig } from '../../fetcher/src/formats/image-config.js';
import { parseImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { tempDir } from '../support/registry.js';


test('a device number splits into major and minor as Linux encodes it', (t) => {
  t.deepEqual(splitDeviceNumber(statSync('/dev/null').rdev), { major: 1, minor: 3 });
  t.deepEqual(splitDeviceNumber((226 << 8) | 0), { major: 226, minor: 0 });
  t.deepEqual(splitDeviceNumber((13 << 8) | 64), { major: 13, minor: 64 });
  // minor 300 (> 255) spills into the high bits
  t.deepEqual(splitDeviceNumber((13 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)), { major: 13, minor: 300 });
});

test('screen devices: DRM card and render nodes and evdev nodes that are character devices, sorted; nothing else', async (t) => {
  const dev = await tempDir();
  t.deepEqual(await screenDevices(dev), [], 'no /dev/dri, no /dev/input: no devices');
  await mkdirP(join(dev, 'dri', 'by-path'), { recursive: true });
  await mkdirP(join(dev, 'input', 'by-id'), { recursive: true });
  // /dev/null stands in for a device node (making real ones needs root).
  await symlink('/dev/null', join(dev, 'dri', 'card0'));
  await symlink('/dev/null', join(dev, 'dri', 'renderD128'));
  await symlink('/dev/null', join(dev, 'input', 'event1'));
  await symlink('/dev/null', join(dev, 'input', 'event0'));
  await symlink('/dev/null', join(dev, 'input', 'mice'));
  await symlink('/dev/null', join(dev, 'input', 'js0'));
  await writeFile(join(dev, 'dri', 'card1'), 'a regular file is no device');
  const found = await screenDevices(dev);
  t.deepEqual(found.map((d) => d.path), ['/dev/dri/card0', '/dev/dri/renderD128', '/dev/input/event0', '/dev/input/event1']);
  t.deepEqual(found.map((d) => d.gid), [VIDEO_GID, VIDEO_GID, INPUT_GID, INPUT_GID]);
  t.true(hasScreen(found));
  t.false(hasScreen(found.filter((d) => !d.path.includes('card'))), 'a render node or input alone is no screen');
});

function spec(devices?: Parameters<typeof containerSpec>[0]['devices']): any {
  const { config } = parseImageSpec({ name: 'display', version: '1.0.0', entrypoint: ['/app/kiosk.sh'] }, 'test image');
  return containerSpec({
    config: readImageConfig(JSON.parse(JSON.stringify(config))),
    rootfs: '/store/rootfs/x',
    hostname: 'display',
    dataDir: null,
    netnsPath: '/run/netns/bootos-1',
    runtimeBinds: [],
    initBinary: '/usr/bin/tini-static',
    cgroupsPath: 'bootos/a-display-1',
    arch: 'x86_64',
    tmpBytes: 1024,
    maxOpenFiles: 64,
    extraEnv: [],
    ...(devices ? { devices } : {}),
  });
}

test('the OCI config gives the display app its nodes, a device cgroup allowing only them, and video/input groups', (t) => {
  const s = spec([
    { path: '/dev/dri/card0', major: 226, minor: 0, gid: VIDEO_GID },
    { path: '/dev/input/event0', major: 13, minor: 64, gid: INPUT_GID },
  ]);
  t.deepEqual(s.linux.devices, [
    { path: '/dev/dri/card0', type: 'c', major: 226, minor: 0, fileMode: 0o660, uid: 0, gid: VIDEO_GID },
    { path: '/dev/input/event0', type: 'c', major: 13, minor: 64, fileMode: 0o660, uid: 0, gid: INPUT_GID },
  ]);
  t.deepEqual(s.linux.resources.devices, [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 226, minor: 0, access: 'rw' },
    { allow: true, type: 'c', major: 13, minor: 64, access: 'rw' },
  ]);
  t.deepEqual(s.process.user.additionalGids, [VIDEO_GID, INPUT_GID].sort((a, b) => a - b));
  t.is(s.process.user.uid, 1000, 'still the image user, not root');
  t.deepEqual(s.process.capabilities.bounding, [], 'still no capabilities');
  t.false(s.mounts.some((m: { destination: string }) => m.destination.startsWith('/dev/dri') || m.destination.startsWith('/dev/input')), 'no bind of the host /dev');
});

test('any other app gets no device, no device rule and no supplementary group', (t) => {
  const s = spec();
  t.is(s.linux.devices, undefined);
  t.deepEqual(s.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  t.deepEqual(s.process.user.additionalGids, []);
});
