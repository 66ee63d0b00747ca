// A sandbox scenario: a simulated AKS cluster described in YAML or JSON (docs/sandbox.md documents every field).
// `parseScenario` validates the document, names the field that is wrong, and fills in what a scenario may leave
// out (pod IPs, network namespace inodes, sandbox ids, pod uids, SNAT metrics) deterministically, so the same file
// always describes the same cluster.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { AKS_MANAGED_VNET_CIDR } from '../adapters/azure/clusterFacts.ts';
import { snatClassifier } from '../analysis/snatDestination.ts';
import { SnatDoctorError } from '../errors.ts';
import type { NodeOs, OutboundType, TcpState, Workload } from '../model.ts';
import { projectPath } from '../projectRoot.ts';
import { readInputText } from '../readInput.ts';
import {
  DEFAULT_ROLE_ASSIGNMENTS,
  ROLE_SCOPES,
  type RoleScope,
  SCENARIO_ROLES,
  type ScenarioRole,
} from './azureRbac.ts';
import { SANDBOX_PRINCIPAL_ID } from './entra.ts';
import { scenarioPrivateRanges } from './virtualNetworks.ts';

export const DEFAULT_SCENARIO_PATH = projectPath('lib', 'sandbox', 'scenarios', 'default.yaml');

/** The host's network namespace inode as the sandbox's nodes report it. */
export const HOST_NETNS = 4026531840;

/** Calls the sandbox can slow down or make fail (the ports' operations). */
export const FAULT_TARGETS = [
  'arm.getCluster',
  'arm.getVirtualNetwork',
  'arm.getPublicIpAddress',
  'arm.listClusterUserCredential',
  'arm.runCommand',
  'metrics.backendSnat',
  'metrics.natGatewaySnat',
  'kubernetes.listNodes',
  'kubernetes.listPodsOnNode',
  'kubernetes.exec',
  'kubernetes.createPod',
  'probe.capture',
] as const;
export type FaultTarget = (typeof FAULT_TARGETS)[number];

/**
 * What an injected fault does (docs/sandbox.md has the table):
 *   transient       a fault worth retrying, whatever its form (served as HTTP 503 by the endpoints)
 *   throttled       HTTP 429 with `Retry-After: retryAfterSeconds` (529 from the metrics batch API)
 *   server-error    HTTP 500
 *   timeout         no answer at all: the client's own timeout ends the call
 *   failed          a definite failure: runCommand `provisioningState: Failed` with `reason`; the probe exits non-zero
 *   forbidden       HTTP 403: the identity lacks a role (401 from the metrics batch API, as Azure Monitor answers)
 *   truncated       runCommand's output cut (as at its 512 kB limit) at `bytes`
 *   pending         the probe pod never leaves Pending (unschedulable)
 *   stream-dropped  the exec WebSocket closes before the command's output is complete
 */
export const FAULT_KINDS = [
  'transient',
  'throttled',
  'server-error',
  'timeout',
  'failed',
  'forbidden',
  'truncated',
  'pending',
  'stream-dropped',
] as const;

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBSCRIPTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SANDBOX_ID = /^[0-9a-f]{64}$/;
const SOCKET_STATES = ['ESTABLISHED', 'SYN_SENT', 'TIME_WAIT', 'CLOSE_WAIT', 'FIN_WAIT1', 'FIN_WAIT2'] as const;
/** The controllers a scenario pod may belong to (`owner.kind`). */
export const OWNER_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet'] as const;
export type OwnerKind = (typeof OWNER_KINDS)[number];
/** The phases a scenario pod may be in; only a Running pod has a sandbox, an IP of its own and sockets. */
export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;
export type ScenarioPodPhase = (typeof POD_PHASES)[number];

const ip = (what: string) => z.string().refine((v) => ipaddr.isValid(v), { error: `expected ${what}` });
const cidr = z.string().refine(
  (v) => {
    try {
      ipaddr.parseCIDR(v);
      return true;
    } catch {
      return false;
    }
  },
  { error: 'expected a CIDR range such as 10.244.0.0/16' },
);
const count = z.int().min(0);

const endpoint = z.string().refine((v) => parseEndpoint(v) !== undefined, {
  error: 'expected a destination "IP:port", e.g. 20.50.2.10:443 or [2603:1030::5]:443',
});

const connectionSchema = z
  .strictObject({
    to: endpoint,
    /** `udp`: connected UDP sockets (the only UDP sockets that name a destination). */
    protocol: z.enum(['tcp', 'udp']).default('tcp'),
    state: z.enum(SOCKET_STATES).default('ESTABLISHED'),
    count: count.default(1),
    connectsPerSecond: z.number().min(0).default(0),
    /** Connects to it per second that fail (refused, timed out): seen only by the bpftrace tracer. */
    failedPerSecond: z.number().min(0).default(0),
  })
  .refine(
    (c) => c.protocol === 'tcp' || (c.state === 'ESTABLISHED' && c.connectsPerSecond === 0 && c.failedPerSecond === 0),
    {
      error:
        'a udp connection is a connected UDP socket: its state is ESTABLISHED and it has no connectsPerSecond (the tracer sees TCP only)',
    },
  );

const containerSchema = z.strictObject({
  name: z.string().regex(K8S_NAME, 'expected a container name (lower-case letters, digits and "-")'),
  image: z.string().min(1).default('mcr.microsoft.com/azurelinux/base/core:3.0'),
  /** The process name (`comm`, at most 15 characters) tcptracer shows for this container's connections. */
  command: z.string().min(1).max(15).optional(),
});

const ownerSchema = z.strictObject({
  kind: z.enum(OWNER_KINDS),
  name: z
    .string()
    .max(200)
    .regex(NODE_NAME, 'expected a Kubernetes object name (lower-case letters, digits, "-", ".")'),
});

