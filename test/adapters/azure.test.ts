// The real Azure adapters — the SDK clients themselves — against the sandbox's ARM and metrics endpoints over HTTPS on
// 127.0.0.1: the same facts and metrics as the in-process sandbox (NAT gateways included), batching, runCommand's
// long-running operation and its failures, every injected fault on every Azure call, and the token scopes asked for.
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { BATCH_SIZE, SNAT_QUERIES } from '../../lib/adapters/azure/backendSnat.ts';
import { NAT_GATEWAY_QUERIES } from '../../lib/adapters/azure/natGatewaySnat.ts';
import {
  type AzureAdapterOptions,
  type AzureAdapters,
  createAzureAdapters,
  NETWORK_API_VERSION,
  PUBLIC_IP_API_VERSION,
} from '../../lib/adapters/azure.ts';
import { SnatDoctorError, TransientError } from '../../lib/errors.ts';
import type { BackendSnat, ClusterRef } from '../../lib/model.ts';
import {
  type ArmServer,
  type RecordedCall,
  type RunCommandExecutor,
  type RunCommandRequest,
  startArmServer,
} from '../../lib/sandbox/armServer.ts';
import { audienceOf, issueToken, readToken } from '../../lib/sandbox/entra.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { createSandboxCertificate, type SandboxCertificate } from '../../lib/sandbox/tls.ts';
import { clientTimeoutMs, scenarioWith, withFaults } from '../support/scenarios.ts';

type Credential = AzureAdapterOptions['credential'];

const ARM_SCOPE = 'https://management.azure.com/.default';
/** The metrics batch REST spec's security scope. */
const METRICS_SCOPE = 'https://metrics.monitor.azure.com/.default';
const AKS_SCOPE = '6dae42f8-4368-4678-94ff-3960e28e3630/.default';
/** The client's timeout when a fault leaves it waiting (clientTimeoutMs). */
const TIMEOUT_MS = 250;

let cert: SandboxCertificate;
const servers: ArmServer[] = [];

beforeAll(async () => {
  cert = await createSandboxCertificate();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The secret the sandbox's Entra ID signs with (entra.ts): the servers check the tokens issued with it. */
const SECRET = 'azure-adapter-test-secret';

/**
 * A TokenCredential that records the scopes it is asked for and issues the sandbox's token for the first one (or, to
 * test a wrong audience, for the scope `issueFor` names instead).
 */
function recordingCredential(issueFor: (asked: string) => string = (asked) => asked): {
  credential: Credential;
  scopes: string[];
} {
  const scopes: string[] = [];
  return {
    scopes,
    credential: {
      async getToken(scope) {
        const asked = Array.isArray(scope) ? scope : [scope];
        scopes.push(...asked);
        return { token: issueToken(SECRET, issueFor(asked[0] ?? '')), expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    },
  };
}

const echoExecutor: RunCommandExecutor = async (request) => ({ exitCode: 0, logs: `ran: ${request.command}` });

async function sandbox(
  scenario: Scenario,
  executor: RunCommandExecutor = echoExecutor,
  kubeconfig?: () => string,
  issueFor?: (asked: string) => string,
) {
  const server = await startArmServer(scenario, {
    cert,
    entraSecret: SECRET,
    runCommand: executor,
    kubeconfig,
    sleep: async () => {},
  });
  servers.push(server);
  const { credential, scopes } = recordingCredential(issueFor);
  const adapters = createAzureAdapters({
    credential,
    subscriptionId: scenario.cluster.subscriptionId,
    armEndpoint: server.url,
    metricsEndpoint: server.metricsEndpoint,
    tlsCa: cert.cert,
    timeoutMs: clientTimeoutMs(scenario, TIMEOUT_MS),
    pollIntervalMs: 1,
  });
  return { server, adapters, scopes, ref: refOf(scenario) };
}

function refOf(scenario: Scenario): ClusterRef {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return { subscriptionId, resourceGroup, name };
}

function lbIdOf(scenario: Scenario): string {
  const { subscriptionId, nodeResourceGroup } = scenario.cluster;
  return `/subscriptions/${subscriptionId}/resourceGroups/${nodeResourceGroup}/providers/Microsoft.Network/loadBalancers/kubernetes`;
}

const byIp = (rows: BackendSnat[]) => [...rows].sort((a, b) => a.backendIp.localeCompare(b.backendIp));

/** Waits (without a deadline of its own: jest's is the bound) until the server has recorded a matching call. */
async function seen(server: ArmServer, match: (call: RecordedCall) => boolean): Promise<RecordedCall> {
  for (;;) {
    const call = server.calls.find(match);
    if (call) return call;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function failure(promise: Promise<unknown>): Promise<SnatDoctorError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SnatDoctorError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

function nodes(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `aks-nodepool1-27182818-vmss${String(i).padStart(6, '0')}`,
    ip: `10.224.1.${i + 4}`,
    snat: { usedPorts: 5 * i, failedConnections: i },
  }));
}

describe('cluster facts: the same as the in-process sandbox', () => {
  test.each([
    ['the default scenario', (_: Record<string, unknown>) => {}],
    [
      'three outbound IPs and 2,048 ports per node',
      (doc: Record<string, unknown>) => {
        Object.assign(doc.cluster as object, { outboundIps: 3, allocatedOutboundPorts: 2048, idleTimeoutMinutes: 10 });
      },
    ],
    [
      'a managed NAT gateway (no load balancer to watch)',
      (doc: Record<string, unknown>) => {
        Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway', outboundIps: 2 });
      },
    ],
    [
      'an Entra ID cluster with runCommand disabled, in a custom node resource group',
      (doc: Record<string, unknown>) => {
        Object.assign(doc.cluster as object, {
          aadManaged: true,
          disableRunCommand: true,
          nodeResourceGroup: 'rg-nodes',
        });
      },
    ],
    [
      'a Windows node pool next to the Linux one',
      (doc: Record<string, unknown>) => {
        (doc.nodes as unknown[]).push({ name: 'akswin000000', ip: '10.224.0.9', os: 'windows' });
      },
    ],
  ])('%s', async (_, edit) => {
    const scenario = scenarioWith(edit);
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    expect(facts).toEqual(await scenarioPorts(scenario).clusters.getCluster(ref));
    expect(server.calls.find((c) => c.target === 'arm.getCluster')?.query['api-version']).toBe('2025-10-01');
  });

  test("a cluster in its own VNet (vnetCidr): the VNet's range comes from GET virtualNetworks, not the ManagedCluster", async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { vnetCidr: '172.16.0.0/16' });
    });
    const { adapters, ref } = await sandbox(scenario);
    expect((await adapters.clusters.getCluster(ref)).privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '172.16.0.0/16', source: 'vnet', name: 'vnet-aks-prod' },
    ]);
  });

  test.each([
    ['cluster', { name: 'aks-other' }],
    ['resource group', { resourceGroup: 'rg-other' }],
    ['subscription', { subscriptionId: '11111111-2222-4333-8444-555555555555' }],
  ])('an unknown %s is CLUSTER_NOT_FOUND, naming subscription, group and cluster', async (_, change) => {
    const { adapters, ref } = await sandbox(scenarioWith());
    const wrong = { ...ref, ...change };
    const error = await failure(adapters.clusters.getCluster(wrong));
    expect(error.code).toBe('CLUSTER_NOT_FOUND');
    expect(error.message).toContain(
      `No AKS cluster ${wrong.name} in resource group ${wrong.resourceGroup} of subscription ${wrong.subscriptionId}`,
    );
  });
});

