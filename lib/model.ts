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
  /**
   * Resource ids of the NAT gateways the nodes leave through (outbound type managedNATGateway or
   * userAssignedNATGateway), found from documented fields (lib/adapters/azure/clusterFacts.ts, natGatewaysOf): the
   * node pools' subnets' `natGateway`, or the managed gateway's outbound public IPs' `natGateway`. Empty for the other
   * outbound types, and when none could be found (`notes` says why).
   */
  natGatewayIds: string[];
  disableRunCommand: boolean;
  /** Entra ID (AAD) managed cluster: runCommand needs a clusterToken. */
  aadManaged: boolean;
  /**
   * Address ranges the cluster reaches without SNAT: its pod and service ranges, the node subnet's VNet address
   * spaces and those of its peered VNets (read from ARM), and ranges the operator lists (on-premises, ExpressRoute).
   * Everything in them is left out of the SNAT model whatever the address looks like (a VNet may use public blocks).
   */
  privateRanges: PrivateRange[];
  nodeCount: number;
  /** What could not be read (a VNet the identity may not read, …), each saying what is missing and how to fix it. */
  notes?: string[];
}

/** Where a range that is not SNAT'd comes from: listed in the report, so a reader can tell why a destination is left out. */
export type PrivateRangeSource = 'pods' | 'services' | 'vnet' | 'peered-vnet' | 'setting' | 'flag';