/** Connections the pod accepted on a port it listens on (clients calling it): they take no SNAT port. */
const inboundSchema = z.strictObject({
  port: z.int().min(1).max(65535),
  /** The clients' address, or a range they come from (each connection from the next address in it). */
  from: z.union([ip('an IP address'), cidr]),
  count: count.default(1),
});

const podSchema = z.strictObject({
  namespace: z.string().regex(K8S_NAME, 'expected a Kubernetes namespace (lower-case letters, digits and "-")'),
  name: z.string().max(253).regex(NODE_NAME, 'expected a Kubernetes pod name (lower-case letters, digits, "-", ".")'),
  ip: ip('an IP address').optional(),
  hostNetwork: z.boolean().default(false),
  netns: z.int().min(1).optional(),
  sandboxId: z.string().regex(SANDBOX_ID, 'expected 64 lower-case hex characters').optional(),
  uid: z.uuid().optional(),
  replicas: z.int().min(1).max(500).default(1),
  /** The pod's controller; absent: a Deployment's when `replicas` > 1, else a bare pod. */
  owner: ownerSchema.optional(),
  phase: z.enum(POD_PHASES).default('Running'),
  /** `metadata.deletionTimestamp` is set: the pod is shutting down (it still runs, with its sockets). */
  terminating: z.boolean().default(false),
  containers: z
    .array(containerSchema)
    .min(1)
    .default([{ name: 'app', image: 'mcr.microsoft.com/azurelinux/base/core:3.0' }]),
  connections: z.array(connectionSchema).default([]),
  inbound: z.array(inboundSchema).default([]),
});

const snatSchema = z.strictObject({
  usedPorts: count.optional(),
  allocatedPorts: count.optional(),
  failedConnections: count.default(0),
  successfulConnections: count.optional(),
});

const probeSchema = z.strictObject({
  /** BCC tcptracer is installed on the node (without it the probe cannot count connects). */
  tcptracer: z.boolean().default(true),
  /**
   * bpftrace is installed: where BCC's tcptracer is not, the probe traces with it, and it also sees failed connects
   * (`failedPerSecond`), which tcptracer never reports.
   */
  bpftrace: z.boolean().default(false),
  /** crictl is installed (without it the probe maps sandboxes with pstree). */
  crictl: z.boolean().default(true),
});

/** A process on the node outside any pod (kubelet, containerd, a host agent): it lives in the host's network namespace. */
const hostProcessSchema = z.strictObject({
  /** The process name as the kernel keeps it (`/proc/PID/comm`, at most 15 characters; spaces allowed). */
  command: z.string().min(1).max(15),
  connections: z.array(connectionSchema).default([]),
});

const nodeSchema = z.strictObject({
  name: z.string().max(253).regex(NODE_NAME, 'expected a Kubernetes node name (lower-case letters, digits, "-", ".")'),
  ip: ip('an IP address'),
  /** A dual-stack node's IPv6 InternalIP: a load balancer backend of its own, with its own SNAT ports. */
  ipv6: z
    .string()
    .refine((v) => ipaddr.IPv6.isValid(v) && !ipaddr.IPv4.isValid(v), { error: 'expected an IPv6 address' })
    .optional(),
  os: z.enum(['linux', 'windows']).default('linux'),
  podCidr: cidr.optional(),
  snat: snatSchema.default({ failedConnections: 0 }),
  /** The SNAT metrics of the node's IPv6 backend (needs `ipv6`). */
  snatIpv6: snatSchema.optional(),
  probe: probeSchema.default({ tcptracer: true, bpftrace: false, crictl: true }),
  /** Processes outside any pod with connections of their own (the node's, counted apart from every pod). */
  hostProcesses: z.array(hostProcessSchema).default([]),
  pods: z.array(podSchema).default([]),
});

const faultSchema = z.strictObject({
  target: z.enum(FAULT_TARGETS),
  error: z.enum(FAULT_KINDS),
  /** How many calls fail before the target recovers; absent: every call fails. */
  times: z.int().min(1).optional(),
  message: z.string().max(500).optional(),
  /** For `throttled`: the Retry-After the endpoint sends, in seconds. */
  retryAfterSeconds: z.int().min(0).max(600).optional(),
  /** For `truncated`: how many bytes of output survive. */
  bytes: z.int().min(0).optional(),
  /** Only calls about this node (name) or pod (`namespace/name`). */
  node: z.string().optional(),
  pod: z.string().optional(),
});

/** Azure VNet names: 2-64 letters, digits, "_", "." and "-", starting with a letter or digit, not ending in "." or "-". */
const VNET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$/;
const RESOURCE_GROUP_NAME = /^[A-Za-z0-9_.-]{0,89}[A-Za-z0-9_-]$/;
export const PEERING_STATES = ['Connected', 'Disconnected', 'Initiated'] as const;

const vnetPeeringSchema = z.strictObject({
  /** The remote VNet's name. */
  name: z.string().regex(VNET_NAME, 'expected a VNet name (2-64 letters, digits, "_", ".", "-")'),
  resourceGroup: z.string().regex(RESOURCE_GROUP_NAME, 'expected a resource group name').optional(),
  addressSpace: z.array(cidr).min(1, 'a peered VNet needs at least one address range'),
  /** Only a Connected peering routes traffic. */
  state: z.enum(PEERING_STATES).default('Connected'),
});

const vnetSchema = z.strictObject({
  name: z.string().regex(VNET_NAME, 'expected a VNet name (2-64 letters, digits, "_", ".", "-")'),
  resourceGroup: z.string().regex(RESOURCE_GROUP_NAME, 'expected a resource group name').optional(),
  addressSpace: z.array(cidr).min(1, 'a VNet needs at least one address range'),
  peerings: z.array(vnetPeeringSchema).default([]),
});

