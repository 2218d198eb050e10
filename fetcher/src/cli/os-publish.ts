// `bootos os publish BUILD_DIR... --version V --registry DIR`: a `bootos build` output as a signed-to-be OS release.
import { defineCommand, registryDirectory, required, status } from './kit.js';
import { publishOs } from '../publish/os-publish.js';

export const osPublish = defineCommand({
  name: 'os publish',
  summary: 'put a `bootos build` output (kernel + initramfs per arch) into the registry as an OS release',
  usage: 'BUILD_DIR... --version V --registry DIR',
  options: { registry: { type: 'string' }, version: { type: 'string' }, json: { type: 'boolean' } },
  help: {
    registry: 'registry directory (created if missing)',
    version: 'the release version: numbers separated by dots, e.g. 7 or 2026.12.1; devices install only higher ones (required)',
    json: 'print the result as JSON',
  },
  details:
    'BUILD_DIR is out/<arch>/ of `bootos build` (vmlinuz and initramfs; the folder name is the architecture), or out/ ' +
    'for every architecture built there. Prints the release digest (an OCI index tagged bootos-os-VERSION); ' +
    '`bootos channel sign` then pins the newest published release in the channel\'s `os` entry (docs/os-updates.md).',
  positionals: { min: 1, max: 4 },
  async run(values, dirs) {
    const result = await publishOs({
      buildDirs: dirs,
      registry: registryDirectory(required(values.registry, 'registry')),
      version: required(values.version, 'version'),
      onProgress: status,
    });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    status(`published OS release ${result.version}: ${Object.entries(result.images).map(([arch, m]) => `${arch} ${m!.digest}`).join(', ')}`);
  },
});
