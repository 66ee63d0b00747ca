// One watch tick over a fleet of clusters: every node's SNAT standing from the load balancers' metrics, a decision per
// node, and the node's investigation started (or joined) where the standing calls for one. Each external call is
// made once per tick where it can be: cluster facts once per cluster, metrics once per subscription — every load
// balancer of the subscription in one call, which the adapter splits by region into batches of 50 — and the node list
// once per cluster. So metrics calls grow with load balancers ÷ 50, never with nodes or clusters (DESIGN §5).
//
// A NAT gateway cluster has no per-node SNAT metric: it is watched at its gateways (natGateway.ts), whose own metrics
// are asked for once per subscription too (a second call: a metrics batch is one resource type), and no investigation
// is started for it — there is no node to pick.

import { isNatOutbound } from '../analysis/snatBudget.ts';
import type {
  BackendSnat,
  ClusterFacts,
  ClusterRef,
  InvestigationRequest,
  NatGatewaySnat,
  NodeInfo,
  OutboundType,
} from '../model.ts';
import type { Ports } from '../ports.ts';
import { CAPTURE_SECONDS } from '../validation.ts';
import { type AllocationFinding, allocationFinding } from './drift.ts';
import { type ClusterMemory, clusterKey, emptyMemory, type NodeMemory, type WatchMemory } from './memory.ts';
import { type NatGatewayStanding, natGatewayStanding } from './natGateway.ts';
import {
  DEFAULT_COOLDOWN_MINUTES,
  DEFAULT_HORIZON_MINUTES,
  DEFAULT_THRESHOLDS,
  type Decision,
  decide,
  type Thresholds,
} from './policy.ts';
import { startOnce, type WatchClient } from './startOnce.ts';
import { SAMPLES_KEPT, type Trend, trendOf } from './trend.ts';

/**
 * What the tick did about a node: its decision, or for a node to investigate, what became of the start; `flat`: high
 * but no higher than when the watch last investigated it, so not investigated again (FLAT_HOLD_HOURS).
 */
export type NodeAction = Decision | 'started' | 'joined' | 'cooldown' | 'flat';

/** A node high but flat since the watch investigated it is left alone this long (then investigated again). */
export const FLAT_HOLD_HOURS = 24;
/** "No higher": within this share of the used ports at the last investigation. */
const FLAT_TOLERANCE = 0.05;

export interface WatchedNode {
  cluster: ClusterRef;
  name: string;
  ip: string;
  /** Absent when the load balancer reported nothing for the node's IP. */
  usedPorts?: number;
  allocatedPorts?: number;
  failedConnections?: number;
  decision: Decision;
  /** Where its use is heading, when the watch has seen it long enough (trend.ts). */
  trend?: Pick<Trend, 'portsPerMinute' | 'exhaustsInMinutes'>;
  /** Investigated because its trend reaches the allocation within the horizon, not because of its standing now. */
  rising?: boolean;
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

/**
 * A cluster whose outbound path the watch cannot read: a route table's appliance, no outbound path, or a NAT gateway
 * that could not be found (the note says why).
 */
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
  /** Nodes whose SNAT allocation dropped or is not what the cluster's configuration implies (drift.ts). */
  findings: AllocationFinding[];
  /** The NAT gateways of NAT gateway clusters, each with its own metrics: a finding where it fails connections. */
  gateways: NatGatewayStanding[];
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
  /** What the watch remembers between ticks (memory.ts); without it, no drift across ticks and no trend. */
  memory?: WatchMemory;
  /** Investigate a node predicted to exhaust its ports within this many minutes; default 30; 0: never early. */
  horizonMinutes?: number;
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
  const behindGateways: Watched[] = [];
  reads.forEach((read, i) => {
    const ref = clusters[i] as ClusterRef;
    if (read.status === 'rejected') {
      errors.push({ cluster: ref, message: `Reading the cluster: ${messageOf(read.reason)}` });
    } else if (isNatOutbound(read.value.outboundType) && read.value.natGatewayIds.length > 0) {
      behindGateways.push({ ref, facts: read.value });
    } else if (read.value.outboundType !== 'loadBalancer') {
      unsupported.push(unsupportedCluster(ref, read.value));
    } else {
      watched.push({ ref, facts: read.value });
    }
  });

