// Evidence a person captured by hand (the runbook's outputs) → per-pod connection counts, the same shape the
// investigation produces. Connections reach pods three ways:
//   trace rows by network namespace: netns → sandbox (crictl, or the containerd shim above a namespace's PID in
//   pstree, with lsns naming that PID) → pod;
//   trace rows by source address: saddr → the pod whose sandbox has that IP (crictl inspectp);
//   a socket table captured inside a pod (`netstat`, `ss`, `/proc/net/tcp`), given per pod.
import type {
  ConnectionSource,
  NetnsEntry,
  PodConnections,
  SandboxEntry,
  SocketAggregate,
  TraceAggregate,
  TraceSourceTotal,
} from '../model.ts';
import { snatClassifier } from './snatDestination.ts';
import { summarizeConnections } from './summarizeConnections.ts';

export interface PodSockets {
  /** `namespace/name`, or a bare name when the user gave no namespace. */
  pod: string;
  source: ConnectionSource;
  sockets: SocketAggregate[];
}

export interface ShimOfNetns {
  sandboxId: string;
  /** Descendant PIDs of the shim: the namespace whose lsns PID is among them belongs to the sandbox. */
  pids: number[];
}

export interface EvidenceInput {
  trace?: TraceAggregate[];
  namespaces?: NetnsEntry[];
  sandboxes?: SandboxEntry[];
  shims?: ShimOfNetns[];
  podSockets?: PodSockets[];
  clusterCidrs?: string[];
  /**
   * Exact event totals per source (the node probe's `trace-sources`): a source they cover is counted from them, not
   * from its rows, which the probe may have cut to the busiest destinations.
   */
  sourceTotals?: TraceSourceTotal[];
}

export interface AttributedSource {
  saddr: string;
  netns?: number;
  connects: number;
  accepts: number;
  closes: number;
  /** Connects that failed (bpftrace sees them; BCC tcptracer does not), when there were any. */
  failed?: number;
  /** `namespace/name` when the source could be tied to a pod. */
  pod?: string;
  /** The pod sandbox id, when only the containerd shim (pstree) tied the namespace to one. */
  sandboxId?: string;
}

export interface Attribution {
  bySource: AttributedSource[];
  pods: PodConnections[];
  /** Trace sources no evidence tied to a pod: terminated pods, host processes, or missing crictl/lsns output. */
  unattributed: number;
}

export function attributeEvidence(input: EvidenceInput): Attribution {
  const isSnat = snatClassifier(input.clusterCidrs ?? []);
  const netnsOfShim = shimNamespaces(input.shims ?? [], input.namespaces ?? []);
  const sandboxes = withShimNamespaces(input.sandboxes ?? [], netnsOfShim);
  const sandboxOfNetns = new Map([...netnsOfShim].map(([id, netns]) => [netns, id]));
  const podOfNetns = new Map<number, string>();
  const podOfIp = new Map<string, string>();
  for (const s of sandboxes) {
    const key = `${s.namespace}/${s.name}`;
    if (s.netns !== undefined && !s.hostNetwork) podOfNetns.set(s.netns, key);
    if (s.ip && !s.hostNetwork) podOfIp.set(s.ip, key);
  }
  const podOf = (t: { netns: number; saddr: string }) =>
    (t.netns > 0 ? podOfNetns.get(t.netns) : undefined) ?? podOfIp.get(t.saddr);

  const sources = new Map<string, AttributedSource>();
  const sourceOf = (t: { netns: number; saddr: string }, pod: string | undefined): AttributedSource => {
    const key = `${t.saddr} ${t.netns}`;
    let source = sources.get(key);
    if (!source) {
      source = {
        saddr: t.saddr,
        ...(t.netns > 0 ? { netns: t.netns } : {}),
        connects: 0,
        accepts: 0,
        closes: 0,
        ...(pod ? { pod } : {}),
        ...(!pod && sandboxOfNetns.has(t.netns) ? { sandboxId: sandboxOfNetns.get(t.netns) } : {}),
      };
      sources.set(key, source);
    }
    return source;
  };
  const tally = (source: AttributedSource, type: TraceAggregate['type'], count: number) => {
    if (type === 'connect') source.connects += count;
    else if (type === 'accept') source.accepts += count;
    else if (type === 'close') source.closes += count;
    else if (type === 'failed') source.failed = (source.failed ?? 0) + count;
  };
  const traceOfPod = new Map<string, TraceAggregate[]>();
  const totalled = new Set((input.sourceTotals ?? []).map((t) => `${t.saddr} ${t.netns}`));
  for (const t of input.trace ?? []) {
    const pod = podOf(t);
    const source = sourceOf(t, pod);
    if (!totalled.has(`${t.saddr} ${t.netns}`)) tally(source, t.type, t.count);
    if (pod) {
      const rows = traceOfPod.get(pod);
      if (rows) rows.push(t);
      else traceOfPod.set(pod, [t]);
    }
  }
  for (const total of input.sourceTotals ?? []) tally(sourceOf(total, podOf(total)), total.type, total.count);

  const pods = new Map<string, PodConnections>();
  const hostNetwork = new Set(sandboxes.filter((s) => s.hostNetwork).map((s) => `${s.namespace}/${s.name}`));
  const add = (pod: string, source: ConnectionSource, sockets: SocketAggregate[]) => {
    const [namespace, name] = pod.includes('/') ? (pod.split('/', 2) as [string, string]) : ['', pod];
    const summary = summarizeConnections({ sockets, trace: traceOfPod.get(pod) ?? [], isSnat });
    pods.set(pod, {
      namespace,
      pod: name,
      hostNetwork: hostNetwork.has(pod),
      source,
      ...summary,
    });
  };
  for (const given of input.podSockets ?? []) add(given.pod, given.source, given.sockets);
  for (const pod of traceOfPod.keys()) if (!pods.has(pod)) add(pod, 'none', []);

  const bySource = [...sources.values()].sort(
    (a, b) =>
      b.connects - a.connects ||
      b.connects + b.accepts + b.closes - (a.connects + a.accepts + a.closes) ||
      (a.saddr < b.saddr ? -1 : a.saddr > b.saddr ? 1 : 0) ||
      (a.netns ?? 0) - (b.netns ?? 0),
  );
  return {
    bySource,
    pods: [...pods.values()],
    unattributed: bySource.filter((s) => s.pod === undefined).length,
  };
}

/** Sandbox id → netns inode, through the shim above the PID that lsns names for each namespace. */
function shimNamespaces(shims: ShimOfNetns[], namespaces: NetnsEntry[]): Map<string, number> {
  const netnsOfShim = new Map<string, number>();
  for (const shim of shims) {
    const namespace = namespaces.find((n) => shim.pids.includes(n.pid));
    if (namespace) netnsOfShim.set(shim.sandboxId, namespace.inode);
  }
  return netnsOfShim;
}

/** Sandboxes from crictl, with the netns the shims found for those crictl's inspect gave none. */
function withShimNamespaces(sandboxes: SandboxEntry[], netnsOfShim: Map<string, number>): SandboxEntry[] {
  if (netnsOfShim.size === 0) return sandboxes;
  return sandboxes.map((s) => {
    if (s.netns !== undefined || s.hostNetwork) return s;
    // A table's ids are cut to 13 characters: a prefix of 12 or more is the same sandbox.
    const found =
      s.id.length >= 12 ? [...netnsOfShim].find(([id]) => id.startsWith(s.id) || s.id.startsWith(id)) : undefined;
    return found ? { ...s, netns: found[1] } : s;
  });
}
