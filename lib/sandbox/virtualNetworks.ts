// The VNet a scenario's cluster brings (cluster.vnet, or a vnetCidr other than AKS's own): the VirtualNetwork resource
// ARM serves for it (armServer.ts), and the ranges the cluster reaches without SNAT, worked out from that resource by
// the real adapter's own code (lib/adapters/azure/clusterFacts.ts) so that the in-process ports, the scenario's SNAT
// defaults and the adapter against the served sandbox agree.
import { privateRangesOf, type VnetReading, vnetSpaces } from '../adapters/azure/clusterFacts.ts';
import type { PrivateRange } from '../model.ts';
import type { Scenario, ScenarioVnet } from './scenario.ts';

type ClusterNetwork = Pick<Scenario['cluster'], 'podCidr' | 'serviceCidr' | 'vnet'>;

export function vnetId(vnet: Pick<ScenarioVnet, 'subscriptionId' | 'resourceGroup' | 'name'>): string {
  return `/subscriptions/${vnet.subscriptionId}/resourceGroups/${vnet.resourceGroup}/providers/Microsoft.Network/virtualNetworks/${vnet.name}`;
}

/** The node pools' `vnetSubnetID`. */
export function subnetId(vnet: ScenarioVnet): string {
  return `${vnetId(vnet)}/subnets/${vnet.subnet}`;
}

/**
 * GET virtualNetworks' answer for the scenario's VNet, in the REST shape of api-version 2025-07-01
 * (azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/Network/stable/2025-07-01/examples/
 * VirtualNetworkGet.json and VirtualNetworkPeeringGet.json), for the fields snat-doctor reads and a few around them.
 * `natGatewayId`: the NAT gateway associated with the node subnet (SubnetPropertiesFormat `natGateway`).
 */
export function virtualNetworkResource(
  vnet: ScenarioVnet,
  location: string,
  natGatewayId?: string,
): Record<string, unknown> {
  const id = vnetId(vnet);
  return {
    name: vnet.name,
    id,
    type: 'Microsoft.Network/virtualNetworks',
    location,
    properties: {
      provisioningState: 'Succeeded',
      addressSpace: { addressPrefixes: vnet.addressSpace },
      subnets: [
        {
          name: vnet.subnet,
          id: `${id}/subnets/${vnet.subnet}`,
          properties: {
            provisioningState: 'Succeeded',
            addressPrefix: vnet.addressSpace[0],
            ...(natGatewayId ? { natGateway: { id: natGatewayId } } : {}),
          },
        },
      ],
      virtualNetworkPeerings: vnet.peerings.map((peering) => {
        const remote = vnetId({ ...vnet, resourceGroup: peering.resourceGroup, name: peering.name });
        return {
          id: `${id}/virtualNetworkPeerings/${vnet.name}-to-${peering.name}`,
          name: `${vnet.name}-to-${peering.name}`,
          properties: {
            allowVirtualNetworkAccess: true,
            allowForwardedTraffic: false,
            allowGatewayTransit: false,
            useRemoteGateways: false,
            remoteVirtualNetwork: { id: remote },
            remoteAddressSpace: { addressPrefixes: peering.addressSpace },
            remoteVirtualNetworkAddressSpace: { addressPrefixes: peering.addressSpace },
            peeringState: peering.state,
            peeringSyncLevel: 'FullyInSync',
            provisioningState: 'Succeeded',
          },
        };
      }),
    },
  };
}

/** The VNet as the adapter reads it from the resource above (it always can: faults are the callers'). */
export function vnetReading(vnet: ScenarioVnet, location: string, natGatewayId?: string): VnetReading {
  return {
    ok: true,
    ...vnetSpaces({ id: vnetId(vnet), name: vnet.name }, virtualNetworkResource(vnet, location, natGatewayId)),
  };
}

/**
 * The ranges the cluster reaches without SNAT, as the adapter finds them: pods, services, and the VNet's address
 * spaces and Connected peerings' (AKS's own 10.224.0.0/12 without a VNet of its own). `readings` replaces the VNet's
 * reading (a refused read, in-process).
 */
export function scenarioPrivateRanges(cluster: ClusterNetwork, readings?: VnetReading[]): PrivateRange[] {
  const vnets = readings ?? (cluster.vnet ? [vnetReading(cluster.vnet, '')] : []);
  return privateRangesOf({
    podCidrs: [cluster.podCidr],
    serviceCidrs: [cluster.serviceCidr],
    aksManagedVnet: cluster.vnet === undefined,
    vnets,
  });
}
