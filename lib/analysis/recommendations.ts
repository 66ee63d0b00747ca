// What to do about it, as data: fix the culprit first (the runbook's "connection-efficient design"), buy time with
// the load balancer's outbound rule, and move egress to a NAT gateway for good. Commands are built only from
// cluster facts that pass the same strict patterns as user input (lib/validation.ts), never from free text, and
// use the exact `az aks update` flags of the AKS docs (research/azure-apis.md §3.1; AKS egress-outboundtype.md).
import type { ClusterFacts, Culprit, NatSurvey, Recommendation, SnatBudget, WorkloadCulprit } from '../model.ts';
// A pure formatter, shared with the renderers so that a destination reads the same in advice and tables.
import { formatDestination } from '../render/endpoint.ts';
import { parseNodeSelector, validateClusterName, validateResourceGroup } from '../validation.ts';
import {
  currentPortsPerNode,
  ipsNeeded,
  isNatOutbound,
  MAX_NAT_GATEWAY_IPS,
  NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION,
  NAT_GATEWAY_PORTS_PER_IP,
  PORT_STEP,
  PORTS_PER_IP,
} from './snatBudget.ts';
import { holdAfterCloseSeconds, NAT_GATEWAY_HOLD_AFTER_CLOSE_SECONDS } from './snatModel.ts';

/** Used ÷ allocated at which the node counts as under pressure (snatWatch's warning threshold). */
export const PRESSURE_RATIO = 0.75;
/** At most this many workloads get their own advice… */
const WORKLOADS_ADVISED = 3;
/** …and after the first, only those with at least this fraction of the top workload's pressure. */
const SIGNIFICANT_FRACTION = 0.25;
// Churn: this many ports kept by recently closed flows, and more than open ones hold, means the workload opens a
// connection per request instead of reusing one.
const CHURN_PORTS = 50;
// Long-lived: this many connections held open at once by one pod means pools that are too big, or leaked connections.
const MANY_OPEN_CONNECTIONS = 100;
// `managedOutboundIPs.count` is 1–100; a NAT gateway takes 1–16 IPs of 64,512 ports each (snatBudget.ts).
const MAX_MANAGED_OUTBOUND_IPS = 100;
/** The AKS docs' suggestion for many short-lived connections and no long idle ones. */
const LOW_IDLE_TIMEOUT_MINUTES = 4;

export function underPressure(budget: SnatBudget | undefined): boolean {
  if (!budget) return false;
  const ratio = budget.allocatedPorts > 0 ? budget.usedPorts / budget.allocatedPorts : 0;
  return ratio >= PRESSURE_RATIO || budget.failedConnections > 0;
}

/** Recommendations in the order to act on them: workloads to fix, capacity, NAT gateway, or where to look next. */
export function recommend(input: {
  facts: ClusterFacts;
  budget?: SnatBudget;
  culprits: Culprit[];
  workloads: WorkloadCulprit[];
  nodeName: string;
  /** Whether connects were traced; without a trace (no tcptracer, a failed probe) churn is unknown, not zero. */
  traced?: boolean;
  /** On a NAT gateway cluster, the survey that chose the node (locateNode): the cluster-wide view of the hot endpoint. */
  survey?: NatSurvey;
}): Recommendation[] {
  const { facts, budget, culprits, workloads } = input;
  const traced = input.traced ?? true;
  const pressure = underPressure(budget);
  const loadBalancer = facts.outboundType === 'loadBalancer';
  const recommendations: Recommendation[] = significantWorkloads(workloads).map((w) =>
    w.kind === 'Node' ? fixHost(w, culprits, traced) : fixWorkload(w, facts, traced),
  );

  if (budget && pressure && loadBalancer) {
    const capacity = capacityRecommendation(facts, budget, workloads.some(isChurning));
    if (capacity) recommendations.push(capacity);
  }
  // Without metrics (a failed query) the budget is unknown, but pods holding public connections on a load balancer
  // cluster are reason enough to mention the durable fix.
  if (loadBalancer && (pressure || (!budget && culprits.length > 0))) recommendations.push(natGateway(facts));
  if (isNatOutbound(facts.outboundType) && workloads.length > 0)
    recommendations.push(natGatewayLimits(facts, workloads, input.survey));
  if (culprits.length === 0 && pressure && budget) recommendations.push(investigateFurther(budget, input.nodeName));
  return recommendations;
}

