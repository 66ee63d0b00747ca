// One watch tick over a fleet of clusters: every node's SNAT standing from the load balancers' metrics, a decision per
// node, and the node's investigation started (or joined) where the standing calls for one. Each external call is
// made once per tick where it can be: cluster facts once per cluster, metrics once per subscription — every load
// balancer of the subscription in one call, which the adapter splits by region into batches of 50 — and the node list
// once per cluster. So metrics calls grow with load balancers ÷ 50, never with nodes or clusters (DESIGN §5).
import type { BackendSnat, ClusterFacts, ClusterRef, InvestigationRequest, NodeInfo, OutboundType } from '../model.ts';
import type { Ports } from '../ports.ts';
import { CAPTURE_SECONDS } from '../validation.ts';
import { DEFAULT_COOLDOWN_MINUTES, DEFAULT_THRESHOLDS, type Decision, decide, type Thresholds } from './policy.ts';
import { startOnce, type WatchClient } from './startOnce.ts';

/** What the tick did about a node: its decision, or for a node to investigate, what became of the start. */
export type NodeAction = Decision | 'started' | 'joined' | 'cooldown';

export interface WatchedNode {
  cluster: ClusterRef;
  name: string;
  ip: string;
  /** Absent when the load balancer reported nothing for the node's IP. */
  usedPorts?: number;
  allocatedPorts?: number;
  failedConnections?: number;
  decision: Decision;
  /**
   * `investigate` when the node should be investigated but nothing was started (report only, or the start failed:
   * see `errors`); `started`, `joined` or `cooldown` otherwise.
   */
  action: NodeAction;
  /** The node's investigation, when one was started, joined or is cooling down. */
  instanceId?: string;
  /** For `cooldown`: when the node may be investigated again. */
  cooldownUntil?: string;
}

export interface StartedInvestigation {
  instanceId: string;
  cluster: ClusterRef;
  node: string;
}

/** A cluster whose outbound path has no per-node SNAT metric: watched at the gateway, not here. */
export interface UnsupportedCluster {
  cluster: ClusterRef;
  outboundType: OutboundType;
  note: string;
}

export interface TickError {
  cluster: ClusterRef;
  node?: string;
  message: string;
}

export interface WatchTickResult {
  at: string;
  nodes: WatchedNode[];
  started: StartedInvestigation[];
  unsupported: UnsupportedCluster[];
  errors: TickError[];
}

export interface WatchTickOptions {
  clusters: ClusterRef[];
  ports: Ports;
  /** The Durable client that starts investigations; absent, the tick only reports. */
  client?: WatchClient;
  thresholds?: Thresholds;
  /** How long after a node's investigation finished it is not investigated again; default 30. */
  cooldownMinutes?: number;
  now?: Date;
  /** The capture length of the investigations started; default 30 s. */
  captureSeconds?: number;
}

/** The metrics window: ports are the window's worst minute, failed connections its sum. */
const METRICS_WINDOW = { minutes: 5 };

export async function watchTick(options: WatchTickOptions): Promise<WatchTickResult> {
  const { clusters, ports, client } = options;
  const now = options.now ?? new Date();
  const errors: TickError[] = [];
  const unsupported: UnsupportedCluster[] = [];

  // Every cluster's facts, in parallel. A cluster that cannot be read is reported and the others go on.
  const reads = await Promise.allSettled(clusters.map((ref) => ports.clusters.getCluster(ref)));
  const watched: Watched[] = [];
  reads.forEach((read, i) => {
    const ref = clusters[i] as ClusterRef;
    if (read.status === 'rejected') {
      errors.push({ cluster: ref, message: `Reading the cluster: ${messageOf(read.reason)}` });
    } else if (read.value.outboundType !== 'loadBalancer') {
      unsupported.push(unsupportedCluster(ref, read.value.outboundType));
    } else {
      watched.push({ ref, facts: read.value });
    }
  });

  const nodes = await standings(watched, ports, options.thresholds ?? DEFAULT_THRESHOLDS, errors);
  const started = client
    ? await investigate(
        nodes,
        client,
        options.cooldownMinutes ?? DEFAULT_COOLDOWN_MINUTES,
        now,
        options.captureSeconds,
        errors,
      )
    : [];
  return { at: now.toISOString(), nodes, started, unsupported, errors };
}

interface Watched {
  ref: ClusterRef;
  facts: ClusterFacts;
}

/** Every node of the watched clusters with its metrics and decision; a cluster whose data failed goes to `errors`. */
async function standings(
  watched: Watched[],
  ports: Ports,
  thresholds: Thresholds,
  errors: TickError[],
): Promise<WatchedNode[]> {
  // The metrics and the node lists do not depend on each other: both at once.
  const [metrics, nodeLists] = await Promise.all([
    metricsBySubscription(watched, ports),
    Promise.allSettled(watched.map(async ({ ref }) => ports.kubernetes(ref).listNodes())),
  ]);
  const nodes: WatchedNode[] = [];
  watched.forEach(({ ref, facts }, i) => {
    const listed = nodeLists[i] as PromiseSettledResult<NodeInfo[]>;
    const rows = metrics.get(subscriptionOf(ref)) ?? [];
    if (rows instanceof Error) {
      errors.push({ cluster: ref, message: `SNAT metrics of subscription ${ref.subscriptionId}: ${rows.message}` });
      return;
    }
    if (listed.status === 'rejected') {
      errors.push({ cluster: ref, message: `Listing the nodes: ${messageOf(listed.reason)}` });
      return;
    }
    const byIp = backendsOf(facts, rows);
    for (const node of listed.value) {
      const backend = byIp.get(node.ip);
      const standing = backend
        ? {
            usedPorts: backend.usedPorts,
            allocatedPorts: backend.allocatedPorts,
            failedConnections: backend.failedConnections,
          }
        : {};
      const decision = decide(standing, thresholds);
      nodes.push({ cluster: ref, name: node.name, ip: node.ip, ...standing, decision, action: decision });
    }
  });
  return nodes;
}