export interface PrivateRange {
  cidr: string;
  source: PrivateRangeSource;
  /** The VNet's (or peered VNet's) name, when the range is one of its address spaces. */
  name?: string;
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

/**
 * A NAT gateway's own metrics over the query window (namespace Microsoft.Network/natGateways). They have no per-node
 * dimension: they describe every node of the gateway's subnets together.
 */
export interface NatGatewaySnat {
  natGatewayId: string;
  /** `SNATConnectionCount` with ConnectionState Failed, summed over the window: the exhaustion signal. */
  failedConnections: number;
  /** `TotalConnectionCount` ("active SNAT connections") at the window's busiest minute. */
  totalConnections: number;
  /** `PacketDropCount`, summed over the window. */
  droppedPackets: number;
}

export type NodeOs = 'linux' | 'windows';

export interface NodeInfo {
  name: string;
  ip: string;
  /** The node's IPv6 InternalIP on a dual-stack cluster: its own backend IP, with its own SNAT ports. */
  ipv6?: string;
  os: NodeOs;
  /** `spec.providerID`: `azure:///subscriptions/…/virtualMachineScaleSets/<vmss>/virtualMachines/<n>`. */
  providerId?: string;
}

export interface ContainerInfo {
  name: string;
  image: string;
}

/**
 * The controller a pod belongs to, as far as the pod itself tells (lib/analysis/workloadOf.ts): a ReplicaSet's pod
 * belongs to the Deployment named by the ReplicaSet's name less its `pod-template-hash`, a Job's to its CronJob when
 * the Job's name is the CronJob controller's `<cronjob>-<minutes>`. A pod without a controller is its own workload.
 */
export interface Workload {
  kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob' | 'Pod' | (string & {});
  name: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** A pod as the Kubernetes API lists it. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  hostNetwork: boolean;
  os: NodeOs;
  containers: ContainerInfo[];
  /** The pod's controller; absent when the lister did not say (the pod is then its own workload). */
  workload?: Workload;
  /** `status.phase`; absent means Running. Pending and finished pods hold no sockets and are not exec'd into. */
  phase?: PodPhase;
  /** `metadata.deletionTimestamp` is set: the pod is shutting down (its sockets still count while it does). */
  terminating?: boolean;
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

/** `failed`: a connect that never completed (SYN_SENT → CLOSE), from tracers that see state changes. */
export type TraceEventType = 'connect' | 'accept' | 'close' | 'failed' | 'unknown';

/** tcptracer events aggregated on the node: one row per type × saddr × daddr:dport × netns. */
export interface TraceAggregate {
  type: TraceEventType;
  saddr: string;
  /**
   * The peer; `*` on an inbound row (an accept, or a close of a connection to a port the namespace listens on): every
   * client together, `dport` then being the namespace's own listening port.
   */
  daddr: string;
  dport: number;
  netns: number;
  count: number;
  /** For events in the host namespace: the pod uid owning the process (from its cgroup), when it is a pod. */
  podUid?: string;
  /** A few of the PIDs (host PID namespace) and thread names seen, as samples (rows of one source may share them). */
  pids: readonly number[];
  comms: readonly string[];
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

export type Protocol = 'tcp' | 'udp';

/** Sockets of one network namespace, aggregated by state and remote endpoint. */
export interface SocketAggregate {
  netns: number;
  /** Absent means TCP. A UDP socket counts only when it is connected (it then names its remote endpoint). */
  protocol?: Protocol;
  /** For sockets in the host namespace: the pod uid owning the process (from its cgroup), when it is a pod. */
  podUid?: string;
  state: TcpState;
  remoteIp: string;
  remotePort: number;
  count: number;
}

/**
 * Accepted TCP connections of one network namespace to one of its listening ports: inbound traffic, which takes no
 * SNAT port, counted per port rather than per client.
 */
export interface InboundAggregate {
  netns: number;
  /** For the host namespace: the pod uid owning the listening process's socket, when it is a pod. */
  podUid?: string;
  port: number;
  count: number;
}

/** Exact event totals of one trace source (a namespace's address) and event type, whatever rows the probe kept. */
export interface TraceSourceTotal {
  netns: number;
  saddr: string;
  type: TraceEventType;
  count: number;
}

/** Exact socket totals of one namespace (and, in the host's, one pod) by protocol and state. */
export interface SocketTotal {
  netns: number;
  podUid?: string;
  protocol: Protocol;
  state: TcpState;
  count: number;
}

/**
 * Rows a section of the node's report left out to stay bounded: `dropped` rows holding `droppedCount` events or
 * sockets, which the exact totals still count.
 */
export interface ReportCut {
  section: string;
  kept: number;
  dropped: number;
  droppedCount: number;
}

export interface Unavailable {
  what: string;
  reason: string;
}

/** What the node probe reports from one run on the node. */
export interface NodeCapture {
  node: string;
  /** The capture's length, as asked for. */
  seconds: number;
  /**
   * How long the tracer really traced (0 when it never did: missing, refused or failed at start); connect rates are per
   * this. Absent from probes that did not report it, which traced `seconds` whenever they traced at all.
   */
  tracedSeconds?: number;
  hostNetns: number;
  trace: TraceAggregate[];
  namespaces: NetnsEntry[];
  sandboxes: SandboxEntry[];
  sockets: SocketAggregate[];
  /** Inbound connections (to a listening port), apart from `sockets`; absent from probes that did not report them. */
  inbound?: InboundAggregate[];
  /** Exact trace totals per source and type, and socket totals per namespace and state (absent from older probes). */
  traceSources?: TraceSourceTotal[];
  socketTotals?: SocketTotal[];
  /** The report's sections that left rows out to stay bounded (each also named in `unavailable`). */
  cuts?: ReportCut[];
  /** Probe pods an interrupted earlier run left on the cluster, deleted before this probe ran. */
  sweptProbePods?: string[];
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
  /** Connections accepted on its listening ports, from the node snapshot. */
  inbound?: InboundAggregate[];
}

/**
 * One pod's traffic to one SNAT'd destination, every kind of pressure on it (the SNAT model,
 * lib/analysis/snatModel.ts, turns these into ports). UDP flows are keyed by destination IP alone (port 0): the load
 * balancer gives UDP one port per destination IP.
 */
export interface FlowCount {
  ip: string;
  port: number;
  protocol: Protocol;
  /** Sockets that hold a flow now: ESTABLISHED, SYN_SENT and the closing states before TIME_WAIT (connected UDP). */
  open: number;
  /** Sockets in TIME_WAIT: flows this side closed in the last minute, whose SNAT port is still held. */
  timeWait: number;
  /** Connects traced during the capture. */
  connects: number;
  /** Connects traced as failed (SYN_SENT → CLOSE) during the capture. */
  failed: number;
}

/** One pod's connections, as the podConnections step counted them. */
export interface PodConnections {
  namespace: string;
  pod: string;
  hostNetwork: boolean;
  source: ConnectionSource;
  workload?: Workload;
  /** Established connections to SNAT'd (public) destinations. */
  publicEstablished: number;
  /** Established connections to cluster or private destinations (not SNAT'd). */
  privateEstablished: number;
  /** TIME_WAIT sockets to SNAT'd destinations (private ones never hold a SNAT port). */
  timeWait: number;
  /** TIME_WAIT sockets to private destinations: churn, but not SNAT's. */
  privateTimeWait: number;
  synSent: number;
  /** Connects to public destinations seen by the trace during the capture. */
  publicConnects: number;
  /** Connections accepted on its listening ports (inbound): no SNAT port, whatever the client's address. */
  inbound?: number;
  /** Every kind of pressure on each SNAT'd destination: open, TIME_WAIT, traced connects and failures. */
  flows: FlowCount[];
  /**
   * The table is the node's own network namespace, read by exec into a hostNetwork pod: it holds the node's and every
   * hostNetwork pod's sockets, so the ranking counts it once, as the host network, whichever pods it was read from.
   */
  hostTable?: boolean;
  note?: string;
  /** Its socket table looked cut short (the note says how): its counts may be low. */
  incomplete?: boolean;
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

/**
 * SNAT ports a pod, workload or destination needs at once, by cause (lib/analysis/snatModel.ts): `held` by flows open
 * now, `churn` by flows recently closed whose port the load balancer has not released yet (new connections per second
 * × the hold time, or the TIME_WAIT sockets seen), and `failed` connects that found no port during the capture.
 */
export interface PortDemand {
  held: number;
  churn: number;
  failed: number;
  /** held + churn + failed. */
  total: number;
}

export interface DestinationPressure {
  ip: string;
  port: number;
  protocol: Protocol;
  /** ESTABLISHED (and other open) connections to it now. */
  connections: number;
  timeWait: number;
  connectsPerSecond: number;
  ports: PortDemand;
}

export interface Culprit {
  rank: number;
  namespace: string;
  pod: string;
  hostNetwork: boolean;
  /** The controller to fix; the pod itself (kind `Pod`) when it has none. */
  workload: Workload;
  publicEstablished: number;
  publicConnects: number;
  connectsPerSecond: number;
  timeWait: number;
  source: ConnectionSource;
  /** SNAT ports it needs, by cause. */
  ports: PortDemand;
  /** Its pressure-weighted ports: what it adds to the destinations nearest the allocation (the ranking key). */
  pressure: number;
  topDestinations: DestinationPressure[];
  /** Its share of the node's SNAT pressure, 0..1 (sums to at most 1 over all culprits), when ports are in use. */
  shareOfUsedPorts?: number;
  /** The hostNetwork pods whose traffic this row stands for, when it is the node's own table (`pod` = "host network"). */
  hostNetworkPods?: string[];
}

/** Pods of one controller, ranked together: the workload is what gets fixed. */
export interface WorkloadCulprit {
  rank: number;
  namespace: string;
  kind: Workload['kind'];
  name: string;
  /** The workload's pods on the node that use SNAT'd destinations. */
  pods: string[];
  publicEstablished: number;
  publicConnects: number;
  connectsPerSecond: number;
  timeWait: number;
  ports: PortDemand;
  pressure: number;
  shareOfUsedPorts?: number;
  topDestinations: DestinationPressure[];
}

/** A destination's ports (the SNAT model's) and `share`: its ports ÷ what one destination may take (per budget). */
export interface DestinationShare {
  ip: string;
  port: number;
  protocol: Protocol;
  connections: number;
  ports: PortDemand;
  share: number;
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
  /**
   * The destinations the node's pods need most ports for, with each one's ports (the model's) and `share` = its ports
   * ÷ the allocated ports: a destination at 1 is exhausted, since flows to one destination cannot share a port.
   */
  byDestination: DestinationShare[];
}

/**
 * A NAT gateway cluster's budget (issue 15; lib/analysis/snatBudget.ts natGatewayBudget). There is no per-node
 * allocation: the gateway's ports (64,512 per public IP) are shared on demand by every node of its subnets, and what
 * runs out first is the connections to one destination endpoint, capped per public IP for the whole gateway.
 */
export interface NatBudget {
  /** The gateway's public IPs as the cluster's facts give them; 0 when AKS does not say (a user-assigned gateway). */
  publicIpCount: number;
  /** SNAT ports of the gateway: 64,512 × public IPs (at least 1 counted), shared by every node behind it. */
  ports: number;
  /** Connections allowed to one destination endpoint: 50,000 × public IPs (at least 1 counted). */
  perEndpointCap: number;
  /** The gateway's own metrics over the query window, summed over its gateways; absent when they were not read. */
  gateway?: { gateways: number; failedConnections: number; totalConnections: number; droppedPackets: number };
  /** This node's busiest destination endpoints, by the model's ports; `share` = its ports ÷ the per-endpoint cap. */
  byDestination: DestinationShare[];
  /** The survey's hot endpoint across the cluster (open and TIME_WAIT), when one ran: `share` of the same cap. */
  hotEndpoint?: { ip: string; port: number; connections: number; share: number };
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
  /** Ranges the asker adds to those the cluster's facts give (the CLI's `--private-range`, the app setting). */
  privateRanges?: PrivateRange[];
  requestedBy: { kind: 'cli' | 'slack' | 'alert' | 'watch' | 'http'; who?: string; where?: string };
}

export interface Report {
  instanceId: string;
  cluster: ClusterRef;
  node?: NodeInfo;
  startedAt: string;
  finishedAt: string;
  requestedBy: InvestigationRequest['requestedBy'];
  /** The node's IPv4 SNAT budget. */
  budget?: SnatBudget;
  /** The node's IPv6 SNAT budget: a separate pool of ports (its own backend IP), when the node has IPv6 traffic or metrics. */
  ipv6Budget?: SnatBudget;
  /** A NAT gateway cluster: its limits, the gateway's metrics, and this node's (and the cluster's) busiest endpoints. */
  natBudget?: NatBudget;
  /** A NAT gateway cluster with no node asked for: the survey that chose the node (its hot endpoint, who holds it). */
  survey?: NatSurvey;
  culprits: Culprit[];
  /** The culprits grouped by controller, ranked by the same model. */
  workloads: WorkloadCulprit[];
  /** Ranges left out of the SNAT model, and where each comes from (built-in private ranges are not repeated). */
  privateRanges: PrivateRange[];
  steps: StepOutcome[];
  recommendations: Recommendation[];
  /** How many pods were examined and with which source. */
  podsExamined: number;
  unavailable: Unavailable[];
  /** Where the investigation's full evidence was stored, when an evidence store is configured and the save worked. */
  evidence?: { url: string };
  /**
   * The node was already being investigated: this request ran nothing on it and joined that investigation, whose
   * report is the one to read (nodeRegistry.ts).
   */
  joined?: { instanceId: string; since: string };
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
    /** A NAT gateway cluster: its gateways' own metrics, as read. */
    gateways?: NatGatewaySnat[];
    survey?: NatSurvey;
  };
  /** The node probe's report (already aggregated on the node). */
  capture?: NodeCapture;
  /** Each examined pod's connections, as podConnections counted them. */
  pods: PodConnections[];
}

/**
 * On a NAT gateway cluster with no node named, the survey of its pods' connections that chose the node to investigate
 * (lib/workflow/steps/natSurvey.ts): the busiest destination endpoint across the cluster and who holds it.
 */
export interface NatSurvey {
  /** The destination endpoint with the most connections across the surveyed pods; absent when none was seen. */
  destination?: { ip: string; port: number; connections: number };
  /** Connections to it per node, most first (nodes with none left out). */
  nodes: { name: string; connections: number }[];
  /** The pods holding it, most first, on whichever node (at most SURVEY_TOP_PODS): the cluster's culprits at a glance. */
  pods: { node: string; namespace: string; pod: string; connections: number }[];
  nodesSurveyed: number;
  podsRead: number;
  /** Pods whose tables could not be read, with the first reasons. */
  podsUnread: number;
  unreadSamples: string[];
  /** Running pods past SURVEY_MAX_PODS, not read. */
  podsLeft: number;
  /** hostNetwork pods, not read: their table is the node's (every host process's sockets). */
  hostNetworkPods: number;
}
