// `bootos demo`: the README's first command. A development key and trust root (made once, kept in the work folder so
// that the built image stays valid), every sample image that a profile names published to a local registry and signed into channel
// stable, the registry served on 127.0.0.1, the OS image built for that root (cached by input hash), and a QEMU guest
// booted against it with its kiosk and app ports forwarded to the host (bootos/src/demo/ports.ts) and a data disk in the
// work folder (bootos/src/demo/data-disk.ts), once the agent lists the profile's apps. Ctrl-C powers the guest off and
// stops everything. --no-boot keeps the round trip without QEMU: publish, sign, serve, and verify over HTTP as a
// device would.
import { mkdtemp, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defineCommand, status, usageError } from '../../../fetcher/src/cli/kit.js';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { loadImageSpec } from '../../../fetcher/src/formats/image-spec.js';
import { loadProfiles } from '../../../fetcher/src/formats/profiles.js';
import { loadSecretKey, writeKeyPair, type SecretKey } from '../../../fetcher/src/trust/keys.js';
import { publishImage } from '../../../fetcher/src/publish/publish.js';
import { resolveImage } from '../../../fetcher/src/trust/resolve.js';
import { startServer } from '../../../fetcher/src/publish/serve.js';
import { initRoot, readRegistryRoot, signChannel } from '../../../fetcher/src/publish/signer.js';
import { HttpSource } from '../../../fetcher/src/source/http-source.js';
import { Trust } from '../../../fetcher/src/trust/trust.js';
import { attachConsole } from '../../../qemu/src/command.js';
import { Guest, GUEST_MODES, type GuestMode } from '../../../qemu/src/guest.js';
import { scaledTimeout } from '../../../qemu/src/qemu.js';
import { chooseWindow, describeWindow } from '../../../qemu/src/window.js';
import { waitForApps } from '../demo/apps-ready.js';
import { pairingLink } from '../demo/pairing-link.js';
import { ensureDataDisk, lockWorkDir } from '../demo/data-disk.js';
import { parsePortsOption, planPorts, portMapArg } from '../demo/ports.js';
import { BOOT_STEPS, ROUND_TRIP_STEPS, Steps } from '../demo/steps.js';
import { freePort } from '../../../qemu/src/guest.js';
import { cachedBuild } from '../os/cached-build.js';
import { ARCHES, type Arch } from '../os/recipe.js';

/** The demo's key, root, registry and logs: kept between runs (the image built for that root stays cached). */
export function defaultDemoDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bootos', 'demo');
}

async function imageFolders(imagesDir: string): Promise<string[]> {
  const out = [];
  for (const entry of (await readdir(imagesDir)).sort()) {
    if (await stat(join(imagesDir, entry, 'image.yaml')).catch(() => null)) out.push(join(imagesDir, entry));
  }
  if (!out.length) throw new BootosError('FILE_NOT_FOUND', `no image folders (with image.yaml) in ${imagesDir}`);
  return out;
}

/** The steps publishAll prints; both runs (boot, round trip) have them. */
type Step = Pick<Steps<'key' | 'publish' | 'channel'>, 'line'>;

/** The development key and the registry's root.json signed by it: made on the first run, reused afterwards. */
async function developmentRoot(work: string, registry: string, steps: Step): Promise<SecretKey> {
  const keyFile = join(work, 'dev.key');
  const root = await readRegistryRoot(registry);
  if (root && (await stat(keyFile).catch(() => null))) {
    steps.line('key', `the development key ${keyFile} (made on the first run)`);
    return loadSecretKey(keyFile);
  }
  await rm(registry, { recursive: true, force: true });
  steps.line('key', `generating a development signing key ${keyFile}`);
  const key = await writeKeyPair(join(work, 'dev'));
  await initRoot({ registry, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 365 * 86_400_000 });
  return key;
}

/**
 * key → root → publish every image that a profile names → sign channel stable; returns the public ports of the
 * published apps. A folder no profile names (images/display, unless `display` adds it) is left out: publishing it would
 * only cost time. `display`: every profile gets the image named `display` as its display app (the device's screen).
 */
