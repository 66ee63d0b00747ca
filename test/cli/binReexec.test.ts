// bin/snat-doctor.js started by a Node older than 22 (the system's `node`, as `./bin/snat-doctor.js` or an `npm link`ed
// `snat-doctor` finds it: the README's fast ways of running the CLI) runs the CLI again under the project's Node
// (node_modules/node), passing its arguments, output and exit code through. The parent is made "older" by a preload
// (test/support/olderNode.ts) on any machine; where the machine has a real older Node on PATH (Debian's, here), that
// one runs it too. Signals through the re-run: test/cli/interrupt.test.ts.
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { AS_OLDER_NODE } from '../support/olderNode.ts';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const TRACE = fileURLToPath(new URL('../fixtures/runbook/trace.txt', import.meta.url));
const ENV = { ...process.env, NO_COLOR: '1' };

function run(node: string, preload: string[], args: string[], bin = BIN) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(node, [...preload, bin, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A Node older than 22 on PATH outside node_modules, if the machine has one. */
function olderNodeOnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const node = join(dir, 'node');
    try {
      accessSync(node, constants.X_OK);
      const version = execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
      if (Number(version.replace(/^v/, '').split('.')[0]) < 22) return node;
    } catch {
      // not there, or not runnable
    }
  }
  return undefined;
}

const ANALYZE = ['analyze', '--tcptracer', TRACE, '--json'];
/** What analyze prints run directly under the project's Node. */
const direct = () => execFileSync(process.execPath, [BIN, ...ANALYZE], { encoding: 'utf8', env: ENV });

describe('bin/snat-doctor.js under a Node older than 22', () => {
  test("runs the command under the project's Node, its output and exit code 0 passed through", async () => {
    const { code, stdout, stderr } = await run(process.execPath, ['--import', AS_OLDER_NODE], ANALYZE);
    expect(stderr).toBe(''); // the preload's hook would have said so, had the parent loaded the CLI
    expect(code).toBe(0);
    expect(JSON.parse(stdout).events).toBe(7);
    expect(stdout).toBe(direct());
  });

  test('started through a symlink elsewhere, as `npm link` installs it: the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snat-bin-'));
    try {
      const link = join(dir, 'snat-doctor');
      await symlink(BIN, link);
      const { code, stdout, stderr } = await run(process.execPath, ['--import', AS_OLDER_NODE], ANALYZE, link);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toBe(direct());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a bad argument: exit 2 and the message, without a stack trace', async () => {
    const { code, stdout, stderr } = await run(
      process.execPath,
      ['--import', AS_OLDER_NODE],
      ['analyze', '--seconds', '-5'],
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/'--seconds <n>' argument '-5' is invalid: expected a positive number/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  const older = olderNodeOnPath();
  (older === undefined ? test.skip : test)(
    `the machine's own (${older ?? 'none on PATH'}): the same output`,
    async () => {
      const { code, stdout, stderr } = await run(older!, [], ANALYZE);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toBe(direct());
    },
  );
});
