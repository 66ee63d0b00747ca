// Whole investigations through the real adapters — the Azure SDKs and @kubernetes/client-node — against the sandbox
// served on 127.0.0.1, with every fault the scenario can inject: the investigation completes, the report names the
// step that failed and why, and no probe pod is left behind.
import { afterEach, describe, expect, test } from '@jest/globals';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { Report, StepName } from '../../lib/model.ts';
import { type RunningSandbox, startSandbox } from '../../lib/sandbox/sandbox.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { requestFor } from '../support/runtime.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

let running: RunningSandbox | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/**
 * Each request is bounded by `timeoutMs`: short only where a fault makes a call hang, so that the test does not wait
 * out 30 s; a happy path keeps a bound a loaded machine cannot reach (800 ms for every call failed a capture once in CI
 * at load 4.5).
 */
async function investigate(
  scenario: Scenario,
  timeoutMs = 15_000,
): Promise<{ report: Report; sandbox: RunningSandbox }> {
  running = await startSandbox(scenario, { timeoutMs });
  const { host } = await startLocalRuntime({ ports: running.ports(), clock: new VirtualClock() });
  const instanceId = await startNewInvestigation(host, requestFor(scenario));
  const status = await host.waitForCompletion(instanceId);
  expect(status.runtimeStatus).toBe('Completed');
  return { report: status.output as Report, sandbox: running };
}

const step = (report: Report, name: StepName) => report.steps.find((s) => s.name === name);

describe('on the sandbox over HTTPS and WebSocket', () => {
  test('names the culprit, with one runCommand round trip and no probe pod left', async () => {
    const { report, sandbox } = await investigate(scenarioWith());
    expect(report.steps.map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
    expect(report.culprits[0]).toMatchObject({
      namespace: 'payments',
      publicEstablished: 905,
      source: 'node-snapshot',
    });
    expect(report.budget).toMatchObject({ usedPorts: 1016, allocatedPorts: 1024, failedConnections: 240 });
    expect(sandbox.arm.calls.filter((c) => c.target === 'arm.runCommand')).toHaveLength(1);
    expect(sandbox.cluster.podHistory().filter((p) => p.probe)).toHaveLength(1);
    expect(sandbox.cluster.leftoverPods()).toEqual([]);
  });

  test('with runCommand disabled, the probe pod is run through the Kubernetes API instead', async () => {
    const { report, sandbox } = await investigate(
      scenarioWith((doc) => {
        (doc.cluster as Record<string, unknown>).disableRunCommand = true;
      }),
    );
    expect(step(report, 'captureNode')?.status).toBe('succeeded');
    expect(sandbox.arm.calls.filter((c) => c.target === 'arm.runCommand')).toHaveLength(0);
    expect(sandbox.cluster.podHistory().filter((p) => p.probe)).toHaveLength(1);
    expect(sandbox.cluster.leftoverPods()).toEqual([]);
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  });
});

describe('every fault, end to end', () => {
  const once = { times: 1 };
  test.each<[string, Record<string, unknown>, StepName, 'succeeded' | 'failed', RegExp | undefined]>([
    [
      'ARM throttles once',
      { target: 'arm.getCluster', error: 'throttled', retryAfterSeconds: 5, ...once },
      'locateNode',
      'succeeded',
      undefined,
    ],
    [
      'metrics answer 503 once',
      { target: 'metrics.backendSnat', error: 'transient', times: 1 },
      'locateNode',
      'succeeded',
      /1016\/1024 SNAT ports used/,
    ],
    [
      'ARM keeps failing with 500',
      { target: 'arm.getCluster', error: 'server-error' },
      'locateNode',
      'failed',
      /still failing after 3 attempts/,
    ],
    [
      'ARM forbids reading the cluster',
      { target: 'arm.getCluster', error: 'forbidden' },
      'locateNode',
      'failed',
      /was refused: the identity lacks permission for Microsoft\.ContainerService\/managedClusters\/read\. Grant it/,
    ],
    [
      'metrics time out',
      { target: 'metrics.backendSnat', error: 'timeout' },
      'locateNode',
      'failed',
      /still failing|time/i,
    ],
    [
      'runCommand throttled once',
      { target: 'arm.runCommand', error: 'throttled', retryAfterSeconds: 3, ...once },
      'captureNode',
      'succeeded',
      undefined,
    ],
    [
      'runCommand Failed',
      { target: 'arm.runCommand', error: 'failed', message: 'KubernetesPerformanceError' },
      'captureNode',
      'failed',
      /KubernetesPerformanceError|Failed/,
    ],
    [
      'runCommand output truncated',
      { target: 'arm.runCommand', error: 'truncated', bytes: 3000 },
      'captureNode',
      'succeeded',
      /unavailable: probe report/,
    ],
    [
      'the probe pod stays Pending',
      { target: 'probe.capture', error: 'pending' },
      'captureNode',
      'failed',
      /did not finish: phase Pending/,
    ],
    ['the probe pod fails', { target: 'probe.capture', error: 'failed' }, 'captureNode', 'failed', /probe failed/i],
    [
      'the probe pod is refused',
      { target: 'kubernetes.createPod', error: 'forbidden' },
      'captureNode',
      'failed',
      /could not be created/,
    ],
    [
      'listing pods is forbidden',
      { target: 'kubernetes.listPodsOnNode', error: 'forbidden' },
      'mapPods',
      'failed',
      /forbidden/i,
    ],
  ])('%s', async (_name, fault, stepName, status, detail) => {
    const { report, sandbox } = await investigate(withFaults(fault), fault.error === 'timeout' ? 800 : undefined);
    expect(step(report, stepName)?.status).toBe(status);
    if (detail) expect(step(report, stepName)?.detail).toMatch(detail);
    expect(step(report, 'rankAndReport')?.status).toBe('succeeded');
    expect(sandbox.cluster.leftoverPods()).toEqual([]);
  });

  test('exec into a pod: throttled, dropped and failing streams are retried, the pod that never answers is named', async () => {
    const scenario = scenarioWith();
    const [first, second, third] = scenario.nodes[1]!.pods.filter((p) => !p.hostNetwork);
    const { report, sandbox } = await investigate(
      withFaults(
        { target: 'probe.capture', error: 'failed' },
        {
          target: 'kubernetes.exec',
          error: 'throttled',
          retryAfterSeconds: 2,
          times: 1,
          pod: `${first!.namespace}/${first!.name}`,
        },
        { target: 'kubernetes.exec', error: 'stream-dropped', times: 1, pod: `${second!.namespace}/${second!.name}` },
        { target: 'kubernetes.exec', error: 'server-error', pod: `${third!.namespace}/${third!.name}` },
      ),
    );
    const pods = step(report, 'podConnections');
    expect(pods?.status).toBe('succeeded');
    expect(pods?.detail).toMatch(
      new RegExp(`1 of \\d+ pods could not be examined: ${third!.namespace}/${third!.name}`),
    );
    expect(report.culprits[0]).toMatchObject({ pod: first!.name, source: 'exec-proc-net-tcp', publicEstablished: 905 });
    expect(sandbox.cluster.leftoverPods()).toEqual([]);
  });
});
