// Bundles the bootos CLI (and with it the agent) into dist/ with esbuild.
// The bundle is what `bin/bootos.mjs`, the tests' subprocesses and the OS image run.
import { build } from 'esbuild';

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
