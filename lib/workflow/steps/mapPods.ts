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
  /** Sockets and trace in namespaces no pod on the node accounts for (terminated pods, host processes). */
  unattributed: { netns: number; sockets: number; connects: number }[];
}

export const mapPods = defineStep<MapInput, Mapped>('mapPods', async (input, ports) => {
  const pods = await ports.kubernetes(input.cluster).listPodsOnNode(input.node.name);
  return joinPods(pods, input.capture);
});

export function joinPods(pods: PodInfo[], capture?: NodeCapture): Mapped {
  const sandboxByUid = new Map((capture?.sandboxes ?? []).map((s) => [s.uid, s]));
  const sandboxByName = new Map((capture?.sandboxes ?? []).map((s) => [`${s.namespace}/${s.name}`, s]));
  const hostNetns = capture?.hostNetns;
  const claimed = new Set<number>();

  const candidates = pods.map((pod): CandidatePod => {
    const sandbox = sandboxByUid.get(pod.uid) ?? sandboxByName.get(`${pod.namespace}/${pod.name}`);
    const netns = pod.hostNetwork ? hostNetns : sandbox?.netns;
    const mine = (x: SocketAggregate | TraceAggregate) =>
      pod.hostNetwork ? x.netns === hostNetns && x.podUid === pod.uid : netns !== undefined && x.netns === netns;
    // A trace without the NETNS column (tcptracer -N, or no -v) is joined by the pod's own source address.
    const mineByIp = (t: TraceAggregate) => !pod.hostNetwork && t.netns === 0 && t.saddr === pod.ip;
    if (netns !== undefined && !pod.hostNetwork) claimed.add(netns);
    return {
      ...pod,
      netns,
      sandboxId: sandbox?.id,
      // The probe snapshots the namespace of every sandbox it lists (and the host's): those pods need no exec.
      snapshotCovered:
        capture?.socketsComplete === true && netns !== undefined && (pod.hostNetwork || sandbox !== undefined),
      sockets: (capture?.sockets ?? []).filter(mine),
      trace: (capture?.trace ?? []).filter((t) => mine(t) || mineByIp(t)),
    };
  });

  const unattributed = new Map<number, { netns: number; sockets: number; connects: number }>();
  const tally = (netns: number) => {
    const entry = unattributed.get(netns) ?? { netns, sockets: 0, connects: 0 };
    unattributed.set(netns, entry);
    return entry;
  };
  for (const s of capture?.sockets ?? []) {
    if (s.netns === hostNetns ? s.podUid === undefined : !claimed.has(s.netns)) tally(s.netns).sockets += s.count;
  }
  const podIps = new Set(pods.filter((p) => !p.hostNetwork).map((p) => p.ip));
  for (const t of capture?.trace ?? []) {
    if (t.type !== 'connect' || (t.netns === 0 && podIps.has(t.saddr))) continue;
    if (t.netns === hostNetns ? t.podUid === undefined : !claimed.has(t.netns)) tally(t.netns).connects += t.count;
  }
  return { pods: candidates, unattributed: [...unattributed.values()].sort((a, b) => a.netns - b.netns) };
}
