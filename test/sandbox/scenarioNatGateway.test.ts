// The scenario's `cluster.natGateway`: a NAT gateway cluster's gateway and its metrics, with their defaults, and what
// AKS requires around it (a user-assigned gateway on the VNet the cluster brings; a managed one in AKS's own VNet).
import { describe, expect, test } from '@jest/globals';
import { SnatDoctorError } from '../../lib/errors.ts';
import { scenarioWith } from '../support/scenarios.ts';

const SUBSCRIPTION = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const EGRESS_VNET = { name: 'vnet-egress', resourceGroup: 'rg-network', addressSpace: ['10.30.0.0/16'] };

function problem(edit: (cluster: Record<string, unknown>) => void): string {
  try {
    scenarioWith((doc) => edit(doc.cluster as Record<string, unknown>));
  } catch (error) {
    if (error instanceof SnatDoctorError) return error.message;
    throw error;
  }
  throw new Error('expected the scenario to be refused');
}

describe('cluster.natGateway', () => {
  test("managedNATGateway: in the node resource group, no failures, the nodes' public connections active, attached", () => {
    const scenario = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway' });
      doc.nodes = [
        {
          name: 'aks-nodepool1-12345678-vmss000000',
          ip: '10.224.0.4',
          pods: [
            {
              namespace: 'shop',
              name: 'cart',
              connections: [
                { to: '20.50.2.10:443', count: 40 },
                { to: '10.0.0.10:53', count: 5 }, // a service: not SNAT'd
                { to: '20.50.2.11:443', count: 3, state: 'CLOSE_WAIT' }, // closed by the peer: holds no port
              ],
            },
          ],
        },
        {
          name: 'aks-nodepool1-12345678-vmss000001',
          ip: '10.224.0.5',
          pods: [{ namespace: 'shop', name: 'feed', connections: [{ to: '20.50.2.12:443', count: 2000 }] }],
        },
      ];
    });
    expect(scenario.cluster.natGateway).toEqual({
      subscriptionId: SUBSCRIPTION,
      resourceGroup: 'MC_rg-payments-prod_aks-prod_westeurope',
      name: 'nat-aks-prod',
      failedConnections: 0,
      // Every node's, uncapped: a NAT gateway has no per-node allocation.
      totalConnections: 2040,
      droppedPackets: 0,
      attached: true,
    });
  });

  test("userAssignedNATGateway: in the VNet's resource group unless given; every field as given", () => {
    const given = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'userAssignedNATGateway',
        vnet: EGRESS_VNET,
        natGateway: { failedConnections: 3, totalConnections: 50, droppedPackets: 7 },
      });
    });
    expect(given.cluster.natGateway).toMatchObject({
      resourceGroup: 'rg-network',
      failedConnections: 3,
      totalConnections: 50,
      droppedPackets: 7,
    });
    const named = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'userAssignedNATGateway',
        vnet: EGRESS_VNET,
        natGateway: { name: 'nat-egress', resourceGroup: 'rg-egress', attached: false },
      });
    });
    expect(named.cluster.natGateway).toMatchObject({ name: 'nat-egress', resourceGroup: 'rg-egress', attached: false });
  });

  test('a load balancer cluster has none', () => {
    expect(scenarioWith().cluster.natGateway).toBeUndefined();
  });

  test.each([
    [
      'a natGateway on a load balancer cluster',
      (c: Record<string, unknown>) => {
        c.natGateway = { failedConnections: 1 };
      },
      /cluster\.natGateway: only a NAT gateway cluster has one .*this cluster's outboundType is loadBalancer/,
    ],
    [
      'userAssignedNATGateway without a VNet of its own',
      (c: Record<string, unknown>) => {
        c.outboundType = 'userAssignedNATGateway';
      },
      /cluster\.outboundType: userAssignedNATGateway needs the VNet the cluster brings/,
    ],
    [
      'managedNATGateway with a VNet of its own',
      (c: Record<string, unknown>) => {
        Object.assign(c, { outboundType: 'managedNATGateway', vnet: EGRESS_VNET });
      },
      /cluster\.vnet: a managedNATGateway cluster is in AKS's own VNet/,
    ],
    [
      'a misspelt field',
      (c: Record<string, unknown>) => {
        Object.assign(c, { outboundType: 'managedNATGateway', natGateway: { failedConnection: 1 } });
      },
      /cluster\.natGateway: unknown field "failedConnection" \(did you mean "failedConnections"\?\)/,
    ],
    [
      'a negative count',
      (c: Record<string, unknown>) => {
        Object.assign(c, { outboundType: 'managedNATGateway', natGateway: { droppedPackets: -1 } });
      },
      /cluster\.natGateway\.droppedPackets: /,
    ],
  ])('refused: %s, naming the field', (_, edit, message) => {
    expect(problem(edit)).toMatch(message);
  });
});
