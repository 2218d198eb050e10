// `bootos publish IMAGE_DIR --registry DIR`: pack an image folder into a registry directory.
import { defineCommand, registryDirectory, required, status } from './kit.js';
import { publishImage } from '../publish/publish.js';

export const publish = defineCommand({
  name: 'publish',
  summary: 'pack an image folder into the registry (deterministic digests)',
  usage: 'IMAGE_DIR --registry DIR',
  options: { registry: { type: 'string' }, json: { type: 'boolean' } },
  help: {
    registry: 'registry directory (created if missing)',
    json: 'print the result as JSON',
  },
  details:
    'Prints the image digest. One manifest per platform of `architecture:` in image.yaml (any: amd64 and arm64 over the same layers). ' +
    'Same folder ⇒ same digest on any machine (mtimes = SOURCE_DATE_EPOCH, default 2024-01-01).',
  positionals: { min: 1, max: 1 },
  async run(values, [dir]) {
    const result = await publishImage(dir!, registryDirectory(required(values.registry, 'registry')), { onProgress: status });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    const platforms = result.platforms.map((p) => `${p.architecture}: layers ${p.layers.map((l) => l.size).join(' + ')} bytes`).join('; ');
    status(`published ${result.name} ${result.version}: ${result.digest} (${platforms})`);
  },
});
