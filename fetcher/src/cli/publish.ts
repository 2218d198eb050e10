// `bootos publish IMAGE_DIR --registry DIR`: pack an image folder into a registry directory.
import { defineCommand, required, status, usageError } from './kit.js';
import { OCI_ARCHES, ociArch } from '../core/arch.js';
import { publishImage } from '../publish/publish.js';

export const publish = defineCommand({
  name: 'publish',
  summary: 'pack an image folder into the registry (deterministic digests)',
  usage: 'IMAGE_DIR --registry DIR [--arch amd64|arm64]',
  options: { registry: { type: 'string' }, arch: { type: 'string' }, json: { type: 'boolean' } },
  help: {
    registry: 'registry directory (created if missing)',
    arch: `platform of an image with debian: packages: ${OCI_ARCHES.join(' or ')} (default: this machine's)`,
    json: 'print the result as JSON',
  },
  details: 'Prints the image digest. Same folder ⇒ same digest on any machine (mtimes = SOURCE_DATE_EPOCH, default 2024-01-01).',
  positionals: { min: 1, max: 1 },
  async run(values, [dir]) {
    const arch = values.arch === undefined ? undefined : ociArch(values.arch);
    if (values.arch !== undefined && !arch) throw usageError(`--arch must be one of ${OCI_ARCHES.join(', ')}, got ${values.arch}`);
    const result = await publishImage(dir!, required(values.registry, 'registry'), { onProgress: status, arch });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    status(`published ${result.name} ${result.version}: ${result.digest} (layers ${result.layers.map((l) => l.size).join(' + ')} bytes)`);
  },
});
