// Which pods, and which workloads, spend the node's SNAT ports, most first. The runbook's last step counts
// ESTABLISHED connections to public IPs; that misses churn (a pod opening and closing connections holds ports after
// each close) and failures, so the ranking comes from the SNAT model (snatModel.ts): what each pod adds to the
// destinations nearest the node's allocation.
import type { Culprit, DestinationPressure, PodConnections, Workload, WorkloadCulprit } from '../model.ts';
import { addDemand, addToDestination, comparePressure, type Holder, NO_DEMAND, snatModel } from './snatModel.ts';

export const DEFAULT_TOP_DESTINATIONS = 5;

/** The row that stands for the node's own network namespace (its processes, and hostNetwork pods read by exec). */
export const HOST_NETWORK = 'host network';

export interface Ranking {
  culprits: Culprit[];
  workloads: WorkloadCulprit[];
  /** Every SNAT'd destination on the node with the ports the model gives it, most first (both families). */
  destinations: DestinationPressure[];
}

/**
 * Ranks everyone holding sockets to SNAT'd destinations by pressure (then ports, then name), numbering from 1.
 * `host` is the node's own sockets outside any pod, when the probe saw them. A table read by exec into a hostNetwork
 * pod is the node's whole table: it is counted once, as the host network, with those pods listed, never once per pod.
 */
export function rankCulprits(
  pods: PodConnections[],
  options: {
    captureSeconds: number;
    host?: PodConnections;
    nodeName?: string;
    topDestinations?: number;
    /** Seconds a closed flow keeps its port (holdAfterCloseSeconds of the outbound type); the load balancer's by default. */
    holdSeconds?: number;
  },
): Ranking {
  const top = options.topDestinations ?? DEFAULT_TOP_DESTINATIONS;
  const seconds = options.captureSeconds;
  const rows = oneRowPerSocket(pods, options.host, options.nodeName);
  const model = snatModel(
    rows.map((r) => ({ id: r.id, flows: r.pod.flows }) satisfies Holder),
    seconds,
    options.holdSeconds,
  );

  const entries = rows
    .map(({ id, pod, workload, hostNetworkPods }) => {
      const h = model.holders.get(id);
      const culprit: Omit<Culprit, 'rank'> = {
        namespace: pod.namespace,
        pod: pod.pod,
        hostNetwork: pod.hostNetwork,
        workload,
        publicEstablished: pod.publicEstablished,
        publicConnects: pod.publicConnects,
        connectsPerSecond: seconds > 0 ? round1(pod.publicConnects / seconds) : 0,
        timeWait: pod.timeWait,
        source: pod.source,
        ports: h?.ports ?? NO_DEMAND,
        pressure: h?.pressure ?? 0,
        topDestinations: (h?.destinations ?? []).slice(0, top),
        ...(h && h.share > 0 ? { shareOfUsedPorts: round2(h.share) } : {}),
        ...(hostNetworkPods.length > 0 ? { hostNetworkPods } : {}),
      };
      return { culprit, share: h?.share ?? 0, destinations: h?.destinations ?? [] };
    })
    .filter((e) => e.culprit.ports.total > 0)
    .sort((a, b) => compareCulprits(a.culprit, b.culprit));

  return {
    culprits: entries.map((e, i) => ({ rank: i + 1, ...e.culprit })),
    workloads: rankWorkloads(entries, seconds, top),
    destinations: model.destinations,
  };
}

/** More pressure first; then more ports; then `namespace/pod` ascending, so equal rows always come out in one order. */
export function compareCulprits(
  a: Pick<Culprit, 'pressure' | 'ports' | 'namespace' | 'pod'>,
  b: Pick<Culprit, 'pressure' | 'ports' | 'namespace' | 'pod'>,
): number {
  return (
    b.pressure - a.pressure ||
    b.ports.total - a.ports.total ||
    compareText(`${a.namespace}/${a.pod}`, `${b.namespace}/${b.pod}`)
  );
}

