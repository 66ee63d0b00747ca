// The real Kubernetes adapter: `@kubernetes/client-node` behind the `KubernetesApi` port (nodes, pods on a node, exec
// over WebSocket) and the node probe's direct transport (`runProbePod`: the privileged probe pod, its logs, and its
// deletion on every way out). Built from a kubeconfig string: the cluster user credentials ARM hands out, or the
// sandbox's.
//
// Every call has a timeout (an API server that never answers must not hang an activity) and every failure leaves
// as our error vocabulary: throttling, 5xx, timeouts and broken streams as `TransientError` (the orchestrator
// retries them, waiting at least Retry-After), 403 as FORBIDDEN naming the RBAC rule that is missing, 404 as what
// was not found.

import { isIP } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ApiException,
  CoreV1Api,
  Exec,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type V1Node,
  type V1Pod,
  type V1Status,
} from '@kubernetes/client-node';
// Not re-exported by the package's index, but the only way to give Exec our own sockets (timeouts, the upgrade's
// answer) and our own output streams (its default streams are the process's stdout/stderr).
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import WebSocket from 'ws';
import { workloadOf } from '../analysis/workloadOf.ts';
import { type ErrorCode, SnatDoctorError, TransientError } from '../errors.ts';
import type { NodeInfo, PodInfo, PodPhase } from '../model.ts';
import type { ExecResult, KubernetesApi } from '../ports.ts';
import { PROBE_LABEL, PROBE_NAMESPACE, PROBE_POD_NAME, probePodManifest } from '../probe/probePod.ts';
import type { ProbePodClient } from './nodeProbe.ts';

export interface KubernetesAdapterOptions {
  /** Each API call (and each exec) must finish within this; default 30 s. */
  timeoutMs?: number;
  /** How often the probe pod's phase is read while waiting for it; default 2 s. */
  pollIntervalMs?: number;
  /** Injected clock and sleep for the probe pod's wait (tests run it on a virtual clock). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ProbePodRun {
  seconds: number;
  /** The node probe script (our static asset, lib/probe/node-probe.sh), run by `sh -c`; never user text. */
  script: string;
  image?: string;
  /** Default kube-system. */
  namespace?: string;
  /** The pod's activeDeadlineSeconds; we stop waiting for it a little after that. */
  deadlineSeconds: number;
  signal?: AbortSignal;
}

