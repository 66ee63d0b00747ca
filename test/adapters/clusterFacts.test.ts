// The ManagedCluster and its node pools' VNets → ClusterFacts.privateRanges: which ranges the cluster reaches without
// SNAT, and where each comes from; and → natGatewayIds, the NAT gateways the nodes leave through. Pure: the ARM calls
// are test/adapters/azure.test.ts.

import type { ManagedCluster } from '@azure/arm-containerservice';
import { describe, expect, test } from '@jest/globals';
import {
  clusterFacts,
  natGatewayPublicIpsOf,
  publicIpNotReadNote,
  type VnetReading,
  vnetIdsOf,
  vnetNotReadNote,
  vnetSpaces,
} from '../../lib/adapters/azure/clusterFacts.ts';
import type { ClusterRef } from '../../lib/model.ts';

const REF: ClusterRef = {
  subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
  resourceGroup: 'rg-prod',
  name: 'aks-prod',
};
const SUB = REF.subscriptionId;
const subnet = (vnet: string, group = 'rg-network', name = 'nodes') =>
  `/subscriptions/${SUB}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${vnet}/subnets/${name}`;

/** A ManagedCluster as the SDK returns it, with overrides. */
function cluster(overrides: Partial<ManagedCluster> = {}): ManagedCluster {
  return {
    location: 'westeurope',
    nodeResourceGroup: 'MC_rg-prod_aks-prod_westeurope',
    networkProfile: { podCidr: '10.244.0.0/16', serviceCidr: '10.0.0.0/16', outboundType: 'loadBalancer' },
    agentPoolProfiles: [{ name: 'nodepool1', count: 3 }],
    ...overrides,
  } as ManagedCluster;
}

/** GET virtualNetworks' body (api-version 2025-07-01 shape, examples/VirtualNetworkGet.json + peerings). */
function vnetBody(
  name: string,
  prefixes: string[],
  peerings: { remote: string; prefixes: string[]; state: string }[] = [],
) {
  return {
    name,
    id: subnet(name).replace(/\/subnets\/.*/, ''),
    type: 'Microsoft.Network/virtualNetworks',
    location: 'westeurope',
    properties: {
      provisioningState: 'Succeeded',
      addressSpace: { addressPrefixes: prefixes },
      virtualNetworkPeerings: peerings.map((p) => ({
        name: `${name}-to-${p.remote}`,
        properties: {
          remoteVirtualNetwork: {
            id: `/subscriptions/${SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/${p.remote}`,
          },
          remoteAddressSpace: { addressPrefixes: p.prefixes },
          // What the remote has now, which the peering may not route yet: not read.
          remoteVirtualNetworkAddressSpace: { addressPrefixes: [...p.prefixes, '99.0.0.0/8'] },
          peeringState: p.state,
        },
      })),
    },
  };
}

const read = (name: string, body: unknown): VnetReading => ({
  ok: true,
  ...vnetSpaces({ id: subnet(name).replace(/\/subnets\/.*/, ''), name }, body),
});

