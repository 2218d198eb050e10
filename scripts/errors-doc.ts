// Writes docs/errors.md from the table of codes in fetcher/src/core/error.ts: each code's kind, HTTP status and
// meaning come from there; what to do about it and the words around each section are here. tests/unit/docs.test.ts
// fails when the committed file differs from what this makes.
//   node --import tsx scripts/errors-doc.ts          rewrite docs/errors.md
//   node --import tsx scripts/errors-doc.ts --check  exit 1 if it is out of date
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ERRORS, ERROR_CODES, type ErrorArea, type ErrorCode } from '../fetcher/src/core/error.js';

export const ERRORS_DOC = fileURLToPath(new URL('../docs/errors.md', import.meta.url));

const SECTIONS: Record<ErrorArea, { title: string; before?: string; after?: string }> = {
  common: { title: 'Used everywhere' },
  publish: {
    title: 'Publishing and input files',
    before: 'Raised while an image folder, image.yaml, profiles.yaml or the OS recipe is read (`bootos publish`, `bootos build`).',
  },
  trust: {
    title: 'Trust',
    before:
      'Raised on the device (and by `bootos pull`) when what a registry serves does not pass the trust checks\n' +
      '(`fetcher/src/trust/`): each one is an attack or a mistake that is refused. The agent shows the channel as\n' +
      '`error` and keeps what it has.',
  },
  registry: {
    title: 'Registry access',
    before: 'Raised by the sources and the HTTP transport (`fetcher/src/source/`).',
    after:
      'The transport retries `NETWORK`, `TIMEOUT` and `HTTP_ERROR` of a status that may pass (408, 425, 429, 5xx) up to\n' +
      '`maxRetries` times in a row on every mirror, with resumes in between; other statuses are not retried there, but\n' +
      'like every transient code they are tried again by the agent at its next channel check.',
  },
  pull: {
    title: 'Pulls and unpacking',
    before:
      'Raised by `pullImage`, `Store` and the unpacker (`fetcher/src/store/`: `pull.ts`, `store.ts`, `path-gate.ts`,\n' +
      '`unpack.ts`). Every refused archive leaves nothing behind: no root, no staging directory, no partial download, and\n' +
      'the layer blob is not committed. A transient failure or an abort keeps the partial download for a Range resume.',
  },
  agent: { title: 'Device agent', before: 'Raised by the agent (`bootos/src/agent/`) and answered by its API (docs/api.md).' },
  update: { title: 'Hot updates and OS updates' },
  build: {
    title: 'OS image builder, Debian packages and QEMU harness',
    before: 'Raised by `bootos build` and `bootos lock`, and by `bootos publish` for the `debian:` packages of an image.',
    after:
      'Downloads that do not match their pin fail with `DIGEST_MISMATCH` / `SIZE_MISMATCH`, a bad `--root` with the trust\n' +
      'codes (`JSON_INVALID`, `DOCUMENT_TYPE`, `SCHEMA_INVALID`, …).',
  },
};

const ORDER: ErrorArea[] = ['common', 'publish', 'trust', 'registry', 'pull', 'agent', 'update', 'build'];

