// The sandbox cluster's Kubernetes state: the scenario's nodes and pods as the API server would return them (plain
// Kubernetes JSON), plus the pods created through the API — the node probe's pod above all, which "runs" the probe on
// its node: Pending → Running → Succeeded, and its logs are the report lib/probe/node-probe.sh prints there.
//
// This file knows nothing of HTTP. Operations throw `KubeStatusError` (a Kubernetes `Status` to serve) or
// `TransportFault` (the transport must not answer, or cut its answer short); lib/sandbox/kubeApiServer.ts turns both
// into the wire's behaviour. The scenario's faults are applied here, so every transport fails the same way.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { FaultInjector, type FaultSubject } from './faults.ts';
import { renderProbeReport } from './nodeProbe.ts';
import { execInPod } from './podExec.ts';
import type { Fault, FaultTarget, Scenario, ScenarioNode, ScenarioPod } from './scenario.ts';

/** The Kubernetes version the sandbox claims (nodes' kubelets and the API server). */
export const SANDBOX_KUBERNETES_VERSION = 'v1.32.4';

// ── Kubernetes JSON, as far as the sandbox fills it in ──────────────────────────────────────────────────────────────

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  securityContext?: { privileged?: boolean };
  [field: string]: unknown;
}

export interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  restartPolicy?: string;
  containers: ContainerSpec[];
  [field: string]: unknown;
}

export interface PodObject extends KubeObject {
  spec: PodSpec;
  status: Record<string, unknown> & { phase: PodPhase };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** A Kubernetes `Status` (metav1.Status): what the API server answers when a request fails. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: {
    name?: string;
    retryAfterSeconds?: number;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message: string; field?: string }[];
  };
  code: number;
}

/** A request the API server refuses: the transport serves `status` with its code (and Retry-After when set). */
export class KubeStatusError extends Error {
  readonly status: KubeStatus;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: Omit<KubeStatus, 'kind' | 'apiVersion' | 'metadata' | 'status'>, retryAfterSeconds?: number) {
    super(status.message);
    this.name = 'KubeStatusError';
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...status };
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * A fault the transport acts out: `hang` never answers (the client's own timeout ends the call); `drop` sends the
 * start of an answer and breaks the connection.
 */
export class TransportFault extends Error {
  readonly kind: 'hang' | 'drop';
  constructor(kind: 'hang' | 'drop', message: string) {
    super(message);
    this.name = 'TransportFault';
    this.kind = kind;
  }
}

export interface ExecOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** The stream breaks after `stdout` (a `stream-dropped` fault): no status reaches the client. */
  dropped?: boolean;
}

export interface ListOptions {
  namespace?: string;
  /** `spec.nodeName=X,status.phase=Running`: `=`, `==` and `!=` on the fields the API server supports. */
  fieldSelector?: string;
  /** `app=x,tier!=db,env in (a,b),!legacy`. */
  labelSelector?: string;
}

/** Every pod created through the API, for tests to assert that nothing was left behind. */
export interface PodRecord {
  namespace: string;
  name: string;
  node?: string;
  probe: boolean;
  createdAt: string;
  deletedAt?: string;
  /** Every phase it went through, the last one current. */
  phases: PodPhase[];
  /** The pod as the API server stored it on creation (defaults filled in). */
  pod: PodObject;
}

export interface SandboxClusterOptions {
  /** Apply the scenario's latencies to each call (as the CLI does). The probe pod's run always takes its time. */
  latency?: boolean;
  /** Injected so tests can make the probe pod's lifecycle (and latencies) instant. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** The user named in Forbidden messages. */
  user?: string;
}

const DEFAULT_PROBE_MS = 50;
const NSENTER = ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const BUILT_IN_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

interface StoredPod {
  object: PodObject;
  /** The scenario's node and pod behind it, for exec; created pods get an empty stand-in. */
  node?: ScenarioNode;
  source: ScenarioPod;
  logs: string;
  record?: PodRecord;
  /** For probe pods: what `probe.capture` fault (if any) this run got, consumed at creation. */
  probeFault?: Fault;
}

export class SandboxCluster {
  readonly scenario: Scenario;
  readonly #faults: FaultInjector;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => Date;
  readonly #latency: boolean;
  readonly user: string;
  readonly #nodes: KubeObject[];
  readonly #pods = new Map<string, StoredPod>();
  readonly #records: PodRecord[] = [];
  readonly #namespaces: Map<string, KubeObject>;
  #resourceVersion = 1000;