/** Azure NAT gateway names: 1-80 letters, digits, "_", "." and "-", starting with a letter or digit, not ending in "." or "-". */
const NAT_GATEWAY_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/** The NAT gateway of a NAT gateway cluster, and what its own metrics report (docs/sandbox.md, `cluster.natGateway`). */
const natGatewaySchema = z.strictObject({
  name: z
    .string()
    .regex(NAT_GATEWAY_NAME, 'expected a NAT gateway name (1-80 letters, digits, "_", ".", "-")')
    .optional(),
  resourceGroup: z.string().regex(RESOURCE_GROUP_NAME, 'expected a resource group name').optional(),
  /** `SNATConnectionCount` with ConnectionState Failed over the query window. */
  failedConnections: count.default(0),
  /** `TotalConnectionCount`: the active SNAT connections. */
  totalConnections: count.optional(),
  /** `PacketDropCount` over the query window. */
  droppedPackets: count.default(0),
  /** false: the subnet (user-assigned) or the outbound IPs (managed) name no NAT gateway, as if it were detached. */
  attached: z.boolean().default(true),
});

const clusterSchema = z.strictObject({
  subscriptionId: z.string().regex(SUBSCRIPTION_ID, 'expected a GUID like 00000000-0000-0000-0000-000000000000'),
  resourceGroup: z.string().regex(/^[A-Za-z0-9_.-]{0,89}[A-Za-z0-9_-]$/, 'expected a resource group name'),
  name: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/, 'expected an AKS cluster name'),
  location: z.string().regex(/^[a-z0-9]+$/, 'expected an Azure region such as westeurope'),
  nodeResourceGroup: z.string().min(1).optional(),
  outboundType: z
    .enum(['loadBalancer', 'managedNATGateway', 'userAssignedNATGateway', 'userDefinedRouting', 'none'])
    .default('loadBalancer'),
  outboundIps: z.int().min(1).max(16).default(1),
  /** `allocatedOutboundPorts`: 0 lets Azure allocate by backend pool size. */
  allocatedOutboundPorts: z
    .int()
    .min(0)
    .max(64000)
    .refine((v) => v % 8 === 0, { error: 'expected a multiple of 8 (Azure requires it)' })
    .default(0),
  idleTimeoutMinutes: z.int().min(4).max(120).default(30),
  podCidr: cidr.default('10.244.0.0/16'),
  serviceCidr: cidr.default('10.0.0.0/16'),
  vnetCidr: cidr.default('10.224.0.0/12'),
  /** The VNet the cluster brings (its pools' subnet is in it); absent: AKS's own VNet (`vnetCidr`). */
  vnet: vnetSchema.optional(),
  /** Only with outboundType managedNATGateway or userAssignedNATGateway: the gateway and its metrics. */
  natGateway: natGatewaySchema.optional(),
  aadManaged: z.boolean().default(false),
  disableRunCommand: z.boolean().default(false),
});

const roleAssignmentSchema = z.strictObject({
  role: z.enum(SCENARIO_ROLES as [ScenarioRole, ...ScenarioRole[]]),
  scope: z.enum(ROLE_SCOPES),
});

/** The app's identity in Azure: who it is, the roles it holds where, and whether Azure Monitor is registered. */
const azureSchema = z.strictObject({
  principalId: z.string().regex(SUBSCRIPTION_ID, 'expected an object id (a GUID)').default(SANDBOX_PRINCIPAL_ID),
  /** Default: what infra/ assigns (azureRbac.ts, DEFAULT_ROLE_ASSIGNMENTS). */
  roleAssignments: z.array(roleAssignmentSchema).max(20).optional(),
  /** The Microsoft.Insights resource provider in the cluster's subscription; NotRegistered: metrics answer 403. */
  insightsProvider: z.enum(['Registered', 'NotRegistered']).default('Registered'),
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1).max(100),
  description: z.string().optional(),
  cluster: clusterSchema,
  azure: azureSchema.default({ principalId: SANDBOX_PRINCIPAL_ID, insightsProvider: 'Registered' }),
  nodes: z.array(nodeSchema).min(1, 'a scenario needs at least one node'),
  /** Milliseconds each call takes (applied when the sandbox runs with latency on, as the CLI does). */
  latencies: z.partialRecord(z.enum(FAULT_TARGETS), z.int().min(0).max(600_000)).default({}),
  faults: z.array(faultSchema).default([]),
});

type ScenarioDocument = z.infer<typeof scenarioSchema>;
export type Fault = z.infer<typeof faultSchema>;
export type FaultKind = Fault['error'];

export interface ScenarioConnection {
  protocol: 'tcp' | 'udp';
  ip: string;
  port: number;
  state: TcpState;
  count: number;
  connectsPerSecond: number;
  failedPerSecond: number;
}

export interface ScenarioInbound {
  port: number;
  /** The clients' addresses, one per connection. */
  clients: string[];
}

export interface ScenarioContainer {
  name: string;
  image: string;
  command: string;
}

export interface ScenarioPod {
  namespace: string;
  name: string;
  uid: string;
  /** The pod IP; empty while Pending. */
  ip: string;
  hostNetwork: boolean;
  /** The pod's own network namespace inode (the host's for hostNetwork pods); 0 when it is not Running. */
  netns: number;
  /** Empty when the pod is not Running. */
  sandboxId: string;
  containers: ScenarioContainer[];
  connections: ScenarioConnection[];
  /** Connections accepted on its listening ports. */
  inbound: ScenarioInbound[];
  /** The owner reference the API serves (`controller: true`): the ReplicaSet, StatefulSet, DaemonSet or Job. */
  owner?: { kind: 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'Job'; name: string; uid: string };
  /** `metadata.labels`, as the controller sets them (`pod-template-hash`, `job-name` …). */
  labels: Record<string, string>;
  /** The workload the scenario says the pod belongs to (what lib/analysis/workloadOf.ts should find). */
  workload: Workload;
  phase: ScenarioPodPhase;
  terminating: boolean;
}

export type ScenarioSnat = {
  usedPorts: number;
  allocatedPorts: number;
  failedConnections: number;
  successfulConnections: number;
};

