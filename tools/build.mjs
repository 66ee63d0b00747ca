#!/usr/bin/env node
// Bundles the CLI and the Functions app into dist/ with esbuild, as two builds:
//
// - The CLI (dist/cli.js, chunks in dist/chunks/): our TypeScript becomes plain JavaScript chunks, so a command starts
//   without type-stripping dozens of files, and each command still loads only its own code (dynamic imports become
//   separate chunks). Its packages stay external (node_modules is loaded as usual) but the two every command loads
//   before it starts, commander and ipaddr.js (CLI_BUNDLED): bundled, they load as part of our chunks, without Node's
//   CommonJS loader and package resolution, 30–50 ms less for each command (analyze included).
// - The Functions app (dist/functions.js, package.json "main", chunks in dist/functions-chunks/): its production
//   dependencies are bundled too, so the worker loads 15 files at start instead of our 25 and 538 of node_modules
//   (durable-functions with lodash, validator and moment, axios, @azure/functions, zod). It is split as well:
//   what the app imports on first use (the Azure SDKs, @kubernetes/client-node, Bolt) stays in chunks loaded then.
//   Bundled CommonJS code calls `require` (Node's built-ins, the externals below): the banner gives every file a real
//   one, from `createRequire`. The Functions worker answers `@azure/functions-core` by proxying
//   `Module.prototype.require`, which that `require` goes through; locally installFunctionsCore's resolve hook and
//   jest's moduleNameMapper reach it too. esbuild leaves the few `require`s of computed names as they are (moment's
//   locale files, express's view engines): the app uses neither.
//   Two more entries share the app's chunks, so their modules are the very instances dist/functions.js runs:
//   dist/functions-local/runtime.js (the in-memory Durable host and `usePorts`) and dist/functions-local/sandbox.js
//   (the sandbox, and the real adapters pointed at it). test/functions/bundle.test.ts runs investigations through the
//   bundle with them; the host never loads them.
//
// The functions-core stand-in (lib/local/functionsCore.cjs) keeps one registry per process however many times it is
// loaded (by the CLI's bundle, by this one, by the tests' sources).
//
// First, the tcptracer reader's WebAssembly: lib/evidence/wasm/tcptracerReader.as (AssemblyScript) is compiled with
// the assemblyscript devDependency into lib/evidence/wasm/tcptracerReader.generated.ts, a module holding the binary in
// base64 (git-ignored, rebuilt when the source, the compiler or its options change). A module, not a .wasm file, so
// that every way the code runs loads it alike: jest (swc), `node file.ts` (type stripping) and the bundles, where it
// is one more string. lib/evidence/tcptracerWasm.ts instantiates it; without it analyze falls back to the JS reader.
//
//   npm run build        (npm ci, npm start, npm test and npm run bench run it first)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';

const outdir = new URL('../dist/', import.meta.url).pathname;
const source = (path) => new URL(`../${path}`, import.meta.url).pathname;
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

await buildTcptracerWasm();

// The packages the CLI bundles: those every command loads at start (lib/cli/main.ts imports commander, and lib/validation.ts,
// which it imports, ipaddr.js). Both are plain JavaScript without dependencies; commander's require()s of Node's
// built-ins go through the banner's `require`, as in the Functions bundle.
const CLI_BUNDLED = new Set(['commander', 'ipaddr.js']);
/** Leaves every package but CLI_BUNDLED to node_modules (what `packages: 'external'` does for all of them). */
const cliExternals = {
  name: 'cli-externals',
  setup(cli) {
    cli.onResolve({ filter: /^[^./]/ }, ({ path }) => {
      const name = path.startsWith('@') ? path.split('/', 2).join('/') : path.split('/', 1)[0];
      return CLI_BUNDLED.has(name) ? undefined : { path, external: true };
    });
  },
};
// The CLI's imports of Node's built-ins become require()s of them (through the banner's `require`): an ES module import
// of a built-in makes its ES module facade, which reads every export (node:fs's ReadStream getter loads the stream
// modules, for one; Node's lib/internal/bootstrap/realm.js, BuiltinModule.getESMFacade → syncExports, as a stack
// trace here showed): ~6 ms of every command's start, measured on `import 'node:fs'; 'node:path'; 'node:url'` against
// their require(). Named imports stay live bindings (esbuild reads the property where it is used). Not
// node:child_process: the banner's require hands that one out lazily (below), which named imports cannot see through.
const cliBuiltinsRequired = {
  name: 'cli-builtins-required',
  setup(cli) {
    cli.onResolve({ filter: /^node:/ }, ({ path, namespace }) =>
      namespace === 'builtin' || path === 'node:child_process'
        ? { path, external: true }
        : { path, namespace: 'builtin' },
    );
    cli.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => ({
      contents: `module.exports = require(${JSON.stringify(path)});`,
      loader: 'js',
    }));
  },
};
const requireBanner = {
  js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);",
};
// The CLI's: commander require()s node:child_process at load, for subcommands run as separate executables, which
// ours are not; loading it (with net, dgram and the stream modules it pulls in) cost every command ~6 ms. So the
// CLI's `require` hands out a stand-in that loads the real module on first use of any of its properties.
const cliRequireBanner = {
  js: [
    "import { createRequire as __bundleCreateRequire } from 'node:module';",
    'const __bundleRequire = __bundleCreateRequire(import.meta.url);',
    "const require = (id) => id === 'node:child_process' || id === 'child_process'",
    '  ? new Proxy({}, { get: (_, name) => __bundleRequire(id)[name] })',
    '  : __bundleRequire(id);',
  ].join(' '),
};