  constructor(scenario: Scenario, options: SandboxClusterOptions = {}) {
    this.scenario = scenario;
    this.#faults = new FaultInjector(scenario.faults);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#now = options.now ?? (() => new Date());
    this.#latency = options.latency ?? false;
    this.user = options.user ?? 'sandbox-user';
    // The cluster and its pods were created a while ago, so ages read like a real cluster's.
    const born = new Date(this.#now().getTime() - 9 * 24 * 3600_000);
    const started = new Date(this.#now().getTime() - 26 * 3600_000);
    this.#nodes = scenario.nodes.map((node, index) => nodeObject(scenario, node, index, born, this.#nextVersion()));
    // Terminating pods were asked to stop a few seconds ago, within their 30 s grace period.
    const deleting = new Date(this.#now().getTime() - 5_000);
    for (const node of scenario.nodes) {
      for (const pod of [...node.pods, ...node.inactivePods]) {
        const object = scenarioPodObject(node, pod, started, deleting, this.#nextVersion());
        this.#pods.set(key(pod.namespace, pod.name), { object, node, source: pod, logs: '' });
      }
    }
    const names = new Set([
      ...BUILT_IN_NAMESPACES,
      ...scenario.nodes.flatMap((n) => [...n.pods, ...n.inactivePods].map((p) => p.namespace)),
    ]);
    this.#namespaces = new Map(
      [...names].sort().map((name) => [name, namespaceObject(name, born, this.#nextVersion())] as const),
    );
  }

  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  now(): Date {
    return this.#now();
  }

  // ── Reads ────────────────────────────────────────────────────────────────────────────────────────────────────────

  async listNodes(options: ListOptions = {}): Promise<KubeObject[]> {
    await this.#call('kubernetes.listNodes', {}, () => forbidden(this.user, 'list', 'nodes'));
    const fields = parseFieldSelector(options.fieldSelector, NODE_FIELDS);
    const labels = parseLabelSelector(options.labelSelector);
    return this.#nodes.filter((node) => fields.every((f) => f(node)) && labels(node)).map(clone);
  }

  async getNode(name: string): Promise<KubeObject> {
    const node = this.#nodes.find((n) => n.metadata.name === name);
    if (!node) throw notFound('nodes', name);
    return clone(node);
  }

  listNamespaces(): KubeObject[] {
    return [...this.#namespaces.values()].map(clone);
  }

  getNamespace(name: string): KubeObject {
    const namespace = this.#namespaces.get(name);
    if (!namespace) throw notFound('namespaces', name);
    return clone(namespace);
  }

  async listPods(options: ListOptions = {}): Promise<PodObject[]> {
    const fields = parseFieldSelector(options.fieldSelector, POD_FIELDS);
    const labels = parseLabelSelector(options.labelSelector);
    const node = /(?:^|,)\s*spec\.nodeName\s*==?\s*([^,]*)/.exec(options.fieldSelector ?? '')?.[1]?.trim();
    await this.#call('kubernetes.listPodsOnNode', { node }, () =>
      forbidden(this.user, 'list', 'pods', options.namespace),
    );
    return [...this.#pods.values()]
      .map((p) => p.object)
      .filter((pod) => options.namespace === undefined || pod.metadata.namespace === options.namespace)
      .filter((pod) => fields.every((f) => f(pod)) && labels(pod))
      .map(clone);
  }

  async getPod(namespace: string, name: string): Promise<PodObject> {
    return clone(this.#pod(namespace, name).object);
  }

  /** The container's output so far (`kubectl logs`), with `probe.capture` faults acted out for probe pods. */
  async podLogs(namespace: string, name: string, container?: string): Promise<string> {
    const stored = this.#pod(namespace, name);
    const { object } = stored;
    const chosen = containerOf(object, container);
    if (object.status.phase === 'Pending') {
      throw badRequest(`container "${chosen}" in pod "${name}" is waiting to start: ContainerCreating`);
    }
    const fault = stored.probeFault;
    if (fault && HTTP_KINDS.has(fault.error)) {
      if (fault.error === 'stream-dropped') throw new TransportFault('drop', `${fault.target}: the log stream dropped`);
      this.#httpFault(fault, () => forbidden(this.user, 'get', 'pods/log', namespace, name));
    }
    return stored.logs;
  }

  // ── Writes ───────────────────────────────────────────────────────────────────────────────────────────────────────

  /** `POST /api/v1/namespaces/{namespace}/pods`: validates like the API server, then schedules and "runs" the pod. */
  async createPod(namespace: string, manifest: unknown): Promise<PodObject> {
    const spec = validatePod(namespace, manifest, this.#namespaces);
    const node = this.scenario.nodes.find((n) => n.name === spec.nodeName);
    const fault = await this.#call(
      'kubernetes.createPod',
      { node: spec.nodeName },
      () => forbidden(this.user, 'create', 'pods', namespace),
      ['failed', 'pending'],
    );
    // A create that "fails" is refused by admission, as Azure Policy refuses privileged pods.
    if (fault?.error === 'failed') throw admissionDenied(spec.name, spec.privilegedContainer);
    let name = spec.name;
    if (!name) {
      // generateName: the API server appends five characters from its alphabet.
      do name = `${spec.generateName}${randomSuffix()}`;
      while (this.#pods.has(key(namespace, name)));
    }
    if (this.#pods.has(key(namespace, name))) {
      throw new KubeStatusError({
        reason: 'AlreadyExists',
        message: `pods "${name}" already exists`,
        details: { name, kind: 'pods' },
        code: 409,
      });
    }
    const now = this.#now().toISOString();
    const object = createdPodObject(spec.manifest, namespace, name, now, this.#nextVersion(), node);
    const probeArgs = node?.os === 'linux' ? probeInvocation(object.spec) : undefined;
    const record: PodRecord = {
      namespace,
      name,
      ...(object.spec.nodeName ? { node: object.spec.nodeName } : {}),
      probe: probeArgs !== undefined,
      createdAt: now,
      phases: ['Pending'],
      pod: clone(object),
    };
    const stored: StoredPod = {
      object,
      ...(node ? { node } : {}),
      source: standInPod(object, node),
      logs: '',
      record,
    };
    this.#pods.set(key(namespace, name), stored);
    this.#records.push(record);

    if (fault?.error === 'pending') {
      this.#unschedulable(stored, fault);
    } else if (node && probeArgs) {
      stored.probeFault = this.#faults.take('probe.capture', { node: node.name });
      if (stored.probeFault?.error === 'pending') this.#unschedulable(stored, stored.probeFault);
      else {
        this.#runProbe(stored, node, probeArgs.container, probeArgs.args).catch((error: unknown) => {
          // A bug in the simulation must show up as a failed probe, not as an unhandled rejection.
          stored.logs = `@@ error\nsandbox: ${(error as Error).message}\n@@ end\n`;
          this.#setPhase(stored, 'Failed', { terminated: { exitCode: 1, reason: 'Error' } });
        });
      }
    } else if (node) {
      // Anything else "runs" at once and keeps running: the sandbox has no images to execute.
      this.#setPhase(stored, 'Running', { running: { startedAt: now } });
    }
    return clone(object);
  }

  /** Deletes at once (no grace period: nothing runs), keeping a record. */
  async deletePod(namespace: string, name: string): Promise<PodObject> {
    const stored = this.#pod(namespace, name);
    this.#pods.delete(key(namespace, name));
    const deletedAt = this.#now().toISOString();
    if (stored.record) stored.record.deletedAt = deletedAt;
    stored.object.metadata.deletionTimestamp = deletedAt;
    stored.object.metadata.resourceVersion = this.#nextVersion();
    return clone(stored.object);
  }

  /** What running argv in the pod's container prints (the answers of lib/sandbox/scenarioPorts.ts). */
  async exec(namespace: string, name: string, container: string | undefined, argv: string[]): Promise<ExecOutcome> {
    const stored = this.#pod(namespace, name);
    const chosen = containerOf(stored.object, container);
    const fault = await this.#call(
      'kubernetes.exec',
      { pod: `${namespace}/${name}` },
      () => forbidden(this.user, 'create', 'pods/exec', namespace, name),
      ['failed', 'truncated', 'stream-dropped'],
    );
    if (stored.object.status.phase !== 'Running' || !stored.node) {
      throw badRequest(`unable to upgrade connection: container not found ("${chosen}")`);
    }
    const result = execInPod(stored.node, stored.source, argv);
    if (fault?.error === 'failed') {
      return { stdout: '', stderr: `${fault.message ?? `${argv[0] ?? ''}: Input/output error`}\n`, exitCode: 1 };
    }
    if (fault?.error === 'stream-dropped' || fault?.error === 'truncated') {
      const cut = result.stdout.slice(0, fault.bytes ?? Math.floor(result.stdout.length / 2));
      return { ...result, stdout: cut, ...(fault.error === 'stream-dropped' ? { dropped: true } : {}) };
    }
    return result;
  }

  // ── For tests ────────────────────────────────────────────────────────────────────────────────────────────────────

  /** Every pod created through the API, in order, with when it was deleted. */
  podHistory(): PodRecord[] {
    return this.#records.map((r) => ({ ...r, phases: [...r.phases], pod: clone(r.pod) }));
  }

  /** Pods created through the API and not deleted: after an investigation, there must be none. */
  leftoverPods(): PodRecord[] {
    return this.podHistory().filter((r) => r.deletedAt === undefined);
  }

  // ── Internals ────────────────────────────────────────────────────────────────────────────────────────────────────

  #nextVersion(): string {
    this.#resourceVersion += 1;
    return String(this.#resourceVersion);
  }

  #pod(namespace: string, name: string): StoredPod {
    const stored = this.#pods.get(key(namespace, name));
    if (!stored) throw notFound('pods', name);
    return stored;
  }

  /**
   * One call to a fault target: its latency, then its fault. Kinds listed in `handled` are returned for the caller
   * to act out; the others fail the exchange itself (an HTTP error, no answer, a cut answer). A kind that means
   * nothing for this call is served as a 500 that names the fault.
   */
  async #call(
    target: FaultTarget,
    subject: FaultSubject,
    forbid: () => KubeStatusError,
    handled: Fault['error'][] = [],
  ): Promise<Fault | undefined> {
    const ms = this.#latency ? (this.scenario.latencies[target] ?? 0) : 0;
    if (ms > 0) await this.#sleep(ms);
    const fault = this.#faults.take(target, subject);
    if (!fault || handled.includes(fault.error)) return fault;
    if (fault.error === 'stream-dropped' || fault.error === 'truncated') {
      throw new TransportFault('drop', `${target}: the connection dropped (simulated ${fault.error})`);
    }
    this.#httpFault(fault, forbid);
  }

  #httpFault(fault: Fault, forbid: () => KubeStatusError): never {
    const message = fault.message;
    switch (fault.error) {
      case 'timeout':
        throw new TransportFault('hang', `${fault.target}: no answer (simulated timeout)`);
      case 'throttled':
        throw new KubeStatusError(
          {
            reason: 'TooManyRequests',
            message: message ?? 'Too many requests, please try again later.',
            details: { retryAfterSeconds: fault.retryAfterSeconds ?? 1 },
            code: 429,
          },
          fault.retryAfterSeconds ?? 1,
        );
      case 'transient':
        throw new KubeStatusError({
          reason: 'ServiceUnavailable',
          message: message ?? 'the server is currently unable to handle the request',
          code: 503,
        });
      case 'forbidden': {
        const error = forbid();
        if (!message) throw error;
        throw new KubeStatusError({ ...error.status, message });
      }
      default:
        throw new KubeStatusError({
          reason: 'InternalError',
          message: `Internal error occurred: ${message ?? `${fault.target} failed (simulated ${fault.error})`}`,
          details: { causes: [{ message: message ?? `simulated ${fault.error}` }] },
          code: 500,
        });
    }
  }

  #setPhase(stored: StoredPod, phase: PodPhase, state: Record<string, unknown>): void {
    const { object } = stored;
    const now = this.#now().toISOString();
    const running = phase === 'Running';
    const done = phase === 'Succeeded' || phase === 'Failed';
    object.status = {
      ...object.status,
      phase,
      conditions: [
        condition('PodReadyToStartContainers', running || done),
        condition('Initialized', true),
        condition('Ready', running, done ? 'PodCompleted' : undefined),
        condition('ContainersReady', running, done ? 'PodCompleted' : undefined),
        condition('PodScheduled', true),
      ].map((c) => ({ ...c, lastProbeTime: null, lastTransitionTime: now })),
      ...(phase !== 'Pending' ? { startTime: object.status.startTime ?? now } : {}),
      containerStatuses: object.spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: running,
        restartCount: 0,
        started: running,
        state,
        ...(phase !== 'Pending' ? { containerID: `containerd://${digest(`${object.metadata.uid}/${c.name}`)}` } : {}),
      })),
    };
    object.metadata.resourceVersion = this.#nextVersion();
    if (stored.record && stored.record.phases.at(-1) !== phase) stored.record.phases.push(phase);
  }