export interface KubernetesAdapter extends KubernetesApi, ProbePodClient {
  runProbePod(node: string, run: ProbePodRun): Promise<string>;
  sweepProbePods(namespace?: string): Promise<string[]>;
  deleteProbePod(name: string, namespace?: string): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_POLL_MS = 2_000;
/** Time the kubelet gets, beyond the pod's own deadline, to report the pod Failed before we give up on it. */
const DEADLINE_GRACE_SECONDS = 15;
const PAGE = 500;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// Node and pod names are DNS subdomains (RFC 1123). They go into URL paths and field selectors, so they are checked
// even when they came from the API itself.
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** What a call was, for its error messages: `list nodes`, `create pods/exec in payments` … */
interface Call {
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  /** What a 404 means for this call. */
  notFound: (serverMessage: string) => SnatDoctorError;
  /** The code of a definite failure (4xx other than 401/403/404/429). */
  failed: ErrorCode;
}

export function kubernetesAdapter(kubeconfig: string, options: KubernetesAdapterOptions = {}): KubernetesAdapter {
  const config = new KubeConfig();
  try {
    config.loadFromString(kubeconfig);
  } catch (error) {
    throw new SnatDoctorError('BAD_ARGUMENT', `The kubeconfig cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!config.getCurrentCluster()) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      'The kubeconfig has no current context with a cluster: set current-context (kubectl config use-context NAME).',
    );
  }
  const core = config.makeApiClient(CoreV1Api);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollMs = options.pollIntervalMs ?? DEFAULT_POLL_MS;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const server = config.getCurrentCluster()?.server ?? 'the API server';

  /** One API request with its timeout (and the caller's abort), its failure translated. */
  async function call<T>(what: Call, run: (options: RequestOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      return await run(requestOptions(signal ? AbortSignal.any([timeout, signal]) : timeout));
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw translate(error, what, { timedOut: timeout.aborted, timeoutMs, server });
    }
  }

  async function listAll<T extends { metadata?: { _continue?: string } }, I>(
    what: Call,
    page: (cont: string | undefined, options: RequestOptions) => Promise<T & { items: I[] }>,
  ): Promise<I[]> {
    const items: I[] = [];
    let cont: string | undefined;
    do {
      const list = await call(what, (o) => page(cont, o));
      items.push(...list.items);
      cont = list.metadata?._continue || undefined;
    } while (cont);
    return items;
  }

  const readNode = (name: string, signal?: AbortSignal) =>
    call(
      {
        verb: 'get',
        resource: 'nodes',
        name,
        notFound: () =>
          new SnatDoctorError('NODE_NOT_FOUND', `The cluster has no node named ${name}: kubectl get nodes lists them.`),
        failed: 'INTERNAL',
      },
      (o) => core.readNode({ name }, o),
      signal,
    );

  const adapter: KubernetesAdapter = {
    async listNodes(): Promise<NodeInfo[]> {
      const nodes = await listAll(
        { verb: 'list', resource: 'nodes', notFound: internalNotFound, failed: 'INTERNAL' },
        (cont, o) => core.listNode({ limit: PAGE, ...(cont ? { _continue: cont } : {}) }, o),
      );
      return nodes.map((node) => {
        const { ip, ipv6 } = internalIps(node);
        return {
          name: node.metadata?.name ?? '',
          ip,
          ...(ipv6 ? { ipv6 } : {}),
          os: nodeOs(node),
          ...(node.spec?.providerID ? { providerId: node.spec.providerID } : {}),
        };
      });
    },

    async listPodsOnNode(nodeName: string): Promise<PodInfo[]> {
      checked(nodeName, DNS_SUBDOMAIN, 'node name', 'a Kubernetes node name (RFC 1123)');
      // The node tells the pods' OS (a pod rarely says), and an unknown node is an error, not an empty list.
      const [node, pods] = await Promise.all([
        readNode(nodeName),
        listAll({ verb: 'list', resource: 'pods', notFound: internalNotFound, failed: 'INTERNAL' }, (cont, o) =>
          core.listPodForAllNamespaces(
            {
              // Finished pods (Jobs' leftovers) hold no sockets and cannot be exec'd into.
              fieldSelector: `spec.nodeName=${nodeName},status.phase!=Succeeded,status.phase!=Failed`,
              limit: PAGE,
              ...(cont ? { _continue: cont } : {}),
            },
            o,
          ),
        ),
      ]);
      const os = nodeOs(node);
      return pods.map((pod) => ({
        namespace: pod.metadata?.namespace ?? '',
        name: pod.metadata?.name ?? '',
        uid: pod.metadata?.uid ?? '',
        ip: pod.status?.podIP ?? '',
        hostNetwork: pod.spec?.hostNetwork === true,
        os,
        containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
        workload: workloadOf({
          name: pod.metadata?.name ?? '',
          ownerReferences: pod.metadata?.ownerReferences,
          labels: pod.metadata?.labels,
        }),
        ...(isPodPhase(pod.status?.phase) ? { phase: pod.status.phase } : {}),
        ...(pod.metadata?.deletionTimestamp ? { terminating: true } : {}),
      }));
    },

    async exec(pod, argv) {
      checked(pod.namespace, DNS_LABEL, 'namespace', 'a Kubernetes namespace');
      checked(pod.name, DNS_SUBDOMAIN, 'pod name', 'a Kubernetes pod name (RFC 1123)');
      if (pod.container !== undefined) checked(pod.container, DNS_LABEL, 'container name', 'a container name');
      return execInPod(config, pod, argv, timeoutMs);
    },

    sweepProbePods: (namespace) => sweepProbePods(namespace),

    async deleteProbePod(name, namespace = PROBE_NAMESPACE) {
      checked(namespace, DNS_LABEL, 'namespace', 'a Kubernetes namespace');
      checked(name, PROBE_POD_NAME, 'probe pod name', 'snat-doctor-probe- and 8 letters or digits');
      const leftover = await deleteProbePod(namespace, name);
      if (leftover)
        throw new SnatDoctorError(
          'PROBE_FAILED',
          `The probe pod ${namespace}/${name} could not be deleted: ${leftover}`,
        );
    },

    async runProbePod(node: string, run: ProbePodRun): Promise<string> {
      const namespace = checked(run.namespace ?? PROBE_NAMESPACE, DNS_LABEL, 'namespace', 'a Kubernetes namespace');
      if (!Number.isInteger(run.deadlineSeconds) || run.deadlineSeconds < run.seconds || run.deadlineSeconds > 3600) {
        throw new SnatDoctorError(
          'BAD_ARGUMENT',
          `probe deadline ${run.deadlineSeconds} s is not valid: use a whole number of seconds from the capture's length (${run.seconds}) to 3600.`,
        );
      }
      if (typeof run.script !== 'string' || run.script.trim() === '') {
        throw new SnatDoctorError('BAD_ARGUMENT', 'The node probe script is empty.');
      }
      // One manifest for both transports (runCommand's kubectl and this one), validated there: node name, image,
      // seconds. Here it runs the script we were handed, as `sh -c`'s argument, in the namespace asked for.
      const manifest = probePodManifest({
        node,
        seconds: run.seconds,
        image: run.image,
        deadlineSeconds: run.deadlineSeconds,
      });
      const pod = withScript(manifest, run.script, namespace);
      const name = pod.metadata.name;
      const where = `${namespace}/${name}`;

      const found = await readNode(node, run.signal);
      if (nodeOs(found) !== 'linux') {
        throw new SnatDoctorError('PROBE_FAILED', `${node} is a Windows node: the node probe runs on Linux nodes.`);
      }

      let primary: unknown;
      try {
        await call(
          {
            verb: 'create',
            resource: 'pods',
            namespace,
            notFound: () =>
              new SnatDoctorError(
                'PROBE_FAILED',
                `The namespace ${namespace} does not exist, so the probe pod cannot be created there.`,
              ),
            failed: 'PROBE_FAILED',
          },
          (o) => core.createNamespacedPod({ namespace, body: pod as V1Pod }, o),
          run.signal,
        );
        return await waitAndRead(namespace, name, node, run);
      } catch (error) {
        primary = error;
        throw error;
      } finally {
        // Always, even when the create itself failed: a create that timed out may still have happened.
        const leftover = await deleteProbePod(namespace, name);
        if (leftover) {
          const note = `The probe pod ${where} could not be deleted (${leftover}); delete it: kubectl delete pod -n ${namespace} ${name}`;
          // biome-ignore lint/correctness/noUnsafeFinally: a privileged pod left on the node must not go unnoticed.
          throw primary instanceof TransientError
            ? new TransientError(`${primary.message} ${note}`, { cause: primary })
            : new SnatDoctorError('PROBE_FAILED', primary instanceof Error ? `${primary.message} ${note}` : note, {
                cause: primary,
              });
        }
      }
    },
  };

  /**
   * Deletes the probe pods (by their label) in `namespace` that are past their own activeDeadlineSeconds and the grace
   * we wait after it: pods an interrupted run left behind (a killed CLI, a crashed worker). A live probe pod is always
   * younger than that, so another investigation's probe is never touched. Returns the names deleted.
   */
  async function sweepProbePods(namespace = PROBE_NAMESPACE): Promise<string[]> {
    checked(namespace, DNS_LABEL, 'namespace', 'a Kubernetes namespace');
    const pods = await listAll(
      { verb: 'list', resource: 'pods', namespace, notFound: internalNotFound, failed: 'INTERNAL' },
      (cont, o) =>
        core.listNamespacedPod(
          {
            namespace,
            labelSelector: Object.entries(PROBE_LABEL)
              .map(([key, value]) => `${key}=${value}`)
              .join(','),
            limit: PAGE,
            ...(cont ? { _continue: cont } : {}),
          },
          o,
        ),
    );
    const deleted: string[] = [];
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '';
      // activeDeadlineSeconds counts from the pod's StartTime (PodSpec: "the pod may be active on the node relative to
      // StartTime before the system will actively try to mark it failed and kill associated containers"), which an
      // image pull can put well after its creation. A pod with no StartTime yet was never started: its creator
      // stopped waiting for it a deadline and a grace after creating it (waitAndRead), and deleted it then.
      const since = new Date(pod.status?.startTime ?? pod.metadata?.creationTimestamp ?? Number.NaN).getTime();
      const deadline = pod.spec?.activeDeadlineSeconds;
      if (!name || Number.isNaN(since) || deadline === undefined) continue;
      if (now() < since + (deadline + DEADLINE_GRACE_SECONDS) * 1000) continue;
      if ((await deleteProbePod(namespace, name)) === undefined) deleted.push(name);
    }
    return deleted;
  }

  /** Polls the pod until it ends (or its deadline passes), then reads its logs. */
  async function waitAndRead(namespace: string, name: string, node: string, run: ProbePodRun): Promise<string> {
    const deadline = now() + (run.deadlineSeconds + DEADLINE_GRACE_SECONDS) * 1000;
    const podCall: Call = {
      verb: 'get',
      resource: 'pods',
      namespace,
      name,
      notFound: () =>
        new SnatDoctorError(
          'PROBE_FAILED',
          `The probe pod ${namespace}/${name} disappeared before it finished (deleted by someone, or evicted from ${node}).`,
        ),
      failed: 'PROBE_FAILED',
    };
    let pod: V1Pod | undefined;
    let lastTransient: TransientError | undefined;
    for (;;) {
      try {
        pod = await call(podCall, (o) => core.readNamespacedPod({ namespace, name }, o), run.signal);
        lastTransient = undefined;
      } catch (error) {
        // A hiccup while waiting is not worth a new probe run: keep waiting until the deadline.
        if (!(error instanceof TransientError)) throw error;
        lastTransient = error;
      }
      const phase = pod?.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') break;
      if (now() >= deadline) {
        if (lastTransient) throw lastTransient;
        throw new SnatDoctorError('PROBE_FAILED', notFinished(pod, namespace, name, node, run.deadlineSeconds));
      }
      await sleep(pollMs, run.signal);
    }

    const logs = await call(
      { ...podCall, resource: 'pods/log' },
      (o) => core.readNamespacedPodLog({ namespace, name, container: 'probe' }, o),
      run.signal,
    ).catch((error: unknown) => {
      if (pod?.status?.phase === 'Failed' && !(error instanceof TransientError)) return '';
      throw error;
    });
    if (pod?.status?.phase === 'Failed') {
      const terminated = pod.status.containerStatuses?.[0]?.state?.terminated;
      const why = terminated
        ? `exit code ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ''}`
        : (pod.status.reason ?? 'no exit code');
      throw new SnatDoctorError(
        'PROBE_FAILED',
        `The probe pod ${namespace}/${name} failed on ${node} (${why}): ${probeError(logs, pod.status.message)}`,
      );
    }
    return logs;
  }

  /** Deletes the probe pod, a few tries; returns why it could not, or undefined when it is gone. */
  async function deleteProbePod(namespace: string, name: string): Promise<string | undefined> {
    let reason = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await call(
          { verb: 'delete', resource: 'pods', namespace, name, notFound: internalNotFound, failed: 'PROBE_FAILED' },
          (o) =>
            core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }, o).catch((error: unknown) => {
              // Not there: never created (the create failed), or already gone. Either way, nothing is left.
              if (error instanceof ApiException && error.code === 404) return undefined;
              throw error;
            }),
        );
        return undefined;
      } catch (error) {
        reason = (error as Error).message;
        if (!(error instanceof TransientError)) break;
      }
    }
    return reason;
  }

  return adapter;
}

