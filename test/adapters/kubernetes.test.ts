// The real Kubernetes adapter (@kubernetes/client-node) against the sandbox's API server over loopback HTTPS, trusting
// it through the kubeconfig's certificate-authority-data: lists, exec over WebSocket, the probe pod, and every fault
// kind a Kubernetes call can meet, each ending as our error vocabulary. After every case no pod is left behind.
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { type KubernetesAdapter, kubernetesAdapter, retryAfterSeconds } from '../../lib/adapters/kubernetes.ts';
import { SnatDoctorError, TransientError } from '../../lib/errors.ts';
import { parseProcNetTcp } from '../../lib/evidence/procNetTcp.ts';
import { probeScript } from '../../lib/probe/probePod.ts';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { type KubeApiServer, startKubeApiServer } from '../../lib/sandbox/kubeApiServer.ts';
import { SandboxCluster } from '../../lib/sandbox/sandboxCluster.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { createSandboxCertificate, type SandboxCertificate } from '../../lib/sandbox/tls.ts';
import { clientTimeoutMs, scenarioWith, withFaults } from '../support/scenarios.ts';

const EXHAUSTED = 'aks-nodepool1-31415926-vmss000001';
const CHECKOUT = { namespace: 'payments', name: 'checkout-api-7d9f8b6c5d-x2x9k' };
const LEDGER = { namespace: 'payments', name: 'ledger-6b5f7c9d8e-75zt6' };
const PROC_NET_TCP = ['cat', '/proc/net/tcp', '/proc/net/tcp6'];
const TOKEN = 'adapter-test-token';
/** Short enough that a `timeout` fault ends the test promptly; everything else gets clientTimeoutMs's generous bound. */
const TIMEOUT_MS = 300;

/**
 * One virtual clock for both sides: the sandbox's probe pod waits on it, and the adapter's polling sleep moves it
 * forward. A probe run takes no real time, and its phases follow each other in a fixed order.
 */
function virtualClock() {
  let now = 0;
  const sleepers: { at: number; wake: () => void }[] = [];
  return {
    now: () => now,
    sandboxSleep: (ms: number) => new Promise<void>((wake) => sleepers.push({ at: now + ms, wake })),
    async adapterSleep(ms: number, signal?: AbortSignal) {
      signal?.throwIfAborted();
      now += ms;
      for (const sleeper of sleepers.filter((s) => s.at <= now)) {
        sleepers.splice(sleepers.indexOf(sleeper), 1);
        sleeper.wake();
      }
    },
  };
}

let cert: SandboxCertificate;
const running: { server: KubeApiServer; cluster: SandboxCluster }[] = [];

beforeAll(async () => {
  cert = await createSandboxCertificate();
});
afterEach(async () => {
  for (const { server, cluster } of running.splice(0)) {
    await server.close();
    expect(cluster.leftoverPods()).toEqual([]);
  }
});

async function start(
  scenario: Scenario = scenarioWith(),
  options: { token?: string; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } = {},
): Promise<{ cluster: SandboxCluster; server: KubeApiServer; k8s: KubernetesAdapter }> {
  const clock = virtualClock();
  const cluster = new SandboxCluster(scenario, { sleep: clock.sandboxSleep });
  const server = await startKubeApiServer(cluster, { cert, token: TOKEN });
  running.push({ server, cluster });
  const kubeconfig = server.kubeconfig('sandbox').replace(TOKEN, options.token ?? TOKEN);
  const k8s = kubernetesAdapter(kubeconfig, {
    timeoutMs: clientTimeoutMs(scenario, TIMEOUT_MS),
    now: clock.now,
    sleep: options.sleep ?? clock.adapterSleep,
  });
  return { cluster, server, k8s };
}

const probeRun = (overrides: Partial<Parameters<KubernetesAdapter['runProbePod']>[1]> = {}) => ({
  seconds: 10,
  script: probeScript(),
  deadlineSeconds: 60,
  ...overrides,
});

/** The rejection of a promise, to look at its class and fields. */
async function failureOf(promise: Promise<unknown>): Promise<SnatDoctorError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SnatDoctorError) return error;
    throw error;
  }
  throw new Error('expected a failure, got a result');
}