  #unschedulable(stored: StoredPod, fault: Fault): void {
    const count = this.scenario.nodes.length;
    const message =
      fault.message ??
      `0/${count} nodes are available: 1 Insufficient cpu, ${count - 1} node(s) didn't match Pod's node affinity/selector. ` +
        `preemption: 0/${count} nodes are available: 1 No preemption victims found for incoming pod, ${count - 1} Preemption is not helpful for scheduling.`;
    stored.object.status = {
      phase: 'Pending',
      qosClass: stored.object.status.qosClass,
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message,
          lastProbeTime: null,
          lastTransitionTime: this.#now().toISOString(),
        },
      ],
    };
    stored.object.metadata.resourceVersion = this.#nextVersion();
  }

  /** The probe pod's life: container start, the capture (the scenario's `probe.capture` latency), the end. */
  async #runProbe(stored: StoredPod, node: ScenarioNode, container: string, args: string[]): Promise<void> {
    const captureMs = this.scenario.latencies['probe.capture'] ?? DEFAULT_PROBE_MS;
    const alive = () =>
      this.#pods.get(key(stored.object.metadata.namespace ?? '', stored.object.metadata.name)) === stored;
    await this.#sleep(Math.min(200, Math.round(captureMs / 10)));
    if (!alive()) return;
    const startedAt = this.#now().toISOString();
    this.#setPhase(stored, 'Running', { running: { startedAt } });
    await this.#sleep(captureMs);
    if (!alive()) return;

    const finish = (exitCode: number, logs: string) => {
      stored.logs = logs;
      const terminated = {
        exitCode,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: this.#now().toISOString(),
        containerID: `containerd://${digest(`${stored.object.metadata.uid}/${container}`)}`,
      };
      this.#setPhase(stored, exitCode === 0 ? 'Succeeded' : 'Failed', { terminated });
    };
    const parsed = parseProbeArgs(args);
    if ('error' in parsed) return finish(2, `@@ error\n${parsed.error}\n@@ end\n`);
    const fault = stored.probeFault;
    if (fault?.error === 'failed') {
      const reason = fault.message ?? 'tcptracer: failed to attach kprobe to tcp_v4_connect: Operation not permitted';
      return finish(1, `@@ snat-doctor-probe 1\n@@ error\n${reason}\n@@ end\n`);
    }
    const report = renderProbeReport(node, parsed.seconds);
    // A truncated run: the output stops at `bytes`, as if the probe was killed mid-report.
    const logs = fault?.error === 'truncated' ? report.slice(0, fault.bytes ?? Math.floor(report.length / 2)) : report;
    finish(0, logs);
  }
}

