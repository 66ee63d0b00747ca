// The sandbox's ARM and metrics endpoints speak Azure's protocols: what ARM's ManagedCluster, runCommand's long-running
// operation, a NAT gateway's public IPs and subnet, and the metrics batch API look like on the wire, checked with raw
// HTTPS requests and with the real SDK clients (the adapters' behaviour on top is test/adapters/azure.test.ts).
import { request } from 'node:https';
import { MetricsClient } from '@azure/monitor-query-metrics';
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { readBackendSnat } from '../../lib/adapters/azure/backendSnat.ts';
import { NAT_GATEWAY_QUERIES, readNatGatewaySnat } from '../../lib/adapters/azure/natGatewaySnat.ts';
import {
  type ArmServer,
  type ArmServerOptions,
  type RunCommandRequest,
  startArmServer,
} from '../../lib/sandbox/armServer.ts';
import { issueToken } from '../../lib/sandbox/entra.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { createSandboxCertificate, type SandboxCertificate } from '../../lib/sandbox/tls.ts';
import { scenarioWith } from '../support/scenarios.ts';

let cert: SandboxCertificate;
const servers: ArmServer[] = [];

beforeAll(async () => {
  cert = await createSandboxCertificate();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** The secret the servers' Entra ID signs with: the tests' tokens are issued with it (entra.ts). */
const SECRET = 'arm-server-test-secret';
const ARM_TOKEN = issueToken(SECRET, 'https://management.azure.com/.default');
const METRICS_TOKEN = issueToken(SECRET, 'https://metrics.monitor.azure.com/.default');

async function serve(scenario: Scenario, options: Partial<ArmServerOptions> = {}): Promise<ArmServer> {
  const server = await startArmServer(scenario, {
    cert,
    entraSecret: SECRET,
    runCommand: async () => ({ exitCode: 0, logs: 'done' }),
    sleep: async () => {},
    ...options,
  });
  servers.push(server);
  return server;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** A plain HTTPS request that trusts only the sandbox's certificate. */
function call(url: string, options: { method?: string; body?: unknown; token?: string | null } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: cert.cert,
        headers: {
          ...(options.token === null
            ? {}
            : {
                Authorization: `Bearer ${options.token ?? (new URL(url).pathname.startsWith('/regions/') ? METRICS_TOKEN : ARM_TOKEN)}`,
              }),
          ...(payload ? { 'Content-Type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function clusterUrl(server: ArmServer, scenario: Scenario, suffix = ''): string {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return `${server.url}/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${name}${suffix}?api-version=2025-10-01`;
}

function lbIdOf(scenario: Scenario): string {
  const { subscriptionId, nodeResourceGroup } = scenario.cluster;
  return `/subscriptions/${subscriptionId}/resourceGroups/${nodeResourceGroup}/providers/Microsoft.Network/loadBalancers/kubernetes`;
}

function metricsClient(server: ArmServer, location = 'westeurope'): MetricsClient {
  return new MetricsClient(
    server.metricsEndpoint(location),
    { getToken: async () => ({ token: METRICS_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
    { tlsOptions: { ca: cert.cert }, retryOptions: { maxRetries: 0 }, audience: 'https://metrics.monitor.azure.com' },
  );
}

function manyNodes(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `aks-nodepool1-27182818-vmss${String(i).padStart(6, '0')}`,
    ip: `10.224.1.${i + 4}`,
    snat: { usedPorts: 100 + i, failedConnections: 3 * i },
  }));
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2));
}

describe('ARM: the VNet a cluster brings (GET virtualNetworks)', () => {
  const withVnet = (faults: Record<string, unknown>[] = []) =>
    scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        vnet: {
          name: 'vnet-prod',
          resourceGroup: 'rg-network',
          addressSpace: ['30.10.0.0/16'],
          peerings: [
            { name: 'vnet-hub', resourceGroup: 'rg-hub', addressSpace: ['30.20.0.0/16'] },
            { name: 'vnet-old', addressSpace: ['30.30.0.0/16'], state: 'Disconnected' },
          ],
        },
      });
      doc.faults = faults;
    });
  const vnetUrl = (
    server: ArmServer,
    scenario: Scenario,
    group = 'rg-network',
    name = 'vnet-prod',
    version = '2025-07-01',
  ) =>
    `${server.url}/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${name}${version ? `?api-version=${version}` : ''}`;

  test("the pools' vnetSubnetID points into it; the VNet answers in the REST shape, peerings with their state", async () => {
    const scenario = withVnet();
    const server = await serve(scenario);
    const cluster = await call(clusterUrl(server, scenario));
    const vnetId = `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod`;
    expect(cluster.body).toMatchObject({
      properties: { agentPoolProfiles: [{ name: 'nodepool1', vnetSubnetID: `${vnetId}/subnets/nodes` }] },
    });
    const { status, body } = await call(vnetUrl(server, scenario));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      name: 'vnet-prod',
      id: vnetId,
      type: 'Microsoft.Network/virtualNetworks',
      location: 'westeurope',
      properties: {
        addressSpace: { addressPrefixes: ['30.10.0.0/16'] },
        subnets: [{ name: 'nodes', id: `${vnetId}/subnets/nodes` }],
        virtualNetworkPeerings: [
          {
            name: 'vnet-prod-to-vnet-hub',
            properties: {
              peeringState: 'Connected',
              remoteAddressSpace: { addressPrefixes: ['30.20.0.0/16'] },
              remoteVirtualNetwork: {
                id: `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub`,
              },
            },
          },
          { name: 'vnet-prod-to-vnet-old', properties: { peeringState: 'Disconnected' } },
        ],
      },
    });
    expect(server.calls.at(-1)?.target).toBe('arm.getVirtualNetwork');
  });

  test('an AKS-managed VNet: no pool names a subnet, and no VNet is served', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const cluster = (await call(clusterUrl(server, scenario))).body as {
      properties: { agentPoolProfiles: Record<string, unknown>[] };
    };
    expect(cluster.properties.agentPoolProfiles.every((pool) => !('vnetSubnetID' in pool))).toBe(true);
    expect(await call(vnetUrl(server, scenario, scenario.cluster.nodeResourceGroup, 'aks-vnet-1'))).toMatchObject({
      status: 404,
      body: { error: { code: 'ResourceNotFound' } },
    });
  });

  test.each([
    ['another VNet', 'rg-network', 'vnet-other', '2025-07-01', 404, 'ResourceNotFound'],
    ['the VNet name in another resource group', 'rg-other', 'vnet-prod', '2025-07-01', 404, 'ResourceNotFound'],
    ['no api-version', 'rg-network', 'vnet-prod', '', 400, 'MissingApiVersionParameter'],
  ])('%s: %i %s', async (_, group, name, version, status, code) => {
    const scenario = withVnet();
    const server = await serve(scenario);
    expect(await call(vnetUrl(server, scenario, group, name, version))).toMatchObject({
      status,
      body: { error: { code } },
    });
  });

  test("the forbidden fault is ARM's AuthorizationFailed naming Microsoft.Network/virtualNetworks/read on the VNet", async () => {
    const scenario = withVnet([{ target: 'arm.getVirtualNetwork', error: 'forbidden' }]);
    const server = await serve(scenario);
    const { status, body } = await call(vnetUrl(server, scenario));
    expect(status).toBe(403);
    expect(body).toMatchObject({
      error: {
        code: 'AuthorizationFailed',
        message: expect.stringMatching(
          /perform action 'Microsoft\.Network\/virtualNetworks\/read' over scope '\/subscriptions\/.*\/resourceGroups\/rg-network\/providers\/Microsoft\.Network\/virtualNetworks\/vnet-prod'/,
        ),
      },
    });
    // The cluster itself is still readable.
    expect((await call(clusterUrl(server, scenario))).status).toBe(200);
  });
});

