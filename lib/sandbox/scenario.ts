// A sandbox scenario: a simulated AKS cluster described in YAML or JSON (docs/sandbox.md documents every field).
// `parseScenario` validates the document, names the field that is wrong, and fills in what a scenario may leave
// out (pod IPs, network namespace inodes, sandbox ids, pod uids, SNAT metrics) deterministically, so the same file
// always describes the same cluster.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { snatClassifier } from '../analysis/snatDestination.ts';
import { SnatDoctorError } from '../errors.ts';
import type { NodeOs, OutboundType, TcpState } from '../model.ts';
import { projectPath } from '../projectRoot.ts';

export const DEFAULT_SCENARIO_PATH = projectPath('lib', 'sandbox', 'scenarios', 'default.yaml');

/** The host's network namespace inode as the sandbox's nodes report it. */
export const HOST_NETNS = 4026531840;

/** Calls the sandbox can slow down or make fail (the ports' operations). */
export const FAULT_TARGETS = [
  'arm.getCluster',
  'arm.listClusterUserCredential',
  'arm.runCommand',
  'metrics.backendSnat',
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
 *   throttled       HTTP 429 with `Retry-After: retryAfterSeconds`
 *   server-error    HTTP 500
 *   timeout         no answer at all: the client's own timeout ends the call
 *   failed          a definite failure: runCommand `provisioningState: Failed` with `reason`; the probe exits non-zero
 *   forbidden       HTTP 403: the identity lacks a role
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

const connectionSchema = z.strictObject({
  to: endpoint,
  state: z.enum(SOCKET_STATES).default('ESTABLISHED'),
  count: count.default(1),
  connectsPerSecond: z.number().min(0).default(0),
});

const containerSchema = z.strictObject({
  name: z.string().regex(K8S_NAME, 'expected a container name (lower-case letters, digits and "-")'),
  image: z.string().min(1).default('mcr.microsoft.com/azurelinux/base/core:3.0'),
  /** The process name (`comm`, at most 15 characters) tcptracer shows for this container's connections. */
  command: z.string().min(1).max(15).optional(),
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
  containers: z
    .array(containerSchema)
    .min(1)
    .default([{ name: 'app', image: 'mcr.microsoft.com/azurelinux/base/core:3.0' }]),
  connections: z.array(connectionSchema).default([]),
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
  /** crictl is installed (without it the probe maps sandboxes with pstree). */
  crictl: z.boolean().default(true),
});

const nodeSchema = z.strictObject({
  name: z.string().max(253).regex(NODE_NAME, 'expected a Kubernetes node name (lower-case letters, digits, "-", ".")'),
  ip: ip('an IP address'),
  os: z.enum(['linux', 'windows']).default('linux'),
  podCidr: cidr.optional(),
  snat: snatSchema.default({ failedConnections: 0 }),
  probe: probeSchema.default({ tcptracer: true, crictl: true }),
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
  aadManaged: z.boolean().default(false),
  disableRunCommand: z.boolean().default(false),
});

const scenarioSchema = z.strictObject({
  name: z.string().min(1).max(100),
  description: z.string().optional(),
  cluster: clusterSchema,
  nodes: z.array(nodeSchema).min(1, 'a scenario needs at least one node'),
  /** Milliseconds each call takes (applied when the sandbox runs with latency on, as the CLI does). */
  latencies: z.partialRecord(z.enum(FAULT_TARGETS), z.int().min(0).max(600_000)).default({}),
  faults: z.array(faultSchema).default([]),
});

type ScenarioDocument = z.infer<typeof scenarioSchema>;
export type Fault = z.infer<typeof faultSchema>;
export type FaultKind = Fault['error'];

export interface ScenarioConnection {
  ip: string;
  port: number;
  state: TcpState;
  count: number;
  connectsPerSecond: number;
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
  ip: string;
  hostNetwork: boolean;
  /** The pod's own network namespace inode (the host's for hostNetwork pods). */
  netns: number;
  sandboxId: string;
  containers: ScenarioContainer[];
  connections: ScenarioConnection[];
}

export interface ScenarioNode {
  name: string;
  ip: string;
  os: NodeOs;
  providerId: string;
  snat: { usedPorts: number; allocatedPorts: number; failedConnections: number; successfulConnections: number };
  probe: { tcptracer: boolean; crictl: boolean };
  pods: ScenarioPod[];
}

export interface Scenario {
  name: string;
  description?: string;
  source: string;
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
    vnetCidr: string;
    aadManaged: boolean;
    disableRunCommand: boolean;
  };
  nodes: ScenarioNode[];
  latencies: Partial<Record<FaultTarget, number>>;
  faults: Fault[];
}

