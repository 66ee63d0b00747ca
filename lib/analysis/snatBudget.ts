// The node's SNAT budget and the capacity arithmetic behind the load balancer's outbound rule. Numbers from Azure's
// docs (research/azure-apis.md §3.1): each frontend public IP gives 64,000 SNAT ports to the backend pool; with
// `allocatedOutboundPorts` = 0 every node gets a default share that depends on the pool size; an explicit value
// must be a multiple of 8, and 64,000 × IPs ÷ ports per node is the most nodes the cluster can have.
import type {
  BackendSnat,
  ClusterFacts,
  DestinationPressure,
  DestinationShare,
  NatBudget,
  NatGatewaySnat,
  NatSurvey,
  OutboundType,
  SnatBudget,
} from '../model.ts';

/** SNAT ports each frontend IP gives the backend pool. */
export const PORTS_PER_IP = 64_000;
/** `allocatedOutboundPorts` must be a multiple of this. */
export const PORT_STEP = 8;
const TOP_DESTINATIONS = 10;

// "Default SNAT ports per IP configuration": pool size up to `upTo` → ports per node.
const DEFAULT_ALLOCATION: { upTo: number; ports: number }[] = [
  { upTo: 50, ports: 1024 },
  { upTo: 100, ports: 512 },
  { upTo: 200, ports: 256 },
  { upTo: 400, ports: 128 },
  { upTo: 800, ports: 64 },
  { upTo: 1000, ports: 32 },
];

/**
 * Azure's default SNAT ports per node for a backend pool of `poolSize` instances (1–50 → 1024 … 801–1000 → 32).
 * The table stops at 1,000; larger pools get the last row (32), the smallest default there is.
 */
export function defaultPortsPerNode(poolSize: number): number {
  const row = DEFAULT_ALLOCATION.find((r) => poolSize <= r.upTo);
  return row ? row.ports : 32;
}

/**
 * The most ports per node (a multiple of 8, at most 64,000) that still lets `nodeCount` nodes share the ports of
 * `outboundIpCount` IPs: the largest P with nodeCount × P ≤ 64,000 × IPs.
 */
export function portsForNodes(nodeCount: number, outboundIpCount: number): number {
  const perNode = Math.floor((PORTS_PER_IP * Math.max(0, outboundIpCount)) / Math.max(1, nodeCount));
  return Math.min(PORTS_PER_IP, Math.floor(perNode / PORT_STEP) * PORT_STEP);
}

/** Frontend IPs needed to give `nodeCount` nodes `portsPerNode` ports each: ⌈nodeCount × ports ÷ 64,000⌉. */
export function ipsNeeded(nodeCount: number, portsPerNode: number): number {
  return Math.ceil((Math.max(0, nodeCount) * Math.max(0, portsPerNode)) / PORTS_PER_IP);
}

/**
 * Ports each node gets now: the explicit allocation, or Azure's default: the table's ports for the pool size per
 * frontend IP, at most 1,024 ("MIN(# of default SNAT ports provided based on pool size * number of frontend IPs
 * associated with the pool, 1024)", learn.microsoft.com/azure/load-balancer/load-balancer-outbound-connections,
 * "Default port allocation").
 */
export function currentPortsPerNode(facts: ClusterFacts): number {
  return facts.allocatedOutboundPorts > 0 ? facts.allocatedOutboundPorts : defaultAllocation(facts);
}

/** Azure's default allocation for the cluster's pool size and frontend IPs (currentPortsPerNode says how). */
export function defaultAllocation(facts: Pick<ClusterFacts, 'nodeCount' | 'outboundIpCount'>): number {
  return Math.min(defaultPortsPerNode(facts.nodeCount) * Math.max(1, facts.outboundIpCount), MAX_DEFAULT_PORTS);
}

/** The most ports the default allocation gives a node, however many frontend IPs. */
const MAX_DEFAULT_PORTS = 1024;