describe('ARM', () => {
  test('refuses a request without a bearer token, as ARM does', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const answer = await call(clusterUrl(server, scenario), { token: null });
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: { code: 'AuthenticationFailed' } });
  });

  test('needs an api-version', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const answer = await call(clusterUrl(server, scenario).replace(/\?.*$/, ''));
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'MissingApiVersionParameter' } } });
  });

  test('the ManagedCluster carries the outbound profile, pools, Entra ID and runCommand settings', async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { aadManaged: true, disableRunCommand: true, outboundIps: 2 });
    });
    const server = await serve(scenario);
    const { status, body } = await call(clusterUrl(server, scenario));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      location: 'westeurope',
      properties: {
        nodeResourceGroup: 'MC_rg-payments-prod_aks-prod_westeurope',
        fqdn: expect.stringMatching(/^aks-prod-dns-[0-9a-f]{8}\.hcp\.westeurope\.azmk8s\.io$/),
        agentPoolProfiles: [{ name: 'nodepool1', count: 3, osType: 'Linux', vmSize: 'Standard_D4ds_v5' }],
        aadProfile: { managed: true },
        apiServerAccessProfile: { disableRunCommand: true },
        networkProfile: {
          outboundType: 'loadBalancer',
          podCidr: '10.244.0.0/16',
          serviceCidr: '10.0.0.0/16',
          loadBalancerSku: 'standard',
          loadBalancerProfile: {
            managedOutboundIPs: { count: 2 },
            effectiveOutboundIPs: [{ id: expect.any(String) }, { id: expect.any(String) }],
            allocatedOutboundPorts: 0,
            idleTimeoutInMinutes: 30,
          },
        },
      },
    });
  });

  test('an unknown cluster is a 404 CloudError ResourceNotFound', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const answer = await call(
      clusterUrl(server, scenario).replace('/managedClusters/aks-prod', '/managedClusters/nope'),
    );
    expect(answer).toMatchObject({ status: 404, body: { error: { code: 'ResourceNotFound' } } });
  });

  test("answers after the scenario's latency, through the injected sleep", async () => {
    const scenario = scenarioWith();
    const slept: number[] = [];
    const server = await serve(scenario, {
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    await call(clusterUrl(server, scenario));
    expect(slept).toEqual([scenario.latencies['arm.getCluster']]);
  });

  test('hands out the user kubeconfig; for an Entra ID cluster with kubelogin as its user, as AKS does', async () => {
    const kubeconfig = 'apiVersion: v1\nkind: Config\nusers:\n  - name: clusterUser\n    user:\n      token: abc\n';
    for (const aadManaged of [false, true]) {
      const scenario = scenarioWith((doc) => {
        Object.assign(doc.cluster as object, { aadManaged });
      });
      const server = await serve(scenario, { kubeconfig: () => kubeconfig });
      const { status, body } = await call(clusterUrl(server, scenario, '/listClusterUserCredential'), {
        method: 'POST',
      });
      expect(status).toBe(200);
      const [entry] = (body as { kubeconfigs: { name: string; value: string }[] }).kubeconfigs;
      expect(entry?.name).toBe('clusterUser');
      const text = Buffer.from(entry?.value ?? '', 'base64').toString('utf8');
      if (!aadManaged) expect(text).toBe(kubeconfig);
      else {
        const user = (parse(text) as { users: { user: { exec: { command: string; args: string[] } } }[] }).users[0]
          ?.user;
        expect(user?.exec.command).toBe('kubelogin');
        expect(user?.exec.args).toEqual(
          expect.arrayContaining(['--server-id', '6dae42f8-4368-4678-94ff-3960e28e3630']),
        );
      }
    }
  });
});