export interface ScenarioNode {
  name: string;
  ip: string;
  /** The IPv6 InternalIP of a dual-stack node. */
  ipv6?: string;
  os: NodeOs;
  providerId: string;
  /** The IPv4 backend's SNAT metrics. */
  snat: ScenarioSnat;
  /** The IPv6 backend's SNAT metrics, when the node has `ipv6`. */
  snatIpv6?: ScenarioSnat;
  probe: { tcptracer: boolean; bpftrace: boolean; crictl: boolean };
  /** The Running pods (terminating ones included): each has a sandbox on the node, and the probe and exec see it. */
  pods: ScenarioPod[];
  /** Pending, Succeeded and Failed pods: the API lists them, but they have no sandbox or sockets on the node. */
  inactivePods: ScenarioPod[];
  /** Processes outside any pod, in the host's network namespace. */
  hostProcesses: ScenarioHostProcess[];
}

export interface ScenarioHostProcess {
  command: string;
  pid: number;
  connections: ScenarioConnection[];
}

export interface ScenarioVnet {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** The node pools' subnet in it. */
  subnet: string;
  addressSpace: string[];
  /** Remote VNets peered with it, each in its own state (only Connected ones route traffic). */
  peerings: { name: string; resourceGroup: string; addressSpace: string[]; state: (typeof PEERING_STATES)[number] }[];
}

export interface ScenarioNatGateway {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  failedConnections: number;
  totalConnections: number;
  droppedPackets: number;
  /** false: neither the subnet nor the outbound IPs name the gateway. */
  attached: boolean;
}

export interface ScenarioRoleAssignment {
  role: ScenarioRole;
  scope: RoleScope;
}

export interface Scenario {
  name: string;
  description?: string;
  source: string;
  /** The app's identity: its object id, its role assignments (default: infra/'s), the Insights provider's state. */
  azure: {
    principalId: string;
    roleAssignments: ScenarioRoleAssignment[];
    insightsProvider: 'Registered' | 'NotRegistered';
  };
  cluster: {
    subscriptionId: string;
    resourceGroup: string;
    name: string;
    location: string;
    nodeResourceGroup: string;
    outboundType: OutboundType;
    outboundIps: number;
    allocatedOutboundPorts: number;
    idleTimeoutMinutes: number;
    podCidr: string;
    serviceCidr: string;
    /** The VNet's (first) address range: AKS's own 10.224.0.0/12 unless the cluster brings its VNet. */
    vnetCidr: string;
    /** The VNet the cluster brings (bring-your-own): its pools' vnetSubnetID points into it. Absent: AKS's own VNet. */
    vnet?: ScenarioVnet;
    /** The NAT gateway the nodes leave through: present exactly when the outbound type is a NAT gateway one. */
    natGateway?: ScenarioNatGateway;
    aadManaged: boolean;
    disableRunCommand: boolean;
  };
  nodes: ScenarioNode[];
  latencies: Partial<Record<FaultTarget, number>>;
  faults: Fault[];
}

/** More than any scenario needs (the built-in one is ~20 kB): a device or a runaway file is refused, not read on. */
export const MAX_SCENARIO_BYTES = 16 * 1024 * 1024;

export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readInputText(path, 'the scenario file', MAX_SCENARIO_BYTES);
  } catch (error) {
    throw new SnatDoctorError('BAD_SCENARIO', (error as Error).message, { cause: error });
  }
  return parseScenario(text, path);
}

/** Parses and validates a scenario (YAML, of which JSON is a subset); `source` names the file in messages. */
export function parseScenario(text: string, source: string): Scenario {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` (line ${error.linePos[0].line})` : '';
    throw bad(source, `it is not valid YAML or JSON${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = scenarioSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 10).map((issue) => `  ${formatPath(issue.path)}: ${describe(issue)}`);
    const more = parsed.error.issues.length > 10 ? [`  … and ${parsed.error.issues.length - 10} more`] : [];
    throw bad(source, `these fields are wrong:\n${[...problems, ...more].join('\n')}`);
  }
  return resolve(parsed.data, source);
}

const KNOWN_FIELDS = [
  scenarioSchema,
  clusterSchema,
  azureSchema,
  roleAssignmentSchema,
  vnetSchema,
  vnetPeeringSchema,
  natGatewaySchema,
  nodeSchema,
  snatSchema,
  probeSchema,
  podSchema,
  ownerSchema,
  containerSchema,
  connectionSchema,
  faultSchema,
].flatMap((schema) => Object.keys(schema.shape));

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'unrecognized_keys') return issue.message;
  return issue.keys
    .map((key) => {
      const near = KNOWN_FIELDS.find(
        (known) => known.toLowerCase() === key.toLowerCase() || editDistance(known, key) <= 2,
      );
      return `unknown field "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
    })
    .join(', ');
}

/** Levenshtein distance, for "did you mean" on misspelt field names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** `count` client addresses from an address or a range: the range's addresses in turn, from its first host. */
function clientAddresses(from: string, count: number): string[] {
  if (!from.includes('/')) return Array.from({ length: count }, () => ipaddr.parse(from).toString());
  const [base, bits] = ipaddr.parseCIDR(from);
  const bytes = base.toByteArray();
  const hostBits = bytes.length * 8 - bits;
  const size = hostBits >= 31 ? 2 ** 31 : 2 ** hostBits;
  return Array.from({ length: count }, (_, i) => {
    const out = [...bytes];
    let carry = size > 2 ? 1 + (i % (size - 2)) : i % size;
    for (let b = out.length - 1; b >= 0 && carry > 0; b--) {
      const sum = (out[b] ?? 0) + (carry % 256);
      out[b] = sum % 256;
      carry = Math.floor(carry / 256) + Math.floor(sum / 256);
    }
    return ipaddr.fromByteArray(out).toString();
  });
}

