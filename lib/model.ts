// The investigation's data, as it crosses the Durable boundary (plain JSON: no classes, no Dates, no Maps).

export interface ClusterRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export type OutboundType =
  | 'loadBalancer'
  | 'managedNATGateway'
  | 'userAssignedNATGateway'
  | 'userDefinedRouting'
  | 'none';

/** What ARM says about the cluster (ManagedCluster resource). */
export interface ClusterFacts {
  ref: ClusterRef;
  location: string;
  nodeResourceGroup: string;
  outboundType: OutboundType;
  /** `loadBalancerProfile.managedOutboundIPs.count` plus user IPs: the frontend IPs SNAT can use. */
  outboundIpCount: number;
  /** `loadBalancerProfile.allocatedOutboundPorts`; 0 means Azure's default allocation by backend pool size. */
  allocatedOutboundPorts: number;
  idleTimeoutMinutes: number;
  /** Resource ids of the load balancers whose SNAT metrics describe the nodes. */
  loadBalancerIds: string[];
  disableRunCommand: boolean;
  /** Entra ID (AAD) managed cluster: runCommand needs a clusterToken. */
  aadManaged: boolean;
  /** Pod, service and VNet address ranges: traffic to them is not SNAT'd. */
  clusterCidrs: string[];
  nodeCount: number;
}

/** Load balancer SNAT metrics for one backend (node) IP over the query window. */
export interface BackendSnat {
  loadBalancerId: string;
  backendIp: string;
  usedPorts: number;
  allocatedPorts: number;
  failedConnections: number;
  successfulConnections: number;
}

export type NodeOs = 'linux' | 'windows';

export interface NodeInfo {
  name: string;
  ip: string;
  os: NodeOs;
  /** `spec.providerID`: `azure:///subscriptions/…/virtualMachineScaleSets/<vmss>/virtualMachines/<n>`. */
  providerId?: string;
}

export interface ContainerInfo {
  name: string;
  image: string;
}

/** A pod as the Kubernetes API lists it. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  hostNetwork: boolean;
  os: NodeOs;
  containers: ContainerInfo[];
}

export type TcpState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING'
  | 'NEW_SYN_RECV';

export type TraceEventType = 'connect' | 'accept' | 'close' | 'unknown';

/** tcptracer events aggregated on the node: one row per type × saddr × daddr:dport × netns. */
export interface TraceAggregate {
  type: TraceEventType;
  saddr: string;
  daddr: string;
  dport: number;
  netns: number;
  count: number;
  /** For events in the host namespace: the pod uid owning the process (from its cgroup), when it is a pod. */
  podUid?: string;
  /** A few of the PIDs (host PID namespace) and thread names seen, as samples. */
  pids: number[];
  comms: string[];
}

/** A network namespace on the node (`lsns -t net`). */
export interface NetnsEntry {
  inode: number;
  /** Lowest PID in the namespace. */
  pid: number;
  nprocs: number;
  command: string;
  /** nsfs mount point, e.g. `/run/netns/cni-…`. */
  path?: string;
}

/** A pod sandbox as the container runtime knows it (`crictl pods` + `inspectp`). */
export interface SandboxEntry {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  /** Network namespace inode; absent for hostNetwork sandboxes. */
  netns?: number;
  hostNetwork: boolean;
  ip?: string;
}

/** Sockets of one network namespace, aggregated by state and remote endpoint. */
export interface SocketAggregate {
  netns: number;
  /** For sockets in the host namespace: the pod uid owning the process (from its cgroup), when it is a pod. */
  podUid?: string;
  state: TcpState;
  remoteIp: string;
  remotePort: number;
  count: number;
}

export interface Unavailable {
  what: string;
  reason: string;
}

/** What the node probe reports from one run on the node. */
export interface NodeCapture {
  node: string;
  seconds: number;
  hostNetns: number;
  trace: TraceAggregate[];
  namespaces: NetnsEntry[];
  sandboxes: SandboxEntry[];
  sockets: SocketAggregate[];
  unavailable: Unavailable[];
  /** Input lines the probe or its parser could not read, counted rather than fatal. */
  skippedLines: number;
  /** The socket snapshot arrived whole; when it was cut off, pods are examined by exec instead. */
  socketsComplete: boolean;
}

