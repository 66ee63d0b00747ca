// The probe pod and the runCommand script: strict values only, and the script run for real under sh (with a kubectl
// stand-in playing the pod's life) deletes the pod on every way out.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import {
  EXIT,
  interpretRunCommand,
  probePodManifest,
  probeScript,
  runCommandScript,
} from '../../lib/probe/probePod.ts';

const STANDIN = fileURLToPath(new URL('./kubectl-standin', import.meta.url));
const NODE = 'aks-nodepool1-31415926-vmss000001';
const INJECTIONS = ['a;reboot', '$(id)', '`id`', "a' || '1", 'a\nb', 'a b', '../x', 'A'.repeat(300)];

type Spec = { containers: { command: string[]; securityContext: unknown; image: string }[]; [k: string]: unknown };

describe('the probe pod manifest', () => {
  const manifest = probePodManifest({ node: NODE, seconds: 30, name: 'snat-doctor-probe-abcd1234' });
  const spec = manifest.spec as Spec;

  test('pins a privileged, host-PID pod to the node and runs the script through nsenter with validated arguments', () => {
    expect(spec).toMatchObject({ nodeName: NODE, hostPID: true, hostNetwork: true, restartPolicy: 'Never' });
    expect(spec.containers[0]?.securityContext).toEqual({ privileged: true });
    expect(spec.containers[0]?.command).toEqual([
      'nsenter',
      '-t',
      '1',
      '-m',
      '-u',
      '-i',
      '-n',
      '-p',
      '--',
      'sh',
      '-c',
      probeScript(),
      'probe',
      '--seconds',
      '30',
    ]);
    expect(spec.activeDeadlineSeconds).toBe(150);
  });

  test.each(INJECTIONS)('refuses the node name %j', (node) => {
    expect(() => probePodManifest({ node, seconds: 30 })).toThrow(/node name .* is not valid/);
  });

  test.each([...INJECTIONS, 'busybox'])('refuses the image %j', (image) => {
    expect(() => probePodManifest({ node: NODE, seconds: 30, image })).toThrow(/probe image .* is not valid/);
  });

  test.each([0, 4, 301, 1.5, Number.NaN])('refuses %d capture seconds', (seconds) => {
    expect(() => probePodManifest({ node: NODE, seconds })).toThrow(/capture seconds/);
  });

  test('generated names are unique and valid', () => {
    const names = new Set(
      Array.from(
        { length: 50 },
        () => (probePodManifest({ node: NODE, seconds: 5 }).metadata as { name: string }).name,
      ),
    );
    expect(names.size).toBe(50);
    for (const name of names) expect(name).toMatch(/^snat-doctor-probe-[a-z0-9]{8}$/);
  });
});

describe('the runCommand script, under sh with a kubectl stand-in', () => {
  async function run(env: Record<string, string>) {
    const dir = await mkdtemp(join(tmpdir(), 'runcommand-'));
    const manifest = probePodManifest({ node: NODE, seconds: 5, name: 'snat-doctor-probe-abcd1234' });
    await writeFile(join(dir, 'probe-pod.json'), JSON.stringify(manifest));
    const log = join(dir, 'calls.log');
    const script = runCommandScript(manifest, { seconds: 5, waitSeconds: 0 });
    const result = await new Promise<{ exitCode: number; logs: string }>((resolve) => {
      execFile(
        'sh',
        ['-c', script],
        { cwd: dir, env: { PATH: `${STANDIN}:/usr/bin:/bin`, STANDIN_LOG: log, ...env } },
        (error, stdout, stderr) => resolve({ exitCode: error ? Number(error.code) : 0, logs: stdout + stderr }),
      );
    });
    const calls = (await readFile(log, 'utf8').catch(() => '')).trim().split('\n');
    return { ...result, calls };
  }

  test('a probe that succeeds: its logs come back and the pod is deleted', async () => {
    const { exitCode, logs, calls } = await run({ STANDIN_PHASE: 'Succeeded' });
    expect(exitCode).toBe(EXIT.created);
    expect(logs).toBe('@@ snat-doctor-probe 1\n@@ end\n');
    expect(calls[0]).toBe('create --validate=false -f probe-pod.json');
    expect(calls.at(-1)).toBe('delete pod -n kube-system snat-doctor-probe-abcd1234 --ignore-not-found --wait=false');
    expect(interpretRunCommand({ exitCode, logs }, NODE)).toBe(logs);
  });

  test('a probe pod stuck Pending: the script gives up, says why, and still deletes it', async () => {
    const { exitCode, logs, calls } = await run({ STANDIN_PHASE: 'Pending' });
    expect(exitCode).toBe(EXIT.notFinished);
    expect(calls.at(-1)).toMatch(/^delete pod -n kube-system snat-doctor-probe-abcd1234/);
    expect(() => interpretRunCommand({ exitCode, logs }, NODE)).toThrow(
      /did not finish: phase Pending: 0\/3 nodes are available: 3 Insufficient cpu.*room for one small pod/,
    );
  });

  test('a probe that fails: its error is reported and the pod deleted', async () => {
    const { exitCode, logs, calls } = await run({ STANDIN_PHASE: 'Failed' });
    expect(exitCode).toBe(EXIT.podFailed);
    expect(calls.at(-1)).toMatch(/^delete pod/);
    expect(() => interpretRunCommand({ exitCode, logs }, NODE)).toThrow(
      /The probe failed on .*--seconds wants a whole number/,
    );
  });

  test('a refused pod: the policy is named, and nothing is left to delete', async () => {
    const { exitCode, logs, calls } = await run({ STANDIN_PHASE: 'Succeeded', STANDIN_CREATE: 'fail' });
    expect(exitCode).toBe(EXIT.createFailed);
    expect(calls).toEqual(['create --validate=false -f probe-pod.json']);
    expect(() => interpretRunCommand({ exitCode, logs }, NODE)).toThrow(/could not be created .*PodSecurity.*exempt/);
  });

  test.each([
    [
      "a message ending in a period gets no second one (regression: 'selector.. Check')",
      {
        exitCode: EXIT.notFinished,
        logs: "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.\n",
      },
      /affinity\/selector\. Check that aks-node-1 is Ready/,
    ],
    [
      "the report's section markers stay out of the reason (regression: '@@ end' in the step's detail)",
      { exitCode: EXIT.podFailed, logs: '@@ snat-doctor-probe 1\n@@ error\nkprobe attach failed\n@@ end\n' },
      /^The probe failed on aks-node-1: kprobe attach failed$/,
    ],
  ])('%s', (_what, result, message) => {
    expect(() => interpretRunCommand(result, 'aks-node-1')).toThrow(message);
  });

  test('interpolates only the pod name, the namespace and whole numbers', () => {
    const manifest = probePodManifest({ node: NODE, seconds: 5, name: 'snat-doctor-probe-abcd1234' });
    const script = runCommandScript(manifest, { seconds: 5 });
    expect(script).not.toContain(NODE);
    expect(() =>
      runCommandScript({ metadata: { name: 'x;reboot', namespace: 'kube-system' } }, { seconds: 5 }),
    ).toThrow(/probe pod name/);
  });
});