const WHAT_TO_DO: Partial<Record<ErrorCode, string>> = {
  USAGE: 'see `bootos <verb> --help`',
  KEY_INVALID: 'regenerate with `bootos key generate`',
  PORT_IN_USE: 'choose another port (`bootos serve --port N`, agent.json `apiPort`; 0 picks a free one), or stop the program that holds it',
  SCHEMA_INVALID: 'fix the named field',
  YAML_INVALID: 'fix the syntax at the line given',
  IMAGE_SOURCE_INVALID: 'check the `from:` reference (`oci:DIR:REF`, `oci-archive:FILE`, `docker-archive:FILE`, `oci://HOST/REPO:TAG`)',
  IMAGE_ARCH_MISMATCH: 'set `architecture:` to the platforms the binaries are built for, or drop the named file',
  IMAGE_ENTRYPOINT_MISSING: 'fix `entrypoint:` or add the program (and its execute bit) to the image',
  SIGNATURE_INVALID: 'do not trust this registry; re-sign from a good copy',
  THRESHOLD_NOT_MET: 'sign with more keys',
  UNKNOWN_KEY: 'sign with a key of the root, or rotate the root',
  EXPIRED: 're-sign the channel (`bootos channel sign`)',
  ROLLBACK: 'publish a higher version; never reuse old documents',
  ROOT_VERSION_GAP: 'republish the roots in order',
  PROFILE_UNKNOWN: "check the device's profile and profiles.yaml",
  PROFILE_UNKNOWN_IMAGE: 'publish the image, then sign',
  DIGEST_MISMATCH: 'the registry or a mirror is corrupt or hostile',
  SIZE_MISMATCH: 'as above',
  PLATFORM_NOT_FOUND: 'publish the image for it',
  NETWORK: 'check the URL and the network; devices retry',
  TIMEOUT: 'as above',
  AUTH_REQUIRED: '`--username`/`--password-stdin`, or `BOOTOS_REGISTRY_USERNAME`/`BOOTOS_REGISTRY_PASSWORD`, or `user:password@` in the URL',
  AUTH_REFUSED: "check the user, the password and the user's rights on the repository",
  ABORTED: 'nothing; a later pull resumes the partial download',
  STORE_INVALID: 'the damaged blob was removed; pull again (`Store.verify()` lists others)',
  UNPACK_PATH_INVALID: 'the layer is malformed; rebuild it',
  UNPACK_PATH_TRAVERSAL: 'hostile or broken layer; never unpacked',
  UNPACK_ABSOLUTE_PATH: 'build layers with relative paths',
  UNPACK_PATH_TOO_LONG: 'shorten it',
  UNPACK_PATH_TOO_DEEP: 'flatten the tree',
  UNPACK_SYMLINK_ESCAPE: 'use targets inside the image; absolute targets are fine (resolved from the image root)',
  UNPACK_THROUGH_SYMLINK: 'put the file under the real directory',
  UNPACK_NOT_A_DIRECTORY: 'fix the layer',
  UNPACK_HARDLINK_ESCAPE: 'link to a file inside the image',
  UNPACK_HARDLINK_MISSING: 'order the target before the link',
  UNPACK_ENTRY_TYPE: 'use files, directories, symlinks and hardlinks',
  UNPACK_REPLACES_DIRECTORY: 'remove the directory with an OCI whiteout first',
  UNPACK_TOO_MANY_ENTRIES: 'raise the limit or split the image',
  UNPACK_TOO_LARGE: 'raise the limit if the image is really that big',
  UNPACK_ARCHIVE_INVALID: 'republish the image (wrong bytes are `DIGEST_MISMATCH`)',
  IMAGE_NOT_RECIPIENT: 'the publisher adds the device (`bootos image rewrap --add`) and signs the channel again; `bootos pull` takes `--seal-key`',
  IMAGE_DECRYPT_FAILED: 'republish the image (`bootos publish --encrypt-to`); tampered bytes in a registry are `DIGEST_MISMATCH`',
  CONFIG_INVALID: 'fix the named key',
  DATA_ROOT_TIMEOUT: "check the data disk (init's lines on the console); the agent is restarted",
  NO_SPACE: 'free space on the device (remove unused images: the store keeps only what the profile needs after gc)',
  IDENTITY_INVALID: 'restore the file from a backup; or remove it, and the device makes a new identity at the next start, which must be enrolled again',
  DATA_ROOT_INVALID: 'check the data partition (mounted read-write, not full); the agent is restarted',
  APP_START_FAILED: 'see `GET /api/apps/:name/logs`',
  PAIRING_REFUSED: "enter the code the device's screen or serial console shows now",
  PAIRING_TOO_MANY: 'wait a minute',
  AGENT_ERROR: "read the message: a read-only or failing disk, or a bug (report it with the agent's log)",
  HOST_NETWORK_NOT_ALLOWED: 'sign the channel with `hostNetwork: true` on the profile entry if the image is trusted like the OS, or publish it with `network: none`',
  APP_INIT_MISSING: "the OS image ships Debian's tini (bootos/os/bootos.yaml); on a host, `apt-get install tini`",
  APP_CRASHED: 'see `error.logTail`',
  APP_OOM: 'raise `resources.memory` in image.yaml',
  APP_FAILED: 'fix the app; its last lines are in `error.logTail`',
  RUNTIME_ERROR: "the message carries runc's own words",
  NETWORK_SETUP: 'the agent must run as root with iproute2',
  API_BUSY: 'close another /api/events stream (another kiosk tab) or try again',
  FORBIDDEN: 'docs/security.md',
  DATA_FULL: "free space on the data partition (remove apps from the profile and run store gc), or lower an image's `resources.data`; apps' own writes beyond their `resources.data` fail inside the app (ENOSPC in its `/data`), not here",
  DATA_VOLUME_FAILED: 'the OS image ships `mkfs.ext4` (e2fsprogs) and the `loop` module; on a host run install e2fsprogs',
  UPDATE_NO_SPACE: "free space on the data partition, or shrink the app's data (copy-on-write filesystems need only metadata)",
  UPDATE_SKIPPED: "publish a fixed version; the failure's reason is in `apps[].update.error`",
  OS_RELEASE_INVALID: 'publish the release with `bootos os publish` and sign the channel again',
  OS_VERSION_FAILED: 'publish a fixed OS release with a higher version (docs/os-updates.md)',
  OS_UPDATE_UNAVAILABLE: 'boot the device from its disk image; PXE and direct-booted devices take a new OS at their next boot',
  ESP_INVALID: 'write the disk image again (`bootos build`), or see docs/os-updates.md for the layout',
  OS_LOCK_STALE: 'run `bootos lock` (an image: `bootos lock --image DIR`, as the message says)',
  OS_PIN_GONE: 'run `bootos lock` (an image: `bootos lock --image DIR`) and commit the new lockfile',
  OS_FETCH_FAILED: "check the network and the host's apt sources",
  OS_TOOL_FAILED: '`bash scripts/install-deps.sh`',
  OS_MODULE_NOT_FOUND: 'fix `kernel.modules` in bootos.yaml',
  OS_TREE_INVALID: "fix the recipe's `packages[].files` globs or `files`",
  QEMU_TIMEOUT: 'read the serial log tail in the message',
  QEMU_EXITED: "read QEMU's stderr in the message",
  WORK_DIR_BUSY: 'stop that demo, or give this one its own `--work DIR`',
};

