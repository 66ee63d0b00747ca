// The ManagedCluster (and the node pools' VNets) as ARM returns them → the facts the investigation needs
// (ClusterFacts). Pure: the calls are in lib/adapters/azure.ts.
import type { ManagedCluster } from '@azure/arm-containerservice';
import type { ClusterFacts, ClusterRef, OutboundType, PrivateRange } from '../../model.ts';
import { mergePrivateRanges, parseCidr } from '../../privateRanges.ts';

const OUTBOUND_TYPES: readonly OutboundType[] = [
  'loadBalancer',
  'managedNATGateway',
  'userAssignedNATGateway',
  'userDefinedRouting',
  'none',
];

/** The address space of the VNet AKS creates when the cluster brings none (`aks-vnet-…`). */
export const AKS_MANAGED_VNET_CIDR = '10.224.0.0/12';

/**
 * The public load balancer whose SNAT metrics describe the nodes: AKS names it `kubernetes`, in the node resource
 * group. (`kubernetes-internal` carries no SNAT; clusters with enableMultipleStandardLoadBalancers have more, which
 * this does not find yet.)
 */
export function outboundLoadBalancerId(subscriptionId: string, nodeResourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${nodeResourceGroup}/providers/Microsoft.Network/loadBalancers/kubernetes`;
}

/**
 * `vnets`: what was read of the VNets the node pools' subnets are in (vnetSubnetIDs), see {@link vnetIdsOf}; a VNet
 * that could not be read is there with the note saying why, and the facts carry what could be read.
 */
export function clusterFacts(ref: ClusterRef, cluster: ManagedCluster, vnets: VnetReading[] = []): ClusterFacts {
  const network = cluster.networkProfile ?? {};
  const outboundType = OUTBOUND_TYPES.find(
    (t) => t.toLowerCase() === (network.outboundType ?? 'loadBalancer').toLowerCase(),
  );
  const resolvedOutbound = outboundType ?? 'none';
  const location = cluster.location;
  const nodeResourceGroup = cluster.nodeResourceGroup ?? `MC_${ref.resourceGroup}_${ref.name}_${location}`;
  const pools = cluster.agentPoolProfiles ?? [];
  const ranges = privateRangesOf({
    podCidrs: network.podCidrs ?? (network.podCidr ? [network.podCidr] : []),
    serviceCidrs: network.serviceCidrs ?? (network.serviceCidr ? [network.serviceCidr] : []),
    aksManagedVnet: pools.length > 0 && vnetIdsOf(cluster).length === 0,
    vnets,
  });
  const unreadable = ranges.filter((r) => parseCidr(r.cidr) === undefined);
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
    privateRanges: ranges.filter((r) => parseCidr(r.cidr) !== undefined),
    nodeCount: pools.reduce((sum, pool) => sum + (pool.count ?? 0), 0),
    ...notesOf(vnets, unreadable),
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

/** One VNet the node pools use, as GET virtualNetworks answered, reduced to what is reached without SNAT. */
export interface VnetSpaces {
  id: string;
  name: string;
  /** `properties.addressSpace.addressPrefixes`. */
  addressPrefixes: string[];
  /** Its peerings in state Connected: the remote VNet's name and the address space peered with it. */
  peerings: { name: string; addressPrefixes: string[] }[];
}

/** A VNet read, or why it could not be (the note names the VNet and the permission). */
export type VnetReading = ({ ok: true } & VnetSpaces) | { ok: false; id: string; note: string };

export interface VnetRef {
  /** The VNet's resource id as the pools name it (case kept). */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const SUBNET_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/virtualNetworks\/([^/]+)\/subnets\/[^/]+$/i;

/**
 * The distinct VNets named by the node pools' `vnetSubnetID`s (bring-your-own VNet), in pool order. Empty for an
 * AKS-managed VNet (no pool names a subnet). A subnet id that is not one is ignored: ARM validated it on create.
 */
export function vnetIdsOf(cluster: ManagedCluster): VnetRef[] {
  const seen = new Map<string, VnetRef>();
  for (const pool of cluster.agentPoolProfiles ?? []) {
    const match = SUBNET_ID.exec(pool.vnetSubnetID ?? '');
    if (!match) continue;
    const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
    const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/virtualNetworks/${name}`;
    // ARM ids are case-insensitive: two pools may spell the same VNet differently.
    if (!seen.has(id.toLowerCase())) seen.set(id.toLowerCase(), { id, subscriptionId, resourceGroup, name });
  }
  return [...seen.values()];
}

/**
 * A VirtualNetwork's JSON (the REST shape: `properties.addressSpace.addressPrefixes`, `properties.virtualNetworkPeerings[]`
 * with `properties.peeringState` and `properties.remoteAddressSpace.addressPrefixes`) → its spaces. Only Connected
 * peerings count: an Initiated or Disconnected one routes nothing. `remoteAddressSpace` is "the address space peered
 * with the remote virtual network" (what is routed), not `remoteVirtualNetworkAddressSpace` (the remote's current
 * space, which may not be synced to the peering yet).
 */
