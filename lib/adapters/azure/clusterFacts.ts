// The ManagedCluster (and the node pools' VNets, and a managed NAT gateway's outbound public IPs) as ARM returns them
// → the facts the investigation needs (ClusterFacts). Pure: the calls are in lib/adapters/azure.ts.
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
 * that could not be read is there with the note saying why, and the facts carry what could be read. `publicIps`: what
 * was read of a managed NAT gateway's outbound public IPs ({@link natGatewayPublicIpsOf}), the same way.
 */
export function clusterFacts(
  ref: ClusterRef,
  cluster: ManagedCluster,
  vnets: VnetReading[] = [],
  publicIps: PublicIpReading[] = [],
): ClusterFacts {
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
  const gateways = natGatewaysOf({
    outboundType: resolvedOutbound,
    subnets: poolSubnetsOf(cluster),
    vnets,
    publicIps,
  });
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
    natGatewayIds: gateways.ids,
    disableRunCommand: cluster.apiServerAccessProfile?.disableRunCommand ?? false,
    aadManaged: cluster.aadProfile?.managed ?? false,
    privateRanges: ranges.filter((r) => parseCidr(r.cidr) !== undefined),
    nodeCount: pools.reduce((sum, pool) => sum + (pool.count ?? 0), 0),
    ...notesOf(vnets, unreadable, gateways.notes),
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
  /** `properties.subnets[]`: each subnet's id and the NAT gateway associated with it (`properties.natGateway.id`). */
  subnets: { id: string; natGatewayId?: string }[];
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
 * The distinct VNets named by the node pools' `vnetSubnetID`s (bring-your-own VNet) and `podSubnetID`s, in pool order.
 * Empty for an AKS-managed VNet (no pool names a subnet). A subnet id that is not one is ignored: ARM validated it on
 * create.
 */
export function vnetIdsOf(cluster: ManagedCluster): VnetRef[] {
  const seen = new Map<string, VnetRef>();
  for (const subnet of poolSubnetsOf(cluster)) {
    const match = SUBNET_ID.exec(subnet);
    if (!match) continue;
    const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
    const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/virtualNetworks/${name}`;
    // ARM ids are case-insensitive: two pools may spell the same VNet differently.
    if (!seen.has(id.toLowerCase())) seen.set(id.toLowerCase(), { id, subscriptionId, resourceGroup, name });
  }
  return [...seen.values()];
}

/**
 * The subnets the node pools name, nodes' (`vnetSubnetID`) and pods' (`podSubnetID`: with Azure CNI's dynamic pod IP
 * allocation, pods leave through their own subnet), distinct, in pool order.
 */
export function poolSubnetsOf(cluster: ManagedCluster): string[] {
  const seen = new Map<string, string>();
  for (const pool of cluster.agentPoolProfiles ?? []) {
    for (const subnet of [pool.vnetSubnetID, pool.podSubnetID]) {
      if (subnet && !seen.has(subnet.toLowerCase())) seen.set(subnet.toLowerCase(), subnet);
    }
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
  // Each subnet's NAT gateway: `properties.subnets[].properties.natGateway` ("Nat gateway associated with this
  // subnet.", Azure/azure-rest-api-specs …/Microsoft.Network/Network/stable/2025-07-01/virtualNetwork.json,
  // SubnetPropertiesFormat; the VNet's GET carries its subnets, VirtualNetworkPropertiesFormat.subnets).
  const subnets = array(properties.subnets).map((entry) => {
    const subnet = record(entry);
    const natGatewayId = record(record(subnet.properties).natGateway).id;
    return {
      id:
        typeof subnet.id === 'string' && subnet.id !== ''
          ? subnet.id
          : `${ref.id}/subnets/${String(subnet.name ?? '')}`,
      ...(typeof natGatewayId === 'string' && natGatewayId !== '' ? { natGatewayId } : {}),
    };
  });
  return {
    id: ref.id,
    name: String(record(body).name ?? ref.name),
    addressPrefixes: prefixes(properties.addressSpace),
    peerings,
    subnets,
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

// ── The NAT gateways the nodes leave through ────────────────────────────────────────────────────────────────────

/** A managed NAT gateway's outbound public IP as GET publicIPAddresses answered, or why it could not be read. */
export type PublicIpReading = { ok: true; id: string; natGatewayId?: string } | { ok: false; id: string; note: string };

export interface PublicIpRef {
  /** The public IP's resource id as ARM lists it (case kept). */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const PUBLIC_IP_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/publicIPAddresses\/([^/]+)$/i;

/**
 * The outbound public IPs of a managed NAT gateway, `networkProfile.natGatewayProfile.effectiveOutboundIPs[].id`,
 * distinct: the way to its gateway, whose name and resource group no documentation gives (each IP's GET names it).
 * Empty for every other outbound type (a user-assigned gateway is found on the pools' subnets instead).
 */
export function natGatewayPublicIpsOf(cluster: ManagedCluster): PublicIpRef[] {
  if ((cluster.networkProfile?.outboundType ?? '').toLowerCase() !== 'managednatgateway') return [];
  const seen = new Map<string, PublicIpRef>();
  for (const ip of cluster.networkProfile?.natGatewayProfile?.effectiveOutboundIPs ?? []) {
    const ref = publicIpRef(ip.id ?? '');
    if (ref && !seen.has(ref.id.toLowerCase())) seen.set(ref.id.toLowerCase(), ref);
  }
  return [...seen.values()];
}

/** A public IP's resource id → its parts; undefined when it is not one. */
export function publicIpRef(id: string): PublicIpRef | undefined {
  const match = PUBLIC_IP_ID.exec(id);
  if (!match) return undefined;
  const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
  return { id, subscriptionId, resourceGroup, name };
}

/**
 * A PublicIPAddress's JSON → the NAT gateway it belongs to: `properties.natGateway.id` ("The NatGateway for the Public
 * IP address.", Azure/azure-rest-api-specs …/Microsoft.Network/Network/stable/2025-07-01/virtualNetwork.json,
 * PublicIPAddressPropertiesFormat; learn.microsoft.com/dotnet/api/azure.resourcemanager.network.publicipaddressdata.natgateway).
 */
export function publicIpNatGateway(body: unknown): string | undefined {
  const id = record(record(record(body).properties).natGateway).id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The permission reading a managed NAT gateway's outbound public IP needs (Reader has it). */
export const PUBLIC_IP_READ_ACTION = 'Microsoft.Network/publicIPAddresses/read';

/** Why a managed NAT gateway's outbound public IP is missing from the facts, naming it and the permission. */
export function publicIpNotReadNote(
  ip: Pick<PublicIpRef, 'name' | 'resourceGroup' | 'subscriptionId'>,
  failure: { status: number; code?: string | undefined; message?: string },
): string {
  const said = `HTTP ${failure.status}${failure.code ? ` ${failure.code}` : ''}`;
  const where = `Public IP ${ip.name} (resource group ${ip.resourceGroup}, subscription ${ip.subscriptionId}), an outbound IP of the cluster's managed NAT gateway,`;
  const unknown = "so the gateway it belongs to is not known and the watch cannot read the gateway's metrics";
  if (failure.status === 403) {
    return `${where} was not read (${said}): the identity lacks ${PUBLIC_IP_READ_ACTION}, ${unknown}. Grant it Reader on resource group ${ip.resourceGroup} (Monitoring Reader on the subscription, which infra/ assigns, includes it).`;
  }
  if (failure.status === 404) {
    return `${where} was not found (${said}), ${unknown}. Check that the identity can see subscription ${ip.subscriptionId}.`;
  }
  const detail = failure.message ? `: ${failure.message}` : '';
  return `${where} was not read (${said}${detail}), ${unknown}.`;
}

/**
 * The NAT gateways the nodes leave through, from documented fields only, and what kept any from being found:
 *   - userAssignedNATGateway: each subnet the node pools name (`vnetSubnetID`, `podSubnetID`) → its VNet as read →
 *     the subnet's `natGateway.id`. AKS requires it there: the NAT gateway is "preconfigured on the subnet"
 *     (learn.microsoft.com/azure/aks/nat-gateway).
 *   - managedNATGateway: each of `natGatewayProfile.effectiveOutboundIPs` as read → its `natGateway.id`. We found no
 *     documentation giving the managed gateway's name or resource group (only that AKS "attaches it to the cluster
 *     subnet"), so it is found through its IPs.
 * Other outbound types have none. The ids are distinct (ARM ids are case-insensitive), the first spelling kept.
 */
export function natGatewaysOf(input: {
  outboundType: OutboundType;
  /** The subnets the node pools name ({@link poolSubnetsOf}). */
  subnets: string[];
  vnets: VnetReading[];
  /** The managed gateway's outbound public IPs as read, in the order ARM lists them. */
  publicIps: PublicIpReading[];
}): { ids: string[]; notes: string[] } {
  const found: string[] = [];
  const notes: string[] = [];
  if (input.outboundType === 'userAssignedNATGateway') {
    if (input.subnets.length === 0) {
      notes.push(
        "The outbound type is userAssignedNATGateway but no node pool names a subnet (vnetSubnetID), so the NAT gateway on it cannot be found: the watch cannot read the gateway's metrics.",
      );
    }
    for (const subnet of input.subnets) {
      const name = subnet.split('/').at(-1) ?? subnet;
      const vnet = input.vnets.find((v) => subnet.toLowerCase().startsWith(`${v.id.toLowerCase()}/subnets/`));
      if (!vnet?.ok) {
        notes.push(
          `The NAT gateway of the node pools' subnet ${name} is not known: its VNet was not read${vnet ? ' (see the note about it)' : ''}, so the watch cannot read the gateway's metrics.`,
        );
        continue;
      }
      const listed = vnet.subnets.find((s) => s.id.toLowerCase() === subnet.toLowerCase());
      if (listed?.natGatewayId) found.push(listed.natGatewayId);
      else if (listed) {
        notes.push(
          `Subnet ${name} of VNet ${vnet.name} has no NAT gateway (properties.natGateway), though the outbound type is userAssignedNATGateway: its nodes' traffic does not leave through a gateway the watch can read. Associate the NAT gateway with the subnet again.`,
        );
      } else {
        notes.push(
          `Subnet ${name}, named by the node pools, is not among VNet ${vnet.name}'s subnets as ARM lists them.`,
        );
      }
    }
  }
  if (input.outboundType === 'managedNATGateway') {
    if (input.publicIps.length === 0) {
      notes.push(
        "ARM lists no outbound IP of the cluster's managed NAT gateway (natGatewayProfile.effectiveOutboundIPs), the only documented way to the gateway: the watch cannot read its metrics.",
      );
    }
    for (const ip of input.publicIps) {
      if (!ip.ok) notes.push(ip.note);
      else if (ip.natGatewayId) found.push(ip.natGatewayId);
      else {
        notes.push(
          `Public IP ${ip.id.split('/').at(-1)}, an outbound IP of the cluster's managed NAT gateway, names no NAT gateway (properties.natGateway).`,
        );
      }
    }
  }
  const ids = new Map<string, string>();
  for (const id of found) if (!ids.has(id.toLowerCase())) ids.set(id.toLowerCase(), id);
  return { ids: [...ids.values()], notes };
}

function notesOf(vnets: VnetReading[], unreadable: PrivateRange[], gateways: string[]): { notes?: string[] } {
  const notes = [
    ...vnets.flatMap((vnet) => (vnet.ok ? [] : [vnet.note])),
    ...gateways,
    // Every range is classified against later (podConnections): one that is not a CIDR would fail each pod's count.
    ...unreadable.map(
      (r) => `ARM gave ${JSON.stringify(r.cidr.slice(0, 60))} as a ${r.source} range, which is not a CIDR: left out`,
    ),
  ];
  return notes.length > 0 ? { notes } : {};
}
