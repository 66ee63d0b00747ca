// `snat-doctor sandbox` as a user runs it: serve, explore with the real kubectl, diagnose against it, stop with Ctrl-C.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const hasKubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('snat-doctor sandbox', () => {
  test('serves until interrupted; kubectl explores it and diagnose --connect investigates it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sandbox-cli-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const connection = join(dir, 'sandbox.json');
    const server = spawn(process.execPath, [BIN, 'sandbox', '--kubeconfig', kubeconfig, '--connection', connection], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('Press Ctrl-C to stop.')) resolve();
      });
      server.once('exit', () => reject(new Error(`the sandbox exited early: ${out}`)));
    });
    try {
      if (hasKubectl) {
        const nodes = await run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'wide']);
        expect(nodes.stdout).toMatch(/aks-nodepool1-31415926-vmss000001\s+Ready/);
        const tcp = await run('kubectl', [
          '--kubeconfig',
          kubeconfig,
          'exec',
          '-n',
          'payments',
          'checkout-api-7d9f8b6c5d-x2x9k',
          '--',
          'cat',
          '/proc/net/tcp',
        ]);
        expect(tcp.code).toBe(0);
        // Every socket the scenario gives checkout-api: 620 + 285 ESTABLISHED and 90 TIME_WAIT to the API, 16 to redis.
        expect(tcp.stdout.split('\n').filter((l) => /^\s*\d+: /.test(l))).toHaveLength(1011);
      }
      const diagnosis = await run(process.execPath, [
        BIN,
        'diagnose',
        '--connect',
        connection,
        '--json',
        '--seconds',
        '5',
      ]);
      expect(diagnosis.code).toBe(0);
      const report = JSON.parse(diagnosis.stdout);
      expect(report.culprits[0]).toMatchObject({ namespace: 'payments', publicEstablished: 905 });
      expect(report.steps.map((s: { status: string }) => s.status)).toEqual(Array(5).fill('succeeded'));
    } finally {
      server.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/Sandbox stopped\./);
  });

  // Found re-running issue 14's attack: the banner printed the paths as given, terminal controls and all, and its
  // kubectl commands unquoted (a path with a space or `$(…)` pasted back was shell text).
  test('the banner prints the paths without terminal controls, quoted in its commands', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sandbox-cli-'));
    const kubeconfig = join(dir, "kube config $(touch PWNED) 'q'");
    const connection = join(dir, 'c\u001b]0;pwned\u0007.json');
    const server = spawn(process.execPath, [BIN, 'sandbox', '--kubeconfig', kubeconfig, '--connection', connection], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', (chunk) => {
          out += chunk;
          if (out.includes('Press Ctrl-C to stop.')) resolve();
        });
        server.once('exit', () => reject(new Error(`the sandbox exited early: ${out}`)));
      });
    } finally {
      server.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect([out.includes('\u001b'), out.includes('\u0007')]).toEqual([false, false]);
    expect(out).toContain('c\\u001b]0;pwned\\u0007.json');
    // The printed command, run by a shell with printf in kubectl's place: the path comes back as one argument.
    const line = out.split('\n').find((l) => l.includes('get nodes'))!;
    const echoed = execFileSync('sh', ['-c', line.trim().replace(/^kubectl /, "printf '%s\\n' "), 'sh'], { cwd: dir });
    expect(echoed.toString().split('\n').slice(0, 2)).toEqual(['--kubeconfig', kubeconfig]);
    expect(existsSync(join(dir, 'PWNED'))).toBe(false);
  });

  test('a connection file that is not one is refused with a message', async () => {
    const result = await run(process.execPath, [BIN, 'diagnose', '--connect', BIN]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Cannot read the sandbox connection|is not a sandbox connection file/);
  });
});