/** A validated connection group with its destination parsed (`to` passed the schema's endpoint check). */
function connectionOf(c: z.infer<typeof connectionSchema>): ScenarioConnection {
  const { ip, port } = parseEndpoint(c.to) as { ip: string; port: number };
  return {
    protocol: c.protocol,
    ip,
    port,
    state: c.state,
    count: c.count,
    connectsPerSecond: c.connectsPerSecond,
    failedPerSecond: c.failedPerSecond,
  };
}

function bad(source: string, problem: string): SnatDoctorError {
  return new SnatDoctorError(
    'BAD_SCENARIO',
    `The scenario ${source} cannot be used: ${problem}\nEvery field is described in docs/sandbox.md.`,
  );
}

/** `['nodes', 0, 'ip']` → `nodes[0].ip` */
export function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(the document)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join('');
}

/** "20.50.2.10:443" or "[2603:1030::5]:443" → { ip, port }; undefined when it is neither. */
export function parseEndpoint(value: string): { ip: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (!ipaddr.isValid(host) || port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined && ipaddr.parse(host).kind() !== 'ipv6') return undefined;
  return { ip: ipaddr.parse(host).toString(), port };
}

// ── Filling in what the scenario leaves out ─────────────────────────────────────────────────────────────────────

function resolve(doc: ScenarioDocument, source: string): Scenario {
  const problems: string[] = [];
  const subscriptionId = doc.cluster.subscriptionId.toLowerCase();
  const vnet = clusterVnet(doc.cluster, subscriptionId, problems);
  const nodeResourceGroup =
    doc.cluster.nodeResourceGroup ?? `MC_${doc.cluster.resourceGroup}_${doc.cluster.name}_${doc.cluster.location}`;
  const { natGateway: givenNatGateway, ...clusterDoc } = doc.cluster;
  const cluster: Scenario['cluster'] = {
    ...clusterDoc,
    subscriptionId,
    nodeResourceGroup,
    vnetCidr: vnet?.addressSpace[0] ?? doc.cluster.vnetCidr,
    vnet,
  };
  const isSnat = snatClassifier(scenarioPrivateRanges(cluster).map((range) => range.cidr));
  const defaultAllocation = defaultAllocationFor(doc.nodes.length);
  const allocated = cluster.allocatedOutboundPorts > 0 ? cluster.allocatedOutboundPorts : defaultAllocation;
  const nodeIps = new Map<string, string>();
  const podIps = new Map<string, string>();
  const nextNetns = counter(4026532200);
  /** The connections to SNAT'd destinations every node holds: a NAT gateway's active connections by default. */
  let snatHeld = 0;

  const nodes = doc.nodes.map((node, n): ScenarioNode => {
    const where = `nodes[${n}]`;
    if (nodeIps.has(node.ip)) problems.push(`${where}.ip: ${node.ip} is also the IP of ${nodeIps.get(node.ip)}`);
    nodeIps.set(node.ip, where);
    if (node.ipv6 !== undefined) {
      const ipv6 = ipaddr.parse(node.ipv6).toString();
      if (nodeIps.has(ipv6)) problems.push(`${where}.ipv6: ${ipv6} is also the IP of ${nodeIps.get(ipv6)}`);
      nodeIps.set(ipv6, where);
    }
    const podRange = node.podCidr ?? nthSubnet(cluster.podCidr, n);
    const nextPodIp = podIpAllocator(podRange);

    const pods: ScenarioPod[] = [];
    const inactivePods: ScenarioPod[] = [];
    node.pods.forEach((pod, p) => {
      const at = `${where}.pods[${p}]`;
      const running = pod.phase === 'Running';
      if (!running) problems.push(...notRunningProblems(pod, at));
      const identities = podIdentities(pod, node.name, at, problems);
      for (let r = 0; r < pod.replicas; r++) {
        const { name, owner, labels, workload } = identities[r] as PodIdentity;
        const key = `${pod.namespace}/${name}`;
        // A Pending pod has no IP yet; a finished one keeps the IP it had.
        const podIp =
          pod.phase === 'Pending' ? '' : pod.hostNetwork ? node.ip : r === 0 && pod.ip ? pod.ip : nextPodIp();
        if (!pod.hostNetwork && podIp !== '') {
          const other = podIps.get(podIp);
          if (other) problems.push(`${at}.ip: ${podIp} is also the IP of ${other}`);
          podIps.set(podIp, key);
        }
        (running ? pods : inactivePods).push({
          namespace: pod.namespace,
          name,
          uid: (r === 0 ? pod.uid : undefined) ?? uuidFrom(`uid:${key}`),
          ip: podIp,
          hostNetwork: pod.hostNetwork,
          netns: !running ? 0 : pod.hostNetwork ? HOST_NETNS : ((r === 0 ? pod.netns : undefined) ?? nextNetns()),
          sandboxId: !running ? '' : ((r === 0 ? pod.sandboxId : undefined) ?? hex(`sandbox:${key}`, 64)),
          containers: pod.containers.map((c) => ({ ...c, command: c.command ?? c.name.slice(0, 15) })),
          connections: pod.connections.map(connectionOf),
          inbound: pod.inbound.map((i) => ({ port: i.port, clients: clientAddresses(i.from, i.count) })),
          ...(owner ? { owner } : {}),
          labels,
          workload,
          phase: pod.phase,
          terminating: pod.terminating,
        });
      }
    });
    const seen = new Set<string>();
    for (const pod of [...pods, ...inactivePods]) {
      const key = `${pod.namespace}/${pod.name}`;
      if (seen.has(key)) problems.push(`${where}.pods: ${key} appears twice`);
      seen.add(key);
    }

    const hostProcesses = node.hostProcesses.map((process, i) => ({
      command: process.command,
      pid: 900 + i,
      connections: process.connections.map(connectionOf),
    }));

    // Each backend IP has its own ports: on a dual-stack node, IPv6 destinations leave from the IPv6 one.
    const snatConnections = [...pods, ...hostProcesses]
      .flatMap((holder) => holder.connections)
      .filter((c) => c.state !== 'CLOSE_WAIT' && isSnat(c.ip));
    const isIpv6 = (c: ScenarioConnection) => ipaddr.parse(c.ip).kind() === 'ipv6';
    const used = (connections: ScenarioConnection[]) => connections.reduce((sum, c) => sum + c.count, 0);
    snatHeld += used(snatConnections);
    const snatOf = (given: z.infer<typeof snatSchema>, usedByPods: number, field: string): ScenarioSnat => {
      const allocatedPorts = given.allocatedPorts ?? allocated;
      const usedPorts = given.usedPorts ?? Math.min(allocatedPorts, usedByPods);
      if (usedPorts > allocatedPorts) {
        problems.push(`${where}.${field}.usedPorts: ${usedPorts} is more than allocatedPorts (${allocatedPorts})`);
      }
      return {
        usedPorts,
        allocatedPorts,
        failedConnections: given.failedConnections,
        successfulConnections: given.successfulConnections ?? usedPorts * 4,
      };
    };
    if (node.snatIpv6 !== undefined && node.ipv6 === undefined) {
      problems.push(`${where}.snatIpv6: the node has no ipv6 (its IPv6 InternalIP), so it has no IPv6 backend`);
    }
    const dualStack = node.ipv6 !== undefined;
    return {
      name: node.name,
      ip: node.ip,
      ...(dualStack ? { ipv6: ipaddr.parse(node.ipv6 as string).toString() } : {}),
      os: node.os,
      providerId:
        `azure:///subscriptions/${cluster.subscriptionId}/resourceGroups/${cluster.nodeResourceGroup.toLowerCase()}` +
        `/providers/Microsoft.Compute/virtualMachineScaleSets/${vmssOf(node.name)}/virtualMachines/${n}`,
      snat: snatOf(node.snat, used(dualStack ? snatConnections.filter((c) => !isIpv6(c)) : snatConnections), 'snat'),
      ...(dualStack
        ? {
            snatIpv6: snatOf(
              node.snatIpv6 ?? { failedConnections: 0 },
              used(snatConnections.filter(isIpv6)),
              'snatIpv6',
            ),
          }
        : {}),
      probe: node.probe,
      pods,
      inactivePods,
      hostProcesses,
    };
  });
  const natGateway = clusterNatGateway(cluster, givenNatGateway, snatHeld, problems);
  if (natGateway) cluster.natGateway = natGateway;
  const names = new Set<string>();
  nodes.forEach((node, n) => {
    if (names.has(node.name)) problems.push(`nodes[${n}].name: ${node.name} appears twice`);
    names.add(node.name);
  });
  doc.faults.forEach((fault, f) => {
    if (fault.node !== undefined && !names.has(fault.node)) {
      problems.push(`faults[${f}].node: no node is named ${fault.node}`);
    }
  });
  if (problems.length > 0) throw bad(source, `these fields are wrong:\n${problems.map((p) => `  ${p}`).join('\n')}`);

  return {
    name: doc.name,
    description: doc.description,
    source,
    cluster,
    azure: {
      principalId: doc.azure.principalId.toLowerCase(),
      roleAssignments: doc.azure.roleAssignments ?? DEFAULT_ROLE_ASSIGNMENTS,
      insightsProvider: doc.azure.insightsProvider,
    },
    nodes,
    latencies: doc.latencies,
    faults: doc.faults,
  };
}