/**
 * The node's SNAT budget for one address family from its load balancer metrics, the cluster's allocation, and the
 * model's destinations of that family (flows to one destination cannot share a port, so the destination needing the
 * most ports is the one that runs out first: `share` = its ports ÷ the allocated ports). Undefined without metrics
 * for the node (NAT gateway clusters, or a failed metrics query).
 */
export function snatBudget(input: {
  facts: ClusterFacts;
  backend?: BackendSnat;
  destinations: DestinationPressure[];
}): SnatBudget | undefined {
  const { facts, backend } = input;
  if (!backend) return undefined;
  const byDestination = destinationShares(input.destinations, (ports) =>
    backend.allocatedPorts > 0 ? round2(ports / backend.allocatedPorts) : 0,
  );

  return {
    usedPorts: backend.usedPorts,
    allocatedPorts: backend.allocatedPorts,
    failedConnections: backend.failedConnections,
    defaultAllocation: defaultAllocation(facts),
    outboundIpCount: facts.outboundIpCount,
    maxNodesAtAllocation: Math.floor((PORTS_PER_IP * facts.outboundIpCount) / currentPortsPerNode(facts)),
    byDestination,
  };
}

// NAT gateway (learn.microsoft.com/azure/nat-gateway/nat-gateway-resource): "64,512 SNAT ports" per public IP, "up to
// 16 public IP addresses", ports handed to any node of its subnets on demand rather than a fixed slice per node, and
// "up to 50,000 concurrent connections per public IP address to the same destination endpoint".
export const NAT_GATEWAY_PORTS_PER_IP = 64_512;
export const MAX_NAT_GATEWAY_IPS = 16;
export const NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION = 50_000;

export type NatOutboundType = 'managedNATGateway' | 'userAssignedNATGateway';

/** Whether the cluster leaves through a NAT gateway (managed or user-assigned) rather than its load balancer. */
export function isNatOutbound(outboundType: OutboundType | undefined): outboundType is NatOutboundType {
  return outboundType === 'managedNATGateway' || outboundType === 'userAssignedNATGateway';
}

/**
 * A NAT gateway cluster's budget: the gateway's ports and its cap per destination endpoint for its public IPs (at
 * least one counted when AKS does not say how many), this node's busiest endpoints against that cap (the model's
 * ports, which count NAT gateway's 65 s hold after close), the survey's cluster-wide hot endpoint against it, and the
 * gateway's own metrics, which have no per-node dimension.
 */
export function natGatewayBudget(input: {
  facts: Pick<ClusterFacts, 'outboundIpCount'>;
  gateways?: NatGatewaySnat[];
  destinations: DestinationPressure[];
  survey?: NatSurvey;
}): NatBudget {
  const { facts, gateways, survey } = input;
  const ips = Math.min(MAX_NAT_GATEWAY_IPS, Math.max(1, facts.outboundIpCount));
  const perEndpointCap = NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION * ips;
  const byDestination = destinationShares(input.destinations, (ports) => round4(ports / perEndpointCap));
  const hot = survey?.destination;
  return {
    publicIpCount: facts.outboundIpCount,
    ports: NAT_GATEWAY_PORTS_PER_IP * ips,
    perEndpointCap,
    ...(gateways
      ? {
          gateway: {
            gateways: gateways.length,
            failedConnections: sum(gateways, (g) => g.failedConnections),
            totalConnections: sum(gateways, (g) => g.totalConnections),
            droppedPackets: sum(gateways, (g) => g.droppedPackets),
          },
        }
      : {}),
    byDestination,
    ...(hot ? { hotEndpoint: { ...hot, share: round4(hot.connections / perEndpointCap) } } : {}),
  };
}

/** The TOP_DESTINATIONS first destinations (the model's order: most ports first), each with its share of a budget. */
function destinationShares(destinations: DestinationPressure[], share: (ports: number) => number): DestinationShare[] {
  return destinations.slice(0, TOP_DESTINATIONS).map((d) => ({
    ip: d.ip,
    port: d.port,
    protocol: d.protocol,
    connections: d.connections,
    ports: d.ports,
    share: share(d.ports.total),
  }));
}

/** To 0.01 %: a cap of 50,000 per IP makes most shares small. */
function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
