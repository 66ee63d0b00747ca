// The watch tick on a sandbox fleet: several scenario clusters behind one set of in-process ports, the app's real
// registrations in the in-memory Durable host (virtual time), and the local Durable client the timer would get.
import { describe, expect, test } from '@jest/globals';
import { BATCH_SIZE, SNAT_QUERIES } from '../../lib/adapters/azure/backendSnat.ts';
import { SnatDoctorError } from '../../lib/errors.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { ClusterRef, Report } from '../../lib/model.ts';
import type { Ports } from '../../lib/ports.ts';
import { natGatewayId } from '../../lib/sandbox/natGateways.ts';
import { startSandbox } from '../../lib/sandbox/sandbox.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { startOnce, type WatchClient } from '../../lib/watch/startOnce.ts';
import { type WatchTickResult, watchTick } from '../../lib/watch/tick.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { scenarioWith } from '../support/scenarios.ts';

const SUB_A = '11111111-1111-4111-8111-111111111111';
const SUB_B = '22222222-2222-4222-8222-222222222222';
const SUB_C = '33333333-3333-4333-8333-333333333333';

interface MemberOptions {
  subscriptionId?: string;
  outboundType?: string;
  /**
   * SNAT of the scenario's three nodes (vmss000000, …01, …02), in that order; 1,000 ports are allocated per node.
   * Default: 10 ports used on each, no failed connection.
   */
  snat?: { usedPorts: number; failedConnections?: number }[];
  faults?: Record<string, unknown>[];
  /** The cluster's `natGateway` (with a NAT outbound type): its metrics, `attached`. */
  natGateway?: Record<string, unknown>;
  /** The cluster's own VNet (`cluster.vnet`), which a user-assigned NAT gateway's subnet is in. */
  vnet?: Record<string, unknown>;
}

/** One cluster of the fleet: the built-in scenario under another name, with its nodes' SNAT set. */
function member(name: string, options: MemberOptions = {}): Scenario {
  return scenarioWith((doc) => {
    const cluster = doc.cluster as Record<string, unknown>;
    cluster.name = name;
    cluster.resourceGroup = `rg-${name}`;
    cluster.subscriptionId = options.subscriptionId ?? SUB_A;
    cluster.allocatedOutboundPorts = 1000;
    if (options.outboundType) cluster.outboundType = options.outboundType;
    if (options.natGateway) cluster.natGateway = options.natGateway;
    if (options.vnet) cluster.vnet = options.vnet;
    const nodes = doc.nodes as Record<string, unknown>[];
    (options.snat ?? [{ usedPorts: 10 }, { usedPorts: 10 }, { usedPorts: 10 }]).forEach((snat, i) => {
      (nodes[i] as Record<string, unknown>).snat = { failedConnections: 0, ...snat };
    });
    if (options.faults) doc.faults = options.faults;
  });
}

function refOf(scenario: Scenario): ClusterRef {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return { subscriptionId, resourceGroup, name };
}

/** The fleet's ports: each call goes to the member cluster it is about; a metrics call to the members it names. */
function fleetPorts(scenarios: Scenario[]): Ports {
  const members = scenarios.map((scenario) => ({
    ref: refOf(scenario),
    ports: scenarioPorts(scenario),
    loadBalancerPrefix:
      `/subscriptions/${scenario.cluster.subscriptionId}/resourcegroups/${scenario.cluster.nodeResourceGroup}/`.toLowerCase(),
    gatewayId: scenario.cluster.natGateway ? natGatewayId(scenario.cluster.natGateway).toLowerCase() : undefined,
  }));
  const portsOf = (ref: ClusterRef): Ports => {
    const found = members.find(
      (m) =>
        m.ref.subscriptionId === ref.subscriptionId.toLowerCase() &&
        m.ref.resourceGroup === ref.resourceGroup &&
        m.ref.name === ref.name,
    );
    if (!found) throw new SnatDoctorError('CLUSTER_NOT_FOUND', `No AKS cluster ${ref.name} in the fleet.`);
    return found.ports;
  };
  return {
    clusters: { getCluster: async (ref) => portsOf(ref).clusters.getCluster(ref) },
    metrics: {
      backendSnat: async (ids, window) => {
        const named = members.filter((m) => ids.some((id) => id.toLowerCase().startsWith(m.loadBalancerPrefix)));
        return (await Promise.all(named.map((m) => m.ports.metrics.backendSnat(ids, window)))).flat();
      },
      natGatewaySnat: async (ids, window) => {
        const named = members.filter((m) => m.gatewayId && ids.some((id) => id.toLowerCase() === m.gatewayId));
        return (await Promise.all(named.map((m) => m.ports.metrics.natGatewaySnat(ids, window)))).flat();
      },
    },
    kubernetes: (ref) => portsOf(ref).kubernetes(ref),
    probe: { capture: (facts, node, options) => portsOf(facts.ref).probe.capture(facts, node, options) },
  };
}

