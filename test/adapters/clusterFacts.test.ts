// The ManagedCluster and its node pools' VNets → ClusterFacts.privateRanges: which ranges the cluster reaches without
// SNAT, and where each comes from. Pure: the ARM calls are test/adapters/azure.test.ts.

import type { ManagedCluster } from '@azure/arm-containerservice';
import { describe, expect, test } from '@jest/globals';
import {
  clusterFacts,
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
  test('a body without peerings or address space (fields ARM may leave out): empty, not a crash', () => {
    expect(vnetSpaces({ id: 'id', name: 'v' }, { properties: {} })).toEqual({
      id: 'id',
      name: 'v',
      addressPrefixes: [],
      peerings: [],
    });
    expect(vnetSpaces({ id: 'id', name: 'v' }, null)).toEqual({
      id: 'id',
      name: 'v',
      addressPrefixes: [],
      peerings: [],
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
