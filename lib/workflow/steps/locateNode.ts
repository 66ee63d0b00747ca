// Step 1: which node, and how exhausted it is. Cluster facts from ARM, SNAT metrics per backend IP from the load
// balancer, and the backend IP mapped to a Kubernetes node. A NAT gateway cluster has no per-node metric: without a
// node named, its nodes are surveyed for the busiest destination endpoint (natSurvey.ts).
import ipaddr from 'ipaddr.js';
import { isNatOutbound } from '../../analysis/snatBudget.ts';
import { SnatDoctorError, TransientError } from '../../errors.ts';
import type {
  BackendSnat,
  ClusterFacts,
  ClusterRef,
  NatGatewaySnat,
  NatSurvey,
  NodeInfo,
  PrivateRange,
} from '../../model.ts';
import type { Ports } from '../../ports.ts';
import { mergePrivateRanges } from '../../privateRanges.ts';
import { parseNodeSelector } from '../../validation.ts';
import { defineStep } from '../step.ts';
import { describeSurvey, surveyNatGateway } from './natSurvey.ts';

export interface LocateInput {
  cluster: ClusterRef;
  node?: string;
  /** Ranges the asker adds (InvestigationRequest.privateRanges), merged into the facts' own. */
  privateRanges?: PrivateRange[];
}

export interface NodeStanding {
  name: string;
  ip: string;
  usedPorts?: number;
  allocatedPorts?: number;
  failedConnections?: number;
}

export interface Located {
  facts: ClusterFacts;
  node: NodeInfo;
  /** The node's own metrics; absent when the outbound type has none per node, or the query failed. */
  backend?: BackendSnat;
  /** The metrics of the node's IPv6 backend IP (dual-stack): a separate pool of ports. */
  backendIpv6?: BackendSnat;
  /** Every node's SNAT standing, to show where this node sits. */
  nodes: NodeStanding[];
  /** On a NAT gateway cluster: its gateways' own metrics (cluster-wide); absent when they could not be read. */
  gateways?: NatGatewaySnat[];
  /** On a NAT gateway cluster with no node named: the survey that chose the node. */
  survey?: NatSurvey;
  notes: string[];
}

const METRICS_WINDOW = { minutes: 5 };

export const locateNode = defineStep<LocateInput, Located>('locateNode', async (input, ports) => {
  const read = await ports.clusters.getCluster(input.cluster);
  const facts = { ...read, privateRanges: mergePrivateRanges(read.privateRanges, input.privateRanges) };
  const notes: string[] = [...(read.notes ?? [])];
  const kubernetes = ports.kubernetes(input.cluster);
  const unread: { reason?: string } = {};
  const [nodes, metrics, gateways] = await Promise.all([
    kubernetes.listNodes(),
    backendMetrics(facts, ports, notes, unread),
    gatewayMetrics(facts, ports, notes),
  ]);
  const byIp = new Map(metrics.map((m) => [m.backendIp, m]));
  const standings: NodeStanding[] = nodes.map((n) => {
    const m = byIp.get(n.ip);
    return {
      name: n.name,
      ip: n.ip,
      usedPorts: m?.usedPorts,
      allocatedPorts: m?.allocatedPorts,
      failedConnections: m?.failedConnections,
    };
  });

  let survey: NatSurvey | undefined;
  let node: NodeInfo;
  if (input.node) node = findNode(nodes, input.node);
  else if (isNatOutbound(facts.outboundType)) {
    survey = await surveyNatGateway(
      input.cluster,
      nodes,
      facts.privateRanges.map((r) => r.cidr),
      ports,
    );
    notes.push(describeSurvey(survey));
    node = busiestForHotDestination(nodes, survey);
  } else node = mostExhausted(nodes, byIp, unread.reason);
  // The metric's dimension and the node's address may spell one IPv6 address differently: compare them parsed.
  const ipv6 = node.ipv6 ? canonicalIp(node.ipv6) : undefined;
  const backendIpv6 = ipv6 ? metrics.find((m) => canonicalIp(m.backendIp) === ipv6) : undefined;
  return {
    facts,
    node,
    backend: byIp.get(node.ip),
    ...(backendIpv6 ? { backendIpv6 } : {}),
    nodes: standings,
    ...(gateways ? { gateways } : {}),
    ...(survey ? { survey } : {}),
    notes,
  };
});

/**
 * A NAT gateway cluster's gateway metrics (failed SNAT connections, connections, dropped packets: the report's NAT
 * budget); undefined for other outbound types, or when they cannot be read (why goes to `notes`).
 */
