// Bundles with esbuild into dist/: the bootos CLI (dist/bootos.mjs: every verb, for hosts and tests), the device
// agent alone (dist/agent.mjs + dist/agent-chunks/: what the OS image runs) and the kiosk UI (dist/kiosk/, which the
// agent serves at `/` from beside its own file). docs/decisions.md "The device bundle" says why the agent has its own.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { copyFile, mkdir, rm } from 'node:fs/promises';

// ESM bundles need a require() for the CommonJS dependencies they inline (and, below, for Node's built-ins).
const banner = { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" };

/** web-streams-polyfill is fetch-blob's fallback for a Node without web streams; Node 20+ has them: an empty module. */
const noStreamsPolyfill = {
  name: 'no-streams-polyfill',
  setup(b) {
    b.onResolve({ filter: /^web-streams-polyfill(\/|$)/ }, (args) => ({ path: args.path, namespace: 'empty-module' }));
    b.onLoad({ filter: /.*/, namespace: 'empty-module' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

/**
 * Node built-ins through require() instead of `import`: an ESM import of a built-in makes Node build an ESM facade
 * that reads every export of the module, and for node:http, node:https and node:stream/web that loads Node's internal
 * undici (fetch, WebSocket, EventSource) at start-up; require() hands over the exports object and loads nothing more.
 */
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
      if (!builtins.has(args.path) && !args.path.startsWith('node:')) return undefined;
      // The require() in the generated module itself stays external (the banner's require() runs it).
      if (args.kind === 'require-call') return { path: args.path, external: true };
      return { path: args.path, namespace: 'builtin-require' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

const node = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  sourcemap: false,
  legalComments: 'none',
  banner,
  plugins: [noStreamsPolyfill, builtinsByRequire],
  logLevel: 'warning',
};

await build({ ...node, entryPoints: { bootos: 'bootos/src/cli/main.ts' }, outdir: 'dist' });

// The device agent: only the `agent` verb, minified (keepNames: stack traces and error classes keep their names),
// with what it needs only later (node-fetch's multipart parser) in chunks loaded by import() when first used.
await rm('dist/agent-chunks', { recursive: true, force: true });
await build({
  ...node,
  entryPoints: { agent: 'bootos/src/agent/main.ts' },
  outdir: 'dist',
  minify: true,
  keepNames: true,
  splitting: true,
  chunkNames: 'agent-chunks/[name]-[hash]',
});

// The kiosk: index.html + app.js + app.css (+ favicon). No inline script or style, so a strict CSP can serve it.
await rm('dist/kiosk', { recursive: true, force: true });
await mkdir('dist/kiosk', { recursive: true });
await build({
  entryPoints: { app: 'kiosk/src/main.ts' },
  outdir: 'dist/kiosk',
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'favicon.svg']) await copyFile(`kiosk/src/${file}`, `dist/kiosk/${file}`);