/** The top workload, and the next ones only when they weigh next to it: advice for a trickle is noise. */
function significantWorkloads(workloads: WorkloadCulprit[]): WorkloadCulprit[] {
  const [top] = workloads;
  if (!top) return [];
  const weighs = (w: WorkloadCulprit) => w.pressure >= top.pressure * SIGNIFICANT_FRACTION;
  return [top, ...workloads.slice(1).filter(weighs)].slice(0, WORKLOADS_ADVISED);
}

function isChurning(w: Pick<WorkloadCulprit, 'ports'>): boolean {
  return w.ports.churn >= CHURN_PORTS && w.ports.churn > w.ports.held;
}

/** `Deployment payments/checkout-api (3 pods on this node)`, or the pod itself when it has no controller. */
export function workloadLabel(w: Pick<WorkloadCulprit, 'kind' | 'namespace' | 'name' | 'pods'>): string {
  const name = `${w.namespace ? `${w.namespace}/` : ''}${w.name}`;
  if (w.kind === 'Pod') return `pod ${name}`;
  return `${w.kind} ${name} (${w.pods.length === 1 ? `pod ${w.pods[0]}` : `${w.pods.length} pods on this node`})`;
}

/** The ports a workload needs, by cause, in words. */
export function demandText(
  w: Pick<WorkloadCulprit, 'ports' | 'connectsPerSecond' | 'timeWait'>,
  traced: boolean,
): string {
  const { held, churn, failed, total } = w.ports;
  const churnWhy = traced
    ? `${w.connectsPerSecond} new connection(s)/s and ${fmt(w.timeWait)} in TIME_WAIT`
    : `${fmt(w.timeWait)} in TIME_WAIT; no connect trace, so churn may be higher`;
  const parts = [`${fmt(held)} held by open connections`, `${fmt(churn)} by churn (${churnWhy})`];
  if (failed > 0) parts.push(`${fmt(failed)} failed connect(s)`);
  return `about ${fmt(total)} SNAT port(s): ${parts.join(', ')}`;
}

