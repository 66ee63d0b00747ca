// What to do about it, as data: fix the culprit first (the runbook's "connection-efficient design"), buy time with
// the load balancer's outbound rule, and move egress to a NAT gateway for good. Commands are built only from
// cluster facts that pass the same strict patterns as user input (lib/validation.ts), never from free text, and
// use the exact `az aks update` flags of the AKS docs (research/azure-apis.md §3.1; AKS egress-outboundtype.md).
import type { ClusterFacts, Culprit, Recommendation, SnatBudget } from '../model.ts';
import { parseNodeSelector, validateClusterName, validateResourceGroup } from '../validation.ts';
import { currentPortsPerNode, ipsNeeded, PORT_STEP, PORTS_PER_IP } from './snatBudget.ts';

/** Used ÷ allocated at which the node counts as under pressure (snatWatch's warning threshold). */
export const PRESSURE_RATIO = 0.75;
/** At most this many culprits get their own advice… */
const CULPRITS_ADVISED = 3;
/** …and after the first, only those with at least this fraction of the top culprit's connections or connects. */
const SIGNIFICANT_FRACTION = 0.25;
// Churn: new public connections faster than this, or this many sockets in TIME_WAIT (and more of them than open
// connections), mean the pod opens a connection per request instead of reusing one.
const CHURN_CONNECTS_PER_SECOND = 1;
const CHURN_TIME_WAIT = 50;
// Long-lived: this many connections held open at once means pools that are too big, or leaked connections.
const MANY_OPEN_CONNECTIONS = 100;
// `managedOutboundIPs.count` is 1–100; a NAT gateway takes 1–16 IPs of 64,512 ports each.
const MAX_MANAGED_OUTBOUND_IPS = 100;
const MAX_NAT_GATEWAY_IPS = 16;
const NAT_GATEWAY_PORTS_PER_IP = 64_512;
/** The AKS docs' suggestion for many short-lived connections and no long idle ones. */
const LOW_IDLE_TIMEOUT_MINUTES = 4;

export function underPressure(budget: SnatBudget | undefined): boolean {
  if (!budget) return false;
  const ratio = budget.allocatedPorts > 0 ? budget.usedPorts / budget.allocatedPorts : 0;
  return ratio >= PRESSURE_RATIO || budget.failedConnections > 0;
}

/** Recommendations in the order to act on them: culprits, capacity, NAT gateway, or where to look next. */
export function recommend(input: {
  facts: ClusterFacts;
  budget?: SnatBudget;
  culprits: Culprit[];
  nodeName: string;
  /** Whether connects were traced; without a trace (no tcptracer, a failed probe) churn is unknown, not zero. */
  traced?: boolean;
}): Recommendation[] {
  const { facts, budget, culprits } = input;
  const traced = input.traced ?? true;
  const pressure = underPressure(budget);
  const loadBalancer = facts.outboundType === 'loadBalancer';
  const recommendations: Recommendation[] = significantCulprits(culprits).map((c) => fixCulprit(c, facts, traced));

  if (budget && pressure && loadBalancer) {
    const capacity = capacityRecommendation(facts, budget, culprits.some(isChurning));
    if (capacity) recommendations.push(capacity);
  }
  // Without metrics (a failed query) the budget is unknown, but pods holding public connections on a load balancer
  // cluster are reason enough to mention the durable fix.
  if (loadBalancer && (pressure || (!budget && culprits.length > 0))) recommendations.push(natGateway(facts));
  if (culprits.length === 0 && pressure && budget) recommendations.push(investigateFurther(budget, input.nodeName));
  return recommendations;
}

/** The top culprit, and the next ones only when they weigh next to it: advice for a pod with 4 connections is noise. */
function significantCulprits(culprits: Culprit[]): Culprit[] {
  const [top] = culprits;
  if (!top) return [];
  const weighs = (c: Culprit) =>
    (top.publicEstablished > 0 && c.publicEstablished >= top.publicEstablished * SIGNIFICANT_FRACTION) ||
    (top.publicConnects > 0 && c.publicConnects >= top.publicConnects * SIGNIFICANT_FRACTION);
  return [top, ...culprits.slice(1).filter(weighs)].slice(0, CULPRITS_ADVISED);
}

function isChurning(c: Culprit): boolean {
  return (
    c.connectsPerSecond >= CHURN_CONNECTS_PER_SECOND ||
    (c.timeWait >= CHURN_TIME_WAIT && c.timeWait > c.publicEstablished)
  );
}