  // The nodes and the gateways do not depend on each other: both at once.
  const [nodes, gateways] = await Promise.all([
    standings(watched, ports, options.thresholds ?? DEFAULT_THRESHOLDS, errors),
    gatewayStandings(behindGateways, ports, errors),
  ]);
  const memories = await recall([...watched, ...behindGateways], options.memory, errors);
  const findings = remember(nodes, watched, memories, now, options.horizonMinutes ?? DEFAULT_HORIZON_MINUTES);
  tellGatewaysOnce(gateways, behindGateways, memories);
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
  if (options.memory) {
    for (const node of nodes) {
      if (node.action !== 'started' && node.action !== 'joined') continue;
      const memory = memories.get(node.cluster)?.nodes[node.name];
      if (memory) memory.investigated = { at: now.toISOString(), usedPorts: node.usedPorts ?? 0 };
    }
    await Promise.all(
      [...watched, ...behindGateways].map(async ({ ref }) => {
        const memory = memories.get(ref);
        if (!memory) return;
        await options.memory?.save(ref, memory).catch((error: unknown) => {
          errors.push({ cluster: ref, message: `Saving the watch's memory: ${messageOf(error)}` });
        });
      }),
    );
  }
  return { at: now.toISOString(), nodes, findings, gateways, started, unsupported, errors };
}

/**
 * Every NAT gateway of the NAT gateway clusters with its own metrics: one call per subscription with all of its
 * gateways (the adapter batches them per region, 50 at a time). A subscription whose query fails is an error for its
 * clusters only. Nothing is started: the gateway's metrics name no node.
 */
async function gatewayStandings(clusters: Watched[], ports: Ports, errors: TickError[]): Promise<NatGatewayStanding[]> {
  const idsBySubscription = new Map<string, Map<string, string>>();
  for (const { facts } of clusters) {
    for (const id of facts.natGatewayIds) {
      const ids = idsBySubscription.get(subscriptionOfId(id)) ?? new Map<string, string>();
      // Two clusters may share a gateway (on subnets of their own): it is asked for once.
      if (!ids.has(id.toLowerCase())) ids.set(id.toLowerCase(), id);
      idsBySubscription.set(subscriptionOfId(id), ids);
    }
  }
  const answers = new Map<string, NatGatewaySnat | Error>();
  await Promise.all(
    [...idsBySubscription].map(async ([subscription, ids]) => {
      try {
        const rows = await ports.metrics.natGatewaySnat([...ids.values()], METRICS_WINDOW);
        for (const row of rows) answers.set(row.natGatewayId.toLowerCase(), row);
      } catch (error) {
        const failure = new Error(`NAT gateway metrics of subscription ${subscription}: ${messageOf(error)}`);
        for (const id of ids.keys()) answers.set(id, failure);
      }
    }),
  );
  const gateways: NatGatewayStanding[] = [];
  for (const { ref, facts } of clusters) {
    const failures = new Set<string>();
    for (const gatewayId of facts.natGatewayIds) {
      const answer = answers.get(gatewayId.toLowerCase());
      if (answer instanceof Error) {
        if (!failures.has(answer.message)) errors.push({ cluster: ref, message: answer.message });
        failures.add(answer.message);
        continue;
      }
      gateways.push(natGatewayStanding({ facts, gatewayId, metrics: answer, windowMinutes: METRICS_WINDOW.minutes }));
    }
  }
  return gateways;
}

/**
 * A failing gateway is told once, when it starts failing, not at every tick it goes on failing: its finding is `new`
 * only then. The memory keeps the gateways still failing.
 */
function tellGatewaysOnce(
  gateways: NatGatewayStanding[],
  clusters: Watched[],
  memories: Map<ClusterRef, ClusterMemory>,
): void {
  for (const { ref } of clusters) {
    const memory = memories.get(ref);
    if (!memory) continue;
    const told = new Set(memory.gatewaysFailing ?? []);
    const failing: string[] = [];
    const mine = (g: NatGatewayStanding) => clusterKey(g.cluster) === clusterKey(ref);
    for (const gateway of gateways.filter((g) => mine(g) && g.decision === 'finding')) {
      const id = gateway.gatewayId.toLowerCase();
      gateway.new = !told.has(id);
      failing.push(id);
    }
    if (failing.length > 0) memory.gatewaysFailing = failing;
    else delete memory.gatewaysFailing;
  }
}

/** Every watched cluster's memory; a cluster whose memory cannot be read is watched as if for the first time. */
async function recall(
  watched: Watched[],
  memory: WatchMemory | undefined,
  errors: TickError[],
): Promise<Map<ClusterRef, ClusterMemory>> {
  const memories = new Map<ClusterRef, ClusterMemory>();
  await Promise.all(
    watched.map(async ({ ref }) => {
      try {
        memories.set(ref, memory ? await memory.load(ref) : emptyMemory());
      } catch (error) {
        errors.push({ cluster: ref, message: `Reading the watch's memory: ${messageOf(error)}` });
        memories.set(ref, emptyMemory());
      }
    }),
  );
  return memories;
}

/**
 * Compares each node with what the watch remembers of it: allocation drift (told once per change), its trend (a node
 * predicted to exhaust within the horizon is investigated early), and a high node no higher than when it was last
 * investigated (held as `flat`). Updates the memories for the next tick; nodes no longer listed are forgotten.
 */