function fixWorkload(w: WorkloadCulprit, facts: ClusterFacts, traced: boolean): Recommendation {
  const name = workloadLabel(w);
  const destinations = w.topDestinations
    .slice(0, 3)
    .map((d) => `${formatDestination(d)} (${fmt(d.ports.total)} ports)`)
    .join(', ');
  const churn = isChurning(w);
  // Per pod: 30 connections in each of 7 replicas is a normal pool, 210 in one pod is not.
  const manyOpen = w.ports.held / Math.max(1, w.pods.length) >= MANY_OPEN_CONNECTIONS;
  const udpPorts = w.topDestinations.filter((d) => d.protocol === 'udp').reduce((sum, d) => sum + d.ports.total, 0);
  const mostlyUdp = udpPorts * 2 > w.ports.total;
  const share = w.shareOfUsedPorts === undefined ? '' : ` — ${percent(w.shareOfUsedPorts)} of the node's SNAT pressure`;
  const observed = [
    `${capitalize(name)} needs ${demandText(w, traced)}${share}. A closed connection keeps its SNAT port for about ${holdText(holdAfterCloseSeconds(facts.outboundType))}, and connections to one destination cannot share ports.`,
  ];
  const advice: string[] = [];
  // On a NAT gateway cluster the idle timeouts are the gateway's: TCP's as configured (facts.idleTimeoutMinutes), UDP's
  // fixed at 4 minutes ("UDP idle timeout timers are 4 minutes and are not configurable", learn.microsoft.com/azure/
  // nat-gateway/nat-gateway-resource, Timers).
  const nat = isNatOutbound(facts.outboundType);
  if (mostlyUdp) {
    advice.push(
      `Most of its ports are UDP, ${nat ? `which the NAT gateway holds for as long as the flow is active (its UDP idle timeout is 4 minutes and cannot be changed)` : `which the load balancer gives one port per destination IP for as long as the flow is active (idle timeout ${facts.idleTimeoutMinutes} minutes)`}: if this is DNS to public resolvers, resolve through the cluster's DNS (CoreDNS, forwarding to Azure DNS at 168.63.129.16, which is never SNAT'd); otherwise send to fewer destination IPs.`,
    );
  }
  if (churn) {
    advice.push(
      'It opens a new connection per request instead of reusing one: create one HTTP client (or SDK client) per process and reuse it, with HTTP keep-alive on, or a connection pool per destination; read responses to the end and close them so connections return to the pool.',
    );
  }
  if (manyOpen) {
    advice.push(
      `It keeps many connections open at once: share and reuse one client instead of one per request or per thread, cap the pool size per destination, multiplex over HTTP/2 where the server supports it, and close idle connections before the ${nat ? 'NAT gateway' : 'load balancer'}'s ${facts.idleTimeoutMinutes}-minute idle timeout (or send TCP keepalives) so abandoned flows do not hold ports.`,
    );
  }
  if (!churn && !manyOpen && !mostlyUdp) {
    advice.push(
      'Use connection pooling and HTTP keep-alive, and reuse clients across requests instead of creating one per call.',
    );
  }
  advice.push(
    w.ports.failed > 0
      ? 'Its connects are already failing: retry with exponential back-off and jitter, never in a tight loop, since retries during exhaustion take the ports that are left. If a destination is an Azure service, a private endpoint (Private Link) avoids SNAT entirely.'
      : 'Retry failed calls with exponential back-off and jitter, never in a tight loop: retries during exhaustion take the ports that are left. If a destination is an Azure service, a private endpoint (Private Link) avoids SNAT entirely.',
  );
  return {
    kind: 'fix-culprit',
    title: `Fix connection handling in ${name}${destinations ? `; top destinations ${destinations}` : ''}`,
    detail: [...observed, ...advice].join(' '),
  };
}

/** The node's own network namespace: host processes, and hostNetwork pods whose table could not be split by pod. */
function fixHost(w: WorkloadCulprit, culprits: Culprit[], traced: boolean): Recommendation {
  const row = culprits.find((c) => c.workload.kind === 'Node');
  const listed = row?.hostNetworkPods ?? [];
  const destinations = w.topDestinations
    .slice(0, 3)
    .map((d) => `${formatDestination(d)} (${fmt(d.ports.total)} ports)`)
    .join(', ');
  const who =
    listed.length > 0
      ? `The node's own network namespace, read through a hostNetwork pod (its table is the node's, shared by ${listed.join(', ')} and the node's own processes), needs`
      : 'Processes on the node outside any pod (kubelet, containerd, host agents) need';
  const next =
    listed.length > 0
      ? 'The node probe tells these apart by process (cgroup); run the investigation again when the probe can run on the node (see the captureNode step) to see which of them it is.'
      : "Look at the node's own agents and any software installed on the node image; a hostNetwork pod would have been named on its own.";
  return {
    kind: 'fix-culprit',
    title: `Look at the node's own connections${destinations ? `; top destinations ${destinations}` : ''}`,
    detail: `${who} ${demandText(w, traced)}${w.shareOfUsedPorts === undefined ? '' : ` — ${percent(w.shareOfUsedPorts)} of the node's SNAT pressure`}. ${next}`,
  };
}