describe('runCommand, a long-running operation', () => {
  test('202 with an absolute Location on the server; the result stays 202 while the command runs, then 200', async () => {
    const scenario = scenarioWith();
    let release: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    const requests: RunCommandRequest[] = [];
    const server = await serve(scenario, {
      runCommand: async (req) => {
        requests.push(req);
        await running;
        return { exitCode: 0, logs: 'report' };
      },
    });
    const submitted = await call(clusterUrl(server, scenario, '/runCommand'), {
      method: 'POST',
      body: { command: 'kubectl get pods', context: '' },
    });
    expect(submitted.status).toBe(202);
    const location = String(submitted.headers.location);
    expect(location).toMatch(
      new RegExp(
        `^${server.url}/subscriptions/.+/managedClusters/aks-prod/commandResults/[0-9a-f]{32}\\?api-version=2025-10-01$`,
      ),
    );
    expect(submitted.headers['retry-after']).toBe('0');
    // Still running: AKS's 202 carries the result so far, which the Azure CLI prints while it waits.
    const running202 = await call(location);
    expect(running202).toMatchObject({ status: 202, body: { properties: { provisioningState: 'Running' } } });
    const startedAt = (running202.body as { properties: { startedAt: string } }).properties.startedAt;
    expect(new Date(startedAt).toISOString()).toBe(startedAt);

    release();
    await until(() => requests.length === 1);
    let done: Answer;
    do done = await call(location);
    while (done.status === 202);
    expect(done).toMatchObject({
      status: 200,
      body: { properties: { provisioningState: 'Succeeded', exitCode: 0, logs: 'report' } },
    });
    expect(requests[0]).toMatchObject({ command: 'kubectl get pods', files: {} });
  });

  test("the command's latency is how long its result stays 202", async () => {
    const scenario = scenarioWith((doc) => {
      doc.latencies = { 'arm.runCommand': 45_000 };
    });
    let wake: () => void = () => {};
    const slept: number[] = [];
    const server = await serve(scenario, {
      sleep: (ms) => {
        slept.push(ms);
        return new Promise<void>((resolve) => {
          wake = resolve;
        });
      },
    });
    const { headers } = await call(clusterUrl(server, scenario, '/runCommand'), {
      method: 'POST',
      body: { command: 'true' },
    });
    const location = String(headers.location);
    expect(slept).toEqual([45_000]);
    expect((await call(location)).status).toBe(202);
    expect((await call(location)).status).toBe(202);
    wake();
    let status = 202;
    while (status === 202) status = (await call(location)).status;
    expect(status).toBe(200);
  });

  test('an Entra ID cluster needs a clusterToken; a command without one is refused', async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { aadManaged: true });
    });
    const server = await serve(scenario);
    const refused = await call(clusterUrl(server, scenario, '/runCommand'), {
      method: 'POST',
      body: { command: 'true' },
    });
    expect(refused.status).toBe(400);
    const accepted = await call(clusterUrl(server, scenario, '/runCommand'), {
      method: 'POST',
      body: { command: 'true', clusterToken: 'aad' },
    });
    expect(accepted.status).toBe(202);
  });

  test('a context that is not a base64 zip is refused', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const answer = await call(clusterUrl(server, scenario, '/runCommand'), {
      method: 'POST',
      body: { command: 'true', context: Buffer.from('not a zip').toString('base64') },
    });
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'InvalidParameter' } } });
  });

  test('closing the server aborts running commands and ends held requests', async () => {
    const scenario = scenarioWith((doc) => {
      doc.faults = [{ target: 'arm.getCluster', error: 'timeout' }];
    });
    let aborted = false;
    const server = await startArmServer(scenario, {
      cert,
      entraSecret: SECRET,
      sleep: async () => {},
      runCommand: (_, signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('closed'));
          });
        }),
    });
    await call(clusterUrl(server, scenario, '/runCommand'), { method: 'POST', body: { command: 'true' } });
    const held = call(clusterUrl(server, scenario));
    await until(() => server.calls.some((c) => c.target === 'arm.getCluster'));
    await server.close();
    expect(aborted).toBe(true);
    await expect(held).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});