function remember(
  nodes: WatchedNode[],
  watched: Watched[],
  memories: Map<ClusterRef, ClusterMemory>,
  now: Date,
  horizonMinutes: number,
): AllocationFinding[] {
  const findings: AllocationFinding[] = [];
  const factsOf = new Map(watched.map((w) => [w.ref, w.facts]));
  const seen = new Map<ClusterRef, Record<string, NodeMemory>>();
  for (const node of nodes) {
    const memory = memories.get(node.cluster) ?? emptyMemory();
    const facts = factsOf.get(node.cluster);
    const before: NodeMemory = memory.nodes[node.name] ?? { samples: [] };
    const after: NodeMemory = { samples: before.samples.slice(-(SAMPLES_KEPT - 1)) };
    if (before.investigated) after.investigated = before.investigated;
    if (node.allocatedPorts !== undefined && facts) {
      const finding = allocationFinding({
        cluster: node.cluster,
        facts,
        node: node.name,
        allocatedPorts: node.allocatedPorts,
        previous: before.allocatedPorts,
        reported: before.reported,
      });
      if (finding) {
        findings.push(finding);
        after.reported = finding.signature;
      }
      after.allocatedPorts = node.allocatedPorts;
    } else if (before.allocatedPorts !== undefined) {
      // No metric this tick: what was known stays known.
      after.allocatedPorts = before.allocatedPorts;
      if (before.reported) after.reported = before.reported;
    }
    if (node.usedPorts !== undefined && node.allocatedPorts !== undefined) {
      after.samples.push({ at: now.toISOString(), usedPorts: node.usedPorts, allocatedPorts: node.allocatedPorts });
    }
    const trend = trendOf(after.samples, now);
    if (trend) {
      node.trend = {
        portsPerMinute: Math.round(trend.portsPerMinute * 100) / 100,
        ...(trend.exhaustsInMinutes !== undefined
          ? { exhaustsInMinutes: Math.round(trend.exhaustsInMinutes * 10) / 10 }
          : {}),
      };
    }
    const failing = (node.failedConnections ?? 0) > 0;
    if (
      (node.decision === 'ok' || node.decision === 'warn') &&
      horizonMinutes > 0 &&
      trend?.exhaustsInMinutes !== undefined &&
      trend.exhaustsInMinutes <= horizonMinutes
    ) {
      node.decision = 'investigate';
      node.action = 'investigate';
      node.rising = true;
    } else if (node.decision === 'investigate' && !failing && isFlat(node, before, trend, now)) {
      node.action = 'flat';
    }
    const kept = seen.get(node.cluster) ?? {};
    kept[node.name] = after;
    seen.set(node.cluster, kept);
  }
  for (const [ref, memory] of memories) memory.nodes = seen.get(ref) ?? {};
  return findings;
}

/** High, but no higher than when the watch last investigated it, and not rising, within FLAT_HOLD_HOURS of that. */
function isFlat(node: WatchedNode, before: NodeMemory, trend: Trend | undefined, now: Date): boolean {
  const last = before.investigated;
  if (!last || node.usedPorts === undefined) return false;
  const age = now.getTime() - Date.parse(last.at);
  if (!(age >= 0 && age < FLAT_HOLD_HOURS * 3_600_000)) return false;
  return node.usedPorts <= last.usedPorts * (1 + FLAT_TOLERANCE) && (trend === undefined || trend.portsPerMinute <= 0);
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
  const toInvestigate = nodes.filter((node) => node.decision === 'investigate' && node.action !== 'flat');
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
  '(StandardV2, SourceIp) or by investigating a node by name.';
const NO_METRIC_NOTE: Partial<Record<OutboundType, string>> = {
  userDefinedRouting:
    'Outbound traffic goes where the route table sends it (usually a firewall or appliance), which does the SNAT: ' +
    'watch its metrics (Azure Firewall: "SNAT port utilization") and investigate a node by name.',
  none: 'The cluster has no outbound path to the internet, so there is no SNAT to watch.',
};

function unsupportedCluster(cluster: ClusterRef, facts: ClusterFacts): UnsupportedCluster {
  const { outboundType } = facts;
  if (isNatOutbound(outboundType)) {
    // What kept the gateway from being found is in the facts' notes (an IP or VNet not read, a subnet without one).
    const why = (facts.notes ?? []).join(' ') || 'ARM named none.';
    return {
      cluster,
      outboundType,
      note: `The cluster's NAT gateway was not found, so the watch cannot read its metrics: ${why} ${NAT_GATEWAY_NOTE}`,
    };
  }
  const note =
    NO_METRIC_NOTE[outboundType] ??
    `Outbound type ${outboundType} has no per-node SNAT metric, so its nodes are not watched.`;
  return { cluster, outboundType, note };
}

function subscriptionOf(ref: ClusterRef): string {
  return ref.subscriptionId.toLowerCase();
}

/** `/subscriptions/{id}/…` → the id, lower-cased. */
function subscriptionOfId(resourceId: string): string {
  return (/^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? resourceId).toLowerCase();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
