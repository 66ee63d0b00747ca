// The outside world as the workflow sees it. Activities reach Azure, Kubernetes and the node only through these
// interfaces; the composition root (`lib/composition.ts`) decides what stands behind them: the sandbox's
// scenario, or the real SDK adapters.
import type {
  BackendSnat,
  ClusterFacts,
  ClusterRef,
  Evidence,
  NatGatewaySnat,
  NodeCapture,
  NodeInfo,
  PodInfo,
} from './model.ts';

export interface ClusterApi {
  /** The ManagedCluster's facts from ARM. */
  getCluster(ref: ClusterRef): Promise<ClusterFacts>;
}

export interface MetricsApi {
  /** Used/allocated SNAT ports and failed connections per backend IP, for each load balancer. */
  backendSnat(loadBalancerIds: string[], window: { minutes: number }): Promise<BackendSnat[]>;
  /**
   * Failed SNAT connections, connections and dropped packets of each NAT gateway (one row per gateway Azure Monitor
   * has data for): the gateway's own metrics, which have no per-node dimension.
   */
  natGatewaySnat(natGatewayIds: string[], window: { minutes: number }): Promise<NatGatewaySnat[]>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface KubernetesApi {
  listNodes(): Promise<NodeInfo[]>;
  /** Pods scheduled on the node (`spec.nodeName`), hostNetwork pods included. */
  listPodsOnNode(nodeName: string): Promise<PodInfo[]>;
  /** Runs argv (never a shell string) in a container of a pod. */
  exec(pod: { namespace: string; name: string; container?: string }, argv: string[]): Promise<ExecResult>;
}

export interface NodeProbe {
  /** One probe run on the node: bounded capture, netns/sandbox inventory and socket snapshot. */
  capture(cluster: ClusterFacts, node: NodeInfo, options: { seconds: number }): Promise<NodeCapture>;
}

/** Slack messages of an investigation: one per key, posted once and updated after (a retry never posts twice). */
export interface SlackApi {
  post(
    channel: string,
    message: { text: string; blocks: unknown[] },
    key: { instanceId: string; kind: 'report' | 'progress' },
    thread?: string,
  ): Promise<{ ts: string; channel: string }>;
}

/** Where each investigation's full evidence is kept for post-mortems: one JSON blob per investigation. */
export interface EvidenceStore {
  /** Writes the investigation's evidence; saving it again (a retried activity) replaces the same blob. */
  save(instanceId: string, evidence: Evidence): Promise<{ url: string }>;
  /** The evidence of the latest investigation with this instance id (ids are per node), if any was saved. */
  load(instanceId: string): Promise<Evidence | undefined>;
}

export interface Ports {
  clusters: ClusterApi;
  metrics: MetricsApi;
  kubernetes(cluster: ClusterRef): KubernetesApi;
  probe: NodeProbe;
  /** Absent where no Slack bot is configured: investigations then report only through their status. */
  slack?: SlackApi;
  /** Absent where no evidence store is configured: the evidence then lives only in the Durable history. */
  evidence?: EvidenceStore;
}