// ── Pods' owners and phases ─────────────────────────────────────────────────────────────────────────────────────

type PodDocument = ScenarioDocument['nodes'][number]['pods'][number];

/** The fields a pod that is not Running may not have: it has no sandbox, network namespace or sockets. */
function notRunningProblems(pod: PodDocument, at: string): string[] {
  const problems: string[] = [];
  const a = `a ${pod.phase} pod`;
  if (pod.inbound.length > 0)
    problems.push(`${at}.inbound: ${a} accepts no connections (only a Running pod has sockets)`);
  if (pod.connections.length > 0) {
    problems.push(
      `${at}.connections: ${a} holds no connections (only a Running pod has sockets): remove them, or make the pod Running`,
    );
  }
  if (pod.netns !== undefined) problems.push(`${at}.netns: ${a} has no network namespace on the node`);
  if (pod.sandboxId !== undefined) problems.push(`${at}.sandboxId: ${a} has no sandbox on the node`);
  if (pod.phase === 'Pending' && pod.ip !== undefined) problems.push(`${at}.ip: ${a} has no IP yet`);
  return problems;
}

interface PodIdentity {
  name: string;
  owner?: ScenarioPod['owner'];
  labels: Record<string, string>;
  workload: Workload;
}

/**
 * Each replica's name, owner reference and labels, made the way the pod's controller makes them: a Deployment's pods
 * `<deployment>-<pod-template-hash>-<5 characters>` owned by the ReplicaSet `<deployment>-<pod-template-hash>`; a
 * CronJob's `<cronjob>-<minutes>-<5 characters>` owned by the Job `<cronjob>-<minutes>`; a StatefulSet's
 * `<statefulset>-<ordinal>`; a DaemonSet's, a Job's and a bare ReplicaSet's `<owner>-<5 characters>`. The scenario's
 * `name` is the owner's name, or already carries the parts the controller adds (then they are kept).
 */
