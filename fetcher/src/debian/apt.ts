// Debian packages for any architecture through apt-get, without touching the host's dpkg or apt state:
// apt gets its own lists, cache and (empty) status file under the bootos cache, and reads the host's sources.
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError } from '../core/error.js';
import type { DebPin } from '../formats/deb-pin.js';
import { cacheDir } from './cache.js';
import { run } from '../core/proc.js';

export type { DebPin };

/** Which lockfile pins a package, and the command that refreshes it: what an OS_PIN_GONE message tells to run. */
export interface LockRef {
  file: string;
  command: string;
}

// The hash install --print-uris prints is not always the strongest one the lists carry (MD5Sum was seen): force it.
const CLOSURE_OPTIONS = ['-o', 'Acquire::ForceHash=SHA256', '--print-uris', '-qq', 'install', '--no-install-recommends'];

export const OS_LOCK: LockRef = { file: 'bootos.lock.json', command: 'bootos lock' };

/** Lists older than this are refreshed before resolving new pins (`bootos lock`). */
const LISTS_MAX_AGE_MS = 6 * 3600_000;

export class Apt {
  readonly dir: string;

  constructor(readonly debArch: string) {
    this.dir = join(cacheDir(), 'apt', debArch);
  }

  private options(): string[] {
    return [
      '-o', `APT::Architecture=${this.debArch}`,
      '-o', `APT::Architectures=${this.debArch}`,
      '-o', `Dir::State::Lists=${join(this.dir, 'lists')}`,
      '-o', `Dir::State::Status=${join(this.dir, 'status')}`,
      '-o', `Dir::Cache=${join(this.dir, 'cache')}`,
      // apt drops to the _apt user for downloads when run as root; our private dirs belong to the caller.
      '-o', 'APT::Sandbox::User=root',
      '-o', 'Debug::NoLocking=1',
      '-q',
    ];
  }

  private async prepare(): Promise<void> {
    for (const d of ['lists/partial', 'cache/archives/partial']) await mkdir(join(this.dir, d), { recursive: true });
    await writeFile(join(this.dir, 'status'), '', { flag: 'a' });
  }

  /** Downloads the package lists (into the private lists dir). */
  async update(): Promise<void> {
    await this.prepare();
    await run('apt-get', [...this.options(), '--error-on=any', 'update'], { code: 'OS_FETCH_FAILED' });
  }

  /** Updates the lists when they are missing or older than `maxAgeMs`. */
  async ensureLists(maxAgeMs = LISTS_MAX_AGE_MS): Promise<void> {
    await this.prepare();
    const lists = (await readdir(join(this.dir, 'lists'))).filter((f) => f.endsWith('_Packages') || f.includes('_Packages.'));
    if (lists.length) {
      const age = Date.now() - (await stat(join(this.dir, 'lists', lists[0]!))).mtimeMs;
      if (age < maxAgeMs) return;
    }
    await this.update();
  }

  /** The candidate version of a package (the newest in the host's sources), without downloading it. */
  async candidate(name: string): Promise<DebPin> {
    const { stdout } = await run('apt-get', [...this.options(), '--print-uris', 'download', name], { code: 'OS_FETCH_FAILED' });
    // 'http://…/busybox-static_1.35.0-4%2bdeb12u1_amd64.deb' busybox-static_1%3a1.35.0-4+deb12u1_amd64.deb 822236 SHA256:…
    const line = stdout.split('\n').find((l) => l.startsWith("'"));
    const m = line?.match(/^'\S+' (\S+) (\d+) SHA256:([0-9a-f]{64})$/);
    if (!m) throw new BootosError('OS_FETCH_FAILED', `apt-get --print-uris download ${name} (${this.debArch}): unexpected output: ${stdout.trim()}`);
    const filename = decodeURIComponent(m[1]!);
    const parts = filename.replace(/\.deb$/, '').split('_');
    if (parts.length !== 3 || parts[0] !== name) throw new BootosError('OS_FETCH_FAILED', `unexpected package file name ${filename}`);
    return { version: parts[1]!, filename, size: Number(m[2]), sha256: m[3]! };
  }

