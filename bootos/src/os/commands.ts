// The OS builder's verbs: `bootos build` and `bootos lock` (the OS recipe's lockfile, or images' with --image).
import { readFileOrFail } from '../../../fetcher/src/core/fs.js';
import { defineCommand, required, status, usageError } from '../../../fetcher/src/cli/kit.js';
import { IMAGE_LOCK_FILE } from '../../../fetcher/src/formats/image-lock.js';
import { debianImageDirs, lockImages } from '../../../fetcher/src/debian/lock-image.js';
import { buildImage } from './build.js';
import { checkOsVersion } from '../../../fetcher/src/formats/os-release.js';
import { LOCK_PATH, lockRecipe } from './lockfile.js';
import { ARCHES, loadRecipe, type Arch } from './recipe.js';

export const buildCommand = defineCommand({
  name: 'build',
  summary: 'build the OS image: kernel, initramfs, UEFI disk image, PXE bundle',
  usage: '--arch x86_64|aarch64 --root ROOT.json [--out DIR]',
  options: {
    arch: { type: 'string' },
    root: { type: 'string' },
    out: { type: 'string' },
    'no-disk': { type: 'boolean' },
    'os-version': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    arch: `target architecture: ${ARCHES.join(' or ')} (required)`,
    root: 'trust root (root.json) baked into the image (required)',
    out: 'output folder; the build writes DIR/<arch>/ (default out)',
    'no-disk': 'skip the disk image (kernel, initramfs and PXE bundle only)',
    'os-version': 'the OS version the disk image says it runs (slot a); publish the same build with `bootos os publish --version` (default 0)',
    json: 'print the output files with their sha256 as JSON',
  },
  details: `Inputs are pinned in bootos/os/bootos.lock.json and cached under $XDG_CACHE_HOME/bootos (~/.cache/bootos).
File times come from SOURCE_DATE_EPOCH (default 2024-01-01). Needs apt-get, npm, dpkg-deb, zstd, squashfs-tools,
icu-devtools (icupkg), mtools, dosfstools, e2fsprogs and fdisk; no root.`,
  async run(values) {
    const arch = required(values.arch, 'arch');
    if (!(ARCHES as readonly string[]).includes(arch)) throw usageError(`--arch must be one of ${ARCHES.join(', ')}, got ${arch}`);
    const root = required(values.root, 'root');
    const result = await buildImage({
      arch: arch as Arch,
      rootJson: await readFileOrFail(root, 'trust root'),
      rootName: `trust root ${root}`,
      outDir: values.out ?? 'out',
      noDisk: values['no-disk'] ?? false,
      ...(values['os-version'] !== undefined ? { osVersion: checkOsVersion(values['os-version'], '--os-version') } : {}),
      progress: status,
    });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else for (const f of result.files) console.log(`${f.sha256}  ${result.dir}/${f.name}`);
  },
});

export const lockCommand = defineCommand({
  name: 'lock',
  summary: 'refresh a lockfile: pin the newest version and sha256 of every OS input, or of an image\'s Debian packages',
  usage: '[--image IMAGE_DIR]... [--images DIR] [--json]',
  options: {
    image: { type: 'string', multiple: true },
    images: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    image: 'lock this image folder\'s debian: packages into IMAGE_DIR/image.lock.json (repeatable)',
    images: 'lock every image folder under DIR whose image.yaml has a debian: field',
    json: 'print the new lockfile(s)',
  },
  details: `Without --image or --images: resolves every Debian package of bootos/os/bootos.yaml for amd64 and arm64
through apt-get (with private lists, the host's dpkg state is untouched) and node-linux-<arch> through npm, then
writes ${LOCK_PATH}.
With --image/--images: resolves each image's debian: packages with all their dependencies (no recommends) for amd64
and arm64 the same way, and writes IMAGE_DIR/${IMAGE_LOCK_FILE}; the OS lockfile is left alone.`,
  async run(values) {
    const dirs = [...(values.image ?? [])];
    if (values.images !== undefined) {
      const found = await debianImageDirs(values.images);
      if (!found.length) throw usageError(`no image folder under ${values.images} has a debian: field`);
      dirs.push(...found.filter((d) => !dirs.includes(d)));
    }
    if (dirs.length) {
      const locked = await lockImages(dirs, { progress: status });
      if (values.json) console.log(JSON.stringify(Object.fromEntries(locked.map((l) => [l.dir, l.lock])), null, 2));
      for (const l of locked) status(`wrote ${l.path}`);
      return;
    }
    const lock = await lockRecipe(await loadRecipe(), { progress: status });
    if (values.json) console.log(JSON.stringify(lock, null, 2));
    status(`wrote ${LOCK_PATH}`);
  },
});

export const osCommands = [buildCommand, lockCommand];
