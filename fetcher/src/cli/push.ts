// `bootos push REGISTRY_DIR oci://HOST[:PORT]/NAMESPACE`: copy a registry directory into an OCI registry (docs/fleet.md).
import { defineCommand, registryArgument, registryDirectory, status, usageError } from './kit.js';
import { credentialsFromEnv, type Credentials } from '../source/oci-auth.js';
import { pushRegistry } from '../publish/push.js';

export const pushCommand = defineCommand({
  name: 'push',
  summary: 'copy a registry directory into an OCI registry (blobs, images, then trust documents last)',
  usage: 'oci://HOST[:PORT]/NAMESPACE --registry DIR [--username U --password-stdin] [--dry-run] [--json]',
  options: {
    registry: { type: 'string' },
    username: { type: 'string', short: 'u' },
    'password-stdin': { type: 'boolean' },
    'chunk-mib': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'the registry directory to copy (required)',
    username: 'registry user (default: $BOOTOS_REGISTRY_USERNAME, or user@ in the URL)',
    'password-stdin': 'read the password from stdin (default: $BOOTOS_REGISTRY_PASSWORD)',
    'chunk-mib': 'blobs larger than this are uploaded in chunks of this size (default 64)',
    'dry-run': 'check what is missing (HEAD requests only) and upload nothing',
    json: 'print the result as JSON',
  },
  details: [
    'URL schemes: oci://HOST/NAMESPACE is HTTPS; oci+http://HOST/NAMESPACE is plain HTTP (loopback and lab networks).',
    'All of the registry goes into the one repository NAMESPACE: every blob, each image under the tag NAME-VERSION,',
    'and the trust documents as OCI artifacts tagged root-N, root, devices and channel-NAME, pushed last so that a device',
    'never reads a channel whose images are not all there yet. What the registry already has is skipped (HEAD first).',
    'Registries that want a login answer with a Basic or a bearer-token challenge; both are handled.',
  ].join('\n'),
  positionals: { min: 1, max: 2 },
  async run(values, positionals) {
    const { registry, rest: [location] } = registryArgument('push', values.registry, positionals, 1);
    const dir = registryDirectory(registry);
    let credentials: Credentials | undefined;
    if (values.username !== undefined || values['password-stdin']) {
      const username = values.username ?? process.env.BOOTOS_REGISTRY_USERNAME;
      if (!username) throw usageError('--password-stdin needs --username (or BOOTOS_REGISTRY_USERNAME)');
      const password = values['password-stdin'] ? (await readStdin()).replace(/\r?\n$/, '') : process.env.BOOTOS_REGISTRY_PASSWORD;
      if (password === undefined) throw usageError('--username needs a password: --password-stdin or BOOTOS_REGISTRY_PASSWORD');
      credentials = { username, password };
    } else {
      credentials = credentialsFromEnv();
    }
    let uploadChunkBytes: number | undefined;
    if (values['chunk-mib'] !== undefined) {
      if (!/^[1-9]\d{0,4}$/.test(values['chunk-mib'])) throw usageError(`--chunk-mib must be a positive integer, got ${values['chunk-mib']}`);
      uploadChunkBytes = Number(values['chunk-mib']) * 1024 * 1024;
    }
    const result = await pushRegistry(dir, location!, { credentials, limits: uploadChunkBytes ? { uploadChunkBytes } : undefined, dryRun: values['dry-run'], onProgress: status });
    if (values.json) console.log(JSON.stringify(result));
    else for (const [tag, digest] of Object.entries({ ...result.images, ...result.trust })) console.log(`${tag} ${digest}`);
    const verb = result.dryRun ? 'would upload' : 'uploaded';
    status(
      `${result.registry}: ${verb} ${result.blobs.uploaded} blob(s) (${result.blobs.uploadedBytes} bytes) and ${result.manifests.uploaded} manifest(s); ` +
        `${result.blobs.present} blob(s) and ${result.manifests.present} manifest(s) were already there`,
    );
  },
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}