  /**
   * The candidates of `names` with every package they need, recommends left out, as apt would install them on an
   * empty system (the private status file lists nothing installed). Essential packages come only when depended upon.
   * A name apt does not know is IMAGE_INVALID, naming `where` (the file that asked for it).
   */
  async closure(names: readonly string[], where: string): Promise<Record<string, DebPin>> {
    let stdout: string;
    try {
      ({ stdout } = await run('apt-get', [...this.options(), ...CLOSURE_OPTIONS, ...names], { code: 'OS_FETCH_FAILED' }));
    } catch (err) {
      const m = /(Unable to locate package \S+|Package '?\S+'? has no installation candidate|Unable to correct problems.*|\S+ : Depends: .*)/.exec((err as Error).message);
      if (m) throw new BootosError('IMAGE_INVALID', `${where}: debian: ${m[1]} (${this.debArch})`, { cause: err });
      throw err;
    }
    const pins: Record<string, DebPin> = {};
    for (const line of stdout.split('\n').filter(Boolean)) {
      // 'http://…/zlib1g_1%3a1.2.13.dfsg-1%2bdeb12u1_amd64.deb' zlib1g_1%3a1.2.13.dfsg-1+deb12u1_amd64.deb 86880 SHA256:…
      const m = line.match(/^'\S+' (\S+) (\d+) SHA256:([0-9a-f]{64})$/);
      if (!m) throw new BootosError('OS_FETCH_FAILED', `apt-get --print-uris install (${this.debArch}): unexpected line: ${line}`);
      const filename = decodeURIComponent(m[1]!);
      const parts = filename.replace(/\.deb$/, '').split('_');
      if (parts.length !== 3) throw new BootosError('OS_FETCH_FAILED', `unexpected package file name ${filename}`);
      pins[parts[0]!] = { version: parts[1]!, filename, size: Number(m[2]), sha256: m[3]! };
    }
    for (const name of names) {
      if (!pins[name]) throw new BootosError('OS_FETCH_FAILED', `apt-get install ${name} (${this.debArch}) would download no ${name}: is it a virtual package?`);
    }
    return Object.fromEntries(Object.entries(pins).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Names of the packages the candidate of `name` depends on (first alternative of each). */
  async depends(name: string): Promise<string[]> {
    const { stdout } = await run('apt-cache', [...this.options(), 'show', '--no-all-versions', name], { code: 'OS_FETCH_FAILED' });
    const line = stdout.split('\n').find((l) => l.startsWith('Depends: '));
    if (!line) return [];
    return line
      .slice('Depends: '.length)
      .split(',')
      .map((d) => d.trim().split(/[\s|(:]/)[0]!)
      .filter(Boolean);
  }

  /**
   * Downloads exactly `name=version` into a temp file and returns its path. A version that has left the archive is
   * OS_PIN_GONE (after one refresh of the lists), naming the lockfile that pins it and the command that refreshes it.
   */
  async download(name: string, version: string, lock: LockRef = OS_LOCK): Promise<string> {
    await this.ensureLists();
    const work = join(this.dir, 'download');
    await mkdir(work, { recursive: true });
    const tmp = await mkdtemp(join(work, 'dl-'));
    const attempt = () => run('apt-get', [...this.options(), 'download', `${name}=${version}`], { cwd: tmp, code: 'OS_FETCH_FAILED' });
    try {
      try {
        await attempt();
      } catch (err) {
        if (!/not found|Unable to locate|Can't find a source/i.test((err as Error).message)) throw err;
        await this.update();
        try {
          await attempt();
        } catch (again) {
          if (!/not found|Unable to locate|Can't find a source/i.test((again as Error).message)) throw again;
          throw new BootosError(
            'OS_PIN_GONE',
            `${name} ${version} (${this.debArch}) is pinned in ${lock.file} but is no longer in the Debian archive; run \`${lock.command}\` to refresh the pins`,
            { cause: again },
          );
        }
      }
      const files = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
      if (files.length !== 1) throw new BootosError('OS_FETCH_FAILED', `apt-get download ${name}=${version}: expected one .deb, got ${files.join(', ') || 'none'}`);
      return join(tmp, files[0]!);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
