#!/usr/bin/env node
// Bundles the CLI into dist/ with esbuild: our TypeScript becomes plain JavaScript chunks, so a command starts
// without type-stripping dozens of files, and each command still loads only its own code (dynamic imports become
// separate chunks). Packages stay external: node_modules is loaded as usual, and the functions-core stand-in
// (lib/local/functionsCore.cjs) keeps one registry per process however many times it is loaded.
//
//   npm run build        (npm ci, npm start, npm test and npm run bench run it first)
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';

const outdir = new URL('../dist/', import.meta.url).pathname;
let build;
try {
  ({ build } = await import('esbuild'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  // A production install (`npm install --omit=dev`, as a deployment's remote build may run) has no esbuild: the
  // bundle built before packaging is the one to run.
  if (existsSync(new URL('../dist/functions.js', import.meta.url))) {
    console.log('esbuild is not installed (a production install): keeping the dist/ built before packaging.');
    process.exit(0);
  }
  console.error('snat-doctor: esbuild is not installed and dist/ is not built: run `npm ci` (with dev dependencies).');
  process.exit(1);
}
await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    cli: new URL('../lib/cli/main.ts', import.meta.url).pathname,
    // The Functions app's entry (package.json "main"): the host loads plain JavaScript.
    functions: new URL('../functions/index.ts', import.meta.url).pathname,
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  metafile: true,
});
// Quiet when another script builds first (prestart, pretest, prebench, prepare): its own output is what matters.
if (process.env.npm_lifecycle_event === 'build') {
  const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'));
  console.log(`built ${files.length} files into dist/`);
}