// What the Functions bundle leaves to be loaded at run time, and why; every other package is bundled.
const FUNCTIONS_EXTERNAL = [
  // The Functions worker's own module: no package provides it (bundling fails: esbuild cannot resolve it), and the
  // app must register with the worker's instance, not a copy. Locally lib/local/functionsCore.cjs stands in for it.
  '@azure/functions-core',
  // ws's optional native add-ons, not installed here: ws require()s them in a try/catch and falls back to plain
  // JavaScript. Bundled, an installed one would load its fallback silently (node-gyp-build(__dirname) throws in an
  // ES module bundle); left external, it loads its native code from node_modules.
  'bufferutil',
  'utf-8-validate',
];

await rm(outdir, { recursive: true, force: true });
const common = {
  absWorkingDir: new URL('../', import.meta.url).pathname,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
};
const [cli, functions] = await Promise.all([
  build({
    ...common,
    entryPoints: { cli: source('lib/cli/main.ts') },
    plugins: [cliBuiltinsRequired, cliExternals],
    chunkNames: 'chunks/[name]-[hash]',
    banner: cliRequireBanner,
  }),
  build({
    ...common,
    entryPoints: {
      // The Functions app's entry (package.json "main"): the host loads plain JavaScript.
      functions: source('functions/index.ts'),
      // Never loaded by the host: the app's own module instances, for test/functions/bundle.test.ts (see above).
      'functions-local/runtime': source('lib/local/runtime.ts'),
      'functions-local/sandbox': source('lib/sandbox/sandbox.ts'),
    },
    external: FUNCTIONS_EXTERNAL,
    chunkNames: 'functions-chunks/[name]-[hash]',
    banner: requireBanner,
  }),
]);
// Quiet when another script builds first (prestart, pretest, prebench, prepare): its own output is what matters.
if (process.env.npm_lifecycle_event === 'build') {
  const files = [cli, functions].flatMap((r) => Object.keys(r.metafile.outputs)).filter((f) => f.endsWith('.js'));
  const { bytes, count } = loadedAtStart(functions.metafile, 'functions/index.ts');
  console.log(
    `built ${files.length} files into dist/; dist/functions.js loads ${count} of them at start, ${(bytes / 1e6).toFixed(1)} MB`,
  );
}

/** The output files an entry imports statically (what a cold start reads), and their bytes. */
function loadedAtStart(metafile, entryPoint) {
  const outputs = metafile.outputs;
  const entry = Object.keys(outputs).find((file) => outputs[file].entryPoint === entryPoint);
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of outputs[file].imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(entry);
  let bytes = 0;
  for (const file of seen) bytes += outputs[file].bytes;
  return { bytes, count: seen.size };
}

/**
 * Compiles lib/evidence/wasm/tcptracerReader.as into tcptracerReader.generated.ts, unless the file there was made from
 * the same source, compiler version and options (its first line says which). The compiler loads in ~1 s and compiles
 * in ~2 s: most builds skip both.
 */
async function buildTcptracerWasm() {
  const sourceFile = new URL('../lib/evidence/wasm/tcptracerReader.as', import.meta.url);
  const outFile = new URL('../lib/evidence/wasm/tcptracerReader.generated.ts', import.meta.url);
  // -O3 --noAssert --runtime stub --importMemory: fast code, no runtime (the module allocates nothing), and the memory
  // made by its host, which reads files straight into it.
  const options = { optimizeLevel: 3, shrinkLevel: 0, noAssert: true, runtime: 'stub', importMemory: true };
  const source = readFileSync(sourceFile, 'utf8');
  const compilerPackage = JSON.parse(readFileSync(new URL(import.meta.resolve('assemblyscript/package.json')), 'utf8'));
  const key = createHash('sha256')
    .update(JSON.stringify([source, compilerPackage.version, options]))
    .digest('hex')
    .slice(0, 16);
  const header = `// Generated by tools/build.mjs from tcptracerReader.as (assemblyscript ${compilerPackage.version}, key ${key}): not committed, do not edit.`;
  if (existsSync(outFile) && readFileSync(outFile, 'utf8').startsWith(`${header}\n`)) return;
  const { default: asc } = await import('assemblyscript/asc');
  const { error, stderr, binary } = await asc.compileString({ 'tcptracerReader.ts': source }, options);
  if (error || !binary) {
    process.stderr.write(stderr.toString());
    throw error ?? new Error('asc emitted no binary for lib/evidence/wasm/tcptracerReader.as');
  }
  const base64 = Buffer.from(binary).toString('base64');
  writeFileSync(outFile, `${header}\nexport const TCPTRACER_READER_WASM_BASE64 =\n  '${base64}';\n`);
}
