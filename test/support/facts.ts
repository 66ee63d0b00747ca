import type { ClusterFacts } from '../../lib/model.ts';

/** A load-balancer cluster of 3 nodes on Azure's default allocation, one outbound IP; `overrides` change any fact. */
export function clusterFacts(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    ref: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'rg-payments', name: 'aks-prod' },
    location: 'westeurope',
    nodeResourceGroup: 'MC_rg-payments_aks-prod_westeurope',
    outboundType: 'loadBalancer',
    outboundIpCount: 1,
    allocatedOutboundPorts: 0,
    idleTimeoutMinutes: 30,
    loadBalancerIds: [],
    natGatewayIds: [],
    disableRunCommand: false,
    aadManaged: false,
    privateRanges: [],
    nodeCount: 3,
    ...overrides,
  };
}