/** The ports with every metrics call recorded: the load balancer ids each asked for, and the NAT gateway ids. */
function countingMetrics(ports: Ports): { ports: Ports; calls: string[][]; gatewayCalls: string[][] } {
  const calls: string[][] = [];
  const gatewayCalls: string[][] = [];
  return {
    calls,
    gatewayCalls,
    ports: {
      ...ports,
      metrics: {
        backendSnat: (ids, window) => {
          calls.push([...ids]);
          return ports.metrics.backendSnat(ids, window);
        },
        natGatewaySnat: (ids, window) => {
          gatewayCalls.push([...ids]);
          return ports.metrics.natGatewaySnat(ids, window);
        },
      },
    },
  };
}

/** The local Durable client, with every startNew recorded. */
function countingClient(client: WatchClient): { client: WatchClient; starts: string[] } {
  const starts: string[] = [];
  return {
    starts,
    client: {
      getStatus: (id, options) => client.getStatus(id, options),
      startNew: (name, options) => {
        starts.push(options.instanceId);
        return client.startNew(name, options);
      },
      readEntityState: (entityId) => client.readEntityState(entityId),
      signalEntity: (entityId, op, input) => client.signalEntity(entityId, op, input),
    },
  };
}

async function fleet(scenarios: Scenario[]) {
  const clock = new VirtualClock();
  const { ports, calls, gatewayCalls } = countingMetrics(fleetPorts(scenarios));
  const { host } = await startLocalRuntime({ ports, clock });
  const { client, starts } = countingClient(new LocalDurableClient(host));
  return { clock, ports, calls, gatewayCalls, host, client, starts, clusters: scenarios.map(refOf) };
}

const actions = (result: WatchTickResult) =>
  Object.fromEntries(
    result.nodes.map((n) => [`${n.cluster.name}/${n.name.replace(/^aks-nodepool1-31415926-/, '')}`, n.action]),
  );
/** `cluster/vmss…` of an instance id (`snat:{subscription}:{group}:{cluster}:{time}-{nonce}:{node}`). */
const nodeOfId = (id: string) => {
  const [, , , cluster, , node] = id.split(':');
  return `${cluster}/${node?.replace(/^aks-nodepool1-31415926-/, '')}`;
};
/** The ids of `ids`' investigations by node (`cluster/vmss…`), sorted. */
const byNode = (ids: string[]) => ids.map(nodeOfId).sort();

/** Below, at and above the thresholds (75 % warn, 90 % investigate, any failed connection), across two subscriptions. */
function thresholdFleet(): Scenario[] {
  return [
    member('aks-a', { snat: [{ usedPorts: 500 }, { usedPorts: 900 }, { usedPorts: 750 }] }),
    member('aks-b', {
      snat: [{ usedPorts: 899 }, { usedPorts: 1000, failedConnections: 120 }, { usedPorts: 10, failedConnections: 2 }],
    }),
    member('aks-c', { subscriptionId: SUB_B, snat: [{ usedPorts: 100 }, { usedPorts: 749 }, { usedPorts: 0 }] }),
    member('aks-nat', { subscriptionId: SUB_B, outboundType: 'managedNATGateway' }),
  ];
}
/** The nodes investigated, as `cluster/vmss…`. */
const INVESTIGATED = ['aks-a/vmss000001', 'aks-b/vmss000001', 'aks-b/vmss000002'];
/** An instance id of the node `cluster/vmss…` of the fleet's subscription A: its time and nonce are the start's. */
const idOf = (node: string) => {
  const [cluster, vmss] = node.split('/');
  return expect.stringMatching(
    new RegExp(`^snat:${SUB_A}:rg-${cluster}:${cluster}:\\d{8}t\\d{6}z-[0-9a-f]{6}:aks-nodepool1-31415926-${vmss}$`),
  );
};

