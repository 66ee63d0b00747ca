// The sandbox's ports answer from the scenario: metrics, pods, exec output in the kernel's format, and faults.
import { describe, expect, test } from '@jest/globals';
import { SnatDoctorError, TransientError } from '../../lib/errors.ts';
import { parseProcNetTcp } from '../../lib/evidence/procNetTcp.ts';
import type { ClusterRef } from '../../lib/model.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

const EXHAUSTED = 'aks-nodepool1-31415926-vmss000001';

function refOf(scenario = scenarioWith()): ClusterRef {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return { subscriptionId, resourceGroup, name };
}

describe('answers from the scenario', () => {
  const scenario = scenarioWith();
  const ports = scenarioPorts(scenario);
  const ref = refOf(scenario);

  test("cluster facts: the load balancer in the node resource group, the ranges not SNAT'd", async () => {
    const facts = await ports.clusters.getCluster(ref);
    expect(facts.loadBalancerIds).toEqual([
      '/subscriptions/3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c/resourceGroups/MC_rg-payments-prod_aks-prod_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes',
    ]);
    expect(facts.privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '10.224.0.0/12', source: 'vnet' },
    ]);
    expect(facts.nodeCount).toBe(3);
  });

  test('an unknown cluster is not found, with what the sandbox has', async () => {
    await expect(ports.clusters.getCluster({ ...ref, name: 'other' })).rejects.toThrow(
      /No AKS cluster other in resource group rg-payments-prod.*This sandbox has aks-prod/,
    );
  });

  test('metrics per backend IP', async () => {
    const facts = await ports.clusters.getCluster(ref);
    const metrics = await ports.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    expect(metrics.find((m) => m.backendIp === '10.224.0.5')).toMatchObject({
      usedPorts: 1016,
      allocatedPorts: 1024,
      failedConnections: 240,
    });
  });

  test('exec prints /proc/net/tcp that the parser reads back to the scenario connections', async () => {
    const k8s = ports.kubernetes(ref);
    const pods = await k8s.listPodsOnNode(EXHAUSTED);
    const checkout = pods.find((p) => p.name.startsWith('checkout-api-'))!;
    const result = await k8s.exec(checkout, ['cat', '/proc/net/tcp', '/proc/net/tcp6']);
    expect(result.exitCode).toBe(0);
    const { sockets, skipped } = parseProcNetTcp(result.stdout, { netns: 1 });
    expect(skipped).toBe(0);
    const count = (ip: string, state: string) =>
      sockets.filter((s) => s.remoteIp === ip && s.state === state).reduce((n, s) => n + s.count, 0);
    expect(count('20.50.2.10', 'ESTABLISHED')).toBe(620);
    expect(count('20.50.2.11', 'ESTABLISHED')).toBe(285);
    expect(count('20.50.2.10', 'TIME_WAIT')).toBe(90);
  });

  test('exec of anything else fails the way a container without the binary does', async () => {
    const k8s = ports.kubernetes(ref);
    const [pod] = await k8s.listPodsOnNode(EXHAUSTED);
    const result = await k8s.exec(pod!, ['netstat', '-ptn']);
    expect(result.exitCode).toBe(126);
    expect(result.stderr).toMatch(/"netstat": executable file not found/);
  });

  test('the probe sees every sandbox, the hostNetwork pods by uid in the host namespace', async () => {
    const facts = await ports.clusters.getCluster(ref);
    const nodes = await ports.kubernetes(ref).listNodes();
    const capture = await ports.probe.capture(facts, nodes[1]!, { seconds: 10 });
    expect(capture.sandboxes).toHaveLength(scenario.nodes[1]!.pods.length);
    const konnectivity = scenario.nodes[1]!.pods.find((p) => p.name.startsWith('konnectivity-agent'))!;
    expect(capture.sockets).toContainEqual(
      expect.objectContaining({ netns: capture.hostNetns, podUid: konnectivity.uid, remoteIp: '20.61.100.20' }),
    );
    // connectsPerSecond × seconds
    const checkoutConnects = capture.trace
      .filter((t) => t.type === 'connect' && t.daddr === '20.50.2.10')
      .reduce((n, t) => n + t.count, 0);
    expect(checkoutConnects).toBe(15); // 1.5/s × 10 s (default.yaml)
  });
});