describe('metrics:getBatch, as the metrics SDK reads it', () => {
  test('per-minute points over a window: Totals spread, levels repeated, folding back to the scenario', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const client = metricsClient(server);
    const endTime = new Date('2026-01-01T12:00:00Z');
    const startTime = new Date('2026-01-01T11:55:00Z');
    const [ports, connections] = await Promise.all([
      client.queryResources(
        [lbIdOf(scenario)],
        ['UsedSnatPorts', 'AllocatedSnatPorts'],
        'Microsoft.Network/loadBalancers',
        {
          startTime,
          endTime,
          interval: 'PT1M',
          aggregation: 'average',
          filter: "BackendIPAddress eq '*' and ProtocolType eq 'TCP'",
          top: 100,
        },
      ),
      client.queryResources([lbIdOf(scenario)], ['SnatConnectionCount'], 'Microsoft.Network/loadBalancers', {
        startTime,
        endTime,
        interval: 'PT1M',
        aggregation: 'total',
        filter: "BackendIPAddress eq '*' and ConnectionState eq '*'",
        top: 100,
      }),
    ]);
    const series = connections[0]?.metrics[0]?.timeseries ?? [];
    expect(series[0]?.data).toHaveLength(5);
    expect(series[0]?.metadatavalues?.map((m) => m.name)).toEqual(['backendipaddress', 'connectionstate']);
    // The SDK hands over the localized display name; the id keeps the REST name.
    expect(ports[0]?.metrics[0]?.name).toBe('Used SNAT Ports');
    const folded = readBackendSnat([lbIdOf(scenario)], [...ports, ...connections]);
    const expected = await scenarioPorts(scenario).metrics.backendSnat([lbIdOf(scenario)], { minutes: 5 });
    const byIp = (rows: typeof folded) => [...rows].sort((a, b) => a.backendIp.localeCompare(b.backendIp));
    expect(byIp(folded)).toEqual(byIp(expected));
  });

  test('returns at most `top` series per metric and resource (10 when not given)', async () => {
    const scenario = scenarioWith((doc) => {
      doc.nodes = manyNodes(12);
    });
    const server = await serve(scenario);
    const query = (top?: number) =>
      metricsClient(server).queryResources([lbIdOf(scenario)], ['UsedSnatPorts'], 'Microsoft.Network/loadBalancers', {
        aggregation: 'average',
        filter: "BackendIPAddress eq '*'",
        ...(top === undefined ? {} : { top }),
      });
    expect((await query())[0]?.metrics[0]?.timeseries).toHaveLength(10);
    expect((await query(5))[0]?.metrics[0]?.timeseries).toHaveLength(5);
    expect((await query(1000))[0]?.metrics[0]?.timeseries).toHaveLength(12);
  });

  test('without a ProtocolType filter the port metrics average TCP and UDP, as Azure does', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const [result] = await metricsClient(server).queryResources(
      [lbIdOf(scenario)],
      ['UsedSnatPorts'],
      'Microsoft.Network/loadBalancers',
      { interval: 'FULL', aggregation: 'average', filter: "BackendIPAddress eq '10.224.0.5'" },
    );
    expect(result?.metrics[0]?.timeseries[0]?.data?.[0]?.average).toBe(1016 / 2);
  });

  test.each([
    [
      'a dimension one of the metrics lacks',
      { names: ['UsedSnatPorts', 'SnatConnectionCount'], filter: "BackendIPAddress eq '*' and ConnectionState eq '*'" },
      /does not support requested dimension combination: connectionstate/,
    ],
    ['an unknown metric', { names: ['SnatPortsUsed'] }, /Failed to find metric configuration/],
    ['more than 50 resources', { ids: 51 }, /At most 50 resource ids/],
    ['a resource of another region', { location: 'eastus' }, /is in region westeurope, not eastus/],
  ])('refuses %s with a 400', async (_, change, message) => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const ids = Array.from({ length: (change as { ids?: number }).ids ?? 1 }, (_, i) =>
      i === 0 ? lbIdOf(scenario) : lbIdOf(scenario).replace('/kubernetes', `/lb-${i}`),
    );
    const query = metricsClient(server, (change as { location?: string }).location).queryResources(
      ids,
      (change as { names?: string[] }).names ?? ['UsedSnatPorts'],
      'Microsoft.Network/loadBalancers',
      { aggregation: 'average', filter: (change as { filter?: string }).filter ?? "BackendIPAddress eq '*'" },
    );
    await expect(query).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(message) });
  });

  test('a load balancer the scenario does not have answers with empty series', async () => {
    const scenario = scenarioWith();
    const server = await serve(scenario);
    const other = lbIdOf(scenario).replace('MC_rg-payments-prod', 'MC_rg-other');
    const [result] = await metricsClient(server).queryResources(
      [other],
      ['UsedSnatPorts'],
      'Microsoft.Network/loadBalancers',
      {
        aggregation: 'average',
        filter: "BackendIPAddress eq '*'",
      },
    );
    expect(result?.resourceId).toBe(other);
    expect(result?.metrics[0]?.timeseries).toEqual([]);
  });
});