describe('watchTick on a sandbox fleet', () => {
  test('nodes below, at and above the thresholds: exactly the right investigations start', async () => {
    const { host, client, starts, calls, gatewayCalls, clusters, clock, ports } = await fleet(thresholdFleet());
    const result = await watchTick({ clusters, ports, client, now: clock.now() });

    expect(actions(result)).toEqual({
      'aks-a/vmss000000': 'ok', // 50 %
      'aks-a/vmss000001': 'started', // exactly 90 %
      'aks-a/vmss000002': 'warn', // exactly 75 %
      'aks-b/vmss000000': 'warn', // 89.9 %
      'aks-b/vmss000001': 'started', // 100 % and failed connections
      'aks-b/vmss000002': 'started', // 1 %, but 2 failed connections
      'aks-c/vmss000000': 'ok',
      'aks-c/vmss000001': 'ok', // 74.9 %
      'aks-c/vmss000002': 'ok',
    });
    const ids = result.started.map((s) => s.instanceId);
    expect(byNode(ids)).toEqual(INVESTIGATED);
    expect([...starts].sort()).toEqual([...ids].sort());
    expect(result.started.find((s) => nodeOfId(s.instanceId) === INVESTIGATED[0])).toEqual({
      instanceId: idOf('aks-a/vmss000001'),
      cluster: clusters[0],
      node: 'aks-nodepool1-31415926-vmss000001',
    });
    expect(result.nodes.find((n) => n.cluster.name === 'aks-b' && n.name.endsWith('01'))).toMatchObject({
      ip: '10.224.0.5',
      usedPorts: 1000,
      allocatedPorts: 1000,
      failedConnections: 120,
      decision: 'investigate',
      instanceId: ids.find((id) => nodeOfId(id) === 'aks-b/vmss000001'),
    });
    // The NAT gateway cluster is watched at its gateway (quiet here), not skipped in silence.
    expect(result.gateways).toEqual([
      expect.objectContaining({ cluster: clusters[3], outboundType: 'managedNATGateway', decision: 'ok' }),
    ]);
    expect(result.unsupported).toEqual([]);
    expect(result.errors).toEqual([]);
    // One load balancer metrics call per subscription (the NAT cluster has no load balancer to ask about), and one
    // NAT gateway metrics call for the one subscription with a NAT gateway.
    expect(calls).toHaveLength(2);
    expect(gatewayCalls).toHaveLength(1);

    // The investigations are the real workflow, on the node the watch named, requested by the watch.
    for (const { instanceId, node } of result.started) {
      expect(instanceId).toEqual(idOf(nodeOfId(instanceId)));
      const status = await host.waitForCompletion(instanceId);
      expect(status.runtimeStatus).toBe('Completed');
      const report = status.output as Report;
      expect(report.requestedBy).toEqual({ kind: 'watch' });
      expect(report.node?.name).toBe(node);
    }
  });

  test('a second tick inside the cooldown starts none; after it, the nodes are investigated again', async () => {
    const { host, client, starts, clusters, clock, ports } = await fleet(thresholdFleet());
    const first = await watchTick({ clusters, ports, client, now: clock.now() });
    const ids = first.started.map((s) => s.instanceId).sort();
    expect(byNode(ids)).toEqual(INVESTIGATED);
    const finished = await Promise.all(ids.map((id) => host.waitForCompletion(id)));
    const lastFinished = Math.max(...finished.map((s) => s.lastUpdatedTime.getTime()));
    const minutesLater = (m: number) => new Date(lastFinished + m * 60_000);

    const inside = await watchTick({ clusters, ports, client, now: minutesLater(10), cooldownMinutes: 30 });
    expect(inside.started).toEqual([]);
    expect(starts).toHaveLength(INVESTIGATED.length);
    const cooling = inside.nodes.filter((n) => n.action === 'cooldown');
    expect(cooling.map((n) => n.instanceId).sort()).toEqual(ids);
    for (const node of cooling)
      expect(Date.parse(node.cooldownUntil ?? '')).toBeGreaterThan(minutesLater(10).getTime());

    const after = await watchTick({ clusters, ports, client, now: minutesLater(40), cooldownMinutes: 30 });
    const again = after.started.map((s) => s.instanceId);
    expect(byNode(again)).toEqual(INVESTIGATED);
    // Each re-run is an investigation of its own: the first runs are kept beside them.
    expect(again.filter((id) => ids.includes(id))).toEqual([]);
    expect(starts).toHaveLength(2 * INVESTIGATED.length);
    await Promise.all(again.map((id) => host.waitForCompletion(id)));
    expect((await host.listInstances()).map((i) => i.runtimeStatus)).toEqual(Array(6).fill('Completed'));
  });

  test('investigations another instance of the app started hold the watch off too: it reads the nodes’ registries', async () => {
    const { host, client, starts, clusters, clock, ports } = await fleet(thresholdFleet());
    // Started without this process's start path (as another instance of the app would), so it remembers none.
    const ids = await Promise.all(
      INVESTIGATED.map((node) => {
        const [cluster, vmss] = node.split('/');
        return startNewInvestigation(
          host,
          {
            cluster: clusters.find((c) => c.name === cluster) as ClusterRef,
            node: `aks-nodepool1-31415926-${vmss}`,
            captureSeconds: 30,
            requestedBy: { kind: 'watch' },
          },
          [],
          clock.now(),
        );
      }),
    );
    const finished = await Promise.all(ids.map((id) => host.waitForCompletion(id)));
    const lastFinished = Math.max(...finished.map((s) => s.lastUpdatedTime.getTime()));
    const minutesLater = (m: number) => new Date(lastFinished + m * 60_000);

    const inside = await watchTick({ clusters, ports, client, now: minutesLater(10), cooldownMinutes: 30 });
    expect(inside.started).toEqual([]);
    expect(starts).toEqual([]);
    expect(
      inside.nodes
        .filter((n) => n.action === 'cooldown')
        .map((n) => n.instanceId)
        .sort(),
    ).toEqual([...ids].sort());

    const after = await watchTick({ clusters, ports, client, now: minutesLater(40), cooldownMinutes: 30 });
    expect(byNode(after.started.map((s) => s.instanceId))).toEqual(INVESTIGATED);
    await Promise.all(after.started.map((s) => host.waitForCompletion(s.instanceId)));
  });

  test('concurrent ticks and an alert for the same node start one investigation per node', async () => {
    const { client, starts, clusters, clock, ports } = await fleet(thresholdFleet());
    const alert = startOnce(client, {
      cluster: clusters[1] as ClusterRef,
      node: 'aks-nodepool1-31415926-vmss000001',
      captureSeconds: 30,
      requestedBy: { kind: 'alert' },
    });
    const [first, second] = await Promise.all([
      watchTick({ clusters, ports, client, now: clock.now() }),
      watchTick({ clusters, ports, client, now: clock.now() }),
    ]);
    const alerted = await alert;

    expect(byNode(starts)).toEqual(INVESTIGATED);
    expect(starts).toContain(alerted.instanceId);
    // Each node's investigation was started by exactly one of the three; the others joined it.
    for (const id of starts) {
      const outcomes = [first, second].map((r) => r.nodes.find((n) => n.instanceId === id)?.action);
      expect(outcomes.every((o) => o === 'started' || o === 'joined')).toBe(true);
    }
    expect(first.started.length + second.started.length).toBeLessThanOrEqual(INVESTIGATED.length);
  });

  test('report only (no client): the decisions, nothing started', async () => {
    const { starts, clusters, clock, ports } = await fleet(thresholdFleet());
    const result = await watchTick({ clusters, ports, now: clock.now() });
    expect(result.started).toEqual([]);
    expect(starts).toEqual([]);
    expect(result.nodes.filter((n) => n.action === 'investigate')).toHaveLength(INVESTIGATED.length);
  });

  test('a cluster that cannot be read, a failing node list or metrics query: reported, the rest watched', async () => {
    const scenarios = [
      member('aks-ok', { snat: [{ usedPorts: 950 }, { usedPorts: 10 }, { usedPorts: 10 }] }),
      member('aks-nolist', { faults: [{ target: 'kubernetes.listNodes', error: 'forbidden' }] }),
      member('aks-nometrics', {
        subscriptionId: SUB_B,
        faults: [{ target: 'metrics.backendSnat', error: 'forbidden' }],
      }),
    ];
    const { client, clusters, clock, ports } = await fleet(scenarios);
    const missing = { subscriptionId: SUB_A, resourceGroup: 'rg-gone', name: 'aks-gone' };
    const result = await watchTick({ clusters: [missing, ...clusters], ports, client, now: clock.now() });

    expect(result.errors).toEqual([
      { cluster: missing, message: expect.stringMatching(/^Reading the cluster: No AKS cluster aks-gone/) },
      { cluster: clusters[1], message: expect.stringMatching(/^Listing the nodes: .*403 Forbidden/) },
      {
        cluster: clusters[2],
        // What the metrics batch API answers a caller without Monitoring Reader on the subscription (azureRbac.ts).
        message: expect.stringMatching(
          /^SNAT metrics of subscription .*HTTP 401.*needs Monitoring Reader on subscription .* itself/,
        ),
      },
    ]);
    expect(actions(result)).toEqual({
      'aks-ok/vmss000000': 'started',
      'aks-ok/vmss000001': 'ok',
      'aks-ok/vmss000002': 'ok',
    });
  });

  test('100 clusters in three subscriptions: one metrics call per subscription, nodes matched per load balancer', async () => {
    const subscriptions = [SUB_A, SUB_B, SUB_C];
    // Every cluster has the same node IPs (AKS's default VNet): only the load balancer tells them apart.
    const scenarios = Array.from({ length: 100 }, (_, i) =>
      member(`aks-${i}`, {
        subscriptionId: subscriptions[i % 3],
        snat: [{ usedPorts: i }, { usedPorts: 100 + i }, { usedPorts: 200 + i }],
      }),
    );
    const { ports, calls } = countingMetrics(fleetPorts(scenarios));
    const result = await watchTick({ clusters: scenarios.map(refOf), ports });

    const loadBalancers = calls.flat();
    expect(new Set(loadBalancers).size).toBe(100);
    const batches = subscriptions.length * Math.ceil(Math.max(...calls.map((ids) => ids.length)) / BATCH_SIZE);
    expect(calls.length).toBeLessThanOrEqual(batches);
    expect(calls).toHaveLength(subscriptions.length);

    expect(result.errors).toEqual([]);
    expect(result.nodes).toHaveLength(300);
    for (const node of result.nodes) {
      const i = Number(node.cluster.name.slice('aks-'.length));
      const n = Number(node.name.slice(-1));
      expect(node.usedPorts).toBe(100 * n + i);
    }
  });
});