function holdText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} s`;
}

function percent(share: number): string {
  return share < 0.01 ? 'under 1 %' : `about ${Math.round(share * 100)} %`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** `--resource-group RG --name CLUSTER`, or undefined if either fails its pattern (then no command is offered). */
export function clusterArgs(facts: ClusterFacts): string | undefined {
  try {
    return `--resource-group ${validateResourceGroup(facts.ref.resourceGroup)} --name ${validateClusterName(facts.ref.name)}`;
  } catch {
    return undefined;
  }
}

function capacityRecommendation(facts: ClusterFacts, budget: SnatBudget, churn: boolean): Recommendation | undefined {
  const args = clusterArgs(facts);
  if (!args) return undefined;
  const current = currentPortsPerNode(facts);
  // The AKS docs: account for nodes added during upgrades (maxSurge) and by the autoscaler (maxCount). maxSurge is
  // 10 % on current AKS versions; plan for that, at least one node.
  const surge = Math.max(1, Math.ceil(facts.nodeCount * 0.1));
  const planned = facts.nodeCount + surge;
  const ips = facts.outboundIpCount;
  const commands: string[] = [];
  const notes: string[] = [
    `Each node gets ${fmt(current)} SNAT ports now (${facts.allocatedOutboundPorts > 0 ? 'explicit allocation' : `Azure's default for a pool of ${nodes(facts.nodeCount)}`}); ${ips} outbound IP(s) × ${fmt(PORTS_PER_IP)} = ${fmt(ips * PORTS_PER_IP)} ports, enough for ${nodes(budget.maxNodesAtAllocation)} at that allocation.`,
  ];
  if (facts.allocatedOutboundPorts === 0) {
    notes.push(
      "With the default allocation each node's share halves as the pool grows past 50, 100, 200… nodes (Azure warns that crossing those steps can be disruptive); an explicit value avoids that.",
    );
  }

  // Double the ports per node: enough to absorb a burst while the pods are fixed, without sizing every node for the
  // whole IP's ports (which would stop the cluster from growing). With the current IPs when they suffice for the
  // planned nodes; otherwise with as many more IPs as that takes.
  const doubled = Math.min(PORTS_PER_IP, Math.floor((current * 2) / PORT_STEP) * PORT_STEP);
  const ipsForDoubled = ipsNeeded(planned, doubled);
  if (doubled > current && ipsForDoubled <= ips) {
    commands.push(`az aks update ${args} --load-balancer-outbound-ports ${doubled}`);
    notes.push(
      `${fmt(doubled)} ports per node (twice today's, a multiple of ${PORT_STEP}) fits the ${nodes(facts.nodeCount)} plus ${surge} for upgrade surge with the current IP(s); the cluster can then grow to ${nodes(Math.floor((PORTS_PER_IP * ips) / doubled))} (check the autoscaler's maxCount) before it needs more IPs.`,
    );
  } else if (doubled > current && ipsForDoubled <= MAX_MANAGED_OUTBOUND_IPS) {
    commands.push(
      `az aks update ${args} --load-balancer-managed-outbound-ip-count ${ipsForDoubled} --load-balancer-outbound-ports ${doubled}`,
    );
    notes.push(
      `Doubling to ${fmt(doubled)} ports per node for ${nodes(planned)} (${facts.nodeCount} plus ${surge} for upgrade surge) needs ${ipsForDoubled} outbound IPs (more IPs alone do not add ports to a node, so the command sets both). If the cluster uses your own public IPs or prefixes, add them with --load-balancer-outbound-ips or --load-balancer-outbound-ip-prefixes instead.`,
    );
  } else if (doubled > current) {
    notes.push(
      `Doubling to ${fmt(doubled)} ports per node would need ${ipsForDoubled} outbound IPs, more than the load balancer's ${MAX_MANAGED_OUTBOUND_IPS}: use a NAT gateway.`,
    );
  }

  if (churn && facts.idleTimeoutMinutes > LOW_IDLE_TIMEOUT_MINUTES) {
    commands.push(`az aks update ${args} --load-balancer-idle-timeout ${LOW_IDLE_TIMEOUT_MINUTES}`);
    notes.push(
      `Connections churn: a ${LOW_IDLE_TIMEOUT_MINUTES}-minute idle timeout (now ${facts.idleTimeoutMinutes}) frees the ports of abandoned flows sooner, but breaks long-lived connections that stay idle longer unless they send keepalives.`,
    );
  }

  if (commands.length === 0) return undefined;
  notes.push('These buy time; the lasting fix is in the pods above.');
  const ratio = budget.allocatedPorts > 0 ? ` (${Math.round((budget.usedPorts / budget.allocatedPorts) * 100)} %)` : '';
  return {
    kind: 'capacity',
    title: `Give the nodes more SNAT ports: ${fmt(budget.usedPorts)} of ${fmt(budget.allocatedPorts)} used${ratio}, ${fmt(budget.failedConnections)} failed connection(s)`,
    detail: notes.join(' '),
    commands,
  };
}