// ── Faults (the logic of lib/sandbox/scenarioPorts.ts's injector) ─────────────────────────────────────────────────

/** Kinds that fail the HTTP exchange itself (as opposed to a probe's outcome). */
const HTTP_KINDS = new Set<Fault['error']>([
  'transient',
  'throttled',
  'server-error',
  'timeout',
  'forbidden',
  'stream-dropped',
]);

// ── Statuses ─────────────────────────────────────────────────────────────────────────────────────────────────────

export function notFound(resource: string, name: string): KubeStatusError {
  return new KubeStatusError({
    reason: 'NotFound',
    message: `${resource} "${name}" not found`,
    details: { name, kind: resource },
    code: 404,
  });
}

export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError({ reason: 'BadRequest', message, code: 400 });
}

/** The RBAC authorizer's wording, which kubectl prints as "Error from server (Forbidden): …". */
export function forbidden(
  user: string,
  verb: string,
  resource: string,
  namespace?: string,
  name?: string,
): KubeStatusError {
  const [base, subresource] = resource.split('/');
  const subject = name ? `${base} "${name}"` : base;
  const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  return new KubeStatusError({
    reason: 'Forbidden',
    message: `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "" ${scope}`,
    details: { ...(name ? { name } : {}), kind: subresource ? base : resource },
    code: 403,
  });
}