export type ConnectionSource = 'node-snapshot' | 'exec-proc-net-tcp' | 'exec-netstat' | 'none';

/** A pod to examine, joined from the Kubernetes list and the node's capture. */
export interface CandidatePod extends PodInfo {
  netns?: number;
  sandboxId?: string;
  /** The node snapshot covered this pod's sockets, so no exec into the pod is needed. */
  snapshotCovered: boolean;
  /** The node snapshot's sockets for this pod, when the probe saw its namespace. */
  sockets: SocketAggregate[];
  /** The trace's events from this pod. */
  trace: TraceAggregate[];
}

export interface DestinationCount {
  ip: string;
  port: number;
  connections: number;
}

/** One pod's connections, as the podConnections step counted them. */
export interface PodConnections {
  namespace: string;
  pod: string;
  hostNetwork: boolean;
  source: ConnectionSource;
  /** Established connections to SNAT'd (public) destinations. */
  publicEstablished: number;
  /** Established connections to cluster or private destinations (not SNAT'd). */
  privateEstablished: number;
  timeWait: number;
  synSent: number;
  /** Connects to public destinations seen by the trace during the capture. */
  publicConnects: number;
  destinations: DestinationCount[];
  note?: string;
}

export type StepName = 'locateNode' | 'captureNode' | 'mapPods' | 'podConnections' | 'rankAndReport';
/** Every activity: the five steps, telling Slack, and storing the evidence. */
export type ActivityName = StepName | 'notifySlack' | 'storeEvidence';
export type StepStatus = 'succeeded' | 'failed' | 'skipped';

export interface StepOutcome {
  name: StepName;
  status: StepStatus;
  detail?: string;
}

export interface Culprit {
  rank: number;
  namespace: string;
  pod: string;
  hostNetwork: boolean;
  publicEstablished: number;
  publicConnects: number;
  connectsPerSecond: number;
  timeWait: number;
  source: ConnectionSource;
  topDestinations: DestinationCount[];
  /** Share of the node's used SNAT ports this pod accounts for, 0..1, when the metric is known. */
  shareOfUsedPorts?: number;
}

export interface SnatBudget {
  usedPorts: number;
  allocatedPorts: number;
  failedConnections: number;
  /** Ports per node if the allocation is Azure's default for this pool size. */
  defaultAllocation: number;
  outboundIpCount: number;
  /** 64,000 × IPs ÷ ports per node. */
  maxNodesAtAllocation: number;
  byDestination: { ip: string; port: number; connections: number; share: number }[];
}

export interface Recommendation {
  kind: 'fix-culprit' | 'capacity' | 'nat-gateway' | 'investigate-further';
  title: string;
  detail: string;
  commands?: string[];
}

export interface InvestigationRequest {
  cluster: ClusterRef;
  /** Node name or IP; the most exhausted node when absent. */
  node?: string;
  captureSeconds: number;
  requestedBy: { kind: 'cli' | 'slack' | 'alert' | 'watch' | 'http'; who?: string; where?: string };
}

export interface Report {
  instanceId: string;
  cluster: ClusterRef;
  node?: NodeInfo;
  startedAt: string;
  finishedAt: string;
  requestedBy: InvestigationRequest['requestedBy'];
  budget?: SnatBudget;
  culprits: Culprit[];
  steps: StepOutcome[];
  recommendations: Recommendation[];
  /** How many pods were examined and with which source. */
  podsExamined: number;
  unavailable: Unavailable[];
  /** Where the investigation's full evidence was stored, when an evidence store is configured and the save worked. */
  evidence?: { url: string };
}

/**
 * Everything an investigation gathered, kept for a post-mortem (one blob per investigation): the report with its
 * ranking, the node's SNAT metrics as located, the node probe's capture, and each pod's connection table.
 */
export interface Evidence {
  instanceId: string;
  savedAt: string;
  request: InvestigationRequest;
  report: Report;
  /** The metrics snapshot: the cluster's facts, this node's SNAT metrics and every node's standing. */
  located?: {
    facts: ClusterFacts;
    backend?: BackendSnat;
    nodes: { name: string; ip: string; usedPorts?: number; allocatedPorts?: number; failedConnections?: number }[];
  };
  /** The node probe's report (already aggregated on the node). */
  capture?: NodeCapture;
  /** Each examined pod's connections, as podConnections counted them. */
  pods: PodConnections[];
}