/** Starts (or joins, or holds off) each node to investigate, and records on the node what became of it. */
async function investigate(
  nodes: WatchedNode[],
  client: WatchClient,
  cooldownMinutes: number,
  now: Date,
  captureSeconds: number | undefined,
  errors: TickError[],
): Promise<StartedInvestigation[]> {
  const toInvestigate = nodes.filter((node) => node.decision === 'investigate');
  const outcomes = await Promise.allSettled(
    toInvestigate.map((node) => startOnce(client, requestFor(node, captureSeconds), { minutes: cooldownMinutes, now })),
  );
  const started: StartedInvestigation[] = [];
  outcomes.forEach((outcome, i) => {
    const node = toInvestigate[i] as WatchedNode;
    if (outcome.status === 'rejected') {
      errors.push({
        cluster: node.cluster,
        node: node.name,
        message: `Starting the investigation: ${messageOf(outcome.reason)}`,
      });
      return;
    }
    const result = outcome.value;
    node.action = result.outcome;
    node.instanceId = result.instanceId;
    if (result.outcome === 'cooldown') node.cooldownUntil = result.until;
    if (result.outcome === 'started') {
      started.push({ instanceId: result.instanceId, cluster: node.cluster, node: node.name });
    }
  });
  return started;
}

/**
 * One metrics call per subscription, with every load balancer of its clusters (the adapter batches them per region,
 * 50 at a time). Subscriptions are queried in parallel; one whose query fails is an Error for its clusters only.
 */
async function metricsBySubscription(watched: Watched[], ports: Ports): Promise<Map<string, BackendSnat[] | Error>> {
  const idsBySubscription = new Map<string, string[]>();
  for (const { ref, facts } of watched) {
    const ids = idsBySubscription.get(subscriptionOf(ref)) ?? [];
    ids.push(...facts.loadBalancerIds);
    idsBySubscription.set(subscriptionOf(ref), ids);
  }
  const answers = await Promise.all(
    [...idsBySubscription].map(async ([subscription, ids]): Promise<[string, BackendSnat[] | Error]> => {
      if (ids.length === 0) return [subscription, []];
      try {
        return [subscription, await ports.metrics.backendSnat(ids, METRICS_WINDOW)];
      } catch (error) {
        return [subscription, error instanceof Error ? error : new Error(String(error))];
      }
    }),
  );
  return new Map(answers);
}

/**
 * The cluster's own rows by backend IP. Rows are matched by load balancer first: clusters of one subscription often
 * share private address ranges (AKS gives every cluster 10.224.0.0/12 by default), so an IP alone is ambiguous.
 * A node behind several of the cluster's load balancers keeps its worst ports and all its failed connections.
 */
function backendsOf(facts: ClusterFacts, rows: BackendSnat[]): Map<string, BackendSnat> {
  const ours = new Set(facts.loadBalancerIds.map((id) => id.toLowerCase()));
  const byIp = new Map<string, BackendSnat>();
  for (const row of rows) {
    if (!ours.has(row.loadBalancerId.toLowerCase())) continue;
    const seen = byIp.get(row.backendIp);
    byIp.set(
      row.backendIp,
      seen
        ? {
            ...seen,
            usedPorts: Math.max(seen.usedPorts, row.usedPorts),
            allocatedPorts: Math.max(seen.allocatedPorts, row.allocatedPorts),
            failedConnections: seen.failedConnections + row.failedConnections,
            successfulConnections: seen.successfulConnections + row.successfulConnections,
          }
        : row,
    );
  }
  return byIp;
}

function requestFor(node: WatchedNode, captureSeconds: number = CAPTURE_SECONDS.default): InvestigationRequest {
  return { cluster: node.cluster, node: node.name, captureSeconds, requestedBy: { kind: 'watch' } };
}

const NAT_GATEWAY_NOTE =
  "Outbound traffic leaves through a NAT gateway, whose metrics have no per-node dimension: alert on the gateway's " +
  'SNATConnectionCount (ConnectionState = Failed) and PacketDropCount, and find the node from its flow logs ' +
  '(StandardV2, SourceIP) or by investigating a node by name.';
const NO_METRIC_NOTE: Partial<Record<OutboundType, string>> = {
  managedNATGateway: NAT_GATEWAY_NOTE,
  userAssignedNATGateway: NAT_GATEWAY_NOTE,
  userDefinedRouting:
    'Outbound traffic goes where the route table sends it (usually a firewall or appliance), which does the SNAT: ' +
    'watch its metrics (Azure Firewall: "SNAT port utilization") and investigate a node by name.',
  none: 'The cluster has no outbound path to the internet, so there is no SNAT to watch.',
};

function unsupportedCluster(cluster: ClusterRef, outboundType: OutboundType): UnsupportedCluster {
  const note =
    NO_METRIC_NOTE[outboundType] ??
    `Outbound type ${outboundType} has no per-node SNAT metric, so its nodes are not watched.`;
  return { cluster, outboundType, note };
}

function subscriptionOf(ref: ClusterRef): string {
  return ref.subscriptionId.toLowerCase();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