describe('privateRanges', () => {
  test('an AKS-managed VNet (no pool names a subnet): pods, services and 10.224.0.0/12', () => {
    expect(clusterFacts(REF, cluster()).privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '10.224.0.0/12', source: 'vnet' },
    ]);
  });

  test('dual-stack lists (podCidrs, serviceCidrs) win over the single fields', () => {
    const facts = clusterFacts(
      REF,
      cluster({
        networkProfile: {
          podCidr: '10.244.0.0/16',
          podCidrs: ['10.244.0.0/16', 'fd12:3456::/64'],
          serviceCidrs: ['10.0.0.0/16', 'fd00:10::/108'],
        },
      }),
    );
    expect(facts.privateRanges.map((r) => [r.cidr, r.source])).toEqual([
      ['10.244.0.0/16', 'pods'],
      ['fd12:3456::/64', 'pods'],
      ['10.0.0.0/16', 'services'],
      ['fd00:10::/108', 'services'],
      ['10.224.0.0/12', 'vnet'],
    ]);
  });

  test('a bring-your-own VNet using a public block, with a Connected peering: both named; not 10.224.0.0/12', () => {
    const facts = clusterFacts(
      REF,
      cluster({ agentPoolProfiles: [{ name: 'nodepool1', count: 3, vnetSubnetID: subnet('vnet-prod') }] }),
      [
        read(
          'vnet-prod',
          vnetBody(
            'vnet-prod',
            ['30.10.0.0/16', '172.20.0.0/16'],
            [
              { remote: 'vnet-hub', prefixes: ['30.20.0.0/16'], state: 'Connected' },
              { remote: 'vnet-old', prefixes: ['30.30.0.0/16'], state: 'Disconnected' },
              { remote: 'vnet-new', prefixes: ['30.40.0.0/16'], state: 'Initiated' },
            ],
          ),
        ),
      ],
    );
    expect(facts.privateRanges).toEqual([
      { cidr: '10.244.0.0/16', source: 'pods' },
      { cidr: '10.0.0.0/16', source: 'services' },
      { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: '172.20.0.0/16', source: 'vnet', name: 'vnet-prod' },
      { cidr: '30.20.0.0/16', source: 'peered-vnet', name: 'vnet-hub' },
    ]);
    expect(facts.notes).toBeUndefined();
  });

  test("a range ARM gives that is not a CIDR is left out and named in a note (it would fail every pod's count)", () => {
    const facts = clusterFacts(
      REF,
      cluster({ agentPoolProfiles: [{ name: 'nodepool1', count: 3, vnetSubnetID: subnet('vnet-prod') }] }),
      [read('vnet-prod', vnetBody('vnet-prod', ['30.10.0.0/16', '30.10.0.0']))],
    );
    expect(facts.privateRanges.map((r) => r.cidr)).toEqual(['10.244.0.0/16', '10.0.0.0/16', '30.10.0.0/16']);
    expect(facts.notes).toEqual(['ARM gave "30.10.0.0" as a vnet range, which is not a CIDR: left out']);
  });

  test('a VNet that could not be read: the ranges that could be, and its note', () => {
    const note = vnetNotReadNote(
      { name: 'vnet-prod', resourceGroup: 'rg-network', subscriptionId: SUB },
      { status: 403, code: 'AuthorizationFailed' },
    );
    const facts = clusterFacts(
      REF,
      cluster({ agentPoolProfiles: [{ name: 'nodepool1', count: 3, vnetSubnetID: subnet('vnet-prod') }] }),
      [{ ok: false, id: subnet('vnet-prod'), note }],
    );
    expect(facts.privateRanges.map((r) => r.source)).toEqual(['pods', 'services']);
    expect(facts.notes).toEqual([note]);
    expect(note).toMatch(/VNet vnet-prod \(resource group rg-network.*HTTP 403 AuthorizationFailed/);
    expect(note).toContain('Microsoft.Network/virtualNetworks/read');
    expect(note).toMatch(/Grant it Reader on resource group rg-network/);
    expect(note).toContain('SNAT_DOCTOR_PRIVATE_RANGES');
  });

  test('a range given twice is listed once, with its first source', () => {
    const facts = clusterFacts(
      REF,
      cluster({ agentPoolProfiles: [{ name: 'a', count: 1, vnetSubnetID: subnet('vnet-prod') }] }),
      [
        read(
          'vnet-prod',
          vnetBody(
            'vnet-prod',
            ['10.244.0.0/16', '30.10.0.0/16'],
            [{ remote: 'hub', prefixes: ['30.10.0.0/16'], state: 'Connected' }],
          ),
        ),
      ],
    );
    expect(facts.privateRanges.map((r) => `${r.cidr} ${r.source}`)).toEqual([
      '10.244.0.0/16 pods',
      '10.0.0.0/16 services',
      '30.10.0.0/16 vnet',
    ]);
  });
});

describe('vnetIdsOf', () => {
  test.each([
    ['no pool names a subnet (AKS-managed VNet)', [undefined, undefined], []],
    [
      'two pools in one VNet, spelt in two cases: one VNet',
      [subnet('vnet-prod'), subnet('VNET-PROD', 'RG-NETWORK', 'other')],
      ['vnet-prod'],
    ],
    ['pools in two VNets: both, in pool order', [subnet('vnet-b'), subnet('vnet-a', 'rg-other')], ['vnet-b', 'vnet-a']],
    ['a subnet id that is not one is ignored', ['/subscriptions/x/whatever', subnet('vnet-prod')], ['vnet-prod']],
  ])('%s', (_, ids, names) => {
    const refs = vnetIdsOf(cluster({ agentPoolProfiles: ids.map((id, i) => ({ name: `p${i}`, vnetSubnetID: id })) }));
    expect(refs.map((r) => r.name)).toEqual(names);
  });

  test('each VNet with its subscription, resource group and id', () => {
    expect(vnetIdsOf(cluster({ agentPoolProfiles: [{ name: 'p', vnetSubnetID: subnet('vnet-prod') }] }))).toEqual([
      {
        id: `/subscriptions/${SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod`,
        subscriptionId: SUB,
        resourceGroup: 'rg-network',
        name: 'vnet-prod',
      },
    ]);
  });
});