// ── Exec ─────────────────────────────────────────────────────────────────────────────────────────────────────────

/**
 * Runs argv in the pod over the exec WebSocket: stdout and stderr collected, the exit code read from the status
 * channel. A stream that closes without a status (the connection dropped) is transient: the output is incomplete.
 */
function execInPod(
  config: KubeConfig,
  pod: { namespace: string; name: string; container?: string },
  argv: string[],
  timeoutMs: number,
): Promise<ExecResult> {
  const what = `exec ${argv.join(' ')} in ${pod.namespace}/${pod.name}`;
  const stdout = collector();
  const stderr = collector();
  let socket: WebSocket | undefined;
  let opened = false;
  let refused: { code: number; retryAfter?: string; body: string } | undefined;
  let status: V1Status | undefined;

  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const timer = setTimeout(() => {
      settle(() =>
        reject(
          new TransientError(
            `${what}: no complete answer within ${seconds(timeoutMs)} s (the API server or kubelet is slow or unreachable).`,
          ),
        ),
      );
      socket?.terminate();
    }, timeoutMs);

    const finished = () => {
      if (!status) {
        return reject(
          new TransientError(
            `${what}: the exec stream closed before the command's status arrived (${stdout.size()} bytes of output); the output is incomplete, try again.`,
          ),
        );
      }
      if (status.status === 'Success') {
        return resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: 0 });
      }
      const exitCode = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
      if (status.reason === 'NonZeroExitCode' && exitCode !== undefined && /^\d+$/.test(exitCode)) {
        return resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: Number(exitCode) });
      }
      reject(
        new SnatDoctorError(
          'EXEC_FAILED',
          `${what} could not run: ${status.message ?? status.reason ?? 'no reason given'}`,
        ),
      );
    };

    const handler = new WebSocketHandler(
      config,
      (uri, protocols, options) => {
        // The handshake timeout ends an upgrade the server never answers; the answer to a refused upgrade (its code,
        // Retry-After and Status body) is kept, since the client library reports only "unexpected server response".
        const ws = new WebSocket(uri, protocols, { ...options, handshakeTimeout: timeoutMs });
        socket = ws;
        ws.on('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            refused = {
              code: res.statusCode ?? 0,
              ...(typeof res.headers['retry-after'] === 'string' ? { retryAfter: res.headers['retry-after'] } : {}),
              body: Buffer.concat(chunks).toString('utf8'),
            };
            ws.terminate();
          });
          res.on('error', () => ws.terminate());
        });
        ws.on('open', () => {
          opened = true;
        });
        // Before it opened, a close is the failed upgrade, reported by the library's rejection instead.
        ws.on('close', () => {
          if (opened) settle(finished);
        });
        return ws;
      },
      { stdin: Readable.from([]), stdout: stdout.stream, stderr: stderr.stream },
    );
    new Exec(config, handler)
      .exec(pod.namespace, pod.name, pod.container ?? '', argv, stdout.stream, stderr.stream, null, false, (s) => {
        status = s;
      })
      .catch((error: unknown) => {
        settle(() => reject(upgradeError(error, refused, what, pod, timeoutMs)));
      });
  });
}