export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SnatDoctorError('BAD_SCENARIO', `Cannot read the scenario file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
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
  nodeSchema,
  snatSchema,
  probeSchema,
  podSchema,
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
  const cluster = {
    ...doc.cluster,
    subscriptionId: doc.cluster.subscriptionId.toLowerCase(),
    nodeResourceGroup:
      doc.cluster.nodeResourceGroup ?? `MC_${doc.cluster.resourceGroup}_${doc.cluster.name}_${doc.cluster.location}`,
  };
  const problems: string[] = [];
  const isSnat = snatClassifier([cluster.podCidr, cluster.serviceCidr, cluster.vnetCidr]);
  const defaultAllocation = defaultAllocationFor(doc.nodes.length);
  const allocated = cluster.allocatedOutboundPorts > 0 ? cluster.allocatedOutboundPorts : defaultAllocation;
  const nodeIps = new Map<string, string>();
  const podIps = new Map<string, string>();
  const nextNetns = counter(4026532200);

  const nodes = doc.nodes.map((node, n): ScenarioNode => {
    const where = `nodes[${n}]`;
    if (nodeIps.has(node.ip)) problems.push(`${where}.ip: ${node.ip} is also the IP of ${nodeIps.get(node.ip)}`);
    nodeIps.set(node.ip, where);
    const podRange = node.podCidr ?? nthSubnet(cluster.podCidr, n);
    const nextPodIp = podIpAllocator(podRange);

    const pods: ScenarioPod[] = [];
    node.pods.forEach((pod, p) => {
      for (let r = 0; r < pod.replicas; r++) {
        const name =
          pod.replicas > 1 ? `${pod.name}-${suffix(`${node.name}/${pod.namespace}/${pod.name}/${r}`)}` : pod.name;
        const key = `${pod.namespace}/${name}`;
        const podIp = pod.hostNetwork ? node.ip : r === 0 && pod.ip ? pod.ip : nextPodIp();
        if (!pod.hostNetwork) {
          const owner = podIps.get(podIp);
          if (owner) problems.push(`${where}.pods[${p}].ip: ${podIp} is also the IP of ${owner}`);
          podIps.set(podIp, key);
        }
        pods.push({
          namespace: pod.namespace,
          name,
          uid: (r === 0 ? pod.uid : undefined) ?? uuidFrom(`uid:${key}`),
          ip: podIp,
          hostNetwork: pod.hostNetwork,
          netns: pod.hostNetwork ? HOST_NETNS : ((r === 0 ? pod.netns : undefined) ?? nextNetns()),
          sandboxId: (r === 0 ? pod.sandboxId : undefined) ?? hex(`sandbox:${key}`, 64),
          containers: pod.containers.map((c) => ({ ...c, command: c.command ?? c.name.slice(0, 15) })),
          connections: pod.connections.map((c) => {
            const { ip: remote, port } = parseEndpoint(c.to) as { ip: string; port: number };
            return { ip: remote, port, state: c.state, count: c.count, connectsPerSecond: c.connectsPerSecond };
          }),
        });
      }
    });
    const seen = new Set<string>();
    for (const pod of pods) {
      const key = `${pod.namespace}/${pod.name}`;
      if (seen.has(key)) problems.push(`${where}.pods: ${key} appears twice`);
      seen.add(key);
    }

    const usedByPods = pods
      .flatMap((pod) => pod.connections)
      .filter((c) => c.state !== 'CLOSE_WAIT' && isSnat(c.ip))
      .reduce((sum, c) => sum + c.count, 0);
    const allocatedPorts = node.snat.allocatedPorts ?? allocated;
    const usedPorts = node.snat.usedPorts ?? Math.min(allocatedPorts, usedByPods);
    if (usedPorts > allocatedPorts) {
      problems.push(`${where}.snat.usedPorts: ${usedPorts} is more than allocatedPorts (${allocatedPorts})`);
    }
    return {
      name: node.name,
      ip: node.ip,
      os: node.os,
      providerId:
        `azure:///subscriptions/${cluster.subscriptionId}/resourceGroups/${cluster.nodeResourceGroup.toLowerCase()}` +
        `/providers/Microsoft.Compute/virtualMachineScaleSets/${vmssOf(node.name)}/virtualMachines/${n}`,
      snat: {
        usedPorts,
        allocatedPorts,
        failedConnections: node.snat.failedConnections,
        successfulConnections: node.snat.successfulConnections ?? usedPorts * 4,
      },
      probe: node.probe,
      pods,
    };
  });
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
    nodes,
    latencies: doc.latencies,
    faults: doc.faults,
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