const transient = (pattern: RegExp, retryAfter?: number) => (error: SnatDoctorError) => {
  expect(error).toBeInstanceOf(TransientError);
  expect(error.message).toMatch(pattern);
  expect((error as TransientError).retryAfterSeconds).toBe(retryAfter);
};
const forbidden = (pattern: RegExp) => (error: SnatDoctorError) => {
  expect(error).not.toBeInstanceOf(TransientError);
  expect(error.code).toBe('FORBIDDEN');
  expect(error.message).toMatch(pattern);
};

describe('reads and exec', () => {
  test('listNodes: name, InternalIP, OS label and providerID of every node', async () => {
    const { k8s } = await start();
    const nodes = await k8s.listNodes();
    expect(nodes.map((n) => [n.name, n.ip, n.os])).toEqual([
      ['aks-nodepool1-31415926-vmss000000', '10.224.0.4', 'linux'],
      ['aks-nodepool1-31415926-vmss000001', '10.224.0.5', 'linux'],
      ['aks-nodepool1-31415926-vmss000002', '10.224.0.6', 'linux'],
    ]);
    expect(nodes[1]?.providerId).toMatch(/virtualMachineScaleSets\/aks-nodepool1-31415926-vmss\/virtualMachines\/1$/);
  });

  test('listPodsOnNode: the node’s pods (fieldSelector spec.nodeName), hostNetwork pods with the node’s IP', async () => {
    const { cluster, k8s } = await start();
    const pods = await k8s.listPodsOnNode(EXHAUSTED);
    expect(pods).toHaveLength(cluster.scenario.nodes[1]!.pods.length);
    expect(pods.find((p) => p.name === CHECKOUT.name)).toEqual({
      ...CHECKOUT,
      uid: cluster.scenario.nodes[1]!.pods[0]!.uid,
      ip: '10.244.1.4',
      hostNetwork: false,
      os: 'linux',
      containers: [{ name: 'checkout', image: 'acrpayments.azurecr.io/checkout-api:4.12.0' }],
      // The built-in scenario's Deployment, read back from the ReplicaSet owner and its pod-template-hash label.
      workload: { kind: 'Deployment', name: 'checkout-api' },
      phase: 'Running',
    });
    expect(pods.find((p) => p.name.startsWith('konnectivity-agent'))).toMatchObject({
      hostNetwork: true,
      ip: '10.224.0.5',
    });
  });

  test('listPodsOnNode: each pod’s workload from its owner reference and labels, its phase, and terminating', async () => {
    const scenario = scenarioWith((doc) => {
      const node = (doc.nodes as Record<string, unknown>[])[1] as Record<string, unknown>;
      (node.pods as unknown[]).push(
        { namespace: 'shop', name: 'cart', replicas: 2, owner: { kind: 'Deployment', name: 'cart' } },
        { namespace: 'shop', name: 'redis', owner: { kind: 'StatefulSet', name: 'redis' }, terminating: true },
        { namespace: 'kube-system', name: 'node-agent', owner: { kind: 'DaemonSet', name: 'node-agent' } },
        { namespace: 'shop', name: 'legacy', owner: { kind: 'ReplicaSet', name: 'legacy' } },
        { namespace: 'batch', name: 'report', owner: { kind: 'CronJob', name: 'report' } },
        { namespace: 'batch', name: 'migrate', owner: { kind: 'Job', name: 'migrate' }, phase: 'Pending' },
        { namespace: 'batch', name: 'done', owner: { kind: 'Job', name: 'done' }, phase: 'Succeeded' },
        { namespace: 'batch', name: 'broke', owner: { kind: 'CronJob', name: 'broke' }, phase: 'Failed' },
      );
    });
    const { cluster, k8s } = await start(scenario);
    const pods = await k8s.listPodsOnNode(EXHAUSTED);
    const of = (prefix: string) => pods.filter((p) => p.name.startsWith(prefix));

    expect(of('cart-').map((p) => p.workload)).toEqual([
      { kind: 'Deployment', name: 'cart' },
      { kind: 'Deployment', name: 'cart' },
    ]);
    expect(of('redis-')).toMatchObject([{ workload: { kind: 'StatefulSet', name: 'redis' }, terminating: true }]);
    expect(of('node-agent-')[0]?.workload).toEqual({ kind: 'DaemonSet', name: 'node-agent' });
    expect(of('legacy-')[0]?.workload).toEqual({ kind: 'ReplicaSet', name: 'legacy' });
    expect(of('report-')[0]?.workload).toEqual({ kind: 'CronJob', name: 'report' });
    expect(of('migrate-')).toMatchObject([{ workload: { kind: 'Job', name: 'migrate' }, phase: 'Pending', ip: '' }]);
    // Finished pods are not asked for (status.phase!=Succeeded,status.phase!=Failed).
    expect(of('done-')).toEqual([]);
    expect(of('broke-')).toEqual([]);
    expect(pods.filter((p) => p.terminating).map((p) => p.name)).toEqual(['redis-0']);
    expect(pods.filter((p) => p.phase !== 'Running').map((p) => p.name)).toEqual([of('migrate-')[0]?.name]);

    // Every pod the adapter lists gets the workload the scenario gave it, derived from the served metadata alone.
    const node = cluster.scenario.nodes[1]!;
    const declared = new Map([...node.pods, ...node.inactivePods].map((p) => [p.name, p.workload]));
    for (const pod of pods) expect([pod.name, pod.workload]).toEqual([pod.name, declared.get(pod.name)]);
  });

  test('listNodes: a dual-stack node’s IPv6 InternalIP as ipv6, its IPv4 one still ip', async () => {
    const { k8s } = await start(
      scenarioWith((doc) => {
        ((doc.nodes as Record<string, unknown>[])[1] as Record<string, unknown>).ipv6 = 'fd00:10:224::5';
      }),
    );
    const nodes = await k8s.listNodes();
    expect(nodes.map((n) => [n.ip, n.ipv6])).toEqual([
      ['10.224.0.4', undefined],
      ['10.224.0.5', 'fd00:10:224::5'],
      ['10.224.0.6', undefined],
    ]);
    expect(Object.keys(nodes[0] ?? {})).not.toContain('ipv6');
  });

  test('listPodsOnNode of a node the cluster does not have: NODE_NOT_FOUND, not an empty list', async () => {
    const { k8s } = await start();
    const error = await failureOf(k8s.listPodsOnNode('aks-nodepool1-31415926-vmss000009'));
    expect(error.code).toBe('NODE_NOT_FOUND');
  });

  test('exec over WebSocket: the whole /proc/net/tcp (many frames) and exit code 0', async () => {
    const { k8s } = await start();
    const result = await k8s.exec(CHECKOUT, PROC_NET_TCP);
    expect(result.exitCode).toBe(0);
    const { sockets, skipped } = parseProcNetTcp(result.stdout, { netns: 1 });
    expect(skipped).toBe(0);
    const established = sockets.filter((s) => s.remoteIp === '20.50.2.10' && s.state === 'ESTABLISHED');
    expect(established.reduce((n, s) => n + s.count, 0)).toBe(620);
  });

  test('exec of a binary the container lacks: stderr and exit code 126 from the status channel', async () => {
    const { k8s } = await start();
    const result = await k8s.exec(CHECKOUT, ['netstat', '-ptn']);
    expect(result).toMatchObject({ stdout: '', exitCode: 126 });
    expect(result.stderr).toContain('"netstat": executable file not found');
  });

  test('exec into a pod that is gone: EXEC_FAILED saying it may have been replaced', async () => {
    const { k8s } = await start();
    const error = await failureOf(k8s.exec({ namespace: 'payments', name: 'gone-123' }, PROC_NET_TCP));
    expect(error.code).toBe('EXEC_FAILED');
    expect(error.message).toMatch(/pods "gone-123" not found.*deleted or replaced/);
  });

  test('an API server that is not there: transient, naming the server to check', async () => {
    const { server, k8s } = await start();
    await server.close();
    const listed = await failureOf(k8s.listNodes());
    expect(listed).toBeInstanceOf(TransientError);
    expect(listed.message).toContain(`check that ${server.url} is reachable`);
    const exec = await failureOf(k8s.exec(CHECKOUT, PROC_NET_TCP));
    expect(exec).toBeInstanceOf(TransientError);
    expect(exec.message).toMatch(/the exec connection failed \(.*ECONNREFUSED/);
  });

  test('credentials the server refuses: FORBIDDEN saying to fetch fresh ones', async () => {
    const { k8s } = await start(scenarioWith(), { token: 'expired-token' });
    const error = await failureOf(k8s.listNodes());
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/credentials were not accepted \(401/);
  });
});

describe('faults on the wire become our error vocabulary', () => {
  test.each([
    [
      'listNodes transient (503)',
      { target: 'kubernetes.listNodes', error: 'transient' },
      transient(/list nodes answered 503/),
    ],
    [
      'listNodes throttled: Retry-After honoured',
      { target: 'kubernetes.listNodes', error: 'throttled', retryAfterSeconds: 7 },
      transient(/answered 429 TooManyRequests.*retry after 7 s/, 7),
    ],
    [
      'listNodes server-error (500)',
      { target: 'kubernetes.listNodes', error: 'server-error' },
      transient(/answered 500/),
    ],
    [
      'listNodes timeout',
      { target: 'kubernetes.listNodes', error: 'timeout' },
      transient(/list nodes got no answer within 0.3 s/),
    ],
    [
      'listNodes stream-dropped',
      { target: 'kubernetes.listNodes', error: 'stream-dropped' },
      transient(/failed on the way/),
    ],
    [
      'listNodes forbidden: names the verb, the resource and the ClusterRole needed',
      { target: 'kubernetes.listNodes', error: 'forbidden' },
      forbidden(
        /list nodes was refused \(403: nodes is forbidden: .*ClusterRole.*resources: \["nodes"\], verbs: \["list"\]/,
      ),
    ],
  ])('%s', async (_name, fault, check) => {
    const { k8s } = await start(withFaults(fault));
    check(await failureOf(k8s.listNodes()));
  });

  test.each([
    ['transient', transient(/list pods answered 503/)],
    ['throttled', transient(/answered 429/, 1)],
    ['timeout', transient(/list pods got no answer within 0.3 s/)],
    ['forbidden', forbidden(/list pods was refused.*resources: \["pods"\], verbs: \["list"\]/)],
  ])('listPodsOnNode %s, for that node only', async (error, check) => {
    const { k8s } = await start(withFaults({ target: 'kubernetes.listPodsOnNode', error, node: EXHAUSTED }));
    check(await failureOf(k8s.listPodsOnNode(EXHAUSTED)));
    expect(await k8s.listPodsOnNode('aks-nodepool1-31415926-vmss000000')).not.toHaveLength(0);
  });

  test.each([
    ['transient', transient(/pods\/exec .*answered 503/)],
    ['throttled', transient(/answered 429/, 4)],
    ['server-error', transient(/answered 500/)],
    ['timeout', transient(/did not answer the exec upgrade within 0.3 s|no complete answer within 0.3 s/)],
    ['stream-dropped', transient(/exec stream closed before the command's status arrived/)],
    ['forbidden', forbidden(/create pods\/exec .*in namespace payments was refused.*"create" \(not only "get"\)/)],
  ])('exec %s', async (error, check) => {
    const { k8s } = await start(
      withFaults({ target: 'kubernetes.exec', error, retryAfterSeconds: 4, pod: `${LEDGER.namespace}/${LEDGER.name}` }),
    );
    check(await failureOf(k8s.exec(LEDGER, PROC_NET_TCP)));
    expect((await k8s.exec(CHECKOUT, PROC_NET_TCP)).exitCode).toBe(0); // other pods are fine
  });

  test('exec failed: the command ran and failed; a result with its exit code, not an error', async () => {
    const { k8s } = await start(withFaults({ target: 'kubernetes.exec', error: 'failed', message: 'cat: read error' }));
    expect(await k8s.exec(LEDGER, PROC_NET_TCP)).toEqual({ stdout: '', stderr: 'cat: read error\n', exitCode: 1 });
  });

  test('a throttled fault that clears: the next call succeeds', async () => {
    const { k8s } = await start(withFaults({ target: 'kubernetes.exec', error: 'throttled', times: 1 }));
    expect(await failureOf(k8s.exec(LEDGER, PROC_NET_TCP))).toBeInstanceOf(TransientError);
    expect((await k8s.exec(LEDGER, PROC_NET_TCP)).exitCode).toBe(0);
  });
});

describe('runProbePod', () => {
  test('creates the privileged probe pod, waits for it, returns its report, and deletes it', async () => {
    const { cluster, k8s } = await start();
    const logs = await k8s.runProbePod(EXHAUSTED, probeRun({ seconds: 20 }));
    const report = parseProbeReport(logs, { node: EXHAUSTED, seconds: 20 });
    expect(report.truncated).toBe(false);
    expect(report.capture.sandboxes).toHaveLength(cluster.scenario.nodes[1]!.pods.length);

    const [record] = cluster.podHistory();
    expect(record).toMatchObject({
      namespace: 'kube-system',
      probe: true,
      phases: ['Pending', 'Running', 'Succeeded'],
    });
    expect(record!.name).toMatch(/^snat-doctor-probe-[a-z0-9]{8}$/);
    expect(record!.deletedAt).toBeDefined();
    const { metadata, spec } = record!.pod;
    expect(metadata.labels).toEqual({ 'app.kubernetes.io/name': 'snat-doctor-probe' });
    expect(spec).toMatchObject({
      nodeName: EXHAUSTED,
      hostPID: true,
      hostNetwork: true,
      restartPolicy: 'Never',
      activeDeadlineSeconds: 60,
      tolerations: [{ operator: 'Exists' }],
    });
    const [container] = spec.containers;
    expect(container).toMatchObject({
      securityContext: { privileged: true },
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    });
    expect(container!.command).toEqual([
      ...['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--', 'sh', '-c', probeScript()],
      ...['probe', '--seconds', '20'],
    ]);
  });

  test('the namespace and script asked for are the ones used', async () => {
    const { cluster, k8s } = await start();
    await k8s.runProbePod(EXHAUSTED, probeRun({ namespace: 'default', script: 'echo a pinned build of the probe' }));
    const [record] = cluster.podHistory();
    expect(record?.namespace).toBe('default');
    expect(record?.pod.spec.containers[0]?.command?.[11]).toBe('echo a pinned build of the probe');
  });

  test('stays Pending (unschedulable): PROBE_FAILED with the scheduler’s reason, and the pod is deleted', async () => {
    const { cluster, k8s } = await start(withFaults({ target: 'probe.capture', error: 'pending' }));
    const error = await failureOf(k8s.runProbePod(EXHAUSTED, probeRun()));
    expect(error.code).toBe('PROBE_FAILED');
    expect(error.message).toMatch(/stayed Pending: Unschedulable: 0\/3 nodes are available/);
    expect(cluster.podHistory()).toMatchObject([{ phases: ['Pending'], deletedAt: expect.any(String) }]);
  });

  test('ends Failed: PROBE_FAILED with the exit code and the probe’s own error', async () => {
    const { k8s } = await start(
      withFaults({ target: 'probe.capture', error: 'failed', message: 'tcptracer: cannot attach kprobe' }),
    );
    const error = await failureOf(k8s.runProbePod(EXHAUSTED, probeRun()));
    expect(error.code).toBe('PROBE_FAILED');
    expect(error.message).toMatch(
      /failed on aks-nodepool1-31415926-vmss000001 \(exit code 1, Error\): tcptracer: cannot attach kprobe/,
    );
  });

  test('truncated output: the report as far as it arrived, which the parser says was cut', async () => {
    const { k8s } = await start(withFaults({ target: 'probe.capture', error: 'truncated', bytes: 3000 }));
    const logs = await k8s.runProbePod(EXHAUSTED, probeRun());
    expect(logs).toHaveLength(3000);
    const report = parseProbeReport(logs, { node: EXHAUSTED, seconds: 10 });
    expect(report.truncated).toBe(true);
  });

  test.each([
    ['transient', transient(/get pods\/log .* answered 503/)],
    ['throttled', transient(/answered 429/, 1)],
    ['timeout', transient(/pods\/log .*got no answer within 0.3 s/)],
    ['stream-dropped', transient(/failed on the way/)],
    ['forbidden', forbidden(/get pods\/log .*resources: \["pods\/log"\], verbs: \["get"\]/)],
  ])('reading its logs meets %s: the error, and still no pod left', async (error, check) => {
    const { cluster, k8s } = await start(withFaults({ target: 'probe.capture', error }));
    check(await failureOf(k8s.runProbePod(EXHAUSTED, probeRun())));
    expect(cluster.podHistory()).toMatchObject([{ phases: ['Pending', 'Running', 'Succeeded'] }]);
  });

  test.each([
    ['transient', transient(/create pods in namespace kube-system answered 503/)],
    ['timeout', transient(/create pods in namespace kube-system got no answer/)],
    ['forbidden', forbidden(/create pods in namespace kube-system was refused.*get, delete and get pods\/log/)],
    ['failed', forbidden(/refused by a policy \(admission webhook "validation.gatekeeper.sh".*exempt pods labelled/)],
  ])('creating it meets %s: nothing is created, nothing is left', async (error, check) => {
    const { cluster, k8s } = await start(withFaults({ target: 'kubernetes.createPod', error }));
    check(await failureOf(k8s.runProbePod(EXHAUSTED, probeRun())));
    expect(cluster.podHistory()).toEqual([]);
  });

  test('aborted while waiting: the caller’s reason, and the pod is deleted', async () => {
    const controller = new AbortController();
    const clock = virtualClock();
    const { cluster, k8s } = await start(withFaults({ target: 'probe.capture', error: 'pending' }), {
      sleep: async (ms, signal) => {
        controller.abort(new Error('investigation cancelled'));
        await clock.adapterSleep(ms, signal);
      },
    });
    await expect(k8s.runProbePod(EXHAUSTED, probeRun({ signal: controller.signal }))).rejects.toThrow(
      'investigation cancelled',
    );
    expect(cluster.podHistory()).toMatchObject([{ deletedAt: expect.any(String) }]);
  });

  test.each([
    ['a node name that is not RFC 1123', 'Node_1; rm -rf /', {}, /node name .* is not valid/],
    ['an image reference with shell in it', EXHAUSTED, { image: 'busybox;reboot' }, /probe image .* is not valid/],
    [
      'capture seconds out of range',
      EXHAUSTED,
      { seconds: 301, deadlineSeconds: 400 },
      /capture seconds 301 is not valid/,
    ],
    ['a namespace that is not a DNS label', EXHAUSTED, { namespace: 'Kube System' }, /namespace "Kube System"/],
    ['a deadline shorter than the capture', EXHAUSTED, { deadlineSeconds: 5 }, /probe deadline 5 s is not valid/],
  ])('refuses %s before calling the API', async (_what, node, overrides, message) => {
    const { cluster, k8s } = await start();
    const error = await failureOf(k8s.runProbePod(node, probeRun(overrides)));
    expect(error.code).toBe('BAD_ARGUMENT');
    expect(error.message).toMatch(message);
    expect(cluster.podHistory()).toEqual([]);
  });

  test('a node the cluster does not have: NODE_NOT_FOUND, nothing created', async () => {
    const { cluster, k8s } = await start();
    const error = await failureOf(k8s.runProbePod('aks-nodepool1-31415926-vmss000042', probeRun()));
    expect(error.code).toBe('NODE_NOT_FOUND');
    expect(cluster.podHistory()).toEqual([]);
  });
});

test.each([
  ['7', 7],
  ['0', 0],
  ['Wed, 21 Oct 2015 07:28:30 GMT', 30],
  ['soon', undefined],
  [undefined, undefined],
])('Retry-After %p → %p seconds', (value, seconds) => {
  expect(retryAfterSeconds(value, Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(seconds);
});