/** Why the exec upgrade failed, from the server's answer when there was one. */
function upgradeError(
  error: unknown,
  refused: { code: number; retryAfter?: string; body: string } | undefined,
  what: string,
  pod: { namespace: string; name: string },
  timeoutMs: number,
): Error {
  if (!refused) {
    // The library rejects with the socket's error event, not an Error: its message is all there is.
    const message = (error as { message?: unknown } | undefined)?.message;
    const text = typeof message === 'string' ? message : String(error);
    const timedOut = /handshake has timed out/i.test(text);
    return new TransientError(
      timedOut
        ? `${what}: the API server did not answer the exec upgrade within ${seconds(timeoutMs)} s.`
        : `${what}: the exec connection failed (${text}).`,
      { cause: error },
    );
  }
  const status = parseStatus(refused.body);
  return fromStatus(refused.code, status, refused.retryAfter, {
    verb: 'create',
    resource: 'pods/exec',
    namespace: pod.namespace,
    name: pod.name,
    notFound: (message) =>
      new SnatDoctorError(
        'EXEC_FAILED',
        `${what}: ${message}. The pod may have been deleted or replaced since it was listed.`,
      ),
    failed: 'EXEC_FAILED',
  });
}

function collector(): { stream: Writable; text(): string; size(): number } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return {
    stream,
    // Decoded once at the end: a frame boundary may split a multi-byte character.
    text: () => Buffer.concat(chunks).toString('utf8'),
    size: () => chunks.reduce((n, c) => n + c.length, 0),
  };
}

