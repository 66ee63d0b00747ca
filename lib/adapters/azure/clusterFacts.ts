// The ManagedCluster as ARM returns it → the facts the investigation needs (ClusterFacts). Pure: the SDK call is in
// lib/adapters/azure.ts.
import type { ManagedCluster } from '@azure/arm-containerservice';
import type { ClusterFacts, ClusterRef, OutboundType } from '../../model.ts';

const OUTBOUND_TYPES: readonly OutboundType[] = [
  'loadBalancer',
  'managedNATGateway',
  'userAssignedNATGateway',
  'userDefinedRouting',
  'none',
];

/** The address space of the VNet AKS creates when the cluster brings none (`aks-vnet-…`). */
const AKS_MANAGED_VNET_CIDR = '10.224.0.0/12';

/**
 * The public load balancer whose SNAT metrics describe the nodes: AKS names it `kubernetes`, in the node resource
 * group. (`kubernetes-internal` carries no SNAT; clusters with enableMultipleStandardLoadBalancers have more, which
 * this does not find yet.)
 */
export function outboundLoadBalancerId(subscriptionId: string, nodeResourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${nodeResourceGroup}/providers/Microsoft.Network/loadBalancers/kubernetes`;
}

export function clusterFacts(ref: ClusterRef, cluster: ManagedCluster): ClusterFacts {
  const network = cluster.networkProfile ?? {};
  const outboundType = OUTBOUND_TYPES.find(
    (t) => t.toLowerCase() === (network.outboundType ?? 'loadBalancer').toLowerCase(),
  );
  const resolvedOutbound = outboundType ?? 'none';
  const location = cluster.location;
  const nodeResourceGroup = cluster.nodeResourceGroup ?? `MC_${ref.resourceGroup}_${ref.name}_${location}`;
  const pools = cluster.agentPoolProfiles ?? [];
  return {
    ref,
    location,
    nodeResourceGroup,
    outboundType: resolvedOutbound,
    outboundIpCount: outboundIpCount(network, resolvedOutbound),
    allocatedOutboundPorts: network.loadBalancerProfile?.allocatedOutboundPorts ?? 0,
    // 30 minutes is what AKS configures on its load balancer's outbound rule.
    idleTimeoutMinutes:
      network.loadBalancerProfile?.idleTimeoutInMinutes ?? network.natGatewayProfile?.idleTimeoutInMinutes ?? 30,
    loadBalancerIds:
      resolvedOutbound === 'loadBalancer' ? [outboundLoadBalancerId(ref.subscriptionId, nodeResourceGroup)] : [],
    disableRunCommand: cluster.apiServerAccessProfile?.disableRunCommand ?? false,
    aadManaged: cluster.aadProfile?.managed ?? false,
    clusterCidrs: clusterCidrs(network, pools),
    nodeCount: pools.reduce((sum, pool) => sum + (pool.count ?? 0), 0),
  };
}

/**
 * The frontend IPs SNAT uses: the effective outbound IPs when ARM lists them (they include user-provided IPs and
 * prefixes' addresses), else the managed count. UDR and `none` route through something AKS does not describe: 0.
 */
function outboundIpCount(network: NonNullable<ManagedCluster['networkProfile']>, outboundType: OutboundType): number {
  if (outboundType === 'loadBalancer') {
    const profile = network.loadBalancerProfile;
    const effective = profile?.effectiveOutboundIPs?.length ?? 0;
    if (effective > 0) return effective;
    const given = (profile?.outboundIPs?.publicIPs?.length ?? 0) + (profile?.managedOutboundIPs?.count ?? 0);
    return given > 0 ? given : 1;
  }
  if (outboundType === 'managedNATGateway' || outboundType === 'userAssignedNATGateway') {
    const profile = network.natGatewayProfile;
    return profile?.effectiveOutboundIPs?.length || profile?.managedOutboundIPProfile?.count || 0;
  }
  return 0;
}

/**
 * Pod and service ranges from the network profile, and the VNet's when it is AKS's own. A VNet the cluster brings
 * (pools with a vnetSubnetID) has an address space ARM's ManagedCluster does not carry; its addresses are private
 * (RFC 1918) in practice, which the SNAT classifier already treats as not SNAT'd.
 */
function clusterCidrs(
  network: NonNullable<ManagedCluster['networkProfile']>,
  pools: NonNullable<ManagedCluster['agentPoolProfiles']>,
): string[] {
  const cidrs = [
    ...(network.podCidrs ?? (network.podCidr ? [network.podCidr] : [])),
    ...(network.serviceCidrs ?? (network.serviceCidr ? [network.serviceCidr] : [])),
  ];
  if (pools.length > 0 && pools.every((pool) => !pool.vnetSubnetID)) cidrs.push(AKS_MANAGED_VNET_CIDR);
  return [...new Set(cidrs)];
}
