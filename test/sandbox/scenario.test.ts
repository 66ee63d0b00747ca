// Scenario files: what a user writes, what the sandbox makes of it, and the messages for what is wrong.
import { describe, expect, test } from '@jest/globals';
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

  test('replicas become ReplicaSet-style pods, each with its own IP, netns and sandbox', () => {
    const carts = node.pods.filter((p) => p.name.startsWith('cart-'));
    expect(carts).toHaveLength(3);
    for (const pod of carts) expect(pod.name).toMatch(/^cart-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
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