describe("a NAT gateway cluster's gateway: found on ARM, measured by metrics:getBatch", () => {
  const managed = (natGateway: Record<string, unknown> = {}) =>
    scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway', outboundIps: 2, natGateway });
    });
  const gatewayOf = (scenario: Scenario) =>
    `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/${scenario.cluster.nodeResourceGroup}/providers/Microsoft.Network/natGateways/nat-aks-prod`;
  const effectiveIps = async (server: ArmServer, scenario: Scenario): Promise<string[]> => {
    const cluster = (await call(clusterUrl(server, scenario))).body as {
      properties: { networkProfile: { natGatewayProfile?: { effectiveOutboundIPs: { id: string }[] } } };
    };
    return (cluster.properties.networkProfile.natGatewayProfile?.effectiveOutboundIPs ?? []).map((ip) => ip.id);
  };

  test("GET publicIPAddresses: each of the managed gateway's effectiveOutboundIPs names the gateway (natGateway.id)", async () => {
    const scenario = managed();
    const server = await serve(scenario);
    const ips = await effectiveIps(server, scenario);
    expect(ips).toHaveLength(2);
    for (const id of ips) {
      const answer = await call(`${server.url}${id}?api-version=2025-07-01`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        id,
        type: 'Microsoft.Network/publicIPAddresses',
        properties: { natGateway: { id: gatewayOf(scenario) } },
      });
    }
    const unknown = await call(`${server.url}${ips[0]?.replace(/[^/]+$/, 'pip-other')}?api-version=2025-07-01`);
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'ResourceNotFound' } } });
  });

  test('detached (natGateway.attached false): the outbound IPs name no gateway', async () => {
    const scenario = managed({ attached: false });
    const server = await serve(scenario);
    const [id] = await effectiveIps(server, scenario);
    const answer = await call(`${server.url}${id}?api-version=2025-07-01`);
    expect(answer.status).toBe(200);
    expect((answer.body as { properties: Record<string, unknown> }).properties.natGateway).toBeUndefined();
  });

  test("GET virtualNetworks: a user-assigned gateway is on the node pools' subnet", async () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'userAssignedNATGateway',
        vnet: { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] },
        natGateway: { name: 'nat-egress' },
      });
    });
    const server = await serve(scenario);
    const vnetId = `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-egress`;
    const answer = await call(`${server.url}${vnetId}?api-version=2025-07-01`);
    expect((answer.body as { properties: { subnets: unknown[] } }).properties.subnets).toEqual([
      expect.objectContaining({
        id: `${vnetId}/subnets/nodes`,
        properties: expect.objectContaining({
          natGateway: {
            id: `/subscriptions/${scenario.cluster.subscriptionId}/resourceGroups/rg-network/providers/Microsoft.Network/natGateways/nat-egress`,
          },
        }),
      }),
    ]);
  });

  test('metrics:getBatch: SNATConnectionCount by state, TotalConnectionCount a level, PacketDropCount spread; the adapter reads back the scenario', async () => {
    const scenario = managed({ failedConnections: 17, droppedPackets: 8, totalConnections: 3000 });
    const server = await serve(scenario);
    const client = metricsClient(server);
    const window = { startTime: new Date('2026-01-01T11:55:00Z'), endTime: new Date('2026-01-01T12:00:00Z') };
    const [byState] = await client.queryResources(
      [gatewayOf(scenario)],
      ['SNATConnectionCount'],
      'Microsoft.Network/natGateways',
      { ...window, interval: 'PT1M', aggregation: 'total', filter: "ConnectionState eq '*'" },
    );
    const states = byState?.metrics[0]?.timeseries ?? [];
    expect(states.map((s) => s.metadatavalues?.map((m) => `${m.name}=${m.value}`))).toEqual([
      ['connectionstate=Attempted'],
      ['connectionstate=Failed'],
    ]);
    expect(states[1]?.data?.reduce((sum, p) => sum + (p.total ?? 0), 0)).toBe(17);
    const answers = await Promise.all(
      Object.values(NAT_GATEWAY_QUERIES).map((query) =>
        client.queryResources([gatewayOf(scenario)], query.metricNames, 'Microsoft.Network/natGateways', {
          ...window,
          interval: 'PT1M',
          aggregation: query.aggregation,
          ...(query.filter ? { filter: query.filter } : {}),
        }),
      ),
    );
    const level = answers[1]?.[0]?.metrics.find((m) => m.id?.endsWith('/TotalConnectionCount'));
    expect(level?.timeseries[0]?.data?.map((p) => p.total)).toEqual([3000, 3000, 3000, 3000, 3000]);
    expect(readNatGatewaySnat([gatewayOf(scenario)], answers.flat())).toEqual(
      await scenarioPorts(scenario).metrics.natGatewaySnat([gatewayOf(scenario)], { minutes: 5 }),
    );
  });

  test.each([
    [
      'a ConnectionState filter on TotalConnectionCount (it has no such dimension)',
      { names: ['TotalConnectionCount'], filter: "ConnectionState eq 'Failed'" },
      /Metric: TotalConnectionCount does not support requested dimension combination: connectionstate/,
    ],
    [
      'a load balancer in a NAT gateway batch (one resource type per batch)',
      { loadBalancer: true },
      /is not of type Microsoft\.Network\/natGateways/,
    ],
    ['a load balancer metric', { names: ['UsedSnatPorts'] }, /resource Type: natGateways, metric: UsedSnatPorts/],
  ])('refuses %s with a 400', async (_, change, message) => {
    const scenario = managed();
    const server = await serve(scenario);
    const given = change as { names?: string[]; filter?: string; loadBalancer?: boolean };
    const ids = [gatewayOf(scenario), ...(given.loadBalancer ? [lbIdOf(scenario)] : [])];
    const query = metricsClient(server).queryResources(
      ids,
      given.names ?? ['PacketDropCount'],
      'Microsoft.Network/natGateways',
      { aggregation: 'total', ...(given.filter ? { filter: given.filter } : {}) },
    );
    await expect(query).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(message) });
  });
});
