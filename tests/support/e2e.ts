// End-to-end helpers: one trust root for every e2e image (a test key kept in the cache, so a built image is reused
// until its inputs change), a really signed registry served on 127.0.0.1 (the guest reaches it at 10.0.2.2), the
// device's API read through hostfwd, and HTTP requests to an app's port that never keep a connection open (an open
// connection would keep the app from going idle).
import { get } from 'node:http';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedBuild, type CachedBuild } from '../../bootos/src/os/cached-build.js';
import { cacheDir } from '../../fetcher/src/debian/cache.js';
import { exists } from '../../fetcher/src/core/fs.js';
import type { Arch } from '../../bootos/src/os/recipe.js';
import { errnoCode } from '../../fetcher/src/core/error.js';
import { generateKey, loadSecretKey, writeKeyPair, type SecretKey } from '../../fetcher/src/trust/keys.js';
import { loadProfiles, type Profiles } from '../../fetcher/src/formats/profiles.js';
import { publishImage } from '../../fetcher/src/publish/publish.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { initRoot, signChannel } from '../../fetcher/src/publish/signer.js';
import type { Channel } from '../../fetcher/src/formats/trust-docs.js';
import { sign } from '../../fetcher/src/publish/signer.js';
import { scaledTimeout } from '../../qemu/src/qemu.js';
import { freePort, type Guest } from '../../qemu/src/guest.js';
import { startDockerRegistry, type DockerRegistry } from './docker-registry.js';
import { startOfficeCache, type OfficeCache } from './office-cache.js';
import { IMAGES, REPO, tempDir } from './registry.js';

export const E2E_PROFILES = join(REPO, 'tests', 'fixtures', 'e2e', 'profiles.yaml');
/** The idle time of hello in E2E_PROFILES. */
export const E2E_IDLE_SECONDS = 5;
export const HELLO_PORT = 8081;
/** images/python-web's public port. */
export const PYTHON_WEB_PORT = 8084;

