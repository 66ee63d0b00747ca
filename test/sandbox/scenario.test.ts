// Scenario files: what a user writes, what the sandbox makes of it, and the messages for what is wrong.
import { describe, expect, test } from '@jest/globals';
import { workloadOf } from '../../lib/analysis/workloadOf.ts';
import { SnatDoctorError } from '../../lib/errors.ts';
import { formatPath, HOST_NETNS, parseEndpoint, parseScenario } from '../../lib/sandbox/scenario.ts';
import { scenarioWith } from '../support/scenarios.ts';

const MINIMAL = `
name: one-node
cluster:
  subscriptionId: 00000000-0000-0000-0000-000000000000
  resourceGroup: rg-demo
  name: aks-demo
  location: westeurope
nodes:
  - name: aks-nodepool1-12345678-vmss000000
    ip: 10.224.0.4
    pods:
      - namespace: shop
        name: cart
        replicas: 3
        connections:
          - { to: "20.50.2.10:443", count: 700, connectsPerSecond: 50 }
          - { to: "10.0.0.10:53" }
      - { namespace: kube-system, name: kube-proxy-abcde, hostNetwork: true }
`;

function problemsOf(text: string): string {
  try {
    parseScenario(text, 'mine.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(SnatDoctorError);
    expect((error as SnatDoctorError).code).toBe('BAD_SCENARIO');
    return (error as Error).message;
  }
  throw new Error('the scenario was accepted');
}

describe('a minimal scenario gets its defaults', () => {
  const scenario = parseScenario(MINIMAL, 'mine.yaml');
  const node = scenario.nodes[0]!;

  test('cluster defaults: load balancer outbound, one IP, Azure default allocation, MC_ node resource group', () => {
    expect(scenario.cluster).toMatchObject({
      outboundType: 'loadBalancer',
      outboundIps: 1,
      allocatedOutboundPorts: 0,
      idleTimeoutMinutes: 30,
      nodeResourceGroup: 'MC_rg-demo_aks-demo_westeurope',
    });
  });

  test('replicas become a Deployment’s pods, <name>-<pod-template-hash>-<5 characters>, each with its own IP, netns and sandbox', () => {
    const carts = node.pods.filter((p) => p.name.startsWith('cart-'));
    expect(carts).toHaveLength(3);
    for (const pod of carts)
      expect(pod.name).toMatch(/^cart-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(new Set(carts.map((p) => p.owner?.name)).size).toBe(1);
    for (const pod of carts) expect(pod.workload).toEqual({ kind: 'Deployment', name: 'cart' });
    expect(new Set(carts.map((p) => p.ip)).size).toBe(3);
    expect(new Set(carts.map((p) => p.netns)).size).toBe(3);
    expect(new Set(carts.map((p) => p.sandboxId)).size).toBe(3);
    expect(carts.every((p) => p.ip.startsWith('10.244.0.'))).toBe(true);
  });

  test('a hostNetwork pod has the node IP and the host network namespace', () => {
    const proxy = node.pods.find((p) => p.name === 'kube-proxy-abcde');
    expect(proxy).toMatchObject({ ip: '10.224.0.4', netns: HOST_NETNS, hostNetwork: true });
  });

  test('SNAT metrics default to the public connections, within the default 1,024 ports', () => {
    // 3 replicas × 700 public connections = 2100, capped at the allocation; DNS to 10.0.0.10 is not SNAT'd.
    expect(node.snat).toMatchObject({ allocatedPorts: 1024, usedPorts: 1024, failedConnections: 0 });
  });

  test('the same file always describes the same cluster', () => {
    expect(parseScenario(MINIMAL, 'again.yaml').nodes).toEqual(scenario.nodes);
  });
});

describe('the built-in default scenario', () => {
  const scenario = scenarioWith();
  test('three nodes; vmss000001 is out of ports with ~30 pods, one hostNetwork, the others healthy', () => {
    expect(scenario.nodes).toHaveLength(3);
    const [healthyA, exhausted, healthyB] = scenario.nodes;
    expect(exhausted!.pods.length).toBeGreaterThanOrEqual(25);
    expect(exhausted!.pods.some((p) => p.hostNetwork)).toBe(true);
    expect(exhausted!.snat.usedPorts / exhausted!.snat.allocatedPorts).toBeGreaterThan(0.9);
    for (const node of [healthyA!, healthyB!]) expect(node.snat.usedPorts / node.snat.allocatedPorts).toBeLessThan(0.5);
  });
});

const OWNED = `
name: owned
cluster:
  subscriptionId: 00000000-0000-0000-0000-000000000000
  resourceGroup: rg-demo
  name: aks-demo
  location: westeurope
nodes:
  - name: aks-nodepool1-12345678-vmss000000
    ip: 10.224.0.4
    ipv6: "fd00:10:224::4"
    pods:
      - namespace: shop
        name: cart
        owner: { kind: Deployment, name: cart }
        replicas: 2
        connections:
          - { to: "20.50.2.10:443", count: 100 }
          - { to: "[2603:1030::5]:443", count: 30 }
      - { namespace: shop, name: web-7d9f8b6c5d-x2x9k, owner: { kind: Deployment, name: web } }
      - { namespace: shop, name: redis, owner: { kind: StatefulSet, name: redis }, replicas: 2 }
      - { namespace: kube-system, name: node-agent, owner: { kind: DaemonSet, name: node-agent } }
      - { namespace: batch, name: report, owner: { kind: CronJob, name: report }, phase: Succeeded }
      - { namespace: batch, name: report-29104560-abcde, owner: { kind: CronJob, name: report }, phase: Failed }
      - { namespace: batch, name: migrate, owner: { kind: Job, name: migrate }, phase: Pending }
      - { namespace: shop, name: legacy, owner: { kind: ReplicaSet, name: legacy } }
      - namespace: shop
        name: old-web-7d9f8b6c5d-q7w2z
        terminating: true
        connections: [{ to: "20.50.2.10:443", count: 5 }]
`;

describe('owners, phases and dual-stack nodes', () => {
  const node = parseScenario(OWNED, 'owned.yaml').nodes[0]!;
  const all = [...node.pods, ...node.inactivePods];
  const named = (prefix: string) => all.filter((p) => p.name.startsWith(prefix));
  const alphabet = '[bcdfghjklmnpqrstvwxz2456789]';

  test('a Deployment’s pods: <deployment>-<hash>-<5 characters>, owned by the ReplicaSet <deployment>-<hash>', () => {
    const carts = named('cart-');
    expect(carts).toHaveLength(2);
    const hash = carts[0]!.labels['pod-template-hash'] ?? '';
    expect(hash).toMatch(new RegExp(`^${alphabet}{10}$`));
    for (const pod of carts) {
      expect(pod.name).toMatch(new RegExp(`^cart-${hash}-${alphabet}{5}$`));
      expect(pod.owner).toMatchObject({ kind: 'ReplicaSet', name: `cart-${hash}` });
      expect(pod.labels).toMatchObject({ app: 'cart', 'pod-template-hash': hash });
    }
  });

  test('a name that already carries the hash and suffix is kept, and gives the hash', () => {
    const [web] = named('web-');
    expect(web).toMatchObject({
      name: 'web-7d9f8b6c5d-x2x9k',
      owner: { kind: 'ReplicaSet', name: 'web-7d9f8b6c5d' },
      labels: { 'pod-template-hash': '7d9f8b6c5d' },
    });
  });

  test('a StatefulSet’s pods are numbered; a DaemonSet’s and a bare ReplicaSet’s get 5 characters', () => {
    expect(named('redis-').map((p) => [p.name, p.owner?.kind, p.labels['statefulset.kubernetes.io/pod-name']])).toEqual(
      [
        ['redis-0', 'StatefulSet', 'redis-0'],
        ['redis-1', 'StatefulSet', 'redis-1'],
      ],
    );
    expect(named('node-agent-')[0]?.name).toMatch(new RegExp(`^node-agent-${alphabet}{5}$`));
    expect(named('node-agent-')[0]?.owner).toMatchObject({ kind: 'DaemonSet', name: 'node-agent' });
    expect(named('legacy-')[0]?.owner).toMatchObject({ kind: 'ReplicaSet', name: 'legacy' });
  });

  test('a CronJob’s pods belong to a Job <cronjob>-<8+ digits>, labelled with it', () => {
    const [made, given] = named('report-');
    expect(made?.owner?.name).toMatch(/^report-\d{8,}$/);
    expect(made?.name).toMatch(new RegExp(`^${made?.owner?.name}-${alphabet}{5}$`));
    expect(made?.labels['job-name']).toBe(made?.owner?.name);
    expect(given).toMatchObject({ name: 'report-29104560-abcde', owner: { kind: 'Job', name: 'report-29104560' } });
  });

  test('what workloadOf makes of each pod’s owner reference and labels is the workload the scenario gave', () => {
    for (const pod of all) {
      const ownerReferences = pod.owner ? [{ kind: pod.owner.kind, name: pod.owner.name, controller: true }] : [];
      expect([pod.name, workloadOf({ name: pod.name, ownerReferences, labels: pod.labels })]).toEqual([
        pod.name,
        pod.workload,
      ]);
    }
    expect(named('old-web-')[0]?.workload).toEqual({ kind: 'Pod', name: 'old-web-7d9f8b6c5d-q7w2z' });
  });

  test('pods that are not Running are apart: no sandbox, no netns, no IP while Pending', () => {
    expect(node.inactivePods.map((p) => [p.name.split('-')[0], p.phase])).toEqual([
      ['report', 'Succeeded'],
      ['report', 'Failed'],
      ['migrate', 'Pending'],
    ]);
    for (const pod of node.inactivePods) expect(pod).toMatchObject({ netns: 0, sandboxId: '' });
    expect(named('migrate-')[0]?.ip).toBe('');
    expect(named('report-')[0]?.ip).toMatch(/^10\.244\.0\./);
    expect(node.pods.every((p) => p.phase === 'Running')).toBe(true);
  });

  test('a terminating pod still runs, with its connections', () => {
    expect(named('old-web-')[0]).toMatchObject({ phase: 'Running', terminating: true, connections: [{ count: 5 }] });
  });

  test('a dual-stack node: IPv6 destinations use the IPv6 backend’s ports, the rest the IPv4 one’s', () => {
    expect(node.ipv6).toBe('fd00:10:224::4');
    expect(node.snat.usedPorts).toBe(2 * 100 + 5);
    expect(node.snatIpv6).toMatchObject({ usedPorts: 2 * 30, allocatedPorts: 1024, failedConnections: 0 });
  });

  test('a node without ipv6 has no IPv6 metrics, and counts every destination on its one backend', () => {
    const single = parseScenario(OWNED.replace('    ipv6: "fd00:10:224::4"\n', ''), 'single.yaml').nodes[0]!;
    expect(single.ipv6).toBeUndefined();
    expect(single.snatIpv6).toBeUndefined();
    expect(single.snat.usedPorts).toBe(2 * 130 + 5);
  });
});

describe('a broken scenario names the field that is wrong', () => {
  const base = (nodes: string, extra = '') =>
    `name: x\ncluster:\n  subscriptionId: 00000000-0000-0000-0000-000000000000\n  resourceGroup: rg\n  name: c\n  location: westeurope\n${extra}nodes:\n${nodes}`;

  test.each([
    ['a bad node IP', base('  - { name: n1, ip: 10.0.0.999 }'), /nodes\[0\]\.ip: expected an IP address/],
    [
      'a bad destination',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, connections: [{ to: "example.com:443" }] }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.connections\[0\]\.to: expected a destination "IP:port"/,
    ],
    [
      'a misspelt field, with the one that was meant',
      base('  - { name: n1, ip: 10.0.0.4, podz: [] }'),
      /nodes\[0\]: unknown field "podz" \(did you mean "pods"\?\)/,
    ],
    [
      'a field in the wrong case',
      base('  - { name: n1, ip: 10.0.0.4, podCIDR: 10.1.0.0/24 }'),
      /did you mean "podCidr"/,
    ],
    [
      'an unknown state',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, connections: [{ to: "1.2.3.4:80", state: OPEN }] }] }',
      ),
      /connections\[0\]\.state/,
    ],
    [
      'ports that are not a multiple of 8',
      base('  - { name: n1, ip: 10.0.0.4 }').replace(
        'location: westeurope',
        'location: westeurope\n  allocatedOutboundPorts: 1020',
      ),
      /cluster\.allocatedOutboundPorts: expected a multiple of 8/,
    ],
    [
      'an upper-case node name',
      base('  - { name: Node1, ip: 10.0.0.4 }'),
      /nodes\[0\]\.name: expected a Kubernetes node name/,
    ],
    ['no nodes', base('  []'), /nodes: a scenario needs at least one node/],
    ['a missing cluster', 'name: x\nnodes: [{ name: n1, ip: 10.0.0.4 }]', /cluster: /],
    [
      'two nodes with one IP',
      base('  - { name: n1, ip: 10.0.0.4 }\n  - { name: n2, ip: 10.0.0.4 }'),
      /nodes\[1\]\.ip: 10\.0\.0\.4 is also the IP of nodes\[0\]/,
    ],
    [
      'two pods with one name',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b }, { namespace: a, name: b }] }'),
      /nodes\[0\]\.pods: a\/b appears twice/,
    ],
    [
      'more used than allocated ports',
      base('  - { name: n1, ip: 10.0.0.4, snat: { usedPorts: 2000 } }'),
      /nodes\[0\]\.snat\.usedPorts: 2000 is more than allocatedPorts \(1024\)/,
    ],
    [
      'a fault for an unknown node',
      base('  - { name: n1, ip: 10.0.0.4 }', 'faults: [{ target: probe.capture, error: failed, node: n9 }]\n'),
      /faults\[0\]\.node: no node is named n9/,
    ],
    [
      'an unknown fault target',
      base('  - { name: n1, ip: 10.0.0.4 }', 'faults: [{ target: dns, error: failed }]\n'),
      /faults\[0\]\.target/,
    ],
    [
      'connections on a Pending pod, naming the field',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, phase: Pending, connections: [{ to: "1.2.3.4:80" }] }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.connections: a Pending pod holds no connections/,
    ],
    [
      'connections on a Succeeded pod',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, phase: Succeeded, connections: [{ to: "1.2.3.4:80" }] }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.connections: a Succeeded pod holds no connections/,
    ],
    [
      'a network namespace on a Failed pod',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, phase: Failed, netns: 4026532999 }] }'),
      /nodes\[0\]\.pods\[0\]\.netns: a Failed pod has no network namespace/,
    ],
    [
      'an IP on a Pending pod',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, phase: Pending, ip: 10.244.0.9 }] }'),
      /nodes\[0\]\.pods\[0\]\.ip: a Pending pod has no IP yet/,
    ],
    [
      'an unknown phase',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, phase: Evicted }] }'),
      /nodes\[0\]\.pods\[0\]\.phase/,
    ],
    [
      'an owner kind the sandbox does not have',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, owner: { kind: Rollout, name: b } }] }'),
      /nodes\[0\]\.pods\[0\]\.owner\.kind/,
    ],
    [
      'an owner without a name',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, owner: { kind: Deployment } }] }'),
      /nodes\[0\]\.pods\[0\]\.owner\.name/,
    ],
    [
      'a pod whose name is not its Deployment’s',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, owner: { kind: Deployment, name: cart } }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.name: a pod of Deployment cart is named cart, cart-<pod-template-hash> or cart-<pod-template-hash>-<5 characters>; b is not/,
    ],
    [
      'a full pod name with replicas',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: cart-7d9f8b6c5d-x2x9k, replicas: 2, owner: { kind: Deployment, name: cart } }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.name: .*with replicas, the name is the prefix/,
    ],
    [
      'a CronJob’s Job with too few digits',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: report-42, owner: { kind: CronJob, name: report } }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.name: a pod of CronJob report is named report, report-<minutes since the epoch, 8 digits or more>/,
    ],
    [
      'a DaemonSet with replicas',
      base(
        '  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: agent, replicas: 2, owner: { kind: DaemonSet, name: agent } }] }',
      ),
      /nodes\[0\]\.pods\[0\]\.replicas: a DaemonSet runs one pod per node/,
    ],
    [
      'terminating that is not a boolean',
      base('  - { name: n1, ip: 10.0.0.4, pods: [{ namespace: a, name: b, terminating: soon }] }'),
      /nodes\[0\]\.pods\[0\]\.terminating/,
    ],
    [
      'an IPv4 address as ipv6',
      base('  - { name: n1, ip: 10.0.0.4, ipv6: 10.0.0.5 }'),
      /nodes\[0\]\.ipv6: expected an IPv6 address/,
    ],
    [
      'IPv6 metrics on a node without ipv6',
      base('  - { name: n1, ip: 10.0.0.4, snatIpv6: { usedPorts: 10 } }'),
      /nodes\[0\]\.snatIpv6: the node has no ipv6/,
    ],
    [
      'two nodes with one IPv6 address',
      base('  - { name: n1, ip: 10.0.0.4, ipv6: "fd00::4" }\n  - { name: n2, ip: 10.0.0.5, ipv6: "fd00:0::4" }'),
      /nodes\[1\]\.ipv6: fd00::4 is also the IP of nodes\[0\]/,
    ],
    [
      'more used than allocated IPv6 ports',
      base('  - { name: n1, ip: 10.0.0.4, ipv6: "fd00::4", snatIpv6: { usedPorts: 2000 } }'),
      /nodes\[0\]\.snatIpv6\.usedPorts: 2000 is more than allocatedPorts \(1024\)/,
    ],
    ['text that is not YAML', 'name: [unclosed', /not valid YAML or JSON \(line 1\)/],
  ])('%s', (_name, text, message) => {
    const problems = problemsOf(text);
    expect(problems).toMatch(/^The scenario mine\.yaml cannot be used/);
    expect(problems).toMatch(message);
    expect(problems).toMatch(/docs\/sandbox\.md/);
  });
});

describe('helpers', () => {
  test.each([
    ['20.50.2.10:443', { ip: '20.50.2.10', port: 443 }],
    ['[2603:1030::5]:443', { ip: '2603:1030::5', port: 443 }],
    ['20.50.2.10:0', undefined],
    ['20.50.2.10:70000', undefined],
    ['[20.50.2.10]:443', undefined],
    ['2603:1030::5:443', undefined],
    ['host:443', undefined],
  ])('parseEndpoint(%j)', (text, expected) => {
    expect(parseEndpoint(text)).toEqual(expected);
  });

  test('formatPath writes the path as a person would', () => {
    expect(formatPath(['nodes', 0, 'pods', 12, 'ip'])).toBe('nodes[0].pods[12].ip');
    expect(formatPath([])).toBe('(the document)');
  });
});
