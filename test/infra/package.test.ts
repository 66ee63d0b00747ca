// The Functions app's deployment package: what .funcignore keeps (azd deploy and `func azure functionapp publish`
// apply it), and that the bundle the host loads needs nothing a production install (`npm install --omit=dev`, the
// remote build) lacks.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** The paths .funcignore leaves out, by git's own gitignore matching (the syntax .funcignore uses). */
function ignoredByFuncignore(paths: string[]): Set<string> {
  const repo = mkdtempSync(join(tmpdir(), 'funcignore-'));
  execFileSync('git', ['init', '-q'], { cwd: repo });
  writeFileSync(join(repo, '.gitignore'), readFileSync(join(ROOT, '.funcignore')));
  let out = '';
  try {
    out = execFileSync('git', ['check-ignore', '--no-index', '--stdin'], {
      cwd: repo,
      input: paths.join('\n'),
      encoding: 'utf8',
    });
  } catch (error) {
    // Exit 1: none of the paths is ignored.
    if ((error as { status?: number }).status !== 1) throw error;
  }
  return new Set(out.split('\n').filter(Boolean));
}

describe('.funcignore', () => {
  const needed = [
    'package.json',
    'package-lock.json',
    'host.json',
    pkg.main as string,
    'lib/probe/node-probe.sh', // read at run time
    'functions/index.ts',
    'lib/config.ts',
    'tools/build.mjs', // `prepare` runs it in the remote build
  ];
  const leftOut = [
    'node_modules/durable-functions/package.json', // installed by the remote build
    'local.settings.json', // local secrets
    'test/config.test.ts',
    'bench/run.ts',
    'infra/main.bicep',
    '.git/HEAD',
    'docs/sandbox.md',
  ];

  test('keeps what the app runs from', () => {
    const ignored = ignoredByFuncignore(needed);
    expect(needed.filter((path) => ignored.has(path))).toEqual([]);
  });

  test('leaves out node_modules (so the package is built remotely), local secrets, tests and infra', () => {
    const ignored = ignoredByFuncignore(leftOut);
    expect(leftOut.filter((path) => !ignored.has(path))).toEqual([]);
  });
});

describe('the bundle the host loads', () => {
  /** Every bare module the entry and the chunks it reaches import, statically or dynamically. */
  function bareImports(entry: string, options: { staticOnly?: boolean } = {}): Set<string> {
    const seen = new Set<string>();
    const modules = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      const specifiers = [
        ...text.matchAll(/\bfrom\s*["']([^"']+)["']/g),
        ...(options.staticOnly ? [] : text.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)),
        ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
      ].map((match) => match[1] as string);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
        else modules.add(specifier);
      }
    };
    visit(join(ROOT, entry));
    return modules;
  }

  const packageName = (specifier: string) =>
    specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);

  test('imports only dependencies (not dev dependencies), Node built-ins and the worker-provided functions-core', () => {
    const imports = bareImports(pkg.main);
    expect(imports.size).toBeGreaterThan(3); // the scan finds the imports at all
    const builtins = new Set(builtinModules);
    const missing = [...imports]
      .filter((specifier) => !specifier.startsWith('node:') && !builtins.has(specifier))
      .map(packageName)
      .filter((name) => name !== '@azure/functions-core' && !(name in pkg.dependencies));
    expect(missing).toEqual([]);
    expect([...imports].map(packageName)).toEqual(expect.arrayContaining(['@azure/functions', 'durable-functions']));
  });

  test('loads the SDKs and the CLI-only libraries lazily: none is imported when the entry loads (cold start)', () => {
    const loadedAtStart = [...bareImports(pkg.main, { staticOnly: true })].map(packageName);
    expect(loadedAtStart).toEqual(expect.arrayContaining(['@azure/functions', 'durable-functions']));
    const lazy = [
      '@azure/arm-containerservice',
      '@azure/identity',
      '@azure/monitor-query-metrics',
      '@azure/storage-blob',
      '@kubernetes/client-node',
      '@slack/bolt',
      '@slack/web-api',
      'cli-table3',
      'commander',
      'selfsigned',
      'yaml',
    ];
    expect(loadedAtStart.filter((name) => lazy.includes(name))).toEqual([]);
  });
});