// ── Errors ───────────────────────────────────────────────────────────────────────────────────────────────────────

function translate(
  error: unknown,
  what: Call,
  context: { timedOut: boolean; timeoutMs: number; server: string },
): Error {
  const action = describe(what);
  if (error instanceof ApiException) {
    const headers = (error.headers ?? {}) as Record<string, string>;
    return fromStatus(error.code, parseStatus(error.body), headers['retry-after'], what);
  }
  if (context.timedOut) {
    return new TransientError(`Kubernetes API: ${action} got no answer within ${seconds(context.timeoutMs)} s.`, {
      cause: error,
    });
  }
  if (error instanceof SnatDoctorError) return error;
  const message = error instanceof Error ? errorChain(error) : String(error);
  // fetch's "fetch failed"/"terminated", a cut body that no longer parses, a reset: the connection, not the request.
  const broken =
    (error instanceof TypeError && /^(fetch failed|terminated)/.test(message)) ||
    error instanceof SyntaxError ||
    /ECONN|EPIPE|ETIMEDOUT|UND_ERR|other side closed/i.test(message);
  if (broken) {
    return new TransientError(
      `Kubernetes API: ${action} failed on the way (${message}); check that ${context.server} is reachable.`,
      { cause: error },
    );
  }
  return new SnatDoctorError('INTERNAL', `Kubernetes API: ${action} failed: ${message}`, { cause: error });
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function fromStatus(code: number, status: StatusBody, retryAfter: string | undefined, what: Call): Error {
  const action = describe(what);
  const said = status.message ?? status.reason ?? `HTTP ${code}`;
  if (code === 429 || code >= 500) {
    const wait = retryAfterSeconds(retryAfter);
    return new TransientError(
      `Kubernetes API: ${action} answered ${code} ${status.reason ?? ''}`.trimEnd() +
        `: ${said}${wait !== undefined ? ` (retry after ${wait} s)` : ''}.`,
      wait !== undefined ? { retryAfterSeconds: wait } : {},
    );
  }
  if (code === 401) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `Kubernetes API: ${action} was refused: the credentials were not accepted (401 ${said}). The kubeconfig's token or ` +
        'certificate is wrong or expired: fetch fresh cluster credentials (az aks get-credentials, or the cluster user ' +
        'credentials snat-doctor reads from ARM).',
    );
  }
  if (code === 403) {
    if (what.verb === 'create' && what.resource === 'pods' && /admission webhook|PodSecurity|policy/i.test(said)) {
      return new SnatDoctorError(
        'FORBIDDEN',
        `Kubernetes API: the probe pod was refused by a policy (${said}). The probe needs a privileged pod with the ` +
          `host's PID and network namespaces in ${what.namespace}: exempt pods labelled ` +
          'app.kubernetes.io/name=snat-doctor-probe (Azure Policy / Gatekeeper exclusion, or a Pod Security ' +
          `"privileged" level on ${what.namespace}).`,
      );
    }
    return new SnatDoctorError(
      'FORBIDDEN',
      `Kubernetes API: ${action} was refused (403: ${said}). ${rbacNeeded(what)}`,
    );
  }
  if (code === 404) return what.notFound(said);
  return new SnatDoctorError(
    what.failed,
    `Kubernetes API: ${action} was refused (${code} ${status.reason ?? ''}: ${said}).`,
  );
}

