// `bootos os publish`: a `bootos build` output (out/<arch>/ with vmlinuz and initramfs) into the registry directory
// as an OS release (formats/os-release.ts): the two files as blobs, one artifact manifest per architecture, an OCI
// index over them, listed in index.json under the ref name bootos-os-VERSION (so `bootos push` tags it). The
// channel pins it with `bootos channel sign` (the newest published release, or --os VERSION).
import { createReadStream } from 'node:fs';
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { ARCH_TABLE, isArch, type OciArch } from '../core/arch.js';
import { ANNOTATION, MEDIA, blobPath, readIndex, type Descriptor } from '../formats/oci.js';
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES } from '../formats/trust-artifacts.js';
import { OS_ANNOTATION, OS_MEDIA, checkOsVersion, compareOsVersions, osManifest, osTag, type ChannelOs } from '../formats/os-release.js';
import { commitBlobFile, initLayout, readIndexJson, writeIndexJson, writeJsonBlob } from './layout.js';
import { exists, writeFileAtomic } from '../core/fs.js';

/** The files of a build output that make a release, with their layer media types. */
const RELEASE_FILES = [
  { file: 'vmlinuz', mediaType: OS_MEDIA.kernel },
  { file: 'initramfs', mediaType: OS_MEDIA.initramfs },
] as const;

export interface OsPublishOptions {
  /** Build output folders: out/<arch>/ each, or out/ holding them. */
  buildDirs: string[];
  registry: string;
  version: string;
  onProgress?: (line: string) => void;
}

export interface PublishedOs {
  version: string;
  /** The OCI index over the architectures (tagged bootos-os-VERSION). */
  digest: string;
  size: number;
  /** What the channel's `os` entry pins. */
  images: ChannelOs['images'];
}

/** out/ → out/x86_64, out/aarch64 (those that exist); out/x86_64 → itself. The folder name is the architecture. */
async function expandBuildDirs(dirs: string[]): Promise<{ dir: string; arch: OciArch }[]> {
  const found: { dir: string; arch: OciArch }[] = [];
  for (const dir of dirs) {
    const name = basename(dir.replace(/\/+$/, ''));
    if (isArch(name)) {
      found.push({ dir, arch: ARCH_TABLE[name].oci });
      continue;
    }
    const inside = [];
    for (const arch of Object.keys(ARCH_TABLE)) if (await exists(join(dir, arch, 'vmlinuz'))) inside.push({ dir: join(dir, arch), arch: ARCH_TABLE[arch as keyof typeof ARCH_TABLE].oci });
    if (!inside.length) throw new BootosError('FILE_NOT_FOUND', `${dir}: not a build output (expected out/<arch>/ with vmlinuz and initramfs, arch x86_64 or aarch64; run \`bootos build\`)`);
    found.push(...inside);
  }
  const arches = found.map((f) => f.arch);
  if (new Set(arches).size !== arches.length) throw new BootosError('USAGE', `an architecture is given twice: ${arches.join(', ')}`);
  return found;
}

