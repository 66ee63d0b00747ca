// runCommand's pod, simulated: the sandbox plays snat-doctor's probe command against its cluster. The same command is
// then run for real, under sh with the real kubectl, against the sandbox's Kubernetes API.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { EXIT, probePodManifest, runCommandScript } from '../../lib/probe/probePod.ts';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { startKubeApiServer } from '../../lib/sandbox/kubeApiServer.ts';
import { runCommandExecutor } from '../../lib/sandbox/runCommandExecutor.ts';
import { SandboxCluster } from '../../lib/sandbox/sandboxCluster.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { createSandboxCertificate } from '../../lib/sandbox/tls.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const instant = async () => {};

function probeCommand(seconds = 10) {
  const manifest = probePodManifest({ node: NODE, seconds });
  return {
    command: runCommandScript(manifest, { seconds, waitSeconds: 20 }),
    files: { 'probe-pod.json': JSON.stringify(manifest) },
  };
}

async function run(scenario: Scenario, request: { command: string; files: Record<string, string> } = probeCommand()) {
  const cluster = new SandboxCluster(scenario, { sleep: instant });
  const outcome = await runCommandExecutor(cluster, { pollMs: 0 })(request, new AbortController().signal);
  return { outcome, cluster };
}

describe("the sandbox's runCommand pod", () => {
  test('runs the probe pod on the node and prints its report; the pod is gone afterwards', async () => {
    const { outcome, cluster } = await run(scenarioWith());
    expect(outcome.exitCode).toBe(EXIT.created);
    const { capture, truncated } = parseProbeReport(outcome.logs, { node: NODE, seconds: 10 });
    expect(truncated).toBe(false);
    expect(capture.node).toBe(NODE);
    expect(cluster.podHistory().map((p) => [p.probe, p.node])).toEqual([[true, NODE]]);
    expect(cluster.leftoverPods()).toEqual([]);
  });

  test.each([
    [
      'a probe pod stuck Pending',
      { target: 'probe.capture', error: 'pending' },
      EXIT.notFinished,
      /did not finish: phase Pending/,
    ],
    ['a probe that fails', { target: 'probe.capture', error: 'failed' }, EXIT.podFailed, /@@ error/],
    ['a refused probe pod', { target: 'kubernetes.createPod', error: 'forbidden' }, EXIT.createFailed, /forbidden/i],
  ])('%s: the exit code says which, and no pod is left behind', async (_name, fault, exitCode, logs) => {
    const { outcome, cluster } = await run(withFaults(fault));
    expect(outcome.exitCode).toBe(exitCode);
    expect(outcome.logs).toMatch(logs);
    expect(cluster.leftoverPods()).toEqual([]);
  });

  test('any other command is refused', async () => {
    const { outcome } = await run(scenarioWith(), { command: 'kubectl get secrets -A', files: {} });
    expect(outcome.exitCode).toBe(127);
  });
});

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(kubectl ? describe : describe.skip)('the same command under sh with the real kubectl', () => {
  test('creates the probe pod through the Kubernetes API, prints its report and deletes it', async () => {
    const cluster = new SandboxCluster(scenarioWith(), { sleep: instant });
    const server = await startKubeApiServer(cluster, { cert: await createSandboxCertificate(), token: 'test-token' });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'runcommand-kubectl-'));
      await writeFile(join(dir, 'kubeconfig'), server.kubeconfig());
      const { command, files } = probeCommand();
      for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
      const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'sh',
          ['-c', command],
          { cwd: dir, env: { PATH: process.env.PATH, KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir } },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
        );
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(EXIT.created);
      expect(parseProbeReport(result.stdout, { node: NODE, seconds: 10 }).capture.sandboxes.length).toBeGreaterThan(20);
      // The trap's delete returns once the API server has taken it (--wait=false), before sh exits.
      expect(cluster.leftoverPods()).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
