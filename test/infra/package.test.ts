// The Functions app's deployment package: what .funcignore keeps (azd deploy and `func azure functionapp publish`
// apply it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

// What the bundle imports, and what it loads at start, is checked in test/functions/bundle.test.ts ("the bundle on
// disk"): dist/functions.js now carries its production dependencies, so it imports only Node built-ins and the
// worker's @azure/functions-core.