function podIdentities(pod: PodDocument, nodeName: string, at: string, problems: string[]): PodIdentity[] {
  const replicas = Array.from({ length: pod.replicas }, (_, r) => r);
  // The seed of the 5-character suffix, unchanged since replicas were first named (the built-in scenario's names).
  const random = (r: number) => suffix(`${nodeName}/${pod.namespace}/${pod.name}/${r}`);
  const owner =
    pod.owner ?? (pod.replicas > 1 ? { kind: 'Deployment' as const, name: impliedDeployment(pod.name) } : undefined);
  if (!owner) return [{ name: pod.name, labels: {}, workload: { kind: 'Pod', name: pod.name } }];

  const workload: Workload = { kind: owner.kind, name: owner.name };
  const ns = pod.namespace;
  const rest =
    pod.name === owner.name
      ? ''
      : pod.name.startsWith(`${owner.name}-`)
        ? pod.name.slice(owner.name.length + 1)
        : undefined;
  const single = pod.replicas === 1;
  const refuse = (forms: string): PodIdentity[] => {
    problems.push(
      `${at}.name: a pod of ${owner.kind} ${owner.name} is named ${forms}` +
        `${single ? '' : ' (with replicas, the name is the prefix the sandbox completes)'}; ${pod.name} is not`,
    );
    return replicas.map((r) => ({ name: single ? pod.name : `${pod.name}-${random(r)}`, labels: {}, workload }));
  };
  const each = (
    name: (r: number) => string,
    owned: ScenarioPod['owner'],
    labels: (name: string, r: number) => Record<string, string>,
  ) =>
    replicas.map((r) => {
      const podName = name(r);
      return { name: podName, owner: owned, labels: { app: owner.name, ...labels(podName, r) }, workload };
    });
  const ref = (kind: NonNullable<ScenarioPod['owner']>['kind'], name: string) => ({
    kind,
    name,
    uid: uuidFrom(`${kind}:${ns}/${name}`),
  });
  const jobLabels = (job: string) => {
    const uid = uuidFrom(`Job:${ns}/${job}`);
    return {
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': job,
      'controller-uid': uid,
      'job-name': job,
    };
  };
  const given = (pattern: RegExp) => (rest === undefined ? undefined : pattern.exec(rest));

  switch (owner.kind) {
    case 'Deployment': {
      const m = given(/^(?:([a-z0-9]{1,10})(?:-([a-z0-9]{5}))?)?$/);
      if (!m || (m[2] !== undefined && !single)) {
        return refuse(
          `${owner.name}, ${owner.name}-<pod-template-hash>${single ? ` or ${owner.name}-<pod-template-hash>-<5 characters>` : ''}`,
        );
      }
      const hash = m[1] ?? podTemplateHash(`${ns}/${owner.name}`);
      const replicaSet = `${owner.name}-${hash}`;
      return each(
        (r) => (m[2] !== undefined ? pod.name : `${replicaSet}-${random(r)}`),
        ref('ReplicaSet', replicaSet),
        () => ({ 'pod-template-hash': hash }),
      );
    }
    case 'CronJob': {
      const m = given(/^(?:(\d{8,})(?:-([a-z0-9]{5}))?)?$/);
      if (!m || (m[2] !== undefined && !single)) {
        return refuse(
          `${owner.name}, ${owner.name}-<minutes since the epoch, 8 digits or more>${single ? ' or that and -<5 characters>' : ''}`,
        );
      }
      const job = `${owner.name}-${m[1] ?? scheduledMinutes(`${ns}/${owner.name}`)}`;
      return each(
        (r) => (m[2] !== undefined ? pod.name : `${job}-${random(r)}`),
        ref('Job', job),
        () => jobLabels(job),
      );
    }
    case 'StatefulSet': {
      const m = given(/^(?:(\d+))?$/);
      if (!m || (m[1] !== undefined && !single)) {
        return refuse(`${owner.name}${single ? ` or ${owner.name}-<ordinal>` : ''}`);
      }
      const revision = `${owner.name}-${podTemplateHash(`revision:${ns}/${owner.name}`)}`;
      return each(
        (r) => `${owner.name}-${m[1] ?? r}`,
        ref('StatefulSet', owner.name),
        (name, r) => ({
          'apps.kubernetes.io/pod-index': m[1] ?? String(r),
          'controller-revision-hash': revision,
          'statefulset.kubernetes.io/pod-name': name,
        }),
      );
    }
    case 'DaemonSet':
    case 'Job':
    case 'ReplicaSet': {
      if (owner.kind === 'DaemonSet' && !single) {
        problems.push(`${at}.replicas: a DaemonSet runs one pod per node; give replicas: 1`);
      }
      const m = given(/^(?:([a-z0-9]{5}))?$/);
      if (!m || (m[1] !== undefined && !single)) {
        return refuse(`${owner.name}${single ? ` or ${owner.name}-<5 characters>` : ''}`);
      }
      const labels: Record<string, string> =
        owner.kind === 'Job'
          ? jobLabels(owner.name)
          : owner.kind === 'DaemonSet'
            ? {
                'controller-revision-hash': podTemplateHash(`revision:${ns}/${owner.name}`),
                'pod-template-generation': '1',
              }
            : {};
      return each(
        (r) => (m[1] !== undefined ? pod.name : `${owner.name}-${random(r)}`),
        ref(owner.kind, owner.name),
        () => labels,
      );
    }
  }
}

/**
 * The Deployment of a pod with `replicas` and no `owner`: its name less a trailing `-<pod-template-hash>` (6 to 10
 * lower-case letters and digits, at least one a digit), or the whole name when it has none.
 */
function impliedDeployment(name: string): string {
  const m = /^(.+)-([a-z0-9]{6,10})$/.exec(name);
  return m?.[1] && /\d/.test(m[2] ?? '') ? m[1] : name;
}

/** A pod-template-hash as the Deployment controller writes it: 10 characters of the API server's alphabet. */
function podTemplateHash(seed: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = createHash('sha256').update(`hash:${seed}`).digest();
  return Array.from(bytes.subarray(0, 10), (b) => alphabet[b % alphabet.length]).join('');
}

/** A CronJob's scheduled time in minutes since the epoch, in 2025 (its Job's name suffix). */
function scheduledMinutes(seed: string): number {
  const start = Date.UTC(2025, 0, 1) / 60_000;
  return start + (Number.parseInt(hex(`cron:${seed}`, 8), 16) % (365 * 24 * 60));
}