describe('faults', () => {
  test('a fault with `times` fails that many calls, then the service recovers', async () => {
    const scenario = withFaults({ target: 'arm.getCluster', error: 'transient', times: 2 });
    const ports = scenarioPorts(scenario);
    await expect(ports.clusters.getCluster(refOf(scenario))).rejects.toBeInstanceOf(TransientError);
    await expect(ports.clusters.getCluster(refOf(scenario))).rejects.toBeInstanceOf(TransientError);
    await expect(ports.clusters.getCluster(refOf(scenario))).resolves.toMatchObject({ nodeCount: 3 });
  });

  test.each([
    ['failed', 'PROBE_FAILED', /probe pod stuck Pending/],
    ['forbidden', 'FORBIDDEN', /probe pod stuck Pending/],
  ] as const)('error: %s throws %s with the message', async (error, code, message) => {
    const scenario = withFaults({ target: 'probe.capture', error, message: 'probe pod stuck Pending' });
    const ports = scenarioPorts(scenario);
    const facts = await ports.clusters.getCluster(refOf(scenario));
    const [node] = await ports.kubernetes(refOf(scenario)).listNodes();
    const failure = ports.probe.capture(facts, node!, { seconds: 5 });
    await expect(failure).rejects.toBeInstanceOf(SnatDoctorError);
    await expect(failure).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  test('a fault for one pod leaves the others alone', async () => {
    const scenario = scenarioWith();
    const [first, second] = scenario.nodes[1]!.pods;
    const faulty = withFaults({
      target: 'kubernetes.exec',
      error: 'forbidden',
      pod: `${first!.namespace}/${first!.name}`,
    });
    const k8s = scenarioPorts(faulty).kubernetes(refOf(faulty));
    const argv = ['cat', '/proc/net/tcp', '/proc/net/tcp6'];
    await expect(k8s.exec(first!, argv)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(k8s.exec(second!, argv)).resolves.toMatchObject({ exitCode: 0 });
  });

  test('latency is applied only when asked for', async () => {
    const scenario = scenarioWith();
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
    };
    await scenarioPorts(scenario, { sleep }).kubernetes(refOf(scenario)).listNodes();
    expect(slept).toEqual([]);
    await scenarioPorts(scenario, { sleep, latency: true }).kubernetes(refOf(scenario)).listNodes();
    expect(slept).toEqual([scenario.latencies['kubernetes.listNodes']]);
  });
});

describe('pods’ owners and phases, in-process as over the wire', () => {
  const scenario = scenarioWith((doc) => {
    const node = (doc.nodes as Record<string, unknown>[])[1] as Record<string, unknown>;
    node.ipv6 = 'fd00:10:224::5';
    (node.pods as unknown[]).push(
      { namespace: 'shop', name: 'cart', owner: { kind: 'Deployment', name: 'cart' }, terminating: true },
      { namespace: 'batch', name: 'report', owner: { kind: 'CronJob', name: 'report' }, phase: 'Pending' },
      { namespace: 'batch', name: 'done', owner: { kind: 'Job', name: 'done' }, phase: 'Succeeded' },
    );
  });
  const kubernetes = scenarioPorts(scenario).kubernetes(refOf(scenario));

  test('listPodsOnNode: the workload workloadOf derives, the phase, terminating; finished pods left out', async () => {
    const pods = await kubernetes.listPodsOnNode(EXHAUSTED);
    expect(pods.find((p) => p.name.startsWith('cart-'))).toMatchObject({
      workload: { kind: 'Deployment', name: 'cart' },
      phase: 'Running',
      terminating: true,
    });
    expect(pods.find((p) => p.name.startsWith('report-'))).toMatchObject({
      workload: { kind: 'CronJob', name: 'report' },
      phase: 'Pending',
      ip: '',
    });
    expect(pods.some((p) => p.name.startsWith('done-'))).toBe(false);
    expect(pods.find((p) => p.name === 'checkout-api-7d9f8b6c5d-x2x9k')).toMatchObject({
      workload: { kind: 'Deployment', name: 'checkout-api' },
      phase: 'Running',
    });
    expect(pods.find((p) => p.name.startsWith('ledger-'))?.workload).toEqual({ kind: 'Deployment', name: 'ledger' });
  });

  test('listNodes: the dual-stack node’s ipv6', async () => {
    const nodes = await kubernetes.listNodes();
    expect(nodes.map((n) => n.ipv6)).toEqual([undefined, 'fd00:10:224::5', undefined]);
  });
});
