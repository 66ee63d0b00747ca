// locateNode on a NAT gateway cluster without a node named (issue 15): the gateway has no per-node metric, so the
// nodes are surveyed and the node holding the most connections to the busiest destination endpoint is investigated,
// with what the survey could not see. Against the sandbox's cluster (its pods' /proc/net tables, read by exec).
import type { InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { renderSlackReport } from '../../lib/render/slackBlocks.ts';
import { renderReport } from '../../lib/render/terminal.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { locateNode } from '../../lib/workflow/steps/locateNode.ts';
import { examinePods } from '../../lib/workflow/steps/podConnections.ts';
import { buildReport } from '../../lib/workflow/steps/rankAndReport.ts';
import { scenarioWith } from '../support/scenarios.ts';

const context = {} as InvocationContext;
const NODE_A = 'aks-nodepool1-12345678-vmss000000';
const NODE_B = 'aks-nodepool1-12345678-vmss000001';

type Pod = Record<string, unknown>;

function natCluster(a: Pod[], b: Pod[], faults: Record<string, unknown>[] = []): Scenario {
  return scenarioWith((doc) => {
    Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway' });
    doc.nodes = [
      { name: NODE_A, ip: '10.224.0.4', pods: a },
      { name: NODE_B, ip: '10.224.0.5', pods: b },
    ];
    doc.faults = faults;
  });
}

async function locate(scenario: Scenario, node?: string) {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return locateNode.run(
    { cluster: { subscriptionId, resourceGroup, name }, ...(node ? { node } : {}) },
    scenarioPorts(scenario),
    context,
  );
}

const pod = (name: string, connections: Pod[], more: Pod = {}): Pod => ({
  namespace: 'shop',
  name,
  connections,
  ...more,
});

describe('locateNode on a NAT gateway cluster, no node named', () => {
  test('the node with the most connections to the busiest destination endpoint, not the node of the busiest pod', async () => {
    // Node A: 600 connections to 20.50.2.10:443 over two pods. Node B: the single busiest pod (500 to 52.1.2.3:443),
    // and 100 to 20.50.2.10:443. The hot endpoint is 20.50.2.10:443 (700), most of it on node A.
    const scenario = natCluster(
      [
        pod('cart', [
          { to: '20.50.2.10:443', count: 250 },
          { to: '20.50.2.10:443', state: 'TIME_WAIT', count: 50 },
        ]),
        pod('checkout', [{ to: '20.50.2.10:443', count: 300 }]),
      ],
      [
        pod('crawler', [{ to: '52.1.2.3:443', count: 500 }]),
        pod('search', [
          { to: '20.50.2.10:443', count: 100 },
          { to: '10.0.0.10:53', count: 900 },
        ]),
      ],
    );
    const result = await locate(scenario);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.node.name).toBe(NODE_A);
    expect(result.value.survey).toMatchObject({
      destination: { ip: '20.50.2.10', port: 443, connections: 700 },
      nodes: [
        { name: NODE_A, connections: 600 },
        { name: NODE_B, connections: 100 },
      ],
      // Every pod holding the hot endpoint, whichever node, most first (ties by name): not the crawler (another endpoint).
      pods: [
        { node: NODE_A, namespace: 'shop', pod: 'cart', connections: 300 },
        { node: NODE_A, namespace: 'shop', pod: 'checkout', connections: 300 },
        { node: NODE_B, namespace: 'shop', pod: 'search', connections: 100 },
      ],
      nodesSurveyed: 2,
      podsRead: 4,
      podsUnread: 0,
      podsLeft: 0,
    });
    const said = result.value.notes.join(' ');
    expect(said).toContain(
      `The node was chosen by a survey of 4 pod(s) on 2 node(s): 20.50.2.10:443 holds the most connections, 700 (open and TIME_WAIT) — ${NODE_A} 600, ${NODE_B} 100`,
    );
    expect(said).toContain('connections that opened and closed between reads are not seen');
  });

  test('a service or private destination never counts, however busy: only SNATed endpoints', async () => {
    const scenario = natCluster(
      [pod('dns-heavy', [{ to: '10.0.0.10:53', count: 5000 }])],
      [pod('api', [{ to: '40.90.4.5:443', count: 3 }])],
    );
    const result = await locate(scenario);
    expect(result.ok && result.value.node.name).toBe(NODE_B);
  });

  test('what it cannot see is said: a pod it could not read, hostNetwork pods', async () => {
    const scenario = natCluster(
      [
        pod('cart', [{ to: '20.50.2.10:443', count: 40 }]),
        pod('kube-proxy', [{ to: '20.50.2.10:443', count: 999 }], { hostNetwork: true }),
      ],
      [pod('broken', [{ to: '20.50.2.10:443', count: 900 }])],
      [{ target: 'kubernetes.exec', error: 'forbidden', pod: 'shop/broken' }],
    );
    const result = await locate(scenario);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    // The unread pod's 900 are not guessed at: node A is chosen on what was seen, and the report says what was not.
    expect(result.value.node.name).toBe(NODE_A);
    expect(result.value.survey).toMatchObject({ podsRead: 1, podsUnread: 1, hostNetworkPods: 1 });
    const said = result.value.notes.join(' ');
    expect(said).toMatch(/1 pod\(s\) could not be read \(shop\/broken: /);
    expect(said).toContain("1 hostNetwork pod(s) and the nodes' own processes were not read");
  });

  test('no public connection anywhere: no node is guessed, the failure says what was surveyed and asks for a node', async () => {
    const scenario = natCluster([pod('dns', [{ to: '10.0.0.10:53', count: 10 }])], [pod('idle', [])]);
    const result = await locate(scenario);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('NO_METRICS');
    expect(result.message).toMatch(
      /^A NAT gateway has no per-node metric, and a survey of 2 pod\(s\) on 2 node\(s\) found no connection to a public destination.*name the node to investigate/,
    );
  });

  test('with a node named, no survey is made', async () => {
    const scenario = natCluster([pod('cart', [{ to: '20.50.2.10:443', count: 40 }])], [pod('idle', [])]);
    const result = await locate(scenario, NODE_B);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.node.name).toBe(NODE_B);
    expect(result.value.survey).toBeUndefined();
  });
});