function natGateway(facts: ClusterFacts): Recommendation {
  const ips = Math.min(MAX_NAT_GATEWAY_IPS, Math.max(1, facts.outboundIpCount));
  const args = clusterArgs(facts);
  return {
    kind: 'nat-gateway',
    title: 'Longer term: send egress through a NAT gateway',
    detail:
      `A NAT gateway gives ${fmt(NAT_GATEWAY_PORTS_PER_IP)} SNAT ports per public IP (up to ${MAX_NAT_GATEWAY_IPS} IPs) and hands them to any node on demand, instead of a fixed slice per node, and takes a closed connection's port back after ${NAT_GATEWAY_HOLD_AFTER_CLOSE_SECONDS} s. ` +
      "Changing the outbound type changes the cluster's egress IP addresses and interrupts existing connections: update firewall allow-lists and API server authorized IP ranges, and do it in a maintenance window (Azure CLI 2.56 or later). " +
      '`managedNATGateway` works with the AKS-managed virtual network; with your own virtual network, associate a NAT gateway with the node subnet and use `--outbound-type userAssignedNATGateway` instead.',
    ...(args
      ? {
          commands: [
            `az aks update ${args} --outbound-type managedNATGateway --nat-gateway-managed-outbound-ip-count ${ips}`,
          ],
        }
      : {}),
  };
}

/** "it isn't recommended to increase the TCP idle timeout duration to longer than the default time of 4 minutes" (same page). */
const NAT_GATEWAY_DEFAULT_IDLE_MINUTES = 4;
/** A closed connection's port is held 65 s after FIN, 16 s after RST (same page; "subject to change", it warns). */
const NAT_GATEWAY_HOLD_AFTER_RST_SECONDS = 16;

/**
 * On a NAT gateway cluster there is no per-node allocation: the gateway's ports are shared by every node of its
 * subnets, and what runs out first is the connections to one destination endpoint per public IP. This node's busiest
 * destination is measured against that cap, with what this report cannot see (the other nodes' share of it, the
 * gateway's own failed connections: its metrics have no per-node dimension).
 */