interface Row {
  id: string;
  pod: PodConnections;
  workload: Workload;
  hostNetworkPods: string[];
}

/**
 * Every socket once. Tables read by exec into hostNetwork pods are all the node's table: one of them (the largest, as
 * they were read at slightly different moments) stands for the host network, and the hostNetwork pods are listed on
 * it. When there is such a table, the node's own row from the probe and the hostNetwork pods' own rows are in it too.
 */
function oneRowPerSocket(pods: PodConnections[], host: PodConnections | undefined, nodeName = 'node'): Row[] {
  const hostTables = pods.filter((p) => p.hostTable);
  const hostWorkload: Workload = { kind: 'Node', name: nodeName };
  const rows: Row[] = [];
  if (hostTables.length > 0) {
    const largest = hostTables.reduce((a, b) => (socketCount(b) > socketCount(a) ? b : a));
    const listed = pods.filter((p) => p.hostNetwork).map((p) => `${p.namespace}/${p.pod}`);
    rows.push({
      id: HOST_NETWORK,
      pod: { ...largest, namespace: '', pod: HOST_NETWORK, hostNetwork: true },
      workload: hostWorkload,
      hostNetworkPods: listed.sort(),
    });
    for (const p of pods) if (!p.hostNetwork) rows.push(podRow(p));
    return rows;
  }
  if (host)
    rows.push({ id: HOST_NETWORK, pod: { ...host, pod: HOST_NETWORK }, workload: hostWorkload, hostNetworkPods: [] });
  for (const p of pods) rows.push(podRow(p));
  return rows;
}

function podRow(p: PodConnections): Row {
  return {
    id: `pod ${p.namespace}/${p.pod}`,
    pod: p,
    workload: p.workload ?? { kind: 'Pod', name: p.pod },
    hostNetworkPods: [],
  };
}

function socketCount(p: PodConnections): number {
  return p.flows.reduce((sum, f) => sum + f.open + f.timeWait, 0) + p.privateEstablished + p.privateTimeWait;
}

/** The culprits grouped by controller: a Deployment's replicas are one thing to fix, so they are ranked together. */
function rankWorkloads(
  entries: { culprit: Omit<Culprit, 'rank'>; share: number; destinations: DestinationPressure[] }[],
  seconds: number,
  top: number,
): WorkloadCulprit[] {
  type Group = Omit<WorkloadCulprit, 'rank' | 'topDestinations'> & {
    share: number;
    destinations: Map<string, DestinationPressure>;
  };
  const groups = new Map<string, Group>();
  for (const { culprit: c, share, destinations } of entries) {
    const key = `${c.namespace}/${c.workload.kind}/${c.workload.name}`;
    const group: Group = groups.get(key) ?? {
      namespace: c.namespace,
      kind: c.workload.kind,
      name: c.workload.name,
      pods: [],
      publicEstablished: 0,
      publicConnects: 0,
      connectsPerSecond: 0,
      timeWait: 0,
      ports: NO_DEMAND,
      pressure: 0,
      share: 0,
      destinations: new Map(),
    };
    group.pods.push(c.pod);
    group.publicEstablished += c.publicEstablished;
    group.publicConnects += c.publicConnects;
    group.timeWait += c.timeWait;
    group.ports = addDemand(group.ports, c.ports);
    group.pressure += c.pressure;
    group.share += share;
    for (const d of destinations) addToDestination(group.destinations, d);
    groups.set(key, group);
  }
  return [...groups.values()]
    .map(({ share, destinations, ...g }) => ({
      ...g,
      pressure: round1(g.pressure),
      connectsPerSecond: seconds > 0 ? round1(g.publicConnects / seconds) : 0,
      topDestinations: [...destinations.values()].sort(comparePressure).slice(0, top),
      ...(share > 0 ? { shareOfUsedPorts: round2(Math.min(1, share)) } : {}),
    }))
    .sort((a, b) => b.pressure - a.pressure || b.ports.total - a.ports.total || compareText(a.name, b.name))
    .map((g, i) => ({ rank: i + 1, ...g }));
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