export function vnetSpaces(ref: Pick<VnetRef, 'id' | 'name'>, body: unknown): VnetSpaces {
  const properties = record(record(body).properties);
  const peerings = array(properties.virtualNetworkPeerings).flatMap((entry) => {
    const peering = record(entry);
    const peeringProperties = record(peering.properties);
    if (String(peeringProperties.peeringState ?? '').toLowerCase() !== 'connected') return [];
    const remoteId = String(record(peeringProperties.remoteVirtualNetwork).id ?? '');
    const name = remoteId.split('/').filter(Boolean).at(-1) ?? String(peering.name ?? '');
    return [
      { name: name || String(peering.name ?? ''), addressPrefixes: prefixes(peeringProperties.remoteAddressSpace) },
    ];
  });
  return {
    id: ref.id,
    name: String(record(body).name ?? ref.name),
    addressPrefixes: prefixes(properties.addressSpace),
    peerings,
  };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function prefixes(addressSpace: unknown): string[] {
  return array(record(addressSpace).addressPrefixes).filter((p): p is string => typeof p === 'string' && p !== '');
}

/**
 * The ranges a cluster reaches without SNAT, each with where it comes from: pods, services, then each VNet's address
 * spaces and its Connected peerings'. A VNet the cluster brings has an address space only ARM's VirtualNetwork carries
 * (read by the adapter); AKS's own VNet is always 10.224.0.0/12. The first mention of a range wins.
 */
export function privateRangesOf(input: {
  podCidrs: string[];
  serviceCidrs: string[];
  /** The pools use AKS's own VNet (none names a subnet). */
  aksManagedVnet: boolean;
  vnets: VnetReading[];
}): PrivateRange[] {
  const ranges: PrivateRange[] = [
    ...input.podCidrs.map((cidr): PrivateRange => ({ cidr, source: 'pods' })),
    ...input.serviceCidrs.map((cidr): PrivateRange => ({ cidr, source: 'services' })),
  ];
  if (input.aksManagedVnet) ranges.push({ cidr: AKS_MANAGED_VNET_CIDR, source: 'vnet' });
  for (const vnet of input.vnets) {
    if (!vnet.ok) continue;
    ranges.push(...vnet.addressPrefixes.map((cidr): PrivateRange => ({ cidr, source: 'vnet', name: vnet.name })));
    for (const peering of vnet.peerings) {
      ranges.push(
        ...peering.addressPrefixes.map((cidr): PrivateRange => ({ cidr, source: 'peered-vnet', name: peering.name })),
      );
    }
  }
  return mergePrivateRanges(ranges);
}

/** The permission a VNet read needs: Reader has it; so does the custom role in infra/roles.bicep. */
export const VNET_READ_ACTION = 'Microsoft.Network/virtualNetworks/read';

/** Why a VNet is missing from the facts, naming it, the permission, and the way around it. */
export function vnetNotReadNote(
  vnet: Pick<VnetRef, 'name' | 'resourceGroup' | 'subscriptionId'>,
  failure: { status: number; code?: string | undefined; message?: string },
): string {
  const said = `HTTP ${failure.status}${failure.code ? ` ${failure.code}` : ''}`;
  const where = `VNet ${vnet.name} (resource group ${vnet.resourceGroup}, subscription ${vnet.subscriptionId})`;
  const unknown = "so its address spaces and its peerings' are not known and traffic to them may be counted as SNAT'd";
  const instead = 'or list its ranges in SNAT_DOCTOR_PRIVATE_RANGES (the CLI: --private-range)';
  if (failure.status === 403) {
    return `${where} was not read (${said}): the identity lacks ${VNET_READ_ACTION}, ${unknown}. Grant it Reader on resource group ${vnet.resourceGroup} (or the custom role in infra/roles.bicep), ${instead}.`;
  }
  if (failure.status === 404) {
    return `${where}, named by the node pools' subnets, was not found (${said}), ${unknown}. Check that the identity can see subscription ${vnet.subscriptionId}, ${instead}.`;
  }
  const detail = failure.message ? `: ${failure.message}` : '';
  return `${where} was not read (${said}${detail}), ${unknown}; ${instead}.`;
}

function notesOf(vnets: VnetReading[], unreadable: PrivateRange[]): { notes?: string[] } {
  const notes = [
    ...vnets.flatMap((vnet) => (vnet.ok ? [] : [vnet.note])),
    // Every range is classified against later (podConnections): one that is not a CIDR would fail each pod's count.
    ...unreadable.map(
      (r) => `ARM gave ${JSON.stringify(r.cidr.slice(0, 60))} as a ${r.source} range, which is not a CIDR: left out`,
    ),
  ];
  return notes.length > 0 ? { notes } : {};
}