describe('vnetSpaces', () => {
  test('a body without peerings, address space or subnets (fields ARM may leave out): empty, not a crash', () => {
    expect(vnetSpaces({ id: 'id', name: 'v' }, { properties: {} })).toEqual({
      id: 'id',
      name: 'v',
      addressPrefixes: [],
      peerings: [],
      subnets: [],
    });
    expect(vnetSpaces({ id: 'id', name: 'v' }, null)).toEqual({
      id: 'id',
      name: 'v',
      addressPrefixes: [],
      peerings: [],
      subnets: [],
    });
  });

  test('a peering without remoteVirtualNetwork is named by the peering', () => {
    const spaces = vnetSpaces(
      { id: 'id', name: 'v' },
      {
        properties: {
          virtualNetworkPeerings: [
            {
              name: 'to-hub',
              properties: { peeringState: 'Connected', remoteAddressSpace: { addressPrefixes: ['30.20.0.0/16'] } },
            },
          ],
        },
      },
    );
    expect(spaces.peerings).toEqual([{ name: 'to-hub', addressPrefixes: ['30.20.0.0/16'] }]);
  });
});

describe('natGatewayIds: the NAT gateways the nodes leave through, from documented fields only', () => {
  const gateway = (name: string, group = 'rg-network') =>
    `/subscriptions/${SUB}/resourceGroups/${group}/providers/Microsoft.Network/natGateways/${name}`;
  const publicIp = (name: string) =>
    `/subscriptions/${SUB}/resourceGroups/MC_rg-prod_aks-prod_westeurope/providers/Microsoft.Network/publicIPAddresses/${name}`;
  /** GET virtualNetworks' body with subnets, each naming its NAT gateway (or none). */
  const vnetWithSubnets = (subnets: Record<string, string | undefined>) => ({
    ...vnetBody('vnet-prod', ['30.10.0.0/16']),
    properties: {
      addressSpace: { addressPrefixes: ['30.10.0.0/16'] },
      subnets: Object.entries(subnets).map(([name, natGateway]) => ({
        name,
        id: subnet('vnet-prod', 'rg-network', name),
        properties: { addressPrefix: '30.10.0.0/24', ...(natGateway ? { natGateway: { id: natGateway } } : {}) },
      })),
    },
  });
  const userAssigned = (pools: { vnetSubnetID?: string; podSubnetID?: string }[]) =>
    cluster({
      networkProfile: { outboundType: 'userAssignedNATGateway' },
      agentPoolProfiles: pools.map((pool, i) => ({ name: `pool${i}`, count: 1, ...pool })),
    });
  const managed = (ips: string[]) =>
    cluster({
      networkProfile: {
        outboundType: 'managedNATGateway',
        natGatewayProfile: {
          managedOutboundIPProfile: { count: ips.length },
          effectiveOutboundIPs: ips.map((id) => ({ id })),
        },
      },
    });

  test.each([
    [
      'user-assigned: the node subnet names its gateway',
      userAssigned([{ vnetSubnetID: subnet('vnet-prod') }]),
      [read('vnet-prod', vnetWithSubnets({ nodes: gateway('nat-prod') }))],
      [],
      [gateway('nat-prod')],
      [],
    ],
    [
      "user-assigned: a pod subnet's gateway too (pods leave through their own subnet), each gateway once",
      userAssigned([
        { vnetSubnetID: subnet('vnet-prod'), podSubnetID: subnet('vnet-prod', 'rg-network', 'pods') },
        { vnetSubnetID: subnet('vnet-prod').toUpperCase() },
      ]),
      [read('vnet-prod', vnetWithSubnets({ nodes: gateway('nat-prod'), pods: gateway('nat-pods') }))],
      [],
      [gateway('nat-prod'), gateway('nat-pods')],
      [],
    ],
    [
      'user-assigned: a subnet without a NAT gateway is a note, not a guess',
      userAssigned([{ vnetSubnetID: subnet('vnet-prod') }]),
      [read('vnet-prod', vnetWithSubnets({ nodes: undefined }))],
      [],
      [],
      [/^Subnet nodes of VNet vnet-prod has no NAT gateway \(properties\.natGateway\)/],
    ],
    [
      'user-assigned: a VNet that could not be read leaves the gateway unknown, saying so',
      userAssigned([{ vnetSubnetID: subnet('vnet-prod') }]),
      [
        {
          ok: false as const,
          id: subnet('vnet-prod').replace(/\/subnets\/.*/, ''),
          note: 'VNet vnet-prod was not read',
        },
      ],
      [],
      [],
      ['VNet vnet-prod was not read', /subnet nodes is not known: its VNet was not read \(see the note about it\)/],
    ],
    [
      'user-assigned without a subnet named by any pool: a note',
      userAssigned([{}]),
      [],
      [],
      [],
      [/no node pool names a subnet \(vnetSubnetID\)/],
    ],
    [
      'managed: each outbound IP names the gateway, found once',
      managed([publicIp('ip-1'), publicIp('ip-2')]),
      [],
      [
        { ok: true as const, id: publicIp('ip-1'), natGatewayId: gateway('aks-nat', 'MC_rg-prod_aks-prod_westeurope') },
        { ok: true as const, id: publicIp('ip-2'), natGatewayId: gateway('aks-nat', 'MC_rg-prod_aks-prod_westeurope') },
      ],
      [gateway('aks-nat', 'MC_rg-prod_aks-prod_westeurope')],
      [],
    ],
    [
      'managed: an IP that could not be read is a note; another IP still finds the gateway',
      managed([publicIp('ip-1'), publicIp('ip-2')]),
      [],
      [
        { ok: false as const, id: publicIp('ip-1'), note: 'Public IP ip-1 was not read' },
        { ok: true as const, id: publicIp('ip-2'), natGatewayId: gateway('aks-nat', 'MC_rg-prod_aks-prod_westeurope') },
      ],
      [gateway('aks-nat', 'MC_rg-prod_aks-prod_westeurope')],
      ['Public IP ip-1 was not read'],
    ],
    [
      'managed: an IP naming no gateway is a note',
      managed([publicIp('ip-1')]),
      [],
      [{ ok: true as const, id: publicIp('ip-1') }],
      [],
      [/^Public IP ip-1, an outbound IP of the cluster's managed NAT gateway, names no NAT gateway/],
    ],
    ['a load balancer cluster has none, and no note', cluster(), [], [], [], []],
  ] as const)('%s', (_, given, vnets, publicIps, ids, notes) => {
    const facts = clusterFacts(REF, given, [...vnets], [...publicIps]);
    expect(facts.natGatewayIds).toEqual(ids);
    expect(facts.notes ?? []).toEqual(notes.map((n) => (typeof n === 'string' ? n : expect.stringMatching(n))));
  });

  test("natGatewayPublicIpsOf: a managed gateway's effectiveOutboundIPs, distinct; none read for a user-assigned gateway", () => {
    expect(natGatewayPublicIpsOf(managed([publicIp('ip-1'), publicIp('ip-1').toLowerCase()]))).toEqual([
      { id: publicIp('ip-1'), subscriptionId: SUB, resourceGroup: 'MC_rg-prod_aks-prod_westeurope', name: 'ip-1' },
    ]);
    // A natGatewayProfile left from a managed gateway says nothing about the user-assigned one on the subnet.
    const switched = managed([publicIp('ip-1')]);
    expect(
      natGatewayPublicIpsOf({
        ...switched,
        networkProfile: { ...switched.networkProfile, outboundType: 'userAssignedNATGateway' },
      }),
    ).toEqual([]);
  });

  test.each([
    [
      403,
      'AuthorizationFailed',
      /lacks Microsoft\.Network\/publicIPAddresses\/read.*Grant it Reader on resource group rg-nodes/,
    ],
    [404, 'ResourceNotFound', /was not found \(HTTP 404 ResourceNotFound\)/],
    [400, 'BadRequest', /was not read \(HTTP 400 BadRequest: nope\)/],
  ])('publicIpNotReadNote, HTTP %i: names the IP and what it keeps unknown', (status, code, said) => {
    const note = publicIpNotReadNote(
      { name: 'ip-1', resourceGroup: 'rg-nodes', subscriptionId: SUB },
      { status, code, message: 'nope' },
    );
    expect(note).toMatch(
      /^Public IP ip-1 \(resource group rg-nodes, subscription .*\), an outbound IP of the cluster's managed NAT gateway/,
    );
    expect(note).toMatch(said);
    expect(note).toContain("the watch cannot read the gateway's metrics");
  });
});