async function publishAll(work: string, registry: string, imagesDir: string, steps: Step, display = false): Promise<{ key: SecretKey; ports: number[]; names: string[] }> {
  const key = await developmentRoot(work, registry, steps);
  const profiles = await loadProfiles(join(imagesDir, 'profiles.yaml'));
  if (display) for (const apps of Object.values(profiles)) if (!apps.some((a) => typeof a !== 'string' && a.display)) apps.push({ image: 'display', display: true });
  const named = new Set(Object.values(profiles).flatMap((apps) => apps.map((a) => (typeof a === 'string' ? a : a.image))));
  const ports = new Set<number>();
  const names = [];
  for (const dir of await imageFolders(imagesDir)) {
    if (!named.has((await loadImageSpec(dir)).config.name)) continue;
    const result = await publishImage(dir, registry);
    for (const p of (await loadImageSpec(dir)).config.ports) ports.add(p.public);
    steps.line('publish', `${result.name} ${result.version} → ${result.digest}`);
    names.push(result.name);
  }
  const channel = await signChannel({ registry, name: 'stable', profiles, signers: [key], expiresMs: 7 * 86_400_000 });
  steps.line('channel', `stable version ${channel.signed.version} pins ${Object.keys(channel.signed.images).join(', ')}`);
  return { key, ports: [...ports].sort((a, b) => a - b), names };
}