/** How Azure Policy (Gatekeeper) refuses a privileged pod: a 403 from an admission webhook, not from RBAC. */
function admissionDenied(name: string | undefined, container: string | undefined): KubeStatusError {
  return new KubeStatusError({
    reason: 'Forbidden',
    message:
      'admission webhook "validation.gatekeeper.sh" denied the request: [azurepolicy-k8sazurev2noprivilege] ' +
      `Privileged container is not allowed: ${container ?? 'probe'}, securityContext: {"privileged": true}`,
    details: { ...(name ? { name } : {}), kind: 'pods' },
    code: 403,
  });
}

function invalid(name: string, causes: { field: string; message: string }[]): KubeStatusError {
  return new KubeStatusError({
    reason: 'Invalid',
    message: `Pod "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    details: { name, kind: 'Pod', causes: causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })) },
    code: 422,
  });
}

// ── Validation of created pods ───────────────────────────────────────────────────────────────────────────────────

interface ValidPod {
  manifest: Record<string, unknown> & { metadata: Record<string, unknown>; spec: PodSpec };
  name?: string;
  generateName?: string;
  nodeName?: string;
  privilegedContainer?: string;
}

function validatePod(namespace: string, manifest: unknown, namespaces: Map<string, KubeObject>): ValidPod {
  if (!isRecord(manifest) || (manifest.kind !== undefined && manifest.kind !== 'Pod')) {
    throw badRequest('the body of the request was in an unknown format: expected a Pod');
  }
  const metadata = isRecord(manifest.metadata) ? manifest.metadata : {};
  if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!namespaces.has(namespace)) throw notFound('namespaces', namespace);
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : undefined;
  const generateName = typeof metadata.generateName === 'string' ? metadata.generateName : undefined;
  const shown = name ?? generateName ?? '';
  const causes: { field: string; message: string }[] = [];
  if (name === undefined && generateName === undefined) {
    causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
  }
  const candidate = name ?? (generateName ? `${generateName}abcde` : undefined);
  if (candidate !== undefined && !DNS_SUBDOMAIN.test(candidate)) {
    causes.push({
      field: 'metadata.name',
      message:
        `Invalid value: "${shown}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric ` +
        "characters, '-' or '.', and must start and end with an alphanumeric character",
    });
  }
  const spec = isRecord(manifest.spec) ? manifest.spec : {};
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  if (containers.length === 0) causes.push({ field: 'spec.containers', message: 'Required value' });
  containers.forEach((c: unknown, i) => {
    const container = isRecord(c) ? c : {};
    if (typeof container.name !== 'string' || !DNS_LABEL.test(container.name) || container.name.length > 63) {
      causes.push({ field: `spec.containers[${i}].name`, message: `Invalid value: ${JSON.stringify(container.name)}` });
    }
    if (typeof container.image !== 'string' || container.image.trim() === '') {
      causes.push({ field: `spec.containers[${i}].image`, message: 'Required value' });
    }
  });
  if (spec.nodeName !== undefined && (typeof spec.nodeName !== 'string' || !DNS_SUBDOMAIN.test(spec.nodeName))) {
    causes.push({ field: 'spec.nodeName', message: `Invalid value: ${JSON.stringify(spec.nodeName)}` });
  }
  if (causes.length > 0) throw invalid(shown, causes);
  const privileged = (containers as ContainerSpec[]).find((c) => c.securityContext?.privileged === true);
  return {
    manifest: { ...manifest, metadata, spec: spec as unknown as PodSpec },
    ...(name ? { name } : {}),
    ...(generateName ? { generateName } : {}),
    ...(typeof spec.nodeName === 'string' ? { nodeName: spec.nodeName } : {}),
    ...(privileged ? { privilegedContainer: privileged.name } : {}),
  };
}