async function gatewayMetrics(
  facts: ClusterFacts,
  ports: Ports,
  notes: string[],
): Promise<NatGatewaySnat[] | undefined> {
  if (!isNatOutbound(facts.outboundType)) return undefined;
  if (facts.natGatewayIds.length === 0) {
    notes.push("NAT gateway metrics unavailable: the cluster's facts name no NAT gateway.");
    return undefined;
  }
  try {
    return await ports.metrics.natGatewaySnat(facts.natGatewayIds, METRICS_WINDOW);
  } catch (error) {
    if (error instanceof TransientError) throw error;
    notes.push(`NAT gateway metrics unavailable: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function canonicalIp(ip: string): string {
  return ipaddr.isValid(ip) ? ipaddr.parse(ip).toString() : ip;
}

/** The backend SNAT metrics; when they cannot be read, why goes to `notes` and to `unread.reason`. */
async function backendMetrics(
  facts: ClusterFacts,
  ports: Ports,
  notes: string[],
  unread: { reason?: string },
): Promise<BackendSnat[]> {
  if (facts.outboundType !== 'loadBalancer') {
    notes.push(
      `Outbound type is ${facts.outboundType}: Azure has no per-node SNAT metric for it, so the node's used ports are unknown.`,
    );
    return [];
  }
  try {
    return await ports.metrics.backendSnat(facts.loadBalancerIds, METRICS_WINDOW);
  } catch (error) {
    if (error instanceof TransientError) throw error;
    unread.reason = error instanceof Error ? error.message : String(error);
    notes.push(`SNAT metrics unavailable: ${unread.reason}`);
    return [];
  }
}

function findNode(nodes: NodeInfo[], given: string): NodeInfo {
  const selector = parseNodeSelector(given);
  const found =
    selector.kind === 'name' ? nodes.find((n) => n.name === selector.name) : nodes.find((n) => n.ip === selector.ip);
  if (!found) {
    const known = nodes.map((n) => `${n.name} (${n.ip})`).join(', ');
    throw new SnatDoctorError('NODE_NOT_FOUND', `No node ${given} in the cluster. Nodes: ${known || 'none'}.`);
  }
  return found;
}

/**
 * The node using the largest share of its SNAT ports, in either family (a dual-stack node's IPv6 backend has its own
 * ports); failed connections break ties.
 */
function mostExhausted(nodes: NodeInfo[], metrics: Map<string, BackendSnat>, unreadReason?: string): NodeInfo {
  const byCanonicalIp = new Map([...metrics.values()].map((m) => [canonicalIp(m.backendIp), m]));
  const worst = (node: NodeInfo) =>
    [node.ip, node.ipv6]
      .flatMap((ip) => (ip ? [byCanonicalIp.get(canonicalIp(ip))] : []))
      .filter((m): m is BackendSnat => m !== undefined && m.allocatedPorts > 0)
      .sort((a, b) => b.usedPorts / b.allocatedPorts - a.usedPorts / a.allocatedPorts)[0];
  const ranked = nodes
    .map((node) => ({ node, m: worst(node) }))
    .filter((x): x is { node: NodeInfo; m: BackendSnat } => x.m !== undefined)
    .sort(
      (a, b) =>
        b.m.usedPorts / b.m.allocatedPorts - a.m.usedPorts / a.m.allocatedPorts ||
        b.m.failedConnections - a.m.failedConnections ||
        a.node.name.localeCompare(b.node.name),
    );
  const first = ranked[0];
  if (!first) {
    // The metrics could not be read at all (a missing role, say): that, not their absence, is what to fix.
    throw new SnatDoctorError(
      'NO_METRICS',
      unreadReason !== undefined
        ? `The SNAT metrics could not be read, so the most exhausted node cannot be chosen: ${unreadReason} Or name the node to investigate.`
        : 'No node has SNAT metrics, so the most exhausted node cannot be chosen. Name the node to investigate.',
    );
  }
  return first.node;
}

/** The node holding the most connections to the survey's hot destination; the survey's own words when there is none. */
function busiestForHotDestination(nodes: NodeInfo[], survey: NatSurvey): NodeInfo {
  const busiest = survey.nodes[0] && nodes.find((n) => n.name === survey.nodes[0]?.name);
  if (!busiest) {
    throw new SnatDoctorError(
      'NO_METRICS',
      `A NAT gateway has no per-node metric, and ${lowerFirst(describeSurvey(survey))}. So no node stands out: name the node to investigate.`,
    );
  }
  return busiest;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