/** The RBAC rule that would allow the call, said so it can be pasted into a Role. */
function rbacNeeded(what: Call): string {
  const [resource, subresource] = what.resource.split('/');
  const scope = what.namespace
    ? `a Role in namespace ${what.namespace} (or a ClusterRole) bound to snat-doctor's identity`
    : `a ClusterRole bound to snat-doctor's identity with a ClusterRoleBinding`;
  const rule = `{apiGroups: [""], resources: ["${what.resource}"], verbs: ["${what.verb}"]}`;
  const hint =
    subresource === 'exec'
      ? ' Since Kubernetes 1.30 exec over WebSocket needs "create" (not only "get") on pods/exec.'
      : resource === 'pods' && what.verb === 'create'
        ? ' The probe also needs get, delete and get pods/log on pods in that namespace.'
        : '';
  return `It needs ${scope} that has the rule ${rule}.${hint}`;
}

function describe(what: Call): string {
  const target = what.name ? `${what.resource} ${what.name}` : what.resource;
  return `${what.verb} ${target}${what.namespace ? ` in namespace ${what.namespace}` : ''}`;
}

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'object' && body !== null) return body as StatusBody;
  if (typeof body !== 'string' || body.trim() === '') return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as StatusBody) : {};
  } catch {
    return { message: body.trim().slice(0, 300) };
  }
}