function natGatewayLimits(facts: ClusterFacts, workloads: WorkloadCulprit[], survey?: NatSurvey): Recommendation {
  const destinations = workloads.flatMap((w) => w.topDestinations);
  const hottest = destinations.reduce<(typeof destinations)[number] | undefined>(
    (best, d) => (best === undefined || d.connections > best.connections ? d : best),
    undefined,
  );
  const ips = Math.max(1, facts.outboundIpCount);
  const cap = NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION * ips;
  const managed = facts.outboundType === 'managedNATGateway';
  const args = clusterArgs(facts);
  const commands: string[] = [];
  const notes: string[] = [];
  if (hottest) {
    notes.push(
      `This node alone holds ${fmt(hottest.connections)} connection(s) to ${formatDestination(hottest)}, ${Math.round((hottest.connections / cap) * 1000) / 10} % of the ${fmt(cap)} the gateway allows to one destination endpoint with its ${ips} public IP(s) (${fmt(NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION)} per IP). Every node behind the gateway shares that cap: investigate the other nodes that talk to this destination, or read the gateway's flow logs (StandardV2: SourceIp) to see theirs.`,
    );
  }
  const seen = survey?.destination;
  if (seen) {
    const others = survey.nodes.slice(1);
    notes.push(
      `Across the cluster the survey saw ${fmt(seen.connections)} connection(s) to ${formatDestination(seen)}, ${Math.round((seen.connections / cap) * 1000) / 10} % of the ${fmt(cap)} the gateway allows to one destination endpoint with its ${ips} public IP(s) (${fmt(NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION)} per IP), shared by every node behind it${others.length > 0 ? `; the other nodes holding some: ${others.map((n) => `${n.name} (${fmt(n.connections)})`).join(', ')}` : ''}.`,
    );
  }
  notes.push(
    `The gateway has no per-node SNAT metric: whether it is failing connections shows in its own SNATConnectionCount (ConnectionState Failed) and PacketDropCount, cluster-wide. A closed connection's port is held ${NAT_GATEWAY_HOLD_AFTER_CLOSE_SECONDS} s after FIN and ${NAT_GATEWAY_HOLD_AFTER_RST_SECONDS} s after RST, so churn to one destination holds ports too: reuse connections (pooling, keep-alive) first.`,
  );
  if (managed && args && ips < MAX_NAT_GATEWAY_IPS) {
    const more = Math.min(MAX_NAT_GATEWAY_IPS, ips * 2);
    commands.push(`az aks update ${args} --nat-gateway-managed-outbound-ip-count ${more}`);
    notes.push(
      `More public IPs raise both the ports (${fmt(NAT_GATEWAY_PORTS_PER_IP)} each) and the per-destination cap: ${more} IPs allow ${fmt(NAT_GATEWAY_CONNECTIONS_PER_IP_PER_DESTINATION * more)} connections to one destination.`,
    );
  } else if (!managed) {
    notes.push('The gateway is yours (userAssignedNATGateway): add public IPs or a prefix to it (up to 16 IPs).');
  }
  if (managed && args && facts.idleTimeoutMinutes > NAT_GATEWAY_DEFAULT_IDLE_MINUTES) {
    commands.push(`az aks update ${args} --nat-gateway-idle-timeout ${NAT_GATEWAY_DEFAULT_IDLE_MINUTES}`);
    notes.push(
      `The idle timeout is ${facts.idleTimeoutMinutes} minutes: Microsoft advises keeping NAT gateway's default of ${NAT_GATEWAY_DEFAULT_IDLE_MINUTES}, so that idle flows give their ports back.`,
    );
  }
  return {
    kind: 'nat-gateway',
    title: hottest
      ? `NAT gateway: ${fmt(hottest.connections)} connection(s) from this node to ${formatDestination(hottest)}, of ${fmt(cap)} allowed to one destination`
      : 'NAT gateway: its limits, and what this report cannot see',
    detail: notes.join(' '),
    ...(commands.length > 0 ? { commands } : {}),
  };
}

function investigateFurther(budget: SnatBudget, nodeName: string): Recommendation {
  const usage =
    budget.allocatedPorts > 0
      ? `the node uses ${Math.round((budget.usedPorts / budget.allocatedPorts) * 100)} % of its SNAT ports`
      : 'the node has failed SNAT connections';
  let node: string | undefined;
  try {
    const selector = parseNodeSelector(nodeName);
    node = selector.kind === 'name' ? selector.name : undefined;
  } catch {
    node = undefined;
  }
  return {
    kind: 'investigate-further',
    title: `No pod holds public connections, yet ${usage}`,
    detail:
      `${fmt(budget.usedPorts)} ports used, ${fmt(budget.failedConnections)} failed connection(s). ` +
      'The ports may be held by connections opened and closed between snapshots (run again with a longer capture), ' +
      'by processes on the node outside any pod, by UDP flows (DNS to public resolvers holds a port for the idle timeout), ' +
      'or by public IP ranges the cluster uses privately and should list among its CIDRs.',
    ...(node ? { commands: [`kubectl get pods --all-namespaces --field-selector spec.nodeName=${node} -o wide`] } : {}),
  };
}

function nodes(n: number): string {
  return `${fmt(n)} node${n === 1 ? '' : 's'}`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