/** locateNode, then the chosen node's pods examined and the report built, as the workflow does. */
async function reportOf(scenario: Scenario) {
  const located = await locate(scenario);
  if (!located.ok) throw new Error(located.message);
  const ports = scenarioPorts(scenario);
  const cluster = located.value.facts.ref;
  const onNode = await ports.kubernetes(cluster).listPodsOnNode(located.value.node.name);
  const examined = await examinePods(
    {
      cluster,
      pods: onNode.map((p) => ({ ...p, snapshotCovered: false, sockets: [], trace: [] })),
      privateRanges: [],
      concurrency: 2,
    },
    ports,
  );
  const report = buildReport({
    instanceId: 'snat:test',
    request: { cluster, captureSeconds: 30, requestedBy: { kind: 'cli', who: 'test' } },
    startedAt: '2026-12-02T00:00:00Z',
    located: located.value,
    pods: examined.flatMap((r) => (r.ok ? [r.value] : [])),
    steps: [],
    unavailable: [],
  });
  return { located: located.value, report };
}

describe('the report of a NAT gateway cluster investigated without a node', () => {
  test('carries the survey, and its advice measures the cluster-wide count against the cap and names the other nodes', async () => {
    const { report } = await reportOf(
      natCluster(
        [pod('checkout', [{ to: '20.50.2.10:443', count: 30_000 }])],
        [pod('search', [{ to: '20.50.2.10:443', count: 25_000 }])],
      ),
    );
    expect(report.survey?.destination).toEqual({ ip: '20.50.2.10', port: 443, connections: 55_000 });
    const nat = report.recommendations.find((r) => r.kind === 'nat-gateway');
    expect(nat?.detail).toContain(
      `Across the cluster the survey saw 55,000 connection(s) to 20.50.2.10:443, 110 % of the 50,000 the gateway allows to one destination endpoint with its 1 public IP(s)`,
    );
    expect(nat?.detail).toContain(`the other nodes holding some: ${NODE_B} (25,000)`);
  });

  test("its budget is the gateway's: the per-endpoint cap, this node's and the cluster's hot endpoint, the gateway's metrics", async () => {
    const scenario = natCluster(
      [pod('checkout', [{ to: '20.50.2.10:443', count: 30_000 }])],
      [pod('search', [{ to: '20.50.2.10:443', count: 25_000 }])],
    );
    Object.assign(scenario.cluster, { outboundIps: 2 });
    Object.assign(scenario.cluster.natGateway ?? {}, { failedConnections: 120, droppedPackets: 40 });
    const { located, report } = await reportOf(scenario);
    expect(located.gateways).toHaveLength(1);
    // No load balancer budget: a NAT gateway gives no node a slice of its own.
    expect(report.budget).toBeUndefined();
    expect(report.natBudget).toMatchObject({
      publicIpCount: 2,
      ports: 129_024,
      perEndpointCap: 100_000,
      gateway: { gateways: 1, failedConnections: 120, droppedPackets: 40 },
      hotEndpoint: { ip: '20.50.2.10', port: 443, connections: 55_000, share: 0.55 },
    });
    expect(report.natBudget?.byDestination[0]).toMatchObject({ ip: '20.50.2.10', port: 443, share: 0.3 });
    const text = renderReport(report);
    expect(text).toContain(
      'NAT gateway: 100,000 connections allowed to one destination endpoint, 129,024 SNAT ports shared by every node behind it (2 public IPs)',
    );
    expect(text).toContain('across the cluster (survey): 55,000 connections to 20.50.2.10:443, 55 % of that cap');
    expect(text).toContain('120 failed SNAT connections, 40 dropped packets');
    expect(text).toContain(
      `the pods holding most of them: shop/checkout on ${NODE_A} (30,000), shop/search on ${NODE_B} (25,000)`,
    );
    const slack = JSON.stringify(renderSlackReport(report).blocks);
    // Failed connections at the gateway: the header is red whatever the shares.
    expect(slack).toContain(`🔴 SNAT ports: ${NODE_A}`);
    expect(slack).toContain('*Gateway failed connections*\\n120');
  });

  test("the gateway's metrics unreadable: the budget says so, the step names why, the investigation goes on", async () => {
    const { located, report } = await reportOf(
      natCluster(
        [pod('checkout', [{ to: '20.50.2.10:443', count: 300 }])],
        [pod('search', [])],
        [{ target: 'metrics.natGatewaySnat', error: 'forbidden' }],
      ),
    );
    expect(located.gateways).toBeUndefined();
    expect(located.notes.join(' ')).toMatch(/NAT gateway metrics unavailable: /);
    expect(report.natBudget?.gateway).toBeUndefined();
    expect(report.natBudget?.byDestination[0]).toMatchObject({ ip: '20.50.2.10', port: 443 });
    expect(renderReport(report)).toContain("the gateway's own metrics were not read (the locateNode step says why)");
    // Nothing failing is known: the header's colour comes from the shares alone.
    expect(JSON.stringify(renderSlackReport(report).blocks)).toContain(`🟢 SNAT ports: ${NODE_A}`);
  });
});

describe('a load balancer cluster has no NAT budget', () => {
  test('natBudget is absent', async () => {
    const scenario = scenarioWith((doc) => {
      doc.faults = [];
    });
    const { report } = await reportOf(scenario);
    expect(report.natBudget).toBeUndefined();
    expect(report.budget).toBeDefined();
  });
});