const HEADER = `# Error codes

<!-- Generated by scripts/errors-doc.ts from fetcher/src/core/error.ts: edit those, then run
     node --import tsx scripts/errors-doc.ts -->

Every failure a user or caller can act on is a \`BootosError\` with a stable \`code\` (\`fetcher/src/core/error.ts\`,
where each code is declared with its kind, HTTP status and meaning). The CLI prints
\`bootos <verb>: error <CODE>: <message>\` and exits 1 (2 for \`USAGE\`). Callers and tests match on the code, never on
the message; they ask \`isTransient(code)\` and \`isRefusal(code)\` instead of keeping lists of codes.

Kinds:

- **refused**: the input was checked and rejected (trust failures, bad archives, hostile or malformed data); trying
  again will not help. The agent shows its channel as \`error\`.
- **transient**: may succeed later (the network, a timeout, an HTTP error status). Transports retry; the agent tries
  again at its next channel check; a partial download is kept.
- **usage**: the call is wrong: an option or argument, a name or file that does not exist, an action that the app's
  state does not allow.
- **local**: something on this machine: the disk, the store, the runtime, the configuration, a tool.

**HTTP** is the status an API answers with the code (the agent's API, docs/api.md).
`;

const cell = (text: string) => text.replaceAll('|', '\\|');

export function renderErrorsDoc(): string {
  const parts = [HEADER];
  for (const area of ORDER) {
    const section = SECTIONS[area];
    parts.push(`## ${section.title}\n`);
    if (section.before) parts.push(`${section.before}\n`);
    const rows = ERROR_CODES.filter((code) => ERRORS[code].area === area).map((code) => {
      const { kind, status, meaning } = ERRORS[code];
      return `| \`${code}\` | ${kind} | ${status} | ${cell(meaning)} | ${cell(WHAT_TO_DO[code] ?? '')} |`;
    });
    parts.push(['| code | kind | HTTP | meaning | what to do |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n');
    if (section.after) parts.push(`${section.after}\n`);
  }
  return parts.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderErrorsDoc();
  if (process.argv.includes('--check')) {
    const current = await readFile(ERRORS_DOC, 'utf8').catch(() => '');
    if (current !== text) {
      process.stderr.write('docs/errors.md is out of date: run node --import tsx scripts/errors-doc.ts\n');
      process.exit(1);
    }
  } else {
    await writeFile(ERRORS_DOC, text);
  }
}
