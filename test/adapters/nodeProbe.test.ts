// The node probe's transports around the probe pod's life (issue 14): stale probe pods are swept before a new one is
// made, a failing sweep does not stop the probe, and once the process is stopping no new pod is started and a pod
// being waited for through runCommand is deleted through the Kubernetes API.
import { describe, expect, test } from '@jest/globals';
import { nodeProbe, type ProbePodClient, type RunCommandClient } from '../../lib/adapters/nodeProbe.ts';
import type { ClusterFacts, NodeInfo } from '../../lib/model.ts';

const REPORT = '@@ snat-doctor-probe 1\n@@ meta\nhost_netns 4026531840\n@@ end\n';
const NODE = { name: 'aks-nodepool1-31415926-vmss000001', ip: '10.224.0.5', os: 'linux' } as NodeInfo;
const facts = (disableRunCommand: boolean) =>
  ({
    ref: { subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c', resourceGroup: 'rg', name: 'aks' },
    disableRunCommand,
    aadManaged: false,
  }) as ClusterFacts;

/** A probe pod client that records what was asked of it. */
function pods(sweep: () => Promise<string[]>) {
  const calls: string[] = [];
  const client: ProbePodClient = {
    async sweepProbePods() {
      calls.push('sweep');
      return sweep();
    },
    async runProbePod() {
      calls.push('run');
      return REPORT;
    },
    async deleteProbePod(name) {
      calls.push(`delete ${name}`);
    },
  };
  return { calls, client };
}

describe('stale probe pods', () => {
  test('are swept before the probe pod is made, and the capture names them', async () => {
    const { calls, client } = pods(async () => ['snat-doctor-probe-abcd1234']);
    const capture = await nodeProbe({ pods: () => client }).capture(facts(true), NODE, { seconds: 10 });
    expect(calls).toEqual(['sweep', 'run']);
    expect(capture.sweptProbePods).toEqual(['snat-doctor-probe-abcd1234']);
  });

  test('a sweep that fails (an API we cannot reach) does not stop the probe', async () => {
    const { calls, client } = pods(async () => {
      throw new Error('connect ECONNREFUSED');
    });
    const capture = await nodeProbe({ pods: () => client }).capture(facts(true), NODE, { seconds: 10 });
    expect(calls).toEqual(['sweep', 'run']);
    expect(capture.sweptProbePods).toBeUndefined();
  });
});

describe('a process that is stopping', () => {
  test('starts no probe pod', async () => {
    const { calls, client } = pods(async () => []);
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    const probe = nodeProbe({ pods: () => client, signal: stop.signal });
    await expect(probe.capture(facts(true), NODE, { seconds: 10 })).rejects.toThrow('stopped');
    expect(calls).toEqual([]);
  });

  test('deletes the pod runCommand was waiting on, through the Kubernetes API', async () => {
    const { calls, client } = pods(async () => []);
    const stop = new AbortController();
    let pod = '';
    const runCommand: RunCommandClient = {
      runCommand: (_ref, request, signal) =>
        new Promise((_resolve, reject) => {
          pod = (JSON.parse(request.contextFiles['probe-pod.json'] ?? '{}') as { metadata: { name: string } }).metadata
            .name;
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          stop.abort(new Error('stopped')); // SIGINT while the command runs
        }),
    };
    const probe = nodeProbe({ runCommand, pods: () => client, signal: stop.signal });
    await expect(probe.capture(facts(false), NODE, { seconds: 10 })).rejects.toThrow('stopped');
    expect(pod).toMatch(/^snat-doctor-probe-[a-z0-9]{8}$/);
    expect(calls).toEqual(['sweep', `delete ${pod}`]);
  });
});