/** Copies a file into the blob store while hashing it, with progress; returns its descriptor. */
async function addFileBlob(registry: string, path: string, mediaType: string, progress: (line: string) => void): Promise<Descriptor> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `${path} not found: the build output has no ${basename(path)} (run \`bootos build\`)`);
    throw err;
  }
  if (size === 0) throw new BootosError('USAGE', `${path} is empty`);
  const hash = createHash('sha256');
  let done = 0;
  let shown = -1;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    const percent = Math.floor((done / size) * 100);
    if (percent >= shown + 25 || done === size) {
      shown = percent;
      progress(`${basename(path)}: hashed ${done}/${size} bytes (${percent}%)`);
    }
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (!(await exists(join(registry, blobPath(digest))))) {
    const tmp = join(registry, 'blobs', 'sha256', `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await copyFile(path, tmp);
      const again = await sha256Of(tmp);
      // The file changed while it was read (a build running at the same time): nothing is committed.
      if (again !== digest) throw new BootosError('DIGEST_MISMATCH', `${path} changed while it was published; publish again`);
      await commitBlobFile(registry, tmp, digest);
    } finally {
      await rm(tmp, { force: true });
    }
  }
  return { mediaType, digest, size, annotations: { [ANNOTATION.title]: basename(path) } };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export async function publishOs(options: OsPublishOptions): Promise<PublishedOs> {
  const version = checkOsVersion(options.version, '--version');
  const progress = options.onProgress ?? (() => {});
  const builds = await expandBuildDirs(options.buildDirs);
  const published = await publishedOsReleases(options.registry).catch((err) => {
    if (err instanceof BootosError && err.code === 'REGISTRY_INVALID') return [];
    throw err;
  });
  await initLayout(options.registry);
  if (!(await exists(join(options.registry, blobPath(EMPTY_CONFIG.digest))))) await writeFileAtomic(join(options.registry, blobPath(EMPTY_CONFIG.digest)), EMPTY_CONFIG_BYTES);
  const manifests: Descriptor[] = [];
  const images: ChannelOs['images'] = {};
  for (const { dir, arch } of builds) {
    const step = (line: string) => progress(`os ${version} ${arch}: ${line}`);
    const layers: Descriptor[] = [];
    for (const { file, mediaType } of RELEASE_FILES) layers.push(await addFileBlob(options.registry, join(dir, file), mediaType, step));
    const manifest = await writeJsonBlob(options.registry, MEDIA.manifest, osManifest(version, arch, layers[0]!, layers[1]!, EMPTY_CONFIG));
    step(`manifest ${manifest.digest} (kernel ${layers[0]!.size} + initramfs ${layers[1]!.size} bytes)`);
    manifests.push({ ...manifest, platform: { architecture: arch, os: 'linux' } });
    images[arch] = { digest: manifest.digest, size: manifest.size };
  }
  const index = await writeJsonBlob(options.registry, MEDIA.index, {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    artifactType: OS_MEDIA.artifact,
    manifests,
    annotations: { [OS_ANNOTATION.version]: version },
  });
  const same = published.find((p) => p.version === version);
  if (same && same.digest !== index.digest) {
    // A version names one release: devices compare versions, so two different releases under one would be a lie.
    throw new BootosError('USAGE', `OS release ${version} is already published in ${options.registry} with other contents (${same.digest}); publish under a new version`);
  }
  await addOsToIndex(options.registry, version, index);
  progress(`os ${version}: ${index.digest} (${builds.map((b) => b.arch).join(' + ')})`);
  return { version, digest: index.digest, size: index.size, images };
}

async function addOsToIndex(registry: string, version: string, descriptor: Descriptor): Promise<void> {
  const index = await readIndexJson(registry);
  const ref = osTag(version);
  index.manifests = index.manifests.filter((d) => d.annotations?.[ANNOTATION.refName] !== ref);
  index.manifests.push({
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    annotations: { [ANNOTATION.refName]: ref, [OS_ANNOTATION.version]: version },
  });
  await writeIndexJson(registry, index);
}

/** Every OS release published in the registry directory, oldest version first. */
export async function publishedOsReleases(registry: string): Promise<PublishedOs[]> {
  const releases: PublishedOs[] = [];
  for (const entry of (await readIndexJson(registry)).manifests) {
    const version = entry.annotations?.[OS_ANNOTATION.version];
    if (version === undefined) continue;
    const where = `${registry} ${osTag(version)}`;
    const index = readIndex(parseJson(await readFile(join(registry, blobPath(entry.digest))), where), where);
    const images: ChannelOs['images'] = {};
    for (const m of index.manifests) {
      const arch = m.platform?.architecture;
      if (arch === 'amd64' || arch === 'arm64') images[arch] = { digest: m.digest, size: m.size };
    }
    releases.push({ version: checkOsVersion(version, where), digest: entry.digest, size: entry.size, images });
  }
  return releases.sort((a, b) => compareOsVersions(a.version, b.version));
}