function fixCulprit(c: Culprit, facts: ClusterFacts, traced: boolean): Recommendation {
  const name = `${c.namespace}/${c.pod}`;
  const destinations = c.topDestinations
    .slice(0, 3)
    .map((d) => `${formatEndpoint(d.ip, d.port)} ×${d.connections}`)
    .join(', ');
  const churn = isChurning(c);
  const manyOpen = c.publicEstablished >= MANY_OPEN_CONNECTIONS;

  const share =
    c.shareOfUsedPorts === undefined
      ? ''
      : c.shareOfUsedPorts < 0.01
        ? " (under 1 % of the node's used SNAT ports)"
        : ` (about ${Math.round(c.shareOfUsedPorts * 100)} % of the node's used SNAT ports)`;
  const observed = [
    `${name}${c.hostNetwork ? " (hostNetwork: it shares the node's network namespace)" : ''} holds ${c.publicEstablished} ESTABLISHED connection(s) to public destinations${share}, ${traced ? `opened ${c.publicConnects} new one(s) during the capture (${c.connectsPerSecond}/s)` : 'opened an unknown number of new ones (no connect trace)'} and has ${c.timeWait} socket(s) in TIME_WAIT.`,
  ];
  const advice: string[] = [];
  if (churn) {
    advice.push(
      'It opens a new connection per request instead of reusing one: create one HTTP client (or SDK client) per process and reuse it, with HTTP keep-alive on, or a connection pool per destination; read responses to the end and close them so connections return to the pool.',
    );
  }
  if (manyOpen) {
    advice.push(
      `It keeps many connections open at once: share and reuse one client instead of one per request or per thread, cap the pool size per destination, multiplex over HTTP/2 where the server supports it, and close idle connections before the load balancer's ${facts.idleTimeoutMinutes}-minute idle timeout (or send TCP keepalives) so abandoned flows do not hold ports.`,
    );
  }
  if (!churn && !manyOpen) {
    advice.push(
      'Use connection pooling and HTTP keep-alive, and reuse clients across requests instead of creating one per call.',
    );
  }
  advice.push(
    'Retry failed calls with exponential back-off and jitter, never in a tight loop: retries during exhaustion take the ports that are left. If a destination is an Azure service, a private endpoint (Private Link) avoids SNAT entirely.',
  );
  return {
    kind: 'fix-culprit',
    title: `Fix connection handling in ${name}${destinations ? ` (top destinations: ${destinations})` : ''}`,
    detail: [...observed, ...advice].join(' '),
  };
}

/** `--resource-group RG --name CLUSTER`, or undefined if either fails its pattern (then no command is offered). */
function clusterArgs(facts: ClusterFacts): string | undefined {
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
    `Each node gets ${fmt(current)} SNAT ports now (${facts.allocatedOutboundPorts > 0 ? 'explicit allocation' : `Azure's default for a pool of ${facts.nodeCount} nodes`}); ${ips} outbound IP(s) × ${fmt(PORTS_PER_IP)} = ${fmt(ips * PORTS_PER_IP)} ports, enough for ${fmt(budget.maxNodesAtAllocation)} nodes at that allocation.`,
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
      `${fmt(doubled)} ports per node (twice today's, a multiple of ${PORT_STEP}) fits the ${facts.nodeCount} nodes plus ${surge} for upgrade surge with the current IP(s); the cluster can then grow to ${fmt(Math.floor((PORTS_PER_IP * ips) / doubled))} nodes (check the autoscaler's maxCount) before it needs more IPs.`,
    );
  } else if (doubled > current && ipsForDoubled <= MAX_MANAGED_OUTBOUND_IPS) {
    commands.push(
      `az aks update ${args} --load-balancer-managed-outbound-ip-count ${ipsForDoubled} --load-balancer-outbound-ports ${doubled}`,
    );
    notes.push(
      `Doubling to ${fmt(doubled)} ports per node for ${planned} nodes (${facts.nodeCount} plus ${surge} for upgrade surge) needs ${ipsForDoubled} outbound IPs (more IPs alone do not add ports to a node, so the command sets both). If the cluster uses your own public IPs or prefixes, add them with --load-balancer-outbound-ips or --load-balancer-outbound-ip-prefixes instead.`,
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
      `A NAT gateway gives ${fmt(NAT_GATEWAY_PORTS_PER_IP)} SNAT ports per public IP (up to ${MAX_NAT_GATEWAY_IPS} IPs) and hands them to any node on demand, instead of a fixed slice per node. ` +
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

function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
