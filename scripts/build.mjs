// Bundles the bootos CLI (and with it the agent) into dist/ with esbuild, and the kiosk UI into dist/kiosk/.
// The bundle is what `bin/bootos.mjs`, the tests' subprocesses and the OS image run; the agent serves dist/kiosk/ at `/`.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

await build({
  entryPoints: { bootos: 'bootos/src/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  legalComments: 'none',
  // ESM bundles need a require() for the CommonJS dependencies they inline.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
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
