// The CLI as a user runs it: the real binary, in a child process, under the project's Node.

import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from '@jest/globals';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('snat-doctor', () => {
  test('diagnose --json investigates the built-in sandbox and prints the documented report shape', async () => {
    const { code, stdout, stderr } = await run('diagnose', '--json', '--seconds', '5');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.node.name).toBe('aks-nodepool1-31415926-vmss000001');
    expect(report.culprits[0]).toMatchObject({ namespace: 'payments', rank: 1 });
    expect(report.culprits[0].topDestinations[0]).toEqual(
      expect.objectContaining({ ip: expect.any(String), port: expect.any(Number), connections: expect.any(Number) }),
    );
    expect(report.steps.map((s: { name: string; status: string }) => s.status)).toEqual(Array(5).fill('succeeded'));
    expect(typeof report.instanceId).toBe('string');
    expect(Array.isArray(report.recommendations)).toBe(true);
    // Progress goes to stderr, step by step.
    expect(stderr).toMatch(/\[1\/5\].*\n[\s\S]*\[5\/5\]/);
  });

  test('diagnose prints the ranked table and the recommendations', async () => {
    const { code, stdout } = await run('diagnose', '--seconds', '5', '--no-progress');
    expect(code).toBe(0);
    expect(stdout).toMatch(/payments\/checkout-api-/);
    expect(stdout).toMatch(/What to do/);
    expect(stdout).toMatch(/az aks update/);
  });

  test.each([
    [
      ['--private-range', 'onprem'],
      /--private-range "onprem" is not a CIDR range: give each as address\/prefix-length, like 30\.10\.0\.0\/16/,
    ],
    [
      ['--private-range', '30.10.0.0/16', '--private-range', '10.1.2.3,fd00::/200'],
      /--private-range "10\.1\.2\.3", "fd00::\/200" are not CIDR ranges: .*\(a single address as \/32\), and repeat --private-range/,
    ],
  ])('diagnose %j is bad input: exit 2, saying how to write a range', async (flags, message) => {
    const { code, stdout, stderr } = await run('diagnose', '--no-progress', ...flags);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  test('a broken scenario file gets a message naming the wrong field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snat-doctor-'));
    const file = join(dir, 'broken.yaml');
    await writeFile(
      file,
      'name: broken\ncluster:\n  subscriptionId: 00000000-0000-0000-0000-000000000000\n  resourceGroup: rg\n  name: c\n  location: westeurope\nnodes:\n  - name: n1\n    ip: 10.0.0.999\n',
    );
    const { code, stderr } = await run('diagnose', '--sandbox', file);
    expect(code).toBe(2);
    expect(stderr).toMatch(/broken\.yaml/);
    expect(stderr).toMatch(/nodes\[0\]\.ip/);
  });

  test.each([
    [['diagnose', '--node', 'x;reboot'], /node "x;reboot" is not valid/],
    [['diagnose', '--seconds', 'ten'], /whole number/],
    [['diagnose', '--seconds', '9999'], /capture seconds/],
  ])('rejects bad arguments %j with a message', async (args, message) => {
    const { code, stderr } = await run(...args);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
  });

  test('--help describes every command and option', async () => {
    const top = await run('--help');
    expect(top.stdout).toMatch(/diagnose/);
    expect(top.stdout).toMatch(/analyze/);
    const analyze = await run('analyze', '--help');
    for (const option of ['--tcptracer', '--lsns', '--pstree', '--crictl', '--netstat', '--ss', '--proc-net-tcp']) {
      expect(analyze.stdout).toContain(option);
    }
    const diagnose = await run('diagnose', '--help');
    for (const option of ['--sandbox', '--node', '--seconds', '--json', '--no-progress']) {
      expect(diagnose.stdout).toContain(option);
    }
  });
});
