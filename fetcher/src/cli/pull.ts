// `bootos pull IMAGE --registry URL_OR_DIR`: verify the channel as a device would, pull the image into a store, print its root.
import { readFile } from 'node:fs/promises';
import v8 from 'node:v8';
import { defineCommand, registryArgument, required, status } from './kit.js';
import { readFileOrFail } from '../core/fs.js';
import { progressPrinter } from './progress-printer.js';
import { pullImage } from '../store/pull.js';
import { openSource } from '../source/open-source.js';
import { Store } from '../store/store.js';
import { Trust } from '../trust/trust.js';
import { loadSealPrivateKey } from '../trust/sealed-box.js';

export const pullCommand = defineCommand({
  name: 'pull',
  summary: 'verify a channel and pull one of its images into a store (streaming, resumable)',
  usage: 'IMAGE --registry URL_OR_DIR --root ROOT.json --channel NAME --store DIR [--arch A] [--mirror URL …] [--seal-key FILE] [--json]',
  options: {
    registry: { type: 'string' },
    root: { type: 'string' },
    channel: { type: 'string' },
    store: { type: 'string' },
    arch: { type: 'string' },
    state: { type: 'string' },
    mirror: { type: 'string', multiple: true },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'seal-key': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'the registry: a directory, http(s)://…, oci://HOST/NAMESPACE or oci+http://… (required)',
    root: 'trusted root.json (as baked into a device) (required)',
    channel: 'channel name (required); an image the channel does not pin is refused',
    store: 'store directory: blobs/sha256, roots/<manifest hex> (required)',
    arch: 'x86_64 or aarch64 (default: this machine)',
    state: 'directory keeping the newest root and the versions seen (rollback protection across runs)',
    mirror: 'another base URL of the same registry, tried when the first fails; repeat',
    ca: 'PEM file of the CA(s) that sign the registry certificate',
    cert: 'PEM client certificate (mutual TLS); with --key',
    key: 'PEM client key (mutual TLS); with --cert',
    'seal-key': "this device's X25519 sealing private key (PKCS#8 PEM or base64 of 32 bytes): opens encrypted images sealed to it",
    json: 'print {name, digest, manifestDigest, rootfs} as JSON',
  },
  details: 'Prints the path of the unpacked root. Progress goes to stderr (a bar on a terminal, plain lines otherwise).\nAn interrupted pull resumes where it stopped: run the same command again.',
  positionals: { min: 1, max: 2 },
  async run(values, positionals) {
    const { registry: location, rest: [image] } = registryArgument('pull', values.registry, positionals, 1);
    // A pull streams about twice the image's bytes through short-lived Buffers; a 1 MiB young generation frees them
    // promptly instead of letting ~30 MiB of garbage pile up between collections (docs/performance.md, ## Pull).
    v8.setFlagsFromString('--max-semi-space-size=1');
    const [ca, cert, key] = await Promise.all([values.ca, values.cert, values.key].map((f) => (f ? readFile(f) : undefined)));
    const source = openSource(location, { mirrors: values.mirror, ca, cert, key });
    try {
      const rootFile = required(values.root, 'root');
      const trust = await Trust.open({ initialRoot: await readFileOrFail(rootFile, 'root file'), initialRootName: `root file ${rootFile}`, stateDir: values.state });
      const channel = await trust.fetchChannel(source, required(values.channel, 'channel'));
      const store = new Store(required(values.store, 'store'));
      const sealKey = values['seal-key'] ? await loadSealPrivateKey(values['seal-key']) : undefined;
      const progress = progressPrinter(process.stderr);
      const started = Date.now();
      let pulled;
      try {
        pulled = await pullImage({ source, store, channel: channel.signed, image: image!, arch: values.arch, onProgress: progress.onProgress, sealKey });
      } finally {
        progress.end();
      }
      if (values.json) console.log(JSON.stringify({ name: pulled.name, digest: pulled.digest, manifestDigest: pulled.manifestDigest, rootfs: pulled.rootfs }));
      else console.log(pulled.rootfs);
      if (pulled.skipped.length) status(`skipped ${pulled.skipped.length} device node(s) or FIFO(s), never created: ${pulled.skipped.join(', ')}`);
      status(`pulled ${pulled.name} ${pulled.config.version} (${pulled.manifestDigest}) in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    } finally {
      // HttpSource and OciSource keep connections alive; close them so that the process exits at once.
      source.close();
    }
  },
});