/**
 * The node probe's pod, recognised by shape: privileged, the host's PID namespace, and `nsenter -t 1 -m -u -i -n
 * -p -- sh -c SCRIPT $0 ARGS…`. The script itself is whatever the app sends; only its arguments are read.
 */
export function probeInvocation(spec: PodSpec): { container: string; args: string[] } | undefined {
  if (spec.hostPID !== true) return undefined;
  for (const c of spec.containers) {
    if (c.securityContext?.privileged !== true) continue;
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const entersHost = NSENTER.every((token, i) => argv[i] === token);
    const shell = argv[9] === 'sh' && argv[10] === '-c' && typeof argv[11] === 'string' && argv.length >= 13;
    if (entersHost && shell) return { container: c.name, args: argv.slice(13) };
  }
  return undefined;
}

/** The row options' largest values: past them the report could pass runCommand's 512 kB (node-probe.sh). */
const ROW_LIMITS: Record<string, number> = {
  '--max-trace-rows': 400,
  '--max-socket-rows': 500,
  '--max-per-source': 500,
};

/** The probe script's own argument rules (lib/probe/node-probe.sh), with its messages. */
function parseProbeArgs(args: string[]): { seconds: number } | { error: string } {
  let seconds = 30;
  const whole = (v: string | undefined) => v !== undefined && /^\d{1,6}$/.test(v);
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === '--seconds') {
      if (!whole(value) || Number(value) < 1 || Number(value) > 300) {
        return { error: '--seconds wants a whole number from 1 to 300' };
      }
      seconds = Number(value);
    } else if (flag !== undefined && flag in ROW_LIMITS) {
      const most = ROW_LIMITS[flag] as number;
      if (!whole(value) || Number(value) < 1 || Number(value) > most) {
        return { error: `${flag} wants a whole number from 1 to ${most}` };
      }
    } else {
      return {
        error: 'unknown argument (expected --seconds N, --max-trace-rows N, --max-socket-rows N, --max-per-source N)',
      };
    }
  }
  return { seconds };
}

// ── Field and label selectors ────────────────────────────────────────────────────────────────────────────────────

type Getter = (object: KubeObject) => string;
const NODE_FIELDS: Record<string, Getter> = {
  'metadata.name': (o) => o.metadata.name,
  'spec.unschedulable': (o) => String(o.spec?.unschedulable ?? false),
};
const POD_FIELDS: Record<string, Getter> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
  'spec.nodeName': (o) => String(o.spec?.nodeName ?? ''),
  'spec.hostNetwork': (o) => String(o.spec?.hostNetwork ?? false),
  'spec.restartPolicy': (o) => String(o.spec?.restartPolicy ?? ''),
  'status.phase': (o) => String(o.status?.phase ?? ''),
  'status.podIP': (o) => String(o.status?.podIP ?? ''),
};

function parseFieldSelector(
  selector: string | undefined,
  fields: Record<string, Getter>,
): ((object: KubeObject) => boolean)[] {
  if (!selector?.trim()) return [];
  return selector.split(',').map((term) => {
    const match = /^\s*([\w.]+)\s*(==|!=|=)\s*(.*?)\s*$/.exec(term);
    if (!match) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field = '', op, value = ''] = match;
    const get = fields[field];
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value;
  });
}