describe('watchTick on NAT gateway clusters: watched at the gateway', () => {
  const NAT_VNET = { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] };

  test('failed SNAT connections at the gateway are a finding with the advice, and no investigation is started', async () => {
    const { client, starts, clusters, clock, ports } = await fleet([
      member('aks-nat', {
        outboundType: 'managedNATGateway',
        natGateway: { failedConnections: 37, droppedPackets: 12, totalConnections: 48_000 },
        // Nodes the load balancer would call exhausted: behind a NAT gateway there is no such metric to read.
        snat: [{ usedPorts: 1000, failedConnections: 50 }, { usedPorts: 10 }, { usedPorts: 10 }],
      }),
    ]);
    const result = await watchTick({ clusters, ports, client, now: clock.now() });

    const gatewayId = `/subscriptions/${SUB_A}/resourceGroups/MC_rg-aks-nat_aks-nat_westeurope/providers/Microsoft.Network/natGateways/nat-aks-nat`;
    expect(result.gateways).toEqual([
      {
        cluster: clusters[0],
        outboundType: 'managedNATGateway',
        gatewayId,
        failedConnections: 37,
        totalConnections: 48_000,
        droppedPackets: 12,
        decision: 'finding',
        message:
          'NAT gateway nat-aks-nat of cluster rg-aks-nat/aks-nat: 37 failed SNAT connections, 12 dropped packets in the last 5 minutes (48,000 active connections).',
        advice: [
          expect.stringMatching(
            /no per-node dimension.*started no investigation: there is no node to pick. A diagnose of the cluster without a node surveys.*--cluster aks-[a-z-]*`.*SourceIp/,
          ),
          expect.stringMatching(/reuse connections.*last resort/),
          expect.stringMatching(/64,512 each, up to 16.*has 1 and can have 2/),
          expect.stringMatching(/TCP idle timeout is 30 minutes.*default 4/),
        ],
        commands: [
          'az aks update --resource-group rg-aks-nat --name aks-nat --nat-gateway-managed-outbound-ip-count 2',
          'az aks update --resource-group rg-aks-nat --name aks-nat --nat-gateway-idle-timeout 4',
        ],
        // Nothing remembered (no memory given): first seen failing now.
        new: true,
      },
    ]);
    expect(result.nodes).toEqual([]);
    expect(result.started).toEqual([]);
    expect(starts).toEqual([]);
    expect(result.unsupported).toEqual([]);
    expect(result.errors).toEqual([]);
  });

  test.each([
    ['managedNATGateway', {}],
    ['userAssignedNATGateway', { vnet: NAT_VNET }],
  ])(
    '%s without failed connections or dropped packets: a quiet standing, not a finding',
    async (outboundType, extra) => {
      const { clusters, clock, ports } = await fleet([
        member('aks-quiet', { outboundType, natGateway: { totalConnections: 1200 }, ...extra }),
      ]);
      const result = await watchTick({ clusters, ports, now: clock.now() });
      expect(result.gateways).toEqual([
        expect.objectContaining({
          outboundType,
          failedConnections: 0,
          droppedPackets: 0,
          totalConnections: 1200,
          decision: 'ok',
          message: expect.stringMatching(
            /: no failed SNAT connection and no dropped packet in the last 5 minutes \(1,200 active connections\)\.$/,
          ),
          advice: [],
          commands: [],
        }),
      ]);
      expect(result.unsupported).toEqual([]);
    },
  );

  test("a user-assigned gateway's finding advises its own IPs, with no az aks command (AKS does not manage it)", async () => {
    const { clusters, clock, ports } = await fleet([
      member('aks-own', {
        outboundType: 'userAssignedNATGateway',
        vnet: NAT_VNET,
        natGateway: { name: 'nat-egress', failedConnections: 3 },
      }),
    ]);
    const [gateway] = (await watchTick({ clusters, ports, now: clock.now() })).gateways;
    expect(gateway).toMatchObject({
      gatewayId: `/subscriptions/${SUB_A}/resourceGroups/rg-network/providers/Microsoft.Network/natGateways/nat-egress`,
      decision: 'finding',
      commands: [],
    });
    expect(gateway?.advice.join(' ')).toMatch(/add public IPs or a prefix to gateway nat-egress, up to 16 IPs/);
  });

  test('NAT gateway metrics are asked for once per subscription, and no load balancer of a NAT cluster is asked for', async () => {
    const scenarios = [
      member('aks-lb-a', {}),
      member('aks-nat-a1', { outboundType: 'managedNATGateway', natGateway: { failedConnections: 1 } }),
      member('aks-nat-a2', { outboundType: 'userAssignedNATGateway', vnet: NAT_VNET }),
      member('aks-lb-b', { subscriptionId: SUB_B }),
      member('aks-nat-b1', { subscriptionId: SUB_B, outboundType: 'managedNATGateway' }),
      member('aks-nat-b2', {
        subscriptionId: SUB_B,
        outboundType: 'managedNATGateway',
        natGateway: { droppedPackets: 4 },
      }),
    ];
    const { ports, calls, gatewayCalls } = countingMetrics(fleetPorts(scenarios));
    const result = await watchTick({ clusters: scenarios.map(refOf), ports });

    expect(result.errors).toEqual([]);
    expect(gatewayCalls).toHaveLength(2);
    expect(gatewayCalls.map((ids) => ids.length).sort()).toEqual([2, 2]);
    expect(calls).toHaveLength(2);
    for (const ids of calls) for (const id of ids) expect(id).toMatch(/MC_rg-aks-lb-[ab]_aks-lb-[ab]_/);
    expect(result.gateways.map((g) => `${g.cluster.name} ${g.decision}`).sort()).toEqual([
      'aks-nat-a1 finding',
      'aks-nat-a2 ok',
      'aks-nat-b1 ok',
      'aks-nat-b2 finding',
    ]);
    expect(result.nodes.map((n) => n.cluster.name)).toEqual([
      ...Array(3).fill('aks-lb-a'),
      ...Array(3).fill('aks-lb-b'),
    ]);
  });

  test("a subscription whose NAT gateway query fails: an error for its NAT clusters, the others' gateways read", async () => {
    const { clusters, clock, ports } = await fleet([
      member('aks-nat-ok', { outboundType: 'managedNATGateway' }),
      member('aks-nat-refused', {
        subscriptionId: SUB_B,
        outboundType: 'managedNATGateway',
        faults: [{ target: 'metrics.natGatewaySnat', error: 'forbidden' }],
      }),
    ]);
    const result = await watchTick({ clusters, ports, now: clock.now() });
    expect(result.gateways.map((g) => g.cluster.name)).toEqual(['aks-nat-ok']);
    expect(result.errors).toEqual([
      {
        cluster: clusters[1],
        message: expect.stringMatching(
          /^NAT gateway metrics of subscription 22222222-.*Querying the NAT gateway SNAT metrics was refused.*Monitoring Reader on subscription .* itself/,
        ),
      },
    ]);
  });
});

describe('watchTick through the real SDK clients (the sandbox over HTTPS)', () => {
  test('40 nodes behind one load balancer: one getBatch call per metrics query, not per node', async () => {
    const scenario = scenarioWith((doc) => {
      doc.nodes = Array.from({ length: 40 }, (_, i) => ({
        name: `aks-pool-${String(i).padStart(6, '0')}`,
        ip: `10.224.1.${i + 4}`,
        snat: { usedPorts: i === 39 ? 1000 : i * 20, failedConnections: 0 },
      }));
    });
    const sandbox = await startSandbox(scenario);
    try {
      const result = await watchTick({ clusters: [refOf(scenario)], ports: sandbox.ports() });
      const getBatch = sandbox.arm.calls.filter((c) => c.path.endsWith('/metrics:getBatch'));
      // One load balancer, one batch; the adapter asks two queries per batch (port metrics, connection counts).
      expect(getBatch).toHaveLength(Math.ceil(1 / BATCH_SIZE) * Object.keys(SNAT_QUERIES).length);
      expect(result.errors).toEqual([]);
      expect(result.nodes).toHaveLength(40);
      expect(result.nodes.map((n) => [n.usedPorts, n.allocatedPorts])).toEqual(
        scenario.nodes.map((n) => [n.snat.usedPorts, n.snat.allocatedPorts]),
      );
      expect(result.nodes.filter((n) => n.action === 'investigate').map((n) => n.name)).toEqual(['aks-pool-000039']);
    } finally {
      await sandbox.close();
    }
  });

  const getBatchOf = (sandbox: Awaited<ReturnType<typeof startSandbox>>) =>
    sandbox.arm.calls.filter((c) => c.path.endsWith('/metrics:getBatch'));

  test.each([
    ['managedNATGateway', {}, 'MC_rg-payments-prod_aks-prod_westeurope', 'arm.getPublicIpAddress'],
    [
      'userAssignedNATGateway',
      { vnet: { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] } },
      'rg-network',
      'arm.getVirtualNetwork',
    ],
  ])(
    '%s: the gateway is found from ARM and its metrics read, with the real SDK clients',
    async (outboundType, extra, group, lookup) => {
      const scenario = scenarioWith((doc) => {
        Object.assign(doc.cluster as object, {
          outboundType,
          natGateway: { failedConnections: 5, droppedPackets: 2, totalConnections: 700 },
          ...extra,
        });
      });
      const sandbox = await startSandbox(scenario);
      try {
        const result = await watchTick({ clusters: [refOf(scenario)], ports: sandbox.ports() });
        expect(result.errors).toEqual([]);
        expect(result.unsupported).toEqual([]);
        expect(result.gateways).toEqual([
          expect.objectContaining({
            gatewayId: `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/natGateways/nat-aks-prod`,
            failedConnections: 5,
            droppedPackets: 2,
            totalConnections: 700,
            decision: 'finding',
          }),
        ]);
        expect(sandbox.arm.calls.filter((c) => c.target === lookup).map((c) => c.status)).toEqual([200]);
        // The gateway's two queries (failed connections; connections and drops), no load balancer query.
        expect(getBatchOf(sandbox).map((c) => c.query.metricnamespace)).toEqual([
          'Microsoft.Network/natGateways',
          'Microsoft.Network/natGateways',
        ]);
        expect(result.nodes).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
  );

  test.each([
    [
      'the identity may not read the managed gateway’s outbound public IP',
      { outboundType: 'managedNATGateway' },
      [{ target: 'arm.getPublicIpAddress', error: 'forbidden' }],
      /^The cluster's NAT gateway was not found, so the watch cannot read its metrics: Public IP [0-9a-f-]+ \(resource group MC_rg-payments-prod_aks-prod_westeurope, .*HTTP 403 AuthorizationFailed\): the identity lacks Microsoft\.Network\/publicIPAddresses\/read/,
    ],
    [
      'the node subnet names no NAT gateway',
      {
        outboundType: 'userAssignedNATGateway',
        vnet: { name: 'vnet-egress', addressSpace: ['10.30.0.0/16'] },
        natGateway: { attached: false },
      },
      [],
      /^The cluster's NAT gateway was not found, so the watch cannot read its metrics: Subnet nodes of VNet vnet-egress has no NAT gateway \(properties\.natGateway\)/,
    ],
    [
      'the VNet holding the node subnet cannot be read',
      { outboundType: 'userAssignedNATGateway', vnet: { name: 'vnet-egress', addressSpace: ['10.30.0.0/16'] } },
      [{ target: 'arm.getVirtualNetwork', error: 'forbidden' }],
      /VNet vnet-egress .*lacks Microsoft\.Network\/virtualNetworks\/read.*The NAT gateway of the node pools' subnet nodes is not known/,
    ],
  ])(
    'a NAT gateway that cannot be found (%s): unsupported, saying why, and no metrics asked for',
    async (_, cluster, faults, why) => {
      const scenario = scenarioWith((doc) => {
        Object.assign(doc.cluster as object, cluster);
        doc.faults = faults;
      });
      const sandbox = await startSandbox(scenario);
      try {
        const result = await watchTick({ clusters: [refOf(scenario)], ports: sandbox.ports() });
        expect(result.unsupported).toEqual([
          { cluster: refOf(scenario), outboundType: cluster.outboundType, note: expect.stringMatching(why) },
        ]);
        expect(result.gateways).toEqual([]);
        expect(result.errors).toEqual([]);
        expect(getBatchOf(sandbox)).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
  );

  test.each([['userDefinedRouting'], ['none']])(
    '%s stays unsupported (no gateway the watch can read), and no metrics are asked for',
    async (outboundType) => {
      const scenario = scenarioWith((doc) => {
        (doc.cluster as Record<string, unknown>).outboundType = outboundType;
      });
      const sandbox = await startSandbox(scenario);
      try {
        const result = await watchTick({ clusters: [refOf(scenario)], ports: sandbox.ports() });
        expect(result.unsupported).toEqual([{ cluster: refOf(scenario), outboundType, note: expect.any(String) }]);
        expect(result.gateways).toEqual([]);
        expect(result.nodes).toEqual([]);
        expect(getBatchOf(sandbox)).toEqual([]);
      } finally {
        await sandbox.close();
      }
    },
  );
});
