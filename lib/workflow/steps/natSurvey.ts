// Which node to investigate on a NAT gateway cluster, when none is named (issue 15). The gateway has no per-node
// metric: SNATConnectionCount's dimensions are Protocol and ConnectionState, TotalConnectionCount's Protocol,
// PacketDropCount has none (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
// microsoft-network-natgateways-metrics). And what it runs out of first is not a node's slice of ports
// but connections to one destination endpoint: "up to 50,000 concurrent connections per public IP address to the same
// destination endpoint" (learn.microsoft.com/azure/nat-gateway/nat-gateway-resource), shared by every node behind it.
// So the nodes are surveyed: every running pod's kernel socket tables are read as podConnections reads them
// (`cat /proc/net/tcp …` in the pod, no probe, nothing privileged), the destination endpoint with the most connections
// (open, and TIME_WAIT: a closed connection's port stays held after FIN) across the cluster is the hot one, and the
// node holding the most of them is the one investigated. What the survey cannot see is said with it: hostNetwork pods
// and the node's own processes (their table is the node's, not a pod's), pods that could not be read, pods past the
// cap, and everything that opened and closed between two reads (it is a snapshot; the capture on the chosen node
// then traces connects for its seconds).
import type { ClusterRef, NatSurvey, NodeInfo, PodConnections, PodInfo } from '../../model.ts';
import type { Ports } from '../../ports.ts';
import { examinePods, inWindow } from './podConnections.ts';

/** Pods read at most, and at once; nodes whose pods are listed at once. */
export const SURVEY_MAX_PODS = 300;
/** Pods holding the hot endpoint the survey reports, most first, whichever node they run on. */
export const SURVEY_TOP_PODS = 10;
const SURVEY_CONCURRENCY = 10;

/**
 * Reads up to SURVEY_MAX_PODS running pods' tables, taken in turn from each node (so that every node is seen when the
 * cap cuts), and finds the hot destination endpoint and the nodes holding it.
 */
export async function surveyNatGateway(
  cluster: ClusterRef,
  nodes: NodeInfo[],
  privateRanges: string[],
  ports: Ports,
): Promise<NatSurvey> {
  const kubernetes = ports.kubernetes(cluster);
  const podsByNode = await inWindow(nodes, SURVEY_CONCURRENCY, (node) => kubernetes.listPodsOnNode(node.name));
  const readable = podsByNode.map((pods) => pods.filter(isReadable));
  const hostNetworkPods = podsByNode.flat().filter((p) => p.hostNetwork && isRunning(p)).length;
  const chosen: { node: string; pod: PodInfo }[] = [];
  for (let round = 0; chosen.length < SURVEY_MAX_PODS; round++) {
    const before = chosen.length;
    readable.forEach((pods, n) => {
      const pod = pods[round];
      if (pod && chosen.length < SURVEY_MAX_PODS) chosen.push({ node: nodes[n]?.name ?? '', pod });
    });
    if (chosen.length === before) break;
  }
  const outcomes = await examinePods(
    {
      cluster,
      pods: chosen.map(({ pod }) => ({ ...pod, snapshotCovered: false, sockets: [], trace: [] })),
      privateRanges,
      concurrency: SURVEY_CONCURRENCY,
    },
    ports,
  );

  // Connections per destination endpoint (TCP: the cap is per endpoint), per node.
  type Holder = { node: string; namespace: string; pod: string; connections: number };
  const perDestination = new Map<
    string,
    { ip: string; port: number; total: number; byNode: Map<string, number>; pods: Holder[] }
  >();
  const unreadSamples: string[] = [];
  let podsRead = 0;
  outcomes.forEach((outcome, i) => {
    const { node, pod } = chosen[i] as { node: string; pod: PodInfo };
    if (!outcome.ok) {
      if (unreadSamples.length < 3) unreadSamples.push(`${pod.namespace}/${pod.name}: ${outcome.message}`);
      return;
    }
    podsRead++;
    // A pod's flows are one per (destination, protocol): its count to an endpoint is the one flow's.
    for (const flow of (outcome.value as PodConnections).flows) {
      if (flow.protocol !== 'tcp') continue;
      const held = flow.open + flow.timeWait;
      if (held === 0) continue;
      const key = `${flow.ip}|${flow.port}`;
      let entry = perDestination.get(key);
      if (!entry) {
        entry = { ip: flow.ip, port: flow.port, total: 0, byNode: new Map(), pods: [] };
        perDestination.set(key, entry);
      }
      entry.total += held;
      entry.byNode.set(node, (entry.byNode.get(node) ?? 0) + held);
      entry.pods.push({ node, namespace: pod.namespace, pod: pod.name, connections: held });
    }
  });
  const hot = [...perDestination.values()].sort(
    (a, b) => b.total - a.total || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port),
  )[0];
  const podsRunning = readable.reduce((sum, pods) => sum + pods.length, 0);
  return {
    ...(hot ? { destination: { ip: hot.ip, port: hot.port, connections: hot.total } } : {}),
    nodes: hot
      ? [...hot.byNode]
          .map(([name, connections]) => ({ name, connections }))
          .sort((a, b) => b.connections - a.connections || a.name.localeCompare(b.name))
      : [],
    pods: hot
      ? hot.pods
          .sort(
            (a, b) =>
              b.connections - a.connections || a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod),
          )
          .slice(0, SURVEY_TOP_PODS)
      : [],
    nodesSurveyed: nodes.length,
    podsRead,
    podsUnread: chosen.length - podsRead,
    unreadSamples,
    podsLeft: podsRunning - chosen.length,
    hostNetworkPods,
  };
}

/** What the survey saw and could not see, for the report. */
export function describeSurvey(survey: NatSurvey): string {
  const endpoint = survey.destination && formatEndpoint(survey.destination);
  const seen = survey.destination
    ? `The node was chosen by a survey of ${survey.podsRead} pod(s) on ${survey.nodesSurveyed} node(s): ${endpoint} holds the most connections, ${survey.destination.connections} (open and TIME_WAIT) — ${survey.nodes.map((n) => `${n.name} ${n.connections}`).join(', ')}`
    : `A survey of ${survey.podsRead} pod(s) on ${survey.nodesSurveyed} node(s) found no connection to a public destination`;
  const unseen = [
    survey.podsUnread > 0 &&
      `${survey.podsUnread} pod(s) could not be read (${survey.unreadSamples.join('; ')}${survey.podsUnread > survey.unreadSamples.length ? '; …' : ''})`,
    survey.podsLeft > 0 && `${survey.podsLeft} pod(s) past the survey's ${SURVEY_MAX_PODS} were not read`,
    survey.hostNetworkPods > 0 &&
      `${survey.hostNetworkPods} hostNetwork pod(s) and the nodes' own processes were not read`,
    'connections that opened and closed between reads are not seen (a snapshot)',
  ].filter((s): s is string => typeof s === 'string');
  return `${seen}. Not seen: ${unseen.join('; ')}`;
}

function formatEndpoint({ ip, port }: { ip: string; port: number }): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function isRunning(pod: PodInfo): boolean {
  return pod.phase === undefined || pod.phase === 'Running';
}

function isReadable(pod: PodInfo): boolean {
  return isRunning(pod) && !pod.hostNetwork;
}