describe("the node pools' VNet (bring-your-own)", () => {
  const NETWORK_GROUP = 'rg-network';
  /** A VNet using public blocks privately, in a network resource group, with peerings in each state. */
  const byoVnet = (faults: Record<string, unknown>[] = []) =>
    scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        vnet: {
          name: 'vnet-prod',
          resourceGroup: NETWORK_GROUP,
          addressSpace: ['30.10.0.0/16', '10.50.0.0/16'],
          peerings: [
            { name: 'vnet-hub', resourceGroup: 'rg-hub', addressSpace: ['30.20.0.0/16'] },
            { name: 'vnet-old', addressSpace: ['30.30.0.0/16'], state: 'Disconnected' },
            { name: 'vnet-new', addressSpace: ['30.40.0.0/16'], state: 'Initiated' },
          ],
        },
      });
      doc.faults = faults;
    });

  test("its address spaces and its Connected peerings' are not SNAT'd, named; the same as in-process", async () => {
    const scenario = byoVnet();
    const { adapters, ref, server, scopes } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    expect(facts.privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: '10.50.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: '30.20.0.0/16', source: 'peered-vnet', name: 'vnet-hub' },
    ]);
    expect(facts.notes).toBeUndefined();
    expect(facts).toEqual(await scenarioPorts(scenario).clusters.getCluster(ref));
    const read = server.calls.filter((c) => c.target === 'arm.getVirtualNetwork');
    expect(read.map((c) => [c.method, c.path, c.query['api-version'], c.status])).toEqual([
      [
        'GET',
        `/subscriptions/${ref.subscriptionId}/resourceGroups/${NETWORK_GROUP}/providers/Microsoft.Network/virtualNetworks/vnet-prod`,
        NETWORK_API_VERSION,
        200,
      ],
    ]);
    // Through the same pipeline as the SDK calls: the ARM token, nothing else asked for.
    expect(read[0]?.audience).toBe(audienceOf(ARM_SCOPE));
    expect(new Set(scopes)).toEqual(new Set([ARM_SCOPE]));
  });

  test('an AKS-managed VNet is not read: its range is always 10.224.0.0/12', async () => {
    const { adapters, ref, server } = await sandbox(scenarioWith());
    const facts = await adapters.clusters.getCluster(ref);
    expect(facts.privateRanges).toContainEqual({ cidr: '10.224.0.0/12', source: 'vnet' });
    expect(server.calls.some((c) => c.target === 'arm.getVirtualNetwork')).toBe(false);
  });

  test.each([
    [
      '403 AuthorizationFailed (forbidden)',
      'forbidden',
      /HTTP 403 AuthorizationFailed\): the identity lacks Microsoft\.Network\/virtualNetworks\/read/,
    ],
    ['400 (failed)', 'failed', /HTTP 400 BadRequest/],
  ])(
    'a VNet that cannot be read, %s, does not fail the facts: the rest, and a note naming it',
    async (_, error, said) => {
      const scenario = byoVnet([{ target: 'arm.getVirtualNetwork', error }]);
      const { adapters, ref } = await sandbox(scenario);
      const facts = await adapters.clusters.getCluster(ref);
      expect(facts.privateRanges.map((r) => r.source)).toEqual(['pods', 'services']);
      expect(facts.loadBalancerIds).toHaveLength(1);
      expect(facts.notes).toHaveLength(1);
      const [note] = facts.notes ?? [];
      expect(note).toMatch(/^VNet vnet-prod \(resource group rg-network, subscription /);
      expect(note).toMatch(said);
      expect(note).toContain('SNAT_DOCTOR_PRIVATE_RANGES');
      // In-process, the fault becomes the same note.
      expect(facts).toEqual(
        await scenarioPorts(byoVnet([{ target: 'arm.getVirtualNetwork', error }])).clusters.getCluster(ref),
      );
    },
  );

  test('a VNet ARM does not find (404: another subscription, out of sight): a note, the investigation goes on', async () => {
    const scenario = byoVnet();
    const other = '11111111-2222-4333-8444-555555555555';
    // The pools' subnet is in a subscription ARM does not know (for this identity): SubscriptionNotFound.
    if (scenario.cluster.vnet) scenario.cluster.vnet.subscriptionId = other;
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    expect(server.calls.find((c) => c.target === 'arm.getVirtualNetwork')?.status).toBe(404);
    expect(facts.privateRanges.map((r) => r.source)).toEqual(['pods', 'services']);
    expect(facts.notes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^VNet vnet-prod \\(resource group rg-network, subscription ${other}\\).*was not found \\(HTTP 404 SubscriptionNotFound\\).*Check that the identity can see subscription ${other}`,
        ),
      ),
    ]);
  });

  test.each([
    ['transient', undefined],
    ['throttled', 7],
    ['server-error', undefined],
    ['timeout', undefined],
    ['truncated', undefined],
    ['stream-dropped', undefined],
  ])('%s is a TransientError (retried by the workflow), not a silent gap', async (error, retryAfter) => {
    const { adapters, ref } = await sandbox(
      byoVnet([{ target: 'arm.getVirtualNetwork', error, retryAfterSeconds: 7, times: 1 }]),
    );
    const failed = await adapters.clusters.getCluster(ref).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(TransientError);
    expect((failed as TransientError).retryAfterSeconds).toBe(retryAfter);
    // The retry reads it.
    expect((await adapters.clusters.getCluster(ref)).privateRanges).toContainEqual({
      cidr: '30.10.0.0/16',
      source: 'vnet',
      name: 'vnet-prod',
    });
  });
});

describe('SNAT metrics per backend IP', () => {
  test('equal the scenario, for every node', async () => {
    const scenario = scenarioWith();
    const { adapters, ref } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const metrics = await adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    const expected = await scenarioPorts(scenario).metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    expect(byIp(metrics)).toEqual(byIp(expected));
    expect(metrics.find((m) => m.backendIp === '10.224.0.5')).toMatchObject({
      usedPorts: 1016,
      failedConnections: 240,
    });
  });

  test('a window that is no metric time grain is asked for as one point (FULL), with the same result', async () => {
    const scenario = scenarioWith();
    const { adapters, server, ref } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const metrics = await adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 7 });
    expect(byIp(metrics)).toEqual(
      byIp(await scenarioPorts(scenario).metrics.backendSnat(facts.loadBalancerIds, { minutes: 7 })),
    );
    expect(server.calls.filter((c) => c.target === 'metrics.backendSnat').map((c) => c.query.interval)).toEqual([
      'FULL',
      'FULL',
    ]);
  });

  test('go to the regional endpoint with TCP ports (Average) and connection states (Total) split by backend IP', async () => {
    const { adapters, server, ref } = await sandbox(scenarioWith());
    const facts = await adapters.clusters.getCluster(ref);
    await adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    const queries = server.calls.filter((c) => c.target === 'metrics.backendSnat');
    expect(queries.map((c) => [c.region, c.query.metricnames, c.query.aggregation, c.query.filter]).sort()).toEqual([
      ['westeurope', 'SnatConnectionCount', 'total', "BackendIPAddress eq '*' and ConnectionState eq '*'"],
      [
        'westeurope',
        'UsedSnatPorts,AllocatedSnatPorts',
        'average',
        "BackendIPAddress eq '*' and ProtocolType eq 'TCP'",
      ],
    ]);
    expect(queries.every((c) => c.query['api-version'] === '2024-02-01' && c.query.interval === 'PT5M')).toBe(true);
  });

  test('top is raised above the node count: all 12 nodes come back, where the default top would keep 10', async () => {
    const scenario = scenarioWith((doc) => {
      doc.nodes = nodes(12);
    });
    const { adapters, server, ref } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const metrics = await adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    expect(metrics).toHaveLength(12);
    expect(metrics.find((m) => m.backendIp === '10.224.1.15')).toMatchObject({ usedPorts: 55, failedConnections: 11 });
    for (const call of server.calls.filter((c) => c.target === 'metrics.backendSnat')) {
      const seriesPerNode = call.query.metricnames === 'SnatConnectionCount' ? 2 : 1;
      expect(Number(call.query.top)).toBeGreaterThan(12 * seriesPerNode);
    }
  });

  test('100 load balancers take ceil(100/50) batches per query, however many nodes there are', async () => {
    for (const nodeCount of [3, 60]) {
      const scenario = scenarioWith((doc) => {
        doc.nodes = nodes(nodeCount);
      });
      const { adapters, server, ref } = await sandbox(scenario);
      const facts = await adapters.clusters.getCluster(ref);
      const others = Array.from(
        { length: 99 },
        (_, i) =>
          `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/MC_rg-${i}_aks-${i}_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes`,
      );
      const metrics = await adapters.metrics.backendSnat([...facts.loadBalancerIds, ...others], { minutes: 5 });
      expect(metrics).toHaveLength(nodeCount);
      const batches = server.calls.filter((c) => c.target === 'metrics.backendSnat');
      const queriesPerBatch = Object.keys(SNAT_QUERIES).length;
      expect(batches).toHaveLength(Math.ceil(100 / BATCH_SIZE) * queriesPerBatch);
      for (const call of batches) {
        expect((call.body as { resourceids: string[] }).resourceids.length).toBeLessThanOrEqual(BATCH_SIZE);
      }
    }
  });

  test('load balancers in two regions are batched per region, each to its own endpoint', async () => {
    const scenario = scenarioWith();
    const { adapters, server, ref } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const eastus = `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/MC_rg-us_aks-us_eastus/providers/Microsoft.Network/loadBalancers/kubernetes`;
    await adapters.metrics.backendSnat([...facts.loadBalancerIds, eastus], { minutes: 5 });
    const regions = server.calls.filter((c) => c.target === 'metrics.backendSnat').map((c) => c.region);
    expect(regions.sort()).toEqual(['eastus', 'eastus', 'westeurope', 'westeurope']);
  });

  test('no load balancers (a NAT gateway cluster): no query', async () => {
    const { adapters, server } = await sandbox(scenarioWith());
    expect(await adapters.metrics.backendSnat([], { minutes: 5 })).toEqual([]);
    expect(server.calls).toHaveLength(0);
  });
});

describe('NAT gateway clusters: the gateway found from ARM, its own metrics from Azure Monitor', () => {
  const EGRESS_VNET = { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] };
  const natScenario = (cluster: Record<string, unknown>, faults: Record<string, unknown>[] = []) =>
    scenarioWith((doc) => {
      Object.assign(doc.cluster as object, cluster);
      doc.faults = faults;
    });
  const gatewayIdOf = (scenario: Scenario, group: string) =>
    `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/natGateways/nat-aks-prod`;

  test.each([
    [
      'managedNATGateway: through its outbound public IPs (GET publicIPAddresses, natGateway.id)',
      { outboundType: 'managedNATGateway', outboundIps: 2 },
      'MC_rg-payments-prod_aks-prod_westeurope',
      'arm.getPublicIpAddress',
      2,
    ],
    [
      "userAssignedNATGateway: through the node pools' subnet (GET virtualNetworks, subnets[].natGateway.id)",
      { outboundType: 'userAssignedNATGateway', vnet: EGRESS_VNET },
      'rg-network',
      'arm.getVirtualNetwork',
      1,
    ],
  ])('%s; the same facts as in-process', async (_, cluster, group, lookup, reads) => {
    const scenario = natScenario(cluster);
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    expect(facts.natGatewayIds).toEqual([gatewayIdOf(scenario, group)]);
    expect(facts.loadBalancerIds).toEqual([]);
    expect(facts.notes).toBeUndefined();
    expect(facts).toEqual(await scenarioPorts(scenario).clusters.getCluster(ref));
    const looked = server.calls.filter((c) => c.target === lookup);
    expect(looked.map((c) => [c.method, c.query['api-version'], c.status])).toEqual(
      Array(reads).fill([
        'GET',
        lookup === 'arm.getPublicIpAddress' ? PUBLIC_IP_API_VERSION : NETWORK_API_VERSION,
        200,
      ]),
    );
  });

  test('the metrics request, as the loopback metrics server saw it: namespace, metric names, filter, Total, PT1M', async () => {
    const scenario = natScenario({
      outboundType: 'managedNATGateway',
      natGateway: { failedConnections: 41, droppedPackets: 9, totalConnections: 2500 },
    });
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const metrics = await adapters.metrics.natGatewaySnat(facts.natGatewayIds, { minutes: 5 });

    expect(metrics).toEqual([
      {
        natGatewayId: facts.natGatewayIds[0],
        failedConnections: 41,
        totalConnections: 2500,
        droppedPackets: 9,
      },
    ]);
    expect(metrics).toEqual(await scenarioPorts(scenario).metrics.natGatewaySnat(facts.natGatewayIds, { minutes: 5 }));
    const queries = server.calls.filter((c) => c.target === 'metrics.natGatewaySnat');
    expect(
      queries
        .map((c) => [
          c.region,
          c.query.metricnamespace,
          c.query.metricnames,
          c.query.aggregation,
          c.query.filter ?? null,
        ])
        .sort(),
    ).toEqual([
      ['westeurope', 'Microsoft.Network/natGateways', 'SNATConnectionCount', 'total', "ConnectionState eq 'Failed'"],
      ['westeurope', 'Microsoft.Network/natGateways', 'TotalConnectionCount,PacketDropCount', 'total', null],
    ]);
    expect(Object.keys(NAT_GATEWAY_QUERIES)).toHaveLength(queries.length);
    for (const call of queries) {
      expect(call.query['api-version']).toBe('2024-02-01');
      expect(call.query.interval).toBe('PT1M');
      expect(call.status).toBe(200);
      expect(call.audience).toBe(audienceOf(METRICS_SCOPE));
      expect(call.body).toEqual({ resourceids: facts.natGatewayIds });
    }
    // A batch is one resource type: no load balancer query went with it.
    expect(server.calls.some((c) => c.target === 'metrics.backendSnat')).toBe(false);
  });

  test('60 NAT gateways take two batches per query (at most 50 ids each); a gateway with no data has no row', async () => {
    const scenario = natScenario({ outboundType: 'managedNATGateway', natGateway: { failedConnections: 1 } });
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    const others = Array.from(
      { length: 59 },
      (_, i) =>
        `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/MC_rg-${i}_aks-${i}_westeurope/providers/Microsoft.Network/natGateways/nat-${i}`,
    );
    const metrics = await adapters.metrics.natGatewaySnat([...facts.natGatewayIds, ...others], { minutes: 5 });
    expect(metrics.map((m) => m.natGatewayId)).toEqual(facts.natGatewayIds);
    const batches = server.calls.filter((c) => c.target === 'metrics.natGatewaySnat');
    expect(batches).toHaveLength(2 * Object.keys(NAT_GATEWAY_QUERIES).length);
    for (const call of batches) {
      expect((call.body as { resourceids: string[] }).resourceids.length).toBeLessThanOrEqual(BATCH_SIZE);
    }
  });

  test.each([
    [
      '403 AuthorizationFailed (forbidden)',
      'forbidden',
      /HTTP 403 AuthorizationFailed\): the identity lacks Microsoft\.Network\/publicIPAddresses\/read/,
    ],
    ['400 (failed)', 'failed', /HTTP 400 BadRequest: arm\.getPublicIpAddress failed \(simulated\)/],
  ])(
    'an outbound public IP that cannot be read, %s: no gateway, a note naming the IP; the same in-process',
    async (_, error, said) => {
      const faults = [{ target: 'arm.getPublicIpAddress', error }];
      const scenario = natScenario({ outboundType: 'managedNATGateway' }, faults);
      const { adapters, ref } = await sandbox(scenario);
      const facts = await adapters.clusters.getCluster(ref);
      expect(facts.natGatewayIds).toEqual([]);
      expect(facts.notes).toEqual([expect.stringMatching(said)]);
      expect(facts).toEqual(
        await scenarioPorts(natScenario({ outboundType: 'managedNATGateway' }, faults)).clusters.getCluster(ref),
      );
    },
  );

  test.each([['transient'], ['throttled'], ['timeout'], ['truncated']])(
    'reading an outbound public IP, %s is a TransientError (retried by the workflow), not a silent gap',
    async (error) => {
      const { adapters, ref } = await sandbox(
        natScenario({ outboundType: 'managedNATGateway' }, [{ target: 'arm.getPublicIpAddress', error, times: 1 }]),
      );
      await expect(adapters.clusters.getCluster(ref)).rejects.toBeInstanceOf(TransientError);
      expect((await adapters.clusters.getCluster(ref)).natGatewayIds).toHaveLength(1);
    },
  );

  test('the subnet with no NAT gateway on it: no gateway, a note saying so; the same in-process', async () => {
    const scenario = natScenario({
      outboundType: 'userAssignedNATGateway',
      vnet: EGRESS_VNET,
      natGateway: { attached: false },
    });
    const { adapters, ref } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    expect(facts.natGatewayIds).toEqual([]);
    expect(facts.notes).toEqual([expect.stringMatching(/^Subnet nodes of VNet vnet-egress has no NAT gateway/)]);
    expect(facts).toEqual(await scenarioPorts(scenario).clusters.getCluster(ref));
  });
});

describe('runCommand', () => {
  test('submits the command with its files zipped, polls the result from 202 to 200, returns exit code and logs', async () => {
    const requests: RunCommandRequest[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { adapters, server, ref } = await sandbox(scenarioWith(), async (request) => {
      requests.push(request);
      await gate;
      return { exitCode: 0, logs: '@@ snat-doctor probe report\n…' };
    });
    const pending = adapters.runCommand(ref, {
      command: 'kubectl create -f probe-pod.json',
      contextFiles: { 'probe-pod.json': '{"kind":"Pod"}' },
      aadManaged: false,
    });
    await seen(server, (c) => c.target === 'arm.getCommandResult' && c.status === 202);
    release();
    expect(await pending).toEqual({ exitCode: 0, logs: '@@ snat-doctor probe report\n…' });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      command: 'kubectl create -f probe-pod.json',
      files: { 'probe-pod.json': '{"kind":"Pod"}' },
    });
    expect(requests[0]?.clusterToken).toBeUndefined();
    const submit = server.calls.find((c) => c.target === 'arm.runCommand');
    expect(submit?.status).toBe(202);
    expect(server.calls.filter((c) => c.target === 'arm.getCommandResult').at(-1)?.status).toBe(200);
  });

  test('a non-zero exit code is data, for the caller to interpret', async () => {
    const { adapters, ref } = await sandbox(scenarioWith(), async () => ({
      exitCode: 3,
      logs: 'probe pod did not finish',
    }));
    expect(await adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false })).toEqual({
      exitCode: 3,
      logs: 'probe pod did not finish',
    });
  });

  test.each([
    ['the default reason (the command pod did not start)', {}, /KubernetesPerformanceError.*room for a 200m CPU/],
    ['an image pull failure', { message: 'ImagePullBackoff' }, /ImagePullBackoff.*mcr\.microsoft\.com/],
    [
      'a policy refusing the pod',
      { message: 'admission webhook "validation.gatekeeper.sh" denied the request' },
      /gatekeeper.*exempt the aks-command namespace/,
    ],
  ])('Failed with %s is RUN_COMMAND_FAILED with the reason and how to fix it', async (_, fault, message) => {
    const { adapters, ref } = await sandbox(withFaults({ target: 'arm.runCommand', error: 'failed', ...fault }));
    const error = await failure(adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }));
    expect(error.code).toBe('RUN_COMMAND_FAILED');
    expect(error.message).toMatch(message);
  });

  test('a Failed state the executor reports is checked too (the poller alone would call it a success)', async () => {
    const { adapters, ref } = await sandbox(scenarioWith(), async () => ({
      exitCode: 0,
      logs: '',
      provisioningState: 'Failed',
      reason: 'KubernetesOperationError: namespaces "aks-command" is forbidden',
    }));
    const error = await failure(adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }));
    expect(error.code).toBe('RUN_COMMAND_FAILED');
    expect(error.message).toContain('KubernetesOperationError');
  });

  test("truncated output arrives cut at the fault's bytes, and at 512 kB whatever the command printed", async () => {
    const long = `${'x'.repeat(600 * 1024)}END`;
    const cut = await sandbox(withFaults({ target: 'arm.runCommand', error: 'truncated', bytes: 100 }), async () => ({
      exitCode: 0,
      logs: long,
    }));
    expect((await cut.adapters.runCommand(cut.ref, { command: 'x', contextFiles: {}, aadManaged: false })).logs).toBe(
      'x'.repeat(100),
    );
    const capped = await sandbox(scenarioWith(), async () => ({ exitCode: 0, logs: long }));
    const { logs } = await capped.adapters.runCommand(capped.ref, {
      command: 'x',
      contextFiles: {},
      aadManaged: false,
    });
    expect(logs).toHaveLength(512 * 1024);
  });

  test('on a cluster with runCommand disabled: RUN_COMMAND_DISABLED, pointing to the Kubernetes API transport', async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { disableRunCommand: true });
    });
    const { adapters, ref } = await sandbox(scenario);
    const error = await failure(adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }));
    expect(error.code).toBe('RUN_COMMAND_DISABLED');
    expect(error.message).toMatch(/--enable-run-command.*Kubernetes API/);
  });

  test('the caller can abort a command that is still running', async () => {
    const { adapters, server, ref } = await sandbox(scenarioWith(), () => new Promise(() => {}));
    const abort = new AbortController();
    const pending = adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }, abort.signal);
    await seen(server, (c) => c.target === 'arm.getCommandResult' && c.status === 202);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('Entra ID: the tokens and scopes asked for', () => {
  test('ARM with the ARM audience, metrics with the metrics audience, runCommand and the kubeconfig with the AKS server app', async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { aadManaged: true });
    });
    const requests: RunCommandRequest[] = [];
    const { adapters, server, scopes, ref } = await sandbox(scenario, async (request) => {
      requests.push(request);
      return { exitCode: 0, logs: 'ok' };
    });
    const facts = await adapters.clusters.getCluster(ref);
    await adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 });
    expect(new Set(scopes)).toEqual(new Set([ARM_SCOPE, METRICS_SCOPE]));

    await adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: facts.aadManaged });
    expect(requests[0]?.clusterToken && readToken(SECRET, requests[0].clusterToken)?.aud).toBe(audienceOf(AKS_SCOPE));
    const kubeconfig = await adapters.kubeconfig(ref);
    const userToken = /token: (\S+)/.exec(kubeconfig)?.[1] ?? '';
    expect(readToken(SECRET, userToken)?.aud).toBe(audienceOf(AKS_SCOPE));
    expect(kubeconfig).not.toContain('kubelogin');
    expect(new Set(scopes)).toEqual(new Set([ARM_SCOPE, METRICS_SCOPE, AKS_SCOPE]));
    // Each service got a token for its own audience, and accepted it (the sandbox refuses any other: below).
    for (const c of server.calls) {
      expect(c.audience).toBe(audienceOf(c.target === 'metrics.backendSnat' ? METRICS_SCOPE : ARM_SCOPE));
      expect(c.status).toBeLessThan(400);
    }
  });

  test.each([
    ['an ARM token on the metrics API', 'metrics', ARM_SCOPE],
    ['a metrics token on ARM', 'arm', 'https://metrics.monitor.azure.com/.default'],
    ['a token for another resource on ARM', 'arm', 'https://storage.azure.com/.default'],
  ])('%s is refused as Azure refuses it: 401 InvalidAuthenticationTokenAudience', async (_name, service, scope) => {
    // The right token for every call but the one under test.
    const { adapters, server, ref } = await sandbox(scenarioWith(), echoExecutor, undefined, (asked) =>
      (service === 'metrics') === (asked === METRICS_SCOPE) ? scope : asked,
    );
    const attempt =
      service === 'metrics'
        ? adapters.clusters.getCluster(ref).then((f) => adapters.metrics.backendSnat(f.loadBalancerIds, { minutes: 5 }))
        : adapters.clusters.getCluster(ref);
    const error = await failure(attempt);
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/InvalidAuthenticationTokenAudience/);
    expect(error.message).toMatch(/did not accept the (token|credential)/);
    expect(server.calls.at(-1)?.status).toBe(401);
  });

  test('a cluster without Entra ID: its kubeconfig as ARM gave it, and no cluster token', async () => {
    const kubeconfig = 'apiVersion: v1\nkind: Config\nusers:\n  - name: u\n    user:\n      token: static\n';
    const requests: RunCommandRequest[] = [];
    const { adapters, scopes, ref } = await sandbox(
      scenarioWith(),
      async (request) => {
        requests.push(request);
        return { exitCode: 0, logs: '' };
      },
      () => kubeconfig,
    );
    expect(await adapters.kubeconfig(ref)).toBe(kubeconfig);
    await adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false });
    expect(requests[0]?.clusterToken).toBeUndefined();
    expect(scopes.every((s) => s === ARM_SCOPE)).toBe(true);
  });
});

describe('Azure Monitor answers as its docs say (migrate-to-batch-api, "Troubleshooting")', () => {
  const metricsOf = async (scenario: Scenario) => {
    const { adapters, ref, server } = await sandbox(scenario);
    const facts = await adapters.clusters.getCluster(ref);
    return { attempt: adapters.metrics.backendSnat(facts.loadBalancerIds, { minutes: 5 }), server };
  };
  const inProcess = (scenario: Scenario) =>
    scenarioPorts(scenario).metrics.backendSnat([lbIdOf(scenario)], { minutes: 5 });

  test('Monitoring Reader on the node resource group only: 401, and the message says it must be on the subscription', async () => {
    const scenario = scenarioWith((doc) => {
      doc.azure = {
        roleAssignments: [
          { role: 'snat-doctor cluster investigator', scope: 'cluster' },
          { role: 'Monitoring Reader', scope: 'nodeResourceGroup' },
        ],
      };
    });
    const { attempt, server } = await metricsOf(scenario);
    const error = await failure(attempt);
    expect(server.calls.find((c) => c.target === 'metrics.backendSnat')?.status).toBe(401);
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain(
      `needs Monitoring Reader on subscription ${scenario.cluster.subscriptionId} itself`,
    );
    expect(error.message).toContain(
      `--role "Monitoring Reader" --scope /subscriptions/${scenario.cluster.subscriptionId}`,
    );
    // In-process, the same error.
    expect((await failure(inProcess(scenario))).message).toBe(error.message);
  });

  test('with it on the subscription (what infra/ grants, the scenario default): the metrics come', async () => {
    const { attempt } = await metricsOf(scenarioWith());
    expect((await attempt).length).toBeGreaterThan(0);
  });

  test('the Microsoft.Insights provider not registered: 403, and the message says how to register it', async () => {
    const scenario = scenarioWith((doc) => {
      doc.azure = { insightsProvider: 'NotRegistered' };
    });
    const { attempt, server } = await metricsOf(scenario);
    const error = await failure(attempt);
    expect(server.calls.find((c) => c.target === 'metrics.backendSnat')?.status).toBe(403);
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain(
      `az provider register --namespace Microsoft.Insights --subscription ${scenario.cluster.subscriptionId}`,
    );
    expect(error.message).not.toMatch(/Monitoring Reader/);
    expect((await failure(inProcess(scenario))).message).toBe(error.message);
  });

  test('throttled by the metrics backend: 529, a TransientError with its Retry-After, to retry with backoff', async () => {
    const scenario = withFaults({ target: 'metrics.backendSnat', error: 'throttled', retryAfterSeconds: 9 });
    const { attempt, server } = await metricsOf(scenario);
    const error = await failure(attempt);
    expect(server.calls.find((c) => c.target === 'metrics.backendSnat')?.status).toBe(529);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/throttling/);
    expect((error as TransientError).retryAfterSeconds).toBe(9);
    const local = await failure(
      inProcess(withFaults({ target: 'metrics.backendSnat', error: 'throttled', retryAfterSeconds: 9 })),
    );
    expect(local).toBeInstanceOf(TransientError);
    expect(local.message).toBe(error.message);
  });

  test('without the investigator role on the cluster: ARM refuses runCommand with AuthorizationFailed, naming the action', async () => {
    const scenario = scenarioWith((doc) => {
      doc.azure = { roleAssignments: [{ role: 'Monitoring Reader', scope: 'subscription' }] };
    });
    const { adapters, ref, server } = await sandbox(scenario);
    // Monitoring Reader's */read reads the cluster; it runs nothing.
    await expect(adapters.clusters.getCluster(ref)).resolves.toMatchObject({ nodeCount: 3 });
    const error = await failure(adapters.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }));
    expect(server.calls.find((c) => c.target === 'arm.runCommand')?.status).toBe(403);
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('Microsoft.ContainerService/managedClusters/runCommand/action');
  });
});

describe('every fault on every Azure call', () => {
  const LB = lbIdOf(scenarioWith());
  const NAT_GATEWAY = LB.replace(/loadBalancers\/kubernetes$/, 'natGateways/nat-aks-prod');
  const CALLS: Record<string, (adapters: AzureAdapters, ref: ClusterRef) => Promise<unknown>> = {
    'arm.getCluster': (a, ref) => a.clusters.getCluster(ref),
    'arm.listClusterUserCredential': (a, ref) => a.kubeconfig(ref),
    'arm.runCommand': (a, ref) => a.runCommand(ref, { command: 'x', contextFiles: {}, aadManaged: false }),
    'metrics.backendSnat': (a) => a.metrics.backendSnat([LB], { minutes: 5 }),
    'metrics.natGatewaySnat': (a) => a.metrics.natGatewaySnat([NAT_GATEWAY], { minutes: 5 }),
  };
  const ACTIONS: Record<string, string> = {
    'arm.getCluster': 'Microsoft.ContainerService/managedClusters/read',
    'arm.listClusterUserCredential': 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action',
    'arm.runCommand': 'Microsoft.ContainerService/managedClusters/runCommand/action',
    'metrics.backendSnat': 'Microsoft.Insights/metrics/read',
    'metrics.natGatewaySnat': 'Microsoft.Insights/metrics/read',
  };
  const FAILED_CODE: Record<string, string> = {
    'arm.getCluster': 'INTERNAL',
    'arm.listClusterUserCredential': 'INTERNAL',
    'arm.runCommand': 'RUN_COMMAND_FAILED',
    'metrics.backendSnat': 'NO_METRICS',
    'metrics.natGatewaySnat': 'NO_METRICS',
  };
  const cases = Object.keys(CALLS).flatMap((target) =>
    [
      'transient',
      'throttled',
      'server-error',
      'timeout',
      'pending',
      'stream-dropped',
      'forbidden',
      'failed',
      'truncated',
    ].map((kind) => [target, kind] as const),
  );

  test.each(cases)('%s %s', async (target, kind) => {
    const { adapters, ref, server } = await sandbox(
      withFaults({ target, error: kind, retryAfterSeconds: 7 }),
      async () => ({ exitCode: 0, logs: 'the whole report' }),
    );
    const call = CALLS[target] as (a: AzureAdapters, r: ClusterRef) => Promise<unknown>;
    if (target === 'arm.runCommand' && kind === 'truncated') {
      expect(await call(adapters, ref)).toEqual({ exitCode: 0, logs: 'the whol' });
      return;
    }
    const started = Date.now();
    const error = await failure(call(adapters, ref));
    switch (kind) {
      case 'throttled':
        expect(error).toBeInstanceOf(TransientError);
        expect((error as TransientError).retryAfterSeconds).toBe(7);
        break;
      case 'forbidden':
        expect(error.code).toBe('FORBIDDEN');
        expect(error.message).toContain(ACTIONS[target]);
        expect(error.message).toMatch(/Grant it .*(Role|Reader)/);
        break;
      case 'failed':
        expect(error.code).toBe(FAILED_CODE[target]);
        break;
      case 'pending':
        if (target === 'arm.runCommand') {
          expect(error.code).toBe('RUN_COMMAND_FAILED');
          break;
        }
        expect(error).toBeInstanceOf(TransientError);
        expect(error.message).toContain(`within ${TIMEOUT_MS} ms`);
        break;
      case 'timeout':
        expect(error).toBeInstanceOf(TransientError);
        expect(error.message).toContain(`within ${TIMEOUT_MS} ms`);
        // The client gave up on its own; a generous bound, not a race.
        expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 10_000);
        await seen(server, (c) => c.abandoned === true);
        break;
      default:
        expect(error).toBeInstanceOf(TransientError);
        expect((error as TransientError).retryAfterSeconds).toBeUndefined();
    }
  });

  test('a fault with `times` fails that many calls, then the call succeeds', async () => {
    const scenario = withFaults({ target: 'arm.getCluster', error: 'throttled', times: 2 });
    const { adapters, ref } = await sandbox(scenario);
    await expect(adapters.clusters.getCluster(ref)).rejects.toBeInstanceOf(TransientError);
    await expect(adapters.clusters.getCluster(ref)).rejects.toMatchObject({ retryAfterSeconds: 1 });
    await expect(adapters.clusters.getCluster(ref)).resolves.toMatchObject({ nodeCount: 3 });
  });

  test("the SDK does not retry underneath: one fault, one request, the server's Retry-After in the error", async () => {
    const { adapters, server, ref } = await sandbox(withFaults({ target: 'arm.getCluster', error: 'transient' }));
    await expect(adapters.clusters.getCluster(ref)).rejects.toBeInstanceOf(TransientError);
    expect(server.calls.filter((c) => c.target === 'arm.getCluster')).toHaveLength(1);
  });
});
