// Step 3: join what the node saw (network namespaces, sandboxes, sockets, trace) with the Kubernetes pod list.
import type {
  CandidatePod,
  ClusterRef,
  NodeCapture,
  NodeInfo,
  PodInfo,
  SocketAggregate,
  TraceAggregate,
} from '../../model.ts';
import { defineStep } from '../step.ts';

export interface MapInput {
  cluster: ClusterRef;
  node: NodeInfo;
  capture?: NodeCapture;
}

export interface Mapped {
  pods: CandidatePod[];
  /** Pods that have finished (Succeeded, Failed): they hold no sockets and are not examined. */
  finished: string[];
  /**
   * The node's own sockets and trace outside any pod (kubelet, containerd, host daemons): host-namespace rows no
   * hostNetwork pod's process owns. Absent without a capture.
   */
  host?: { sockets: SocketAggregate[]; trace: TraceAggregate[] };
  /** Sockets and trace in namespaces no pod on the node accounts for (terminated pods, host processes). */
  unattributed: { netns: number; sockets: number; connects: number }[];
}

export const mapPods = defineStep<MapInput, Mapped>('mapPods', async (input, ports) => {
  const pods = await ports.kubernetes(input.cluster).listPodsOnNode(input.node.name);
  return joinPods(pods, input.capture);
});

const FINISHED = new Set(['Succeeded', 'Failed']);

/**
 * Ties each pod to what the node saw. A namespace, a sandbox and a socket belong to one pod at most: a sandbox is
 * matched by uid first, and by name only when no pod has its uid (a StatefulSet's replacement pod has its
 * predecessor's name, never its uid), so no socket is ever counted for two pods.
 */
export function joinPods(pods: PodInfo[], capture?: NodeCapture): Mapped {
  const sandboxes = capture?.sandboxes ?? [];
  const hostNetns = capture?.hostNetns;
  const uids = new Set(pods.map((p) => p.uid));
  const sandboxByUid = new Map(sandboxes.map((s) => [s.uid, s]));
  const sandboxByName = new Map(sandboxes.filter((s) => !uids.has(s.uid)).map((s) => [`${s.namespace}/${s.name}`, s]));
  const claimed = new Set<number>();
  const hostUids = new Set(pods.filter((p) => p.hostNetwork).map((p) => p.uid));
  const running = pods.filter((p) => !FINISHED.has(p.phase ?? 'Running'));

  const candidates = running.map((pod): CandidatePod => {
    let sandbox = sandboxByUid.get(pod.uid) ?? sandboxByName.get(`${pod.namespace}/${pod.name}`);
    if (!pod.hostNetwork && sandbox?.netns !== undefined && claimed.has(sandbox.netns)) sandbox = undefined;
    const netns = pod.hostNetwork ? hostNetns : sandbox?.netns;
    if (netns !== undefined && !pod.hostNetwork) claimed.add(netns);
    const mine = (x: { netns: number; podUid?: string }) =>
      pod.hostNetwork ? x.netns === hostNetns && x.podUid === pod.uid : netns !== undefined && x.netns === netns;
    // A trace without the NETNS column (tcptracer -N, or no -v) is joined by the pod's own source address.
    const mineByIp = (t: TraceAggregate) => !pod.hostNetwork && t.netns === 0 && t.saddr === pod.ip;
    return {
      ...pod,
      netns,
      sandboxId: sandbox?.id,
      // The probe snapshots the namespace of every sandbox it lists (and the host's): those pods need no exec.
      snapshotCovered:
        capture?.socketsComplete === true && netns !== undefined && (pod.hostNetwork || sandbox !== undefined),
      sockets: (capture?.sockets ?? []).filter(mine),
      trace: (capture?.trace ?? []).filter((t) => mine(t) || mineByIp(t)),
      ...(capture?.inbound ? { inbound: capture.inbound.filter(mine) } : {}),
    };
  });

  // Host-namespace rows that no hostNetwork pod's process owns are the node's own.
  const hostOwn = (x: SocketAggregate | TraceAggregate) =>
    x.netns === hostNetns && (x.podUid === undefined || !hostUids.has(x.podUid));
  const host = capture ? { sockets: capture.sockets.filter(hostOwn), trace: capture.trace.filter(hostOwn) } : undefined;

  const unattributed = new Map<number, { netns: number; sockets: number; connects: number }>();
  const tally = (netns: number) => {
    const entry = unattributed.get(netns) ?? { netns, sockets: 0, connects: 0 };
    unattributed.set(netns, entry);
    return entry;
  };
  for (const s of capture?.sockets ?? []) {
    if (s.netns === hostNetns ? s.podUid === undefined : !claimed.has(s.netns)) tally(s.netns).sockets += s.count;
  }
  const podIps = new Set(running.filter((p) => !p.hostNetwork).map((p) => p.ip));
  for (const t of capture?.trace ?? []) {
    if (t.type !== 'connect' || (t.netns === 0 && podIps.has(t.saddr))) continue;
    if (t.netns === hostNetns ? t.podUid === undefined : !claimed.has(t.netns)) tally(t.netns).connects += t.count;
  }
  return {
    pods: candidates,
    finished: pods.filter((p) => FINISHED.has(p.phase ?? 'Running')).map((p) => `${p.namespace}/${p.name}`),
    ...(host && (host.sockets.length > 0 || host.trace.length > 0) ? { host } : {}),
    unattributed: [...unattributed.values()].sort((a, b) => a.netns - b.netns),
  };
}