/** The e2e trust root and its key, made once and kept in the cache (images built for it are cached too). */
export async function e2eTrust(): Promise<{ key: SecretKey; rootBytes: Buffer }> {
  const dir = join(cacheDir(), 'e2e-trust');
  if (!(await exists(join(dir, 'registry', 'root.json')))) {
    // Made beside its place and renamed into it: a concurrent test file either wins or uses the winner's.
    const work = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(work, { recursive: true });
    try {
      const key = await writeKeyPair(join(work, 'e2e'));
      await initRoot({ registry: join(work, 'registry'), keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 10 * 365 * 86_400_000 });
      await rename(work, dir).catch((err) => {
        if (!['EEXIST', 'ENOTEMPTY'].includes(errnoCode(err) ?? '')) throw err;
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return { key: await loadSecretKey(join(dir, 'e2e.key')), rootBytes: await readFile(join(dir, 'registry', 'root.json')) };
}

const builds = new Map<string, Promise<CachedBuild>>();

/** The image of `arch` for the e2e root, its disk image included: built once (per input hash) and reused by every test and test file. */
export function e2eImage(arch: Arch, log: (line: string) => void = () => {}): Promise<CachedBuild> {
  let b = builds.get(arch);
  if (!b) {
    b = (async () => cachedBuild({ arch, rootJson: (await e2eTrust()).rootBytes, progress: log }))();
    builds.set(arch, b);
  }
  return b;
}

/** How the guest reaches the registry: a static HTTP server, or a real docker-registry behind the nginx office cache. */
export type RegistryVia = 'http' | 'office-cache';

/** The OCI repository that holds the e2e registry in docker-registry. */
const OCI_NAMESPACE = 'bootos';

/**
 * A registry signed with the e2e key, served on 127.0.0.1 (start() may come later, on the port chosen up front), or
 * pushed into a real docker-registry and read by the guest through the office cache (`via: 'office-cache'`).
 */
export class E2eRegistry {
  private server: { url: string; close(): Promise<void> } | null = null;
  private oci: { registry: DockerRegistry; cache: OfficeCache } | null = null;
  via: RegistryVia = 'http';

  private constructor(
    readonly dir: string,
    readonly key: SecretKey,
    readonly port: number,
    private readonly base: string,
  ) {}

  static async create(images: string[] = ['hello']): Promise<E2eRegistry> {
    const trust = await e2eTrust();
    const base = await tempDir('bootos-e2e-registry-');
    const dir = join(base, 'registry');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'root.json'), trust.rootBytes);
    const registry = new E2eRegistry(dir, trust.key, await freePort(), base);
    for (const image of images) await registry.publish(image.includes('/') ? image : join(IMAGES, image));
    return registry;
  }

  /**
   * http://127.0.0.1:PORT/, or oci+http://127.0.0.1:CACHE_PORT/bootos through the office cache (the guest is given
   * this; 127.0.0.1 becomes 10.0.2.2).
   */
  get url(): string {
    if (this.via === 'office-cache') {
      if (!this.oci) throw new Error('E2eRegistry: start() the office cache before asking for its URL');
      return this.oci.cache.url(OCI_NAMESPACE);
    }
    return `http://127.0.0.1:${this.port}/`;
  }

  /** The office cache's access log (via office-cache only). */
  async cacheLog(): Promise<string[]> {
    return this.oci ? this.oci.cache.accessLog() : [];
  }

  async publish(imageDir: string): Promise<void> {
    await publishImage(imageDir, this.dir);
  }

  /** Signs channel stable (version + 1) over the newest published images, with the e2e profiles by default. */
  async sign(profiles?: Profiles): Promise<Channel> {
    const channel = await signChannel({ registry: this.dir, name: 'stable', profiles: profiles ?? (await loadProfiles(E2E_PROFILES)), signers: [this.key], expiresMs: 7 * 86_400_000 });
    if (this.oci) await pushRegistry(this.dir, this.oci.registry.url(OCI_NAMESPACE));
    return channel;
  }

  /** Replaces channel stable with the same content, version + 1, signed by a key the device's root does not list. */
  async signWithUnknownKey(): Promise<void> {
    const file = join(this.dir, 'channels', 'stable.json');
    const channel = JSON.parse(await readFile(file, 'utf8')) as Channel;
    const forged = sign({ ...channel.signed, version: channel.signed.version + 1 }, [generateKey()]);
    await writeFile(file, `${JSON.stringify(forged, null, 2)}\n`);
  }

  async start(): Promise<void> {
    if (this.via === 'office-cache') {
      if (this.oci) return;
      const registry = await startDockerRegistry();
      try {
        this.oci = { registry, cache: await startOfficeCache(`http://${registry.host}`) };
      } catch (err) {
        await registry.stop();
        throw err;
      }
      await pushRegistry(this.dir, registry.url(OCI_NAMESPACE));
      return;
    }
    if (!this.server) this.server = await startServer({ dir: this.dir, host: '127.0.0.1', port: this.port, log: () => {} });
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = null;
    await this.oci?.cache.stop();
    await this.oci?.registry.stop();
    this.oci = null;
    await rm(this.base, { recursive: true, force: true });
  }
}

/** A copy of images/hello as version `version` (the page answers with x-app-version). */
export async function helloVersion(version: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await tempDir('bootos-e2e-hello-');
  await cp(join(IMAGES, 'hello'), dir, { recursive: true });
  const yaml = await readFile(join(dir, 'image.yaml'), 'utf8');
  await writeFile(join(dir, 'image.yaml'), yaml.replace(/^version: .*$/m, `version: ${version}`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One GET on a fresh connection that is closed right after the answer. */
export function getOnce(url: string, timeoutMs = 60_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, headers: { connection: 'close' }, timeout: scaledTimeout(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface AppsView {
  channel: { name: string; version: number | null; state: string; error: { code: string; message: string } | null };
  apps: Array<{ name: string; version: string; state: string; starts: number; error: { code: string } | null; update?: { state: string } }>;
}

/** Polls the guest's /api/apps until `check` accepts it (timeout scaled by BOOTOS_TIMEOUT_FACTOR). */
export async function waitForApps(guest: Guest, what: string, check: (v: AppsView) => boolean, timeoutMs: number): Promise<AppsView> {
  const deadline = Date.now() + scaledTimeout(timeoutMs);
  let last: AppsView | string = 'no answer yet';
  for (;;) {
    try {
      last = await guest.api<AppsView>('/api/apps');
      if (check(last)) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    if (!guest.vm.running) throw new Error(`the guest stopped while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${scaledTimeout(timeoutMs)} ms; last /api/apps: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One PASSED line on stdout (linuxkit-style), whatever ava's verbosity. */
export function passed(name: string, seconds: number): void {
  process.stdout.write(`PASSED ${name} (${seconds.toFixed(1)} s)\n`);
}

/** How often the guests' agents check the channel (bootos.poll_seconds): the update step waits for that. */
export const E2E_POLL_SECONDS = 5;

/**
 * The guest agent's limit on an app's start (default 20 s, for real machines): an emulated aarch64 guest on a busy
 * host took longer to start node in the container, and the agent killed hello mid-start; python-web (which compiles
 * the stdlib modules it imports at every start: Debian ships no bytecode) took over 90 s there. Scaled like every
 * timeout.
 */
export const E2E_START_TIMEOUT_ARG = `bootos.limit.startTimeoutMs=${scaledTimeout(180_000)}`;

/**
 * The whole chain as a user meets it: boot → the agent verifies channel stable from the host's registry → a request
 * through hostfwd to hello's port pulls, starts and answers → hello stops after its idle time → the channel is
 * re-signed with hello 2.0.0 → the agent's watcher
 * verifies it → hello answers as 2.0.0 → the power button powers the guest off cleanly.
 */
export async function fullFlow(
  t: import('ava').ExecutionContext,
  /** python: python-web (Debian's python3, runtime none, PID 1 tini) is in the profile too, and must answer. */
  options: { arch: Arch; mode: 'direct' | 'uefi' | 'pxe'; via?: RegistryVia; python?: boolean },
): Promise<void> {
  const { Guest } = await import('../../qemu/src/guest.js');
  const started = Date.now();
  const via = options.via ?? 'http';
  const name = `e2e ${options.arch} ${options.mode}${via === 'http' ? '' : ` via ${via}`}`;
  const image = await e2eImage(options.arch, (l) => t.log(l));
  const registry = await E2eRegistry.create(options.python ? ['hello', 'python-web'] : ['hello']);
  registry.via = via;
  t.teardown(() => registry.close());
  const profiles = options.python ? { office: [...(await loadProfiles(E2E_PROFILES)).office!, 'python-web'] } : undefined;
  await registry.sign(profiles);
  await registry.start();
  const v2 = await helloVersion('2.0.0');
  t.teardown(() => v2.cleanup());

  const booted = Date.now();
  const guest = await Guest.boot(
    { arch: options.arch, mode: options.mode, imageDir: image.dir, registry: registry.url, cmdline: [`bootos.poll_seconds=${E2E_POLL_SECONDS}`, E2E_START_TIMEOUT_ARG], forward: [{ guestPort: HELLO_PORT }, ...(options.python ? [{ guestPort: PYTHON_WEB_PORT }] : [])] },
    (l) => t.log(l),
  );
  t.teardown(() => guest.close());
  try {
    await guest.ready();
    const ready = (Date.now() - booted) / 1000;
    const log = await guest.vm.log();
    t.regex(log, /bootos-init: cgroup v2 controllers: .*\bcpu\b.*\bmemory\b.*\bpids\b/);
    // The data root is mounted in the background while the agent starts: its line may come after the ready line.
    if (options.mode === 'uefi') await guest.vm.expect(/bootos-init: data root \/dev\/vda2/, 60_000);

    const verified = await waitForApps(guest, 'channel stable version 1 verified', (v) => v.channel.state === 'ok' && v.channel.version === 1, 60_000);
    t.deepEqual(verified.apps.map((a) => [a.name, a.version, a.state]), [['hello', '1.0.0', 'available'], ...(options.python ? [['python-web', '1.0.0', 'available']] : [])]);

    const requested = Date.now();
    const first = await getOnce(guest.url(HELLO_PORT, '/'), 120_000);
    const firstResponse = (Date.now() - requested) / 1000;
    t.is(first.status, 200);
    t.is(first.headers['x-app-version'], '1.0.0');
    t.regex(first.body, /<h1>Hello from bootos<\/h1>/);
    const running = await guest.api<AppsView>('/api/apps');
    t.like(running.apps[0], { name: 'hello', starts: 1 });

    const stopped = await waitForApps(guest, `hello stopped after ${E2E_IDLE_SECONDS} s idle`, (v) => v.apps[0]?.state === 'stopped', (E2E_IDLE_SECONDS + 40) * 1000);
    t.is(stopped.apps[0]!.error, null, 'an idle stop is not an error');
    await guest.vm.expect(/bootos-agent: hello: stopped/, 10_000);

    await registry.publish(v2.dir);
    await registry.sign(profiles);
    // The agent's channel watcher sees version 2 within a poll and its updater moves hello to 2.0.0 (pulled while
    // hello is stopped; a request during the download would start 1.0.0 and be handed over to 2.0.0 after).
    await waitForApps(guest, 'channel version 2 verified', (v) => v.channel.version === 2 && v.channel.state === 'ok', (E2E_POLL_SECONDS + 60) * 1000);
    await waitForApps(guest, 'hello updated to 2.0.0', (v) => v.apps[0]?.version === '2.0.0', 120_000);
    const second = await getOnce(guest.url(HELLO_PORT, '/'), 120_000);
    t.is(second.status, 200);
    t.is(second.headers['x-app-version'], '2.0.0');
    const updated = await guest.api<AppsView>('/api/apps');
    t.like(updated.apps[0], { name: 'hello', version: '2.0.0', state: 'running' });

    if (options.python) {
      // The device's own platform of a Debian-package image: pulled (about 18 MB), unpacked, started under tini.
      const asked = Date.now();
      const health = await getOnce(guest.url(PYTHON_WEB_PORT, '/health'), 300_000);
      t.is(health.status, 200, health.body);
      const entries = await getOnce(guest.url(PYTHON_WEB_PORT, '/api/entries'), 60_000);
      t.is(entries.status, 200);
      t.is(JSON.parse(entries.body).count, 0);
      t.log(`${name}: python-web answered ${((Date.now() - asked) / 1000).toFixed(1)} s after its first request (download, unpack, start)`);
    }

    if (via === 'office-cache') {
      // Every byte came from docker-registry through nginx: the device's blob and tag reads are in the cache's log.
      const log = await registry.cacheLog();
      t.true(log.some((l) => /GET \/v2\/bootos\/blobs\/sha256:/.test(l)), 'the device read blobs through the office cache');
      t.true(log.some((l) => /GET \/v2\/bootos\/manifests\/channel-stable /.test(l)), 'the device read the channel through the office cache');
      t.regex(await guest.vm.log(), /registry=oci\+http:\/\/10\.0\.2\.2:\d+\/bootos/);
    }

    t.is(await guest.powerdown(), 0);
    const after = await guest.vm.log();
    t.regex(after, /bootos-agent: stopped[\s\S]*bootos-init: poweroff/);
    t.notRegex(after, /Kernel panic|Attempted to kill init/);
    t.log(`${name}: ready ${ready.toFixed(1)} s after QEMU started, first answer of hello ${firstResponse.toFixed(1)} s after the request`);
    passed(name, (Date.now() - started) / 1000);
  } catch (err) {
    t.log(`serial log tail:\n${(await guest.vm.log().catch(() => '')).slice(-4000)}`);
    throw err;
  }
}
