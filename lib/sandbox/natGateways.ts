// A scenario cluster's outbound public IPs and NAT gateway (cluster.natGateway), as ARM and Azure Monitor show them:
// the IPs' GET publicIPAddresses (a managed gateway's each naming the gateway), the node subnet's `natGateway` (served
// in the VNet's GET, virtualNetworks.ts), and the gateway's own metrics. The in-process ports (scenarioPorts.ts) and
// the served sandbox (armServer.ts) both answer from here, so they agree.
import { createHash } from 'node:crypto';
import type { NatGatewaySnat } from '../model.ts';
import type { Scenario, ScenarioNatGateway } from './scenario.ts';

type Cluster = Scenario['cluster'];

export function natGatewayId(gateway: Pick<ScenarioNatGateway, 'subscriptionId' | 'resourceGroup' | 'name'>): string {
  return `/subscriptions/${gateway.subscriptionId}/resourceGroups/${gateway.resourceGroup}/providers/Microsoft.Network/natGateways/${gateway.name}`;
}

/**
 * The cluster's outbound public IPs, as the ManagedCluster's `effectiveOutboundIPs` lists them (the load balancer's or
 * the managed NAT gateway's): in the node resource group, named after GUIDs as AKS names them.
 */
export function outboundIpIds(cluster: Pick<Cluster, 'subscriptionId' | 'nodeResourceGroup' | 'name' | 'outboundIps'>) {
  const group = `/subscriptions/${cluster.subscriptionId}/resourcegroups/${cluster.nodeResourceGroup}`;
  return Array.from(
    { length: cluster.outboundIps },
    (_, i) => `${group}/providers/Microsoft.Network/publicIPAddresses/${uuidFrom(`outbound-ip:${cluster.name}:${i}`)}`,
  );
}

/** The NAT gateway the node subnet names (user-assigned, attached); undefined otherwise. */
export function subnetNatGatewayId(cluster: Cluster): string | undefined {
  const gateway = cluster.natGateway;
  if (cluster.outboundType !== 'userAssignedNATGateway' || !gateway?.attached) return undefined;
  return natGatewayId(gateway);
}

/** The NAT gateway a managed gateway's outbound IPs name (attached); undefined otherwise. */
export function publicIpNatGatewayId(cluster: Cluster): string | undefined {
  const gateway = cluster.natGateway;
  if (cluster.outboundType !== 'managedNATGateway' || !gateway?.attached) return undefined;
  return natGatewayId(gateway);
}

/**
 * GET publicIPAddresses' answer for one of the cluster's outbound IPs, in the REST shape of api-version 2025-07-01
 * (azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/Network/stable/2025-07-01/examples/
 * PublicIpAddressGet.json, and PublicIPAddressPropertiesFormat's `natGateway`); undefined for any other IP.
 */
export function publicIpResource(cluster: Cluster, id: string): Record<string, unknown> | undefined {
  const index = outboundIpIds(cluster).findIndex((ip) => ip.toLowerCase() === id.toLowerCase());
  if (index < 0) return undefined;
  const own = outboundIpIds(cluster)[index] as string;
  const gateway = publicIpNatGatewayId(cluster);
  return {
    name: own.split('/').at(-1),
    id: own,
    type: 'Microsoft.Network/publicIPAddresses',
    location: cluster.location,
    sku: { name: 'Standard', tier: 'Regional' },
    properties: {
      provisioningState: 'Succeeded',
      // From 20.50.100.0/24 on: an address the scenario's own destinations are unlikely to use.
      ipAddress: `20.50.100.${10 + index}`,
      publicIPAddressVersion: 'IPv4',
      publicIPAllocationMethod: 'Static',
      idleTimeoutInMinutes: 4,
      ...(gateway ? { natGateway: { id: gateway } } : {}),
    },
  };
}

/** The gateway's metrics over any window, as the scenario gives them; undefined for any other resource. */
export function natGatewaySnatOf(cluster: Cluster, id: string): NatGatewaySnat | undefined {
  const gateway = cluster.natGateway;
  if (!gateway || natGatewayId(gateway).toLowerCase() !== id.toLowerCase()) return undefined;
  return {
    natGatewayId: id,
    failedConnections: gateway.failedConnections,
    totalConnections: gateway.totalConnections,
    droppedPackets: gateway.droppedPackets,
  };
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex').slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