/** Retry-After: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function internalNotFound(message: string): SnatDoctorError {
  return new SnatDoctorError(
    'INTERNAL',
    `Kubernetes API: ${message} (is the kubeconfig's server a Kubernetes API server?)`,
  );
}

function errorChain(error: Error): string {
  const parts = [error.message];
  let cause = error.cause;
  while (cause instanceof Error && parts.length < 4) {
    parts.push(cause.message);
    cause = cause.cause;
  }
  return parts.join(': ');
}

// ── Probe pod ────────────────────────────────────────────────────────────────────────────────────────────────────

interface ProbePod {
  metadata: { name: string; namespace: string };
  spec: { containers: { command: string[] }[] };
}

function withScript(manifest: Record<string, unknown>, script: string, namespace: string): ProbePod {
  const pod = structuredClone(manifest) as unknown as ProbePod;
  pod.metadata.namespace = namespace;
  const command = pod.spec.containers[0]?.command ?? [];
  const at = command.indexOf('-c');
  if (at < 0) throw new SnatDoctorError('INTERNAL', 'The probe pod manifest has no `sh -c` to run the script with.');
  command[at + 1] = script;
  return pod;
}

/** Why a probe pod never finished: Pending (the scheduler's or kubelet's reason) or still running. */
function notFinished(pod: V1Pod | undefined, namespace: string, name: string, node: string, deadline: number): string {
  const where = `The probe pod ${namespace}/${name} on ${node}`;
  const phase = pod?.status?.phase ?? 'unknown';
  if (phase === 'Pending') {
    const scheduled = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting;
    const reason = scheduled
      ? `${scheduled.reason ?? 'Unschedulable'}: ${scheduled.message ?? ''}`.trim()
      : waiting
        ? `${waiting.reason ?? 'Waiting'}${waiting.message ? `: ${waiting.message}` : ''}`
        : 'no reason reported';
    return `${where} stayed Pending: ${reason}. Check that ${node} is Ready and has room for one small pod (kubectl describe pod -n ${namespace} ${name} shows its events).`;
  }
  return `${where} did not finish within its ${deadline} s deadline (phase ${phase}).`;
}

/** The probe's own error (its `@@ error` section), or the last lines it printed. */
function probeError(logs: string, podMessage: string | undefined): string {
  const section = /@@ error\n([\s\S]*?)(?:\n@@ |$)/.exec(logs)?.[1]?.trim();
  if (section) return section.slice(0, 400);
  const tail = logs.trim().split('\n').slice(-3).join(' / ').slice(0, 400);
  return tail || podMessage || 'it printed nothing';
}

// ── Small things ─────────────────────────────────────────────────────────────────────────────────────────────────

type RequestOptions = Parameters<CoreV1Api['listNode']>[1];

/** Per-call options carrying the abort signal (the client's middleware runs before each request is sent). */
function requestOptions(signal: AbortSignal): RequestOptions {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/**
 * The node's InternalIPs: `ip` the IPv4 one (the load balancer's IPv4 backend), and on a dual-stack node `ipv6` its
 * IPv6 one, a backend of its own with its own SNAT ports. A node with no IPv4 InternalIP keeps its first InternalIP as
 * `ip`, as before dual-stack was read.
 */
function internalIps(node: V1Node): { ip: string; ipv6?: string } {
  const internal = (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
  const ip = internal.find((a) => isIP(a) === 4) ?? internal[0] ?? '';
  const ipv6 = internal.find((a) => isIP(a) === 6 && a !== ip);
  return ipv6 ? { ip, ipv6 } : { ip };
}

const POD_PHASES: readonly string[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] satisfies PodPhase[];

function isPodPhase(phase: string | undefined): phase is PodPhase {
  return phase !== undefined && POD_PHASES.includes(phase);
}

/** The `kubernetes.io/os` label, or what the kubelet reports. */
function nodeOs(node: V1Node): NodeInfo['os'] {
  const os = node.metadata?.labels?.['kubernetes.io/os'] ?? node.status?.nodeInfo?.operatingSystem;
  return os?.toLowerCase() === 'windows' ? 'windows' : 'linux';
}

function checked(value: string, pattern: RegExp, what: string, accepted: string): string {
  if (!pattern.test(value)) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${what} ${JSON.stringify(value.slice(0, 80))} is not valid: use ${accepted}.`,
    );
  }
  return value;
}

/** setTimeout that an abort ends early with the caller's own reason. */
async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
