// `bootos serve DIR`: a registry directory over HTTP (static files; any web server would do).
import { resolve } from 'node:path';
import { defineCommand, registryArgument, registryDirectory, status, usageError } from './kit.js';
import { startServer } from '../publish/serve.js';
import { listenError } from '../core/error.js';

export const serve = defineCommand({
  name: 'serve',
  summary: 'serve a registry directory over HTTP (static; any web server would do)',
  usage: '--registry DIR [--host 127.0.0.1] [--port N]',
  options: { registry: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, quiet: { type: 'boolean' } },
  help: { registry: 'registry directory to serve (required)', host: 'address to listen on (default 127.0.0.1)', port: 'port (default 8080; 0 picks a free one)', quiet: 'no request log' },
  positionals: { min: 0, max: 1 },
  async run(values, positionals) {
    const dir = registryDirectory(registryArgument('serve', values.registry, positionals, 0).registry);
    const port = values.port === undefined ? 8080 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be 0 to 65535, got ${values.port}`);
    const host = values.host ?? '127.0.0.1';
    const { url, close } = await startServer({ dir: dir, host, port, log: values.quiet ? () => {} : undefined }).catch((err: unknown) => {
      throw listenError(err, `${host.includes(':') ? `[${host}]` : host}:${port}`, 'choose another with --port N (--port 0 picks a free one), or stop the program that holds it');
    });
    console.log(url);
    status(`serving ${resolve(dir)} at ${url} (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => void close().then(done);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
});