/**
 * The VNet the cluster brings: `cluster.vnet`, or (the older form) a `vnetCidr` other than AKS's own 10.224.0.0/12,
 * which is a VNet `vnet-<cluster>` in the cluster's resource group with that one range. Undefined: AKS's own VNet.
 */
function clusterVnet(
  given: ScenarioDocument['cluster'],
  subscriptionId: string,
  problems: string[],
): ScenarioVnet | undefined {
  const aksOwn = given.vnetCidr === AKS_MANAGED_VNET_CIDR;
  if (given.vnet) {
    if (!aksOwn) {
      problems.push(
        'cluster.vnetCidr: give the VNet once, either as vnetCidr or as vnet.addressSpace (with its peerings), not both',
      );
    }
    const resourceGroup = given.vnet.resourceGroup ?? given.resourceGroup;
    return {
      subscriptionId,
      resourceGroup,
      name: given.vnet.name,
      subnet: 'nodes',
      addressSpace: given.vnet.addressSpace,
      peerings: given.vnet.peerings.map((peering) => ({
        name: peering.name,
        resourceGroup: peering.resourceGroup ?? resourceGroup,
        addressSpace: peering.addressSpace,
        state: peering.state,
      })),
    };
  }
  if (aksOwn) return undefined;
  return {
    subscriptionId,
    resourceGroup: given.resourceGroup,
    name: `vnet-${given.name}`,
    subnet: 'nodes',
    addressSpace: [given.vnetCidr],
    peerings: [],
  };
}

/**
 * The NAT gateway of a NAT gateway cluster, with its defaults, and what AKS requires of the cluster around it:
 * userAssignedNATGateway "requires bring-your-own networking … and that the NAT gateway is preconfigured on the
 * subnet", and "Managed NAT gateway is incompatible with custom virtual networks" (learn.microsoft.com/azure/aks/nat-gateway).
 * Undefined for the other outbound types, which may not describe one.
 */
function clusterNatGateway(
  cluster: Scenario['cluster'],
  given: ScenarioDocument['cluster']['natGateway'],
  snatHeld: number,
  problems: string[],
): ScenarioNatGateway | undefined {
  const { outboundType, vnet } = cluster;
  if (outboundType !== 'managedNATGateway' && outboundType !== 'userAssignedNATGateway') {
    if (given) {
      problems.push(
        `cluster.natGateway: only a NAT gateway cluster has one (outboundType managedNATGateway or userAssignedNATGateway); this cluster's outboundType is ${outboundType}`,
      );
    }
    return undefined;
  }
  if (outboundType === 'userAssignedNATGateway' && !vnet) {
    problems.push(
      'cluster.outboundType: userAssignedNATGateway needs the VNet the cluster brings, on whose subnet the NAT gateway is (AKS requires it): give cluster.vnet (or a vnetCidr of your own)',
    );
  }
  if (outboundType === 'managedNATGateway' && vnet) {
    problems.push(
      "cluster.vnet: a managedNATGateway cluster is in AKS's own VNet (a managed NAT gateway is incompatible with a VNet the cluster brings): give neither vnet nor a vnetCidr of your own, or use userAssignedNATGateway",
    );
  }
  return {
    subscriptionId: cluster.subscriptionId,
    resourceGroup:
      given?.resourceGroup ??
      (outboundType === 'userAssignedNATGateway' && vnet ? vnet.resourceGroup : cluster.nodeResourceGroup),
    name: given?.name ?? `nat-${cluster.name}`,
    failedConnections: given?.failedConnections ?? 0,
    totalConnections: given?.totalConnections ?? snatHeld,
    droppedPackets: given?.droppedPackets ?? 0,
    attached: given?.attached ?? true,
  };
}

/** Azure's default SNAT ports per node by backend pool size (shared/research/azure-apis.md). */
function defaultAllocationFor(poolSize: number): number {
  if (poolSize <= 50) return 1024;
  if (poolSize <= 100) return 512;
  if (poolSize <= 200) return 256;
  if (poolSize <= 400) return 128;
  if (poolSize <= 800) return 64;
  return 32;
}

/** The n-th /24 of a pod CIDR (kubenet-style per-node ranges). */
function nthSubnet(podCidr: string, n: number): string {
  const [base, bits] = ipaddr.parseCIDR(podCidr);
  if (base.kind() !== 'ipv4' || bits > 24) return podCidr;
  const start = ipaddr.IPv4.networkAddressFromCIDR(podCidr).toByteArray();
  const value = ((start[0] ?? 0) << 24) + ((start[1] ?? 0) << 16) + ((start[2] ?? 0) << 8) + n * 256;
  return `${[value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, 0].join('.')}/24`;
}

function podIpAllocator(range: string): () => string {
  const [base] = ipaddr.parseCIDR(range);
  const bytes = base.toByteArray();
  let next = 4;
  return () => {
    const ip = [...bytes];
    let carry = next++;
    for (let i = ip.length - 1; i >= 0 && carry > 0; i--) {
      const sum = (ip[i] ?? 0) + carry;
      ip[i] = sum % 256;
      carry = Math.floor(sum / 256);
    }
    return ipaddr.fromByteArray(ip).toString();
  };
}

function counter(start: number): () => number {
  let next = start;
  return () => next++;
}

function hex(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

function uuidFrom(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A ReplicaSet-style pod name suffix ("x7k2p"): deterministic, from Kubernetes' alphabet without vowels. */
function suffix(seed: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = createHash('sha256').update(seed).digest();
  return Array.from(bytes.subarray(0, 5), (b) => alphabet[b % alphabet.length]).join('');
}

/** `aks-nodepool1-31415926-vmss000001` → `aks-nodepool1-31415926-vmss` */
function vmssOf(nodeName: string): string {
  return nodeName.replace(/\d{6}$/, '') || nodeName;
}