/** Equality-, set- and existence-based label selectors (labels.Parse), enough for kubectl's `-l`. */
function parseLabelSelector(selector: string | undefined): (object: KubeObject) => boolean {
  if (!selector?.trim()) return () => true;
  // Commas inside `in (a,b)` do not separate requirements.
  const terms = selector.match(/[^,(]+(?:\([^)]*\))?/g) ?? [];
  const tests = terms.map((raw): ((labels: Record<string, string>) => boolean) => {
    const term = raw.trim();
    let m = /^!\s*([\w./-]+)$/.exec(term);
    if (m) return (l) => !(m![1]! in l);
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const [, k = '', op, list = ''] = m;
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => values.includes(l[k] ?? '\0') : (l) => !values.includes(l[k] ?? '\0');
    }
    m = /^([\w./-]+)\s*(==|!=|=)\s*([\w.-]*)$/.exec(term);
    if (m) {
      const [, k = '', op, v = ''] = m;
      return op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v;
    }
    m = /^([\w./-]+)$/.exec(term);
    if (m) return (l) => m![1]! in l;
    throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
  });
  return (object) => tests.every((t) => t(object.metadata.labels ?? {}));
}

// ── Objects ──────────────────────────────────────────────────────────────────────────────────────────────────────

function nodeObject(scenario: Scenario, node: ScenarioNode, index: number, born: Date, version: string): KubeObject {
  const pool = /^aks-([a-z0-9]+)-\d+-vmss/.exec(node.name)?.[1] ?? node.name.replace(/\d+$/, '').slice(0, 12);
  const linux = node.os === 'linux';
  const created = new Date(born.getTime() + index * 60_000).toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      uid: uuidFrom(`node:${node.name}`),
      resourceVersion: version,
      creationTimestamp: created,
      labels: {
        agentpool: pool,
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': node.os,
        'kubernetes.azure.com/agentpool': pool,
        'kubernetes.azure.com/cluster': scenario.cluster.nodeResourceGroup,
        'kubernetes.azure.com/mode': index === 0 ? 'system' : 'user',
        'kubernetes.azure.com/os-sku': linux ? 'Ubuntu' : 'Windows2022',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': node.os,
        'node.kubernetes.io/instance-type': 'Standard_D4ds_v5',
        'topology.kubernetes.io/region': scenario.cluster.location,
        'topology.kubernetes.io/zone': '0',
      },
    },
    spec: { providerID: node.providerId },
    status: {
      capacity: { cpu: '4', memory: '16365136Ki', pods: '110', 'ephemeral-storage': '129886128Ki' },
      allocatable: { cpu: '3860m', memory: '12880464Ki', pods: '110', 'ephemeral-storage': '119703055367' },
      conditions: [
        ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
        ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
        ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
        ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
      ].map(([type, status, reason, message]) => ({
        type,
        status,
        reason,
        message,
        lastHeartbeatTime: created,
        lastTransitionTime: created,
      })),
      // A dual-stack node lists its IPv6 InternalIP after the IPv4 one, as the kubelet does for the primary family.
      addresses: [
        { type: 'InternalIP', address: node.ip },
        ...(node.ipv6 ? [{ type: 'InternalIP', address: node.ipv6 }] : []),
        { type: 'Hostname', address: node.name },
      ],
      nodeInfo: {
        machineID: digest(`machine:${node.name}`).slice(0, 32),
        systemUUID: uuidFrom(`system:${node.name}`),
        bootID: uuidFrom(`boot:${node.name}`),
        kernelVersion: linux ? '5.15.0-1079-azure' : '10.0.20348.3453',
        osImage: linux ? 'Ubuntu 22.04.5 LTS' : 'Windows Server 2022 Datacenter',
        containerRuntimeVersion: linux ? 'containerd://1.7.27-1' : 'containerd://1.7.20+azure',
        kubeletVersion: SANDBOX_KUBERNETES_VERSION,
        kubeProxyVersion: SANDBOX_KUBERNETES_VERSION,
        operatingSystem: node.os,
        architecture: 'amd64',
      },
    },
  };
}

