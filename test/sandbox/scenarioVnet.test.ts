// The scenario's `cluster.vnet` (bring-your-own VNet) and its older short form `vnetCidr`: validated by field, and
// what the scenario's SNAT defaults then leave out (a VNet using a public block is not SNAT'd).
import { describe, expect, test } from '@jest/globals';
import { SnatDoctorError } from '../../lib/errors.ts';
import { scenarioPrivateRanges } from '../../lib/sandbox/virtualNetworks.ts';
import { scenarioWith } from '../support/scenarios.ts';

const SUBSCRIPTION = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';

function problem(edit: (cluster: Record<string, unknown>) => void): string {
  try {
    scenarioWith((doc) => edit(doc.cluster as Record<string, unknown>));
  } catch (error) {
    if (error instanceof SnatDoctorError) return error.message;
    throw error;
  }
  throw new Error('expected the scenario to be refused');
}

describe('cluster.vnet', () => {
  test('resolved with its defaults: the cluster\'s resource group, subnet "nodes", Connected peerings', () => {
    const { cluster } = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        vnet: {
          name: 'vnet-prod',
          addressSpace: ['30.10.0.0/16'],
          peerings: [{ name: 'vnet-hub', addressSpace: ['30.20.0.0/16'] }],
        },
      });
    });
    expect(cluster.vnet).toEqual({
      subscriptionId: SUBSCRIPTION,
      resourceGroup: 'rg-payments-prod',
      name: 'vnet-prod',
      subnet: 'nodes',
      addressSpace: ['30.10.0.0/16'],
      peerings: [
        { name: 'vnet-hub', resourceGroup: 'rg-payments-prod', addressSpace: ['30.20.0.0/16'], state: 'Connected' },
      ],
    });
    expect(cluster.vnetCidr).toBe('30.10.0.0/16');
    expect(scenarioPrivateRanges(cluster).map((r) => `${r.cidr} ${r.source}`)).toEqual([
      '10.244.0.0/16 pods',
      '10.0.0.0/16 services',
      '30.10.0.0/16 vnet',
      '30.20.0.0/16 peered-vnet',
    ]);
  });

  test("vnetCidr alone, other than AKS's own, is a VNet vnet-<cluster> with that range (the older form keeps working)", () => {
    const { cluster } = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { vnetCidr: '172.16.0.0/16' });
    });
    expect(cluster.vnet).toMatchObject({
      name: 'vnet-aks-prod',
      resourceGroup: 'rg-payments-prod',
      addressSpace: ['172.16.0.0/16'],
    });
  });

  test("neither: AKS's own VNet, 10.224.0.0/12", () => {
    const { cluster } = scenarioWith();
    expect(cluster.vnet).toBeUndefined();
    expect(scenarioPrivateRanges(cluster)).toContainEqual({ cidr: '10.224.0.0/12', source: 'vnet' });
  });

  test("the node's used ports default leaves out connections to the VNet and Connected peerings, not a Disconnected one", () => {
    const connections = (doc: Record<string, unknown>) => {
      doc.nodes = [
        {
          name: 'aks-nodepool1-12345678-vmss000000',
          ip: '30.10.0.4',
          pods: [
            {
              namespace: 'db',
              name: 'proxy',
              connections: [
                { to: '30.10.5.6:5432', count: 100 },
                { to: '30.20.0.9:5432', count: 50 },
                { to: '30.30.0.9:5432', count: 20 },
                { to: '20.50.2.10:443', count: 7 },
              ],
            },
          ],
        },
      ];
    };
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        vnet: {
          name: 'vnet-prod',
          addressSpace: ['30.10.0.0/16'],
          peerings: [
            { name: 'vnet-hub', addressSpace: ['30.20.0.0/16'] },
            { name: 'vnet-old', addressSpace: ['30.30.0.0/16'], state: 'Disconnected' },
          ],
        },
      });
      doc.faults = [];
      connections(doc);
    });
    expect(scenario.nodes[0]?.snat.usedPorts).toBe(27);
  });

  test.each([
    [
      'both vnet and a vnetCidr of its own',
      (c: Record<string, unknown>) =>
        Object.assign(c, { vnetCidr: '172.16.0.0/16', vnet: { name: 'v1', addressSpace: ['30.10.0.0/16'] } }),
      /cluster\.vnetCidr: give the VNet once/,
    ],
    [
      'a bad range',
      (c: Record<string, unknown>) => Object.assign(c, { vnet: { name: 'v1', addressSpace: ['30.10.0.0/33'] } }),
      /cluster\.vnet\.addressSpace\[0\]: expected a CIDR range/,
    ],
    [
      'no range',
      (c: Record<string, unknown>) => Object.assign(c, { vnet: { name: 'v1', addressSpace: [] } }),
      /cluster\.vnet\.addressSpace: a VNet needs at least one address range/,
    ],
    [
      'a bad name',
      (c: Record<string, unknown>) => Object.assign(c, { vnet: { name: 'v', addressSpace: ['30.10.0.0/16'] } }),
      /cluster\.vnet\.name: expected a VNet name/,
    ],
    [
      'a peering state Azure does not have',
      (c: Record<string, unknown>) =>
        Object.assign(c, {
          vnet: {
            name: 'v1',
            addressSpace: ['30.10.0.0/16'],
            peerings: [{ name: 'hub', addressSpace: ['30.20.0.0/16'], state: 'Up' }],
          },
        }),
      /cluster\.vnet\.peerings\[0\]\.state/,
    ],
    [
      'a misspelt field',
      (c: Record<string, unknown>) => Object.assign(c, { vnet: { name: 'v1', addressSpaces: ['30.10.0.0/16'] } }),
      /unknown field "addressSpaces" \(did you mean "addressSpace"\?\)/,
    ],
  ])('refused: %s, naming the field', (_, edit, message) => {
    expect(problem(edit)).toMatch(message);
  });
});
