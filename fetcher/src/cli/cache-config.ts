// `bootos cache config`: the nginx configuration of an office cache in front of an OCI registry (docs/fleet.md).
import { defineCommand, required } from './kit.js';
import { officeCacheConfig } from '../publish/office-cache.js';

export const cacheConfig = defineCommand({
  name: 'cache config',
  summary: 'print the nginx configuration of an office cache in front of an OCI registry',
  usage: '--upstream https://REGISTRY --listen ADDR:PORT --prefix DIR [--max-size 20g] [--foreground]',
  options: {
    upstream: { type: 'string' },
    listen: { type: 'string' },
    prefix: { type: 'string' },
    'max-size': { type: 'string' },
    foreground: { type: 'boolean' },
  },
  help: {
    upstream: 'the central registry, e.g. https://registry.example.com (required)',
    listen: 'address:port to serve the office on, e.g. 10.0.5.1:80 (required)',
    prefix: 'nginx working directory: cache, logs, temp files (required)',
    'max-size': 'most disk the cache may use (default 20g)',
    foreground: "add 'daemon off;' (for a supervisor that owns the process)",
  },
  details: [
    'Blobs and manifests addressed by digest are cached on first use (one upstream fetch for many devices);',
    'tags — the trust documents and image tags — are revalidated with the registry on every request.',
    'Run: mkdir -p DIR/{logs,cache,tmp} && bootos cache config … > DIR/nginx.conf && nginx -p DIR -c DIR/nginx.conf',
  ].join('\n'),
  async run(values) {
    process.stdout.write(
      officeCacheConfig({
        upstream: required(values.upstream, 'upstream'),
        listen: required(values.listen, 'listen'),
        prefix: required(values.prefix, 'prefix'),
        maxSize: values['max-size'],
        foreground: values.foreground,
      }),
    );
  },
});