function scenarioPodObject(
  node: ScenarioNode,
  pod: ScenarioPod,
  started: Date,
  deleting: Date,
  version: string,
): PodObject {
  const startedAt = started.toISOString();
  const running = pod.phase === 'Running';
  const pending = pod.phase === 'Pending';
  // A finished pod ran for a minute; its containers ended then.
  const finishedAt = new Date(started.getTime() + 60_000).toISOString();
  // Not Running: scheduled and initialised, but with no sandbox (not yet, or no longer) and no ready containers.
  const ready = (type: string) => {
    const up = running || type === 'Initialized' || type === 'PodScheduled';
    const containers = type === 'Ready' || type === 'ContainersReady';
    return {
      type,
      status: up ? 'True' : 'False',
      ...(!up && containers ? { reason: pending ? 'ContainersNotReady' : 'PodCompleted' } : {}),
      lastProbeTime: null,
      lastTransitionTime: running || pending ? startedAt : finishedAt,
    };
  };
  const state = (name: string) =>
    running
      ? { running: { startedAt } }
      : pending
        ? { waiting: { reason: 'ContainerCreating' } }
        : {
            terminated: {
              exitCode: pod.phase === 'Succeeded' ? 0 : 1,
              reason: pod.phase === 'Succeeded' ? 'Completed' : 'Error',
              startedAt,
              finishedAt,
              containerID: `containerd://${digest(`${pod.uid}/${name}`)}`,
            },
          };
  const hostIPs = [{ ip: node.ip }, ...(node.ipv6 ? [{ ip: node.ipv6 }] : [])];
  // Job pods are never restarted in place: the Job controller makes new ones (a CronJob's Job's too).
  const restartPolicy = pod.owner?.kind === 'Job' ? 'Never' : 'Always';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      resourceVersion: version,
      creationTimestamp: startedAt,
      ...(pod.terminating ? { deletionTimestamp: deleting.toISOString(), deletionGracePeriodSeconds: 30 } : {}),
      ...(Object.keys(pod.labels).length > 0 ? { labels: { ...pod.labels } } : {}),
      ...(pod.owner
        ? {
            ownerReferences: [
              {
                apiVersion: pod.owner.kind === 'Job' ? 'batch/v1' : 'apps/v1',
                kind: pod.owner.kind,
                name: pod.owner.name,
                uid: pod.owner.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      nodeName: node.name,
      ...(pod.hostNetwork ? { hostNetwork: true } : {}),
      restartPolicy,
      nodeSelector: { 'kubernetes.io/os': node.os },
      containers: pod.containers.map((c) => ({ name: c.name, image: c.image })),
    },
    status: {
      phase: pod.phase,
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(ready),
      hostIP: node.ip,
      hostIPs,
      ...(pod.ip ? { podIP: pod.ip, podIPs: [{ ip: pod.ip }] } : {}),
      startTime: startedAt,
      qosClass: 'BestEffort',
      containerStatuses: pod.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: pending ? '' : `${c.image.split(':')[0]}@sha256:${digest(`image:${c.image}`)}`,
        ...(running ? { containerID: `containerd://${digest(`${pod.sandboxId}/${c.name}`)}` } : {}),
        ready: running,
        restartCount: 0,
        started: running,
        state: state(c.name),
      })),
    },
  };
}

function createdPodObject(
  manifest: ValidPod['manifest'],
  namespace: string,
  name: string,
  now: string,
  version: string,
  node: ScenarioNode | undefined,
): PodObject {
  const { metadata, spec } = structuredClone(manifest);
  const hostNetwork = spec.hostNetwork === true;
  const limited = spec.containers.every((c) => isRecord(c.resources) && Object.keys(c.resources).length > 0);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...metadata,
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: version,
      creationTimestamp: now,
    },
    spec: {
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
      ...spec,
    },
    status: {
      phase: 'Pending',
      ...(node ? { hostIP: node.ip, hostIPs: [{ ip: node.ip }] } : {}),
      ...(node && hostNetwork ? { podIP: node.ip, podIPs: [{ ip: node.ip }] } : {}),
      qosClass: limited ? 'Burstable' : 'BestEffort',
    },
  };
}

function namespaceObject(name: string, born: Date, version: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      uid: uuidFrom(`namespace:${name}`),
      resourceVersion: version,
      creationTimestamp: born.toISOString(),
      labels: { 'kubernetes.io/metadata.name': name },
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

/** A created pod as the exec answers see it: its IP, no connections of its own. */
function standInPod(object: PodObject, node: ScenarioNode | undefined): ScenarioPod {
  return {
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
    uid: object.metadata.uid,
    ip: node?.ip ?? '0.0.0.0',
    hostNetwork: object.spec.hostNetwork === true,
    netns: 0,
    sandboxId: digest(`sandbox:${object.metadata.uid}`),
    containers: object.spec.containers.map((c) => ({ name: c.name, image: c.image, command: c.name.slice(0, 15) })),
    connections: [],
    inbound: [],
    labels: { ...(object.metadata.labels ?? {}) },
    workload: { kind: 'Pod', name: object.metadata.name },
    phase: 'Running',
    terminating: false,
  };
}

function condition(type: string, value: boolean, reason?: string): Record<string, unknown> {
  return { type, status: value ? 'True' : 'False', ...(reason ? { reason } : {}) };
}

/** The container a request means: the named one, or the only one (as the API server decides). */
function containerOf(pod: PodObject, container: string | undefined): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (container !== undefined && container !== '') {
    if (!names.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
    }
    return container;
  }
  if (names.length === 1) return names[0] as string;
  throw badRequest(
    `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
  );
}

// ── Small things ─────────────────────────────────────────────────────────────────────────────────────────────────

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function digest(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

function uuidFrom(seed: string): string {
  const h = digest(seed).slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** generateName's suffix: five characters of the API server's alphabet (no vowels, no look-alikes). */
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
}