/** The round trip without QEMU: verify the served channel and every image as a device would. */
async function roundTrip(imagesDir: string, keep: boolean): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bootos-demo-'));
  const registry = join(work, 'registry');
  try {
    const steps = new Steps(ROUND_TRIP_STEPS, status);
    const { names } = await publishAll(work, registry, imagesDir, steps);
    const server = await startServer({ dir: registry, log: () => {} });
    try {
      steps.line('serve', `registry at ${server.url}`);
      const source = new HttpSource(server.url);
      try {
        const trust = await Trust.open({ initialRoot: await readFile(join(registry, 'root.json')), stateDir: join(work, 'device-state') });
        const verified = await trust.fetchChannel(source, 'stable');
        for (const name of Object.keys(verified.signed.images)) {
          const image = await resolveImage(source, verified.signed, name);
          steps.line('verify', `${name} ${image.config.version}: signature, digests and sizes check out`);
        }
        console.log(`demo ok: channel stable version ${verified.signed.version} verified over HTTP (${names.length} image(s) published)`);
      } finally {
        source.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    if (keep) status(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

/** Copies the init and agent lines of the serial console to stderr while the guest runs. */
function followSerial(guest: Guest): () => void {
  let at = 0;
  let partial = '';
  const timer = setInterval(() => {
    guest.vm.log().then((text) => {
      const fresh = partial + text.slice(at);
      at = text.length;
      const lines = fresh.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (/^bootos-(init|agent):/.test(line.trim())) status(`  guest | ${line.trim()}`);
    }, () => {});
  }, 500);
  return () => clearInterval(timer);
}

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'build the OS, publish the sample images to a local registry, and boot it in QEMU with its kiosk',
  usage: '[--images DIR] [--profile NAME] [--arch x86_64|aarch64] [--mode direct|uefi|pxe] [--ports BASE | --api-port PORT] [--display] [--work DIR] [--exit-when-ready] [--no-boot]',
  options: {
    arch: { type: 'string' },
    profile: { type: 'string' },
    mode: { type: 'string' },
    images: { type: 'string' },
    work: { type: 'string' },
    ports: { type: 'string' },
    'api-port': { type: 'string' },
    'exit-when-ready': { type: 'boolean' },
    'no-boot': { type: 'boolean' },
    keep: { type: 'boolean' },
    display: { type: 'boolean' },
  },
  help: {
    arch: `guest architecture: ${ARCHES.join(' or ')} (default x86_64)`,
    profile: 'device profile from the images folder\'s profiles.yaml (default office)',
    mode: `how the guest boots: ${GUEST_MODES.join(', ')} (default direct)`,
    images: 'your own apps: a folder of image folders (each with image.yaml) and a profiles.yaml naming them (default ./images)',
    work: `where the development key, registry, data disk and serial log are kept (default ${defaultDemoDir()}); one demo at a time per folder`,
    ports: 'host ports to use: the kiosk on BASE, the apps on BASE+1, BASE+2, … in the order of their own ports (default: their own ports, 8080, 8081, …, or free ones where taken)',
    'api-port': 'host port of the kiosk only (default 8080, or a free one when taken)',
    'exit-when-ready': 'once the apps are listed, check that the kiosk answers through the forwarded port, then power off and exit (for scripts and tests)',
    'no-boot': 'no QEMU: publish, sign, serve and verify over HTTP as a device would',
    keep: 'with --no-boot: keep the temporary work folder',
    display: 'the device\'s own screen: the images folder\'s display image becomes the profile\'s display app, and the guest\'s screen opens in a QEMU window (or on VNC at 127.0.0.1:5900 without a desktop)',
  },
  details: `Boots with: npm run demo (which first installs missing Debian and npm packages and builds).
Then open the printed kiosk URL. Ctrl-C powers the guest off cleanly and stops the registry.
The first run builds the OS image (a few minutes; inputs are cached under ~/.cache/bootos); later runs reuse it.
Your own apps: npm run demo -- --images DIR (DIR holds one folder per image, each with its image.yaml, and a
profiles.yaml with an office profile, or choose one with --profile).
The apps' data (a note in the notes app), the trust state and the pulled images live on the data disk data.img of
the work folder (direct and PXE boots): they are still there at the next run. Remove it to start afresh.`,
  async run(values) {
    const imagesDir = resolve(values.images ?? 'images');
    if (values['no-boot']) return roundTrip(imagesDir, values.keep ?? false);
    const arch = (values.arch ?? 'x86_64') as Arch;
    if (!(ARCHES as readonly string[]).includes(arch)) throw usageError(`--arch must be one of ${ARCHES.join(', ')}, got ${values.arch}`);
    const mode = (values.mode ?? 'direct') as GuestMode;
    if (!GUEST_MODES.includes(mode)) throw usageError(`--mode must be one of ${GUEST_MODES.join(', ')}, got ${values.mode}`);
    const profile = values.profile ?? 'office';
    const profiles = await loadProfiles(join(imagesDir, 'profiles.yaml'));
    if (!profiles[profile]) throw usageError(`--profile ${profile} is not in ${imagesDir}/profiles.yaml (it has ${Object.keys(profiles).join(', ')})`);
    if (values.display && !(await stat(join(imagesDir, 'display', 'image.yaml')).catch(() => null))) {
      throw usageError(`--display needs the display image: ${imagesDir}/display/image.yaml is missing (copy images/display of bootos there)`);
    }
    const appNames = profiles[profile]!.map((entry) => (typeof entry === 'string' ? entry : entry.image));
    if (values.ports !== undefined && values['api-port'] !== undefined) throw usageError('--ports BASE puts the kiosk on BASE: give --ports or --api-port, not both');
    const base = values.ports === undefined ? undefined : parsePortsOption(values.ports);
    const apiPortWanted = values['api-port'] === undefined ? undefined : Number(values['api-port']);
    if (apiPortWanted !== undefined && (!Number.isInteger(apiPortWanted) || apiPortWanted < 1 || apiPortWanted > 65535)) throw usageError(`--api-port must be a port number, got ${values['api-port']}`);

    const work = resolve(values.work ?? defaultDemoDir());
    const registry = join(work, 'registry');
    await mkdir(work, { recursive: true });
    const unlock = await lockWorkDir(work);
    let server: Awaited<ReturnType<typeof startServer>> | null = null;
    let guest: Guest | null = null;
    let stopFollowing = () => {};
    // A Ctrl-C before the console is attached (publishing, building, booting, --exit-when-ready): Node's default would end this process at once
    // and leave QEMU, in its own process group, running on the data disk. Stop everything, then exit.
    const early = () => {
      status('\nbootos demo: stopping (QEMU, the registry)');
      stopFollowing();
      void (async () => {
        await guest?.close();
        await server?.close();
        await unlock();
        process.exit(130);
      })();
    };
    process.once('SIGINT', early);
    process.once('SIGTERM', early);
    const stopEarly = () => {
      process.off('SIGINT', early);
      process.off('SIGTERM', early);
    };
    try {
      const steps = new Steps(BOOT_STEPS, status);
      const window = values.display ? await chooseWindow(arch) : undefined;
      const { ports: publicPorts } = await publishAll(work, registry, imagesDir, steps, window !== undefined);
      const plan = await planPorts(publicPorts, { base, apiPort: apiPortWanted }, freePort);
      for (const note of plan.notes) status(note);
      server = await startServer({ dir: registry, host: '127.0.0.1', port: 0, log: () => {} });
      steps.line('serve', `registry at ${server.url} (the guest reaches it at 10.0.2.2)`);
      steps.line('build', `the ${arch} OS image with this root (cached by input hash under ~/.cache/bootos/images)`);
      const image = await cachedBuild({ arch, rootJson: await readFile(join(registry, 'root.json')), noDisk: mode !== 'uefi', progress: (l) => status(`  ${l}`) });
      let dataDisk: string | undefined;
      if (mode === 'uefi') {
        status('  data: --mode uefi keeps the data root on the partition of a fresh copy of the disk image: it is not kept between runs');
      } else {
        const disk = await ensureDataDisk(work);
        dataDisk = disk.file;
        status(`  data: ${disk.file} (${disk.made ? 'made now' : 'kept from the last run'}; the guest's data root, BOOTOS-DATA)`);
      }
      steps.line('boot', `QEMU ${arch} ${mode}, serial console in ${join(work, 'serial.log')}`);
      guest = await Guest.boot(
        {
          arch, mode, imageDir: image.dir, registry: server.url, profile, dataDisk,
          cmdline: [...portMapArg(plan), DEMO_START_TIMEOUT_ARG],
          apiPort: plan.apiPort,
          forward: plan.apps.map((a) => ({ guestPort: a.port, hostPort: a.port })),
          serialLog: join(work, 'serial.log'),
          ...(window ? { screen: 'virtio' as const, window, memoryMiB: 2048 } : {}),
        },
        (l) => status(`  ${l}`),
      );
      stopFollowing = followSerial(guest);
      if (window) status(`  ${describeWindow(window)}; the display app draws the kiosk there once it is downloaded`);
      await guest.ready();
      const g = guest;
      const apps = await waitForApps(() => g.api('/api/apps'), appNames, 180_000, () => g.vm.running);
      status('');
      // The person's own browser is paired by the link (the host reaches the guest from 10.0.2.2: not the device).
      const link = pairingLink(await guest.vm.log(), guest.apiUrl);
      console.log(`bootos is up: open the kiosk at ${link ?? guest.apiUrl}${link ? ' (the link pairs your browser, once)' : ''}`);
      console.log(`apps: ${apps.map((a) => `${a.name} ${hostUrl(g, a.port)}`).join('  ')}`);
      if (values['exit-when-ready']) {
        const res = await fetch(guest.apiUrl, { signal: AbortSignal.timeout(scaledTimeout(30_000)) });
        const html = await res.text();
        if (res.status !== 200 || !/<title>[^<]*bootos/i.test(html)) throw new BootosError('HTTP_ERROR', `the kiosk at ${guest.apiUrl} answered ${res.status} without its page`);
        console.log(`demo ok: the kiosk answers at ${guest.apiUrl}; powering off`);
        const code = await guest.powerdown();
        if (code !== 0) throw new BootosError('QEMU_EXITED', `QEMU exited with ${code} on poweroff`);
        return;
      }
      stopEarly(); // from here on a Ctrl-C presses the power button (attachConsole)
      console.log('stop: Ctrl-C (powers the guest off cleanly, then stops the registry)');
      const code = await attachConsole(guest);
      status(`bootos demo: the guest is off (QEMU exit ${code})`);
    } finally {
      stopEarly();
      stopFollowing();
      await guest?.close();
      await server?.close();
      await unlock();
    }
  },
});

/**
 * The agent's limit on an app's start is 20 s, for real machines. The demo's guest is emulated (TCG, often on a busy
 * host: 5–10 times slower), where starting node in the notes container took longer and the first request got 503
 * APP_START_FAILED. Scaled by BOOTOS_TIMEOUT_FACTOR like every timeout of the harness.
 */
const DEMO_START_TIMEOUT_ARG = `bootos.limit.startTimeoutMs=${scaledTimeout(90_000)}`;

/** The host URL of a port the guest's agent listens on (the kiosk links to the same port: ports.ts). */
function hostUrl(guest: Guest, port: number): string {
  try {
    return guest.url(port);
  } catch {
    return `(port ${port} in the guest is not forwarded)`;
  }
}
