// The sandbox's Kubernetes API over HTTPS on loopback, kept honest by the real kubectl: what it prints against the
// sandbox is what it prints against AKS. Plus what kubectl does not exercise (legacy discovery, paging, create
// validation, every fault's wire behaviour) with a plain HTTPS client, and the probe pod's life in the cluster.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { parseProcNetTcp } from '../../lib/evidence/procNetTcp.ts';
import { probeScript } from '../../lib/probe/probePod.ts';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { humanDuration, type KubeApiServer, startKubeApiServer } from '../../lib/sandbox/kubeApiServer.ts';
import { SandboxCluster, type SandboxClusterOptions } from '../../lib/sandbox/sandboxCluster.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { createSandboxCertificate, type SandboxCertificate } from '../../lib/sandbox/tls.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

const EXHAUSTED = 'aks-nodepool1-31415926-vmss000001';
const CHECKOUT = 'checkout-api-7d9f8b6c5d-x2x9k';
const TOKEN = 'sandbox-token-for-tests';
const instant = async () => {};

let cert: SandboxCertificate;
let workDir: string;
const running: { server: KubeApiServer; cluster: SandboxCluster }[] = [];

beforeAll(async () => {
  cert = await createSandboxCertificate();
  workDir = mkdtempSync(join(tmpdir(), 'snat-kube-api-'));
});
afterEach(async () => {
  for (const { server, cluster } of running.splice(0)) {
    await server.close();
    expect(cluster.leftoverPods()).toEqual([]);
  }
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function start(scenario: Scenario = scenarioWith(), options: SandboxClusterOptions = { sleep: instant }) {
  const cluster = new SandboxCluster(scenario, options);
  const requests: { method: string; url: string; headers: Record<string, unknown> }[] = [];
  const server = await startKubeApiServer(cluster, { cert, token: TOKEN, onRequest: (r) => requests.push(r) });
  running.push({ server, cluster });
  return { cluster, server, requests };
}

/** A probe pod as the app creates it, straight into the cluster. */
function probeManifest(node = EXHAUSTED, name = 'snat-doctor-probe-abcd1234', seconds = 10) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'snat-doctor-probe' } },
    spec: {
      nodeName: node,
      hostPID: true,
      hostNetwork: true,
      restartPolicy: 'Never',
      containers: [
        {
          name: 'probe',
          image: 'mcr.microsoft.com/azurelinux/busybox:1.36',
          securityContext: { privileged: true },
          command: [
            ...['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--'],
            ...['sh', '-c', probeScript(), 'probe', '--seconds', String(seconds)],
          ],
        },
      ],
    },
  };
}

/** The built-in scenario with vmss000001 dual-stack, and pods of each owner kind and phase added to it. */
function withOwnersAndPhases(): Scenario {
  return scenarioWith((doc) => {
    const node = (doc.nodes as Record<string, unknown>[])[1] as Record<string, unknown>;
    node.ipv6 = 'fd00:10:224::5';
    (node.pods as unknown[]).push(
      { namespace: 'batch', name: 'report', owner: { kind: 'CronJob', name: 'report' }, phase: 'Succeeded' },
      { namespace: 'batch', name: 'migrate', owner: { kind: 'Job', name: 'migrate' }, phase: 'Pending' },
      {
        namespace: 'batch',
        name: 'import-29104560-b7x2k',
        owner: { kind: 'CronJob', name: 'import' },
        phase: 'Failed',
      },
      {
        namespace: 'shop',
        name: 'cart',
        owner: { kind: 'Deployment', name: 'cart' },
        terminating: true,
        connections: [{ to: '20.50.2.10:443', count: 3 }],
      },
      { namespace: 'shop', name: 'redis', owner: { kind: 'StatefulSet', name: 'redis' } },
      { namespace: 'kube-system', name: 'node-agent', owner: { kind: 'DaemonSet', name: 'node-agent' } },
    );
  });
}

// ── The real kubectl ─────────────────────────────────────────────────────────────────────────────────────────────

function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'kubectl'), constants.X_OK);
      return join(dir, 'kubectl');
    } catch {}
  }
  return undefined;
}

const KUBECTL = findKubectl();
const withKubectl = KUBECTL ? describe : describe.skip;

function kubectl(server: KubeApiServer, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(workDir, `kubeconfig-${running.length}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, server.kubeconfig('sandbox'));
  return new Promise((resolve) => {
    execFile(
      KUBECTL as string,
      ['--kubeconfig', file, '--cache-dir', join(workDir, 'cache'), ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: workDir }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** kubectl's table → rows of cells keyed by header (columns are separated by at least two spaces or more). */
function parseTable(text: string): Record<string, string>[] {
  const [header = '', ...lines] = text.trimEnd().split('\n');
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index ?? 0 }));
  return lines.map((line) =>
    Object.fromEntries(columns.map((c, i) => [c.name, line.slice(c.at, columns[i + 1]?.at ?? line.length).trim()])),
  );
}

withKubectl(`the real kubectl against the sandbox${KUBECTL ? '' : ' (skipped: no kubectl on PATH)'}`, () => {
  test('get nodes -o wide: every node, Ready, with its internal IP, OS image and kernel', async () => {
    const { server } = await start();
    const result = await kubectl(server, ['get', 'nodes', '-o', 'wide']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const rows = parseTable(result.stdout);
    expect(rows.map((r) => [r.NAME, r.STATUS, r['INTERNAL-IP']])).toEqual([
      ['aks-nodepool1-31415926-vmss000000', 'Ready', '10.224.0.4'],
      ['aks-nodepool1-31415926-vmss000001', 'Ready', '10.224.0.5'],
      ['aks-nodepool1-31415926-vmss000002', 'Ready', '10.224.0.6'],
    ]);
    expect(rows[0]).toMatchObject({
      VERSION: 'v1.32.4',
      'OS-IMAGE': 'Ubuntu 22.04.5 LTS',
      'KERNEL-VERSION': '5.15.0-1079-azure',
      'EXTERNAL-IP': '<none>',
    });
  });

  test('get pods -A -o wide --field-selector spec.nodeName=…: the node’s pods with namespace, IP and node', async () => {
    const { server, cluster } = await start();
    const result = await kubectl(server, [
      'get',
      'pods',
      '-A',
      '-o',
      'wide',
      '--field-selector',
      `spec.nodeName=${EXHAUSTED}`,
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const rows = parseTable(result.stdout);
    expect(rows).toHaveLength(cluster.scenario.nodes[1]!.pods.length);
    expect(rows.find((r) => r.NAME === CHECKOUT)).toEqual({
      NAMESPACE: 'payments',
      NAME: CHECKOUT,
      READY: '1/1',
      STATUS: 'Running',
      RESTARTS: '0',
      AGE: '26h',
      IP: '10.244.1.4',
      NODE: EXHAUSTED,
      'NOMINATED NODE': '<none>',
      'READINESS GATES': '<none>',
    });
    // hostNetwork pods carry the node's IP.
    expect(rows.find((r) => r.NAME?.startsWith('konnectivity-agent'))?.IP).toBe('10.224.0.5');
  });

  test('exec … cat /proc/net/tcp /proc/net/tcp6 over WebSocket: the kernel format, 620 sockets to 20.50.2.10:443', async () => {
    const { server, requests } = await start();
    const result = await kubectl(server, [
      'exec',
      '-n',
      'payments',
      CHECKOUT,
      '--',
      'cat',
      '/proc/net/tcp',
      '/proc/net/tcp6',
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const { sockets, skipped } = parseProcNetTcp(result.stdout, { netns: 1 });
    expect(skipped).toBe(0);
    const to = (ip: string, port: number, state: string) =>
      sockets
        .filter((s) => s.remoteIp === ip && s.remotePort === port && s.state === state)
        .reduce((n, s) => n + s.count, 0);
    expect(to('20.50.2.10', 443, 'ESTABLISHED')).toBe(620);
    expect(to('20.50.2.11', 443, 'ESTABLISHED')).toBe(285);
    // kubectl 1.32 speaks WebSocket (remote command v5) first.
    const upgrade = requests.find((r) => r.url.includes('/exec?'));
    expect(upgrade?.headers).toMatchObject({ upgrade: 'websocket', 'sec-websocket-protocol': 'v5.channel.k8s.io' });
  });

  test('exec of a binary the container lacks: its stderr, and exit code 126 from the status channel', async () => {
    const { server } = await start();
    const result = await kubectl(server, ['exec', '-n', 'payments', CHECKOUT, '--', 'netstat', '-ptn']);
    expect(result.code).toBe(126);
    expect(result.stderr).toContain('exec: "netstat": executable file not found in $PATH');
    expect(result.stderr).toContain('command terminated with exit code 126');
  });

  test('logs of a finished probe pod: the node probe report; delete pod: nothing left behind', async () => {
    const { server, cluster } = await start();
    const created = await cluster.createPod('kube-system', probeManifest());
    await until(async () => (await cluster.getPod('kube-system', created.metadata.name)).status.phase === 'Succeeded');

    const get = await kubectl(server, ['get', 'pod', '-n', 'kube-system', created.metadata.name]);
    expect(parseTable(get.stdout)[0]).toMatchObject({ READY: '0/1', STATUS: 'Completed' });

    const logs = await kubectl(server, ['logs', '-n', 'kube-system', created.metadata.name]);
    expect(logs.code).toBe(0);
    const report = parseProbeReport(logs.stdout, { node: EXHAUSTED, seconds: 10 });
    expect(report.truncated).toBe(false);
    expect(report.capture.sandboxes).toHaveLength(cluster.scenario.nodes[1]!.pods.length);

    const deleted = await kubectl(server, ['delete', 'pod', '-n', 'kube-system', created.metadata.name]);
    expect(deleted).toMatchObject({ code: 0, stdout: `pod "${created.metadata.name}" deleted\n` });
    expect(cluster.leftoverPods()).toEqual([]);
  });

  test('a forbidden fault: kubectl prints the RBAC authorizer’s Forbidden error', async () => {
    const { server } = await start(withFaults({ target: 'kubernetes.listNodes', error: 'forbidden' }));
    const result = await kubectl(server, ['get', 'nodes']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Error from server (Forbidden): nodes is forbidden: User "sandbox-user" cannot list resource "nodes" in API group "" at the cluster scope',
    );
  });

  test('a forbidden exec: refused before the upgrade, so kubectl’s SPDY fallback meets the same 403', async () => {
    const { server } = await start(
      withFaults({ target: 'kubernetes.exec', error: 'forbidden', pod: `payments/${CHECKOUT}` }),
    );
    const result = await kubectl(server, ['exec', '-n', 'payments', CHECKOUT, '--', 'cat', '/proc/net/tcp']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Error from server (Forbidden): pods "${CHECKOUT}" is forbidden: User "sandbox-user" cannot create resource "pods/exec" in API group "" in the namespace "payments"`,
    );
  });

  test('get pods -A -o wide: each phase as kubectl prints it (ContainerCreating, Completed, Error, Terminating)', async () => {
    const { server } = await start(withOwnersAndPhases());
    const result = await kubectl(server, ['get', 'pods', '-A', '-o', 'wide']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const rows = parseTable(result.stdout);
    const row = (prefix: string) => rows.find((r) => r.NAME?.startsWith(prefix));
    expect(row('migrate-')).toMatchObject({
      NAMESPACE: 'batch',
      READY: '0/1',
      STATUS: 'ContainerCreating',
      IP: '<none>',
    });
    expect(row('report-')).toMatchObject({ READY: '0/1', STATUS: 'Completed' });
    expect(row('import-29104560-b7x2k')).toMatchObject({ READY: '0/1', STATUS: 'Error' });
    expect(row('cart-')).toMatchObject({ READY: '1/1', STATUS: 'Terminating' });
    expect(row('redis-0')).toMatchObject({ STATUS: 'Running', NODE: EXHAUSTED });

    const phases = await kubectl(server, [
      'get',
      'pods',
      '-n',
      'batch',
      '--field-selector',
      'status.phase!=Running',
      '-o',
      'custom-columns=NAME:.metadata.name,PHASE:.status.phase',
    ]);
    expect(parseTable(phases.stdout).map((r) => [r.NAME?.split('-')[0], r.PHASE])).toEqual([
      ['report', 'Succeeded'],
      ['migrate', 'Pending'],
      ['import', 'Failed'],
    ]);
  });

  test('-o jsonpath: each pod’s owner reference and labels, the deletionTimestamp, a dual-stack node’s addresses', async () => {
    const { server } = await start(withOwnersAndPhases());
    const pods = await kubectl(server, [
      'get',
      'pods',
      '-A',
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.metadata.ownerReferences[0].kind}{"\\t"}{.metadata.ownerReferences[0].name}{"\\t"}{.metadata.ownerReferences[0].controller}{"\\t"}{.metadata.deletionTimestamp}{"\\n"}{end}',
    ]);
    expect(pods).toMatchObject({ code: 0, stderr: '' });
    const owners = new Map(
      pods.stdout
        .trim()
        .split('\n')
        .map((line) => [line.split('\t')[0], line.split('\t').slice(1)]),
    );
    const cart = [...owners.keys()].find((n) => n?.startsWith('cart-')) ?? '';
    const hash = /^cart-(\w+)-\w{5}$/.exec(cart)?.[1];
    expect(owners.get(cart)?.slice(0, 3)).toEqual(['ReplicaSet', `cart-${hash}`, 'true']);
    expect(owners.get(cart)?.[3]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(owners.get('redis-0')?.slice(0, 2)).toEqual(['StatefulSet', 'redis']);
    expect(owners.get('import-29104560-b7x2k')?.slice(0, 2)).toEqual(['Job', 'import-29104560']);
    expect(owners.get(CHECKOUT)?.slice(0, 2)).toEqual(['ReplicaSet', 'checkout-api-7d9f8b6c5d']);

    const labels = await kubectl(server, [
      'get',
      'pod',
      '-n',
      'shop',
      cart,
      '-o',
      "jsonpath={.metadata.labels['pod-template-hash']}",
    ]);
    expect(labels.stdout).toBe(hash);

    const addresses = await kubectl(server, [
      'get',
      'node',
      EXHAUSTED,
      '-o',
      'jsonpath={range .status.addresses[*]}{.type}={.address}{" "}{end}',
    ]);
    expect(addresses.stdout.trim()).toBe(`InternalIP=10.224.0.5 InternalIP=fd00:10:224::5 Hostname=${EXHAUSTED}`);
    // -o wide still shows the first InternalIP, the IPv4 one, as kubectl does on a dual-stack node.
    const wide = parseTable((await kubectl(server, ['get', 'nodes', '-o', 'wide'])).stdout);
    expect(wide.find((r) => r.NAME === EXHAUSTED)?.['INTERNAL-IP']).toBe('10.224.0.5');
  });

  test('a wrong token: kubectl asks the user to log in (its discovery call meets the 401 first)', async () => {
    const { server } = await start();
    const other = { ...server, kubeconfig: (name?: string) => server.kubeconfig(name).replace(TOKEN, 'wrong-token') };
    const result = await kubectl(other, ['get', 'nodes']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'error: You must be logged in to the server (the server has asked for the client to provide credentials)',
    );
  });
});

// ── The wire, with a plain HTTPS client ──────────────────────────────────────────────────────────────────────────

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => Record<string, unknown>;
}

function call(
  server: KubeApiServer,
  path: string,
  options: { method?: string; body?: unknown; accept?: string; token?: string | null; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      {
        method: options.method ?? 'GET',
        ca: cert.cert,
        headers: {
          accept: options.accept ?? 'application/json',
          ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? TOKEN}` }),
          ...(options.body ? { 'content-type': 'application/json' } : {}),
        },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('the answer was cut off')));
        res.on('end', () => {
          if (!res.complete) return reject(new Error('the answer was cut off'));
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer before the client gave up')));
    req.on('error', reject);
    req.end(options.body ? JSON.stringify(options.body) : undefined);
  });
}

describe('the API over HTTPS', () => {
  test('no bearer token, or a wrong one: 401 with a Status', async () => {
    const { server } = await start();
    for (const token of [null, 'nope']) {
      const answer = await call(server, '/api/v1/nodes', { token });
      expect(answer.status).toBe(401);
      expect(answer.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
  });

  test('legacy discovery for clients that do not ask for the aggregated document', async () => {
    const { server } = await start();
    expect((await call(server, '/api')).json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect((await call(server, '/apis')).json()).toMatchObject({ kind: 'APIGroupList', groups: [] });
    const resources = (await call(server, '/api/v1')).json().resources as { name: string; namespaced: boolean }[];
    expect(resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(['nodes', 'pods', 'pods/exec', 'pods/log', 'namespaces']),
    );
    const aggregated = await call(server, '/api', {
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(aggregated.headers['content-type']).toBe(
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
  });

  test('limit and continue page through a list', async () => {
    const { server, cluster } = await start();
    const names: string[] = [];
    let token = '';
    do {
      const page = (await call(server, `/api/v1/pods?limit=7${token ? `&continue=${token}` : ''}`)).json() as {
        items: { metadata: { name: string } }[];
        metadata: { continue?: string };
      };
      names.push(...page.items.map((p) => p.metadata.name));
      token = page.metadata.continue ?? '';
    } while (token);
    expect(names).toHaveLength(cluster.scenario.nodes.reduce((n, node) => n + node.pods.length, 0));
    expect(new Set(names).size).toBe(names.length);
  });

  test.each([
    ['spec.nodeName and status.phase', `spec.nodeName=${EXHAUSTED},status.phase=Running`, 28],
    ['a phase no pod is in', `spec.nodeName=${EXHAUSTED},status.phase=Pending`, 0],
    ['!= excludes', `spec.nodeName=${EXHAUSTED},metadata.name!=${CHECKOUT}`, 27],
    ['metadata.name', `metadata.name=${CHECKOUT}`, 1],
  ])('field selector: %s', async (_what, selector, count) => {
    const { server } = await start();
    const list = (await call(server, `/api/v1/pods?fieldSelector=${encodeURIComponent(selector)}`)).json();
    expect(list.items).toHaveLength(count);
  });

  test('an unsupported field selector is a 400 naming the field', async () => {
    const { server } = await start();
    const answer = await call(server, '/api/v1/pods?fieldSelector=spec.schedulerName%3Dx');
    expect(answer.status).toBe(400);
    expect(answer.json().message).toBe('field label not supported: spec.schedulerName');
  });

  test('create: 201 with defaults, 409 for a name in use, 422 for an invalid one, generateName fills in a name', async () => {
    const { server, cluster } = await start();
    const pod = { metadata: { name: 'scratch' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const created = await call(server, '/api/v1/namespaces/default/pods', { method: 'POST', body: pod });
    expect(created.status).toBe(201);
    expect(created.json()).toMatchObject({
      metadata: { name: 'scratch', namespace: 'default' },
      status: { phase: 'Pending' },
    });

    const again = await call(server, '/api/v1/namespaces/default/pods', { method: 'POST', body: pod });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ reason: 'AlreadyExists', message: 'pods "scratch" already exists' });

    const bad = await call(server, '/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { ...pod, metadata: { name: 'Not_Valid' } },
    });
    expect(bad.status).toBe(422);
    expect(bad.json()).toMatchObject({ reason: 'Invalid' });
    expect(bad.json().message).toMatch(/^Pod "Not_Valid" is invalid: metadata.name: Invalid value/);

    const generated = await call(server, '/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { ...pod, metadata: { generateName: 'scratch-' } },
    });
    expect((generated.json().metadata as { name: string }).name).toMatch(/^scratch-[a-z0-9]{5}$/);

    const missing = await call(server, '/api/v1/namespaces/nowhere/pods', { method: 'POST', body: pod });
    expect(missing.json()).toMatchObject({ code: 404, message: 'namespaces "nowhere" not found' });

    for (const record of cluster.leftoverPods()) {
      expect((await call(server, `/api/v1/namespaces/default/pods/${record.name}`, { method: 'DELETE' })).status).toBe(
        200,
      );
    }
  });

  test('throttled: 429 with Retry-After', async () => {
    const { server } = await start(
      withFaults({ target: 'kubernetes.listNodes', error: 'throttled', retryAfterSeconds: 7 }),
    );
    const answer = await call(server, '/api/v1/nodes');
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('7');
    expect(answer.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
  });

  test.each([
    ['transient', 503, 'ServiceUnavailable'],
    ['server-error', 500, 'InternalError'],
    ['forbidden', 403, 'Forbidden'],
  ])('%s: HTTP %i with a Status', async (error, status, reason) => {
    const { server } = await start(withFaults({ target: 'kubernetes.listPodsOnNode', error, node: EXHAUSTED }));
    const answer = await call(server, `/api/v1/pods?fieldSelector=spec.nodeName%3D${EXHAUSTED}`);
    expect(answer.status).toBe(status);
    expect(answer.json()).toMatchObject({ reason, code: status });
    // The fault is for that node only.
    expect(
      (await call(server, '/api/v1/pods?fieldSelector=spec.nodeName%3Daks-nodepool1-31415926-vmss000000')).status,
    ).toBe(200);
  });

  test('timeout: the request is never answered; the client gives up', async () => {
    const { server } = await start(withFaults({ target: 'kubernetes.listNodes', error: 'timeout', times: 1 }));
    await expect(call(server, '/api/v1/nodes', { timeoutMs: 200 })).rejects.toThrow(
      'no answer before the client gave up',
    );
    expect((await call(server, '/api/v1/nodes')).status).toBe(200); // `times: 1`: the next call is answered
  });

  test('stream-dropped: the answer starts and the connection breaks', async () => {
    const { server } = await start(withFaults({ target: 'kubernetes.listNodes', error: 'stream-dropped', times: 1 }));
    await expect(call(server, '/api/v1/nodes')).rejects.toThrow();
  });
});

// ── The probe pod's life ─────────────────────────────────────────────────────────────────────────────────────────

/** The sandbox's timers, released by hand: the pod's phases can be watched one by one. */
function manualTimers() {
  const waiting: (() => void)[] = [];
  return {
    sleep: () => new Promise<void>((resolve) => waiting.push(resolve)),
    async next() {
      waiting.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the condition never held');
}

describe('probe pods in the sandbox cluster', () => {
  test('Pending → Running → Succeeded; the logs are the node probe report for the requested seconds', async () => {
    const timers = manualTimers();
    const { cluster } = await start(scenarioWith(), { sleep: timers.sleep });
    const pod = await cluster.createPod('kube-system', probeManifest(EXHAUSTED, undefined, 20));
    const phase = async () => (await cluster.getPod('kube-system', pod.metadata.name)).status.phase;
    expect(await phase()).toBe('Pending');
    await timers.next();
    expect(await phase()).toBe('Running');
    await timers.next();
    expect(await phase()).toBe('Succeeded');
    const report = parseProbeReport(await cluster.podLogs('kube-system', pod.metadata.name), {
      node: EXHAUSTED,
      seconds: 20,
    });
    expect(report.capture.seconds).toBe(20);
    await cluster.deletePod('kube-system', pod.metadata.name);
    expect(cluster.podHistory()[0]).toMatchObject({ probe: true, phases: ['Pending', 'Running', 'Succeeded'] });
  });

  test('bad probe arguments end the pod Failed with the script’s own error', async () => {
    const { cluster } = await start();
    const manifest = probeManifest();
    manifest.spec.containers[0]!.command.splice(-1, 1, '900');
    const pod = await cluster.createPod('kube-system', manifest);
    await until(async () => (await cluster.getPod('kube-system', pod.metadata.name)).status.phase === 'Failed');
    expect(await cluster.podLogs('kube-system', pod.metadata.name)).toBe(
      '@@ error\n--seconds wants a whole number from 1 to 300\n@@ end\n',
    );
    await cluster.deletePod('kube-system', pod.metadata.name);
  });

  test('a pending fault: the pod stays Pending, Unschedulable', async () => {
    const { cluster } = await start(withFaults({ target: 'probe.capture', error: 'pending' }));
    const pod = await cluster.createPod('kube-system', probeManifest());
    const stored = await cluster.getPod('kube-system', pod.metadata.name);
    expect(stored.status).toMatchObject({
      phase: 'Pending',
      conditions: [expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' })],
    });
    await cluster.deletePod('kube-system', pod.metadata.name);
  });

  test('with latency on, each call first waits its scenario latency', async () => {
    const waited: number[] = [];
    const { cluster } = await start(scenarioWith(), {
      latency: true,
      sleep: async (ms) => {
        waited.push(ms);
      },
    });
    await cluster.listNodes();
    await cluster.listPods({ fieldSelector: `spec.nodeName=${EXHAUSTED}` });
    await cluster.exec('payments', CHECKOUT, undefined, ['cat', '/proc/net/tcp']);
    expect(waited).toEqual([40, 60, 120]); // lib/sandbox/scenarios/default.yaml
  });

  test('a pod that is not the probe just runs; the record keeps it until deleted', async () => {
    const { cluster } = await start();
    await cluster.createPod('default', {
      metadata: { name: 'sleeper' },
      spec: { nodeName: EXHAUSTED, containers: [{ name: 'c', image: 'busybox' }] },
    });
    expect(cluster.leftoverPods()).toMatchObject([{ name: 'sleeper', probe: false, phases: ['Pending', 'Running'] }]);
    await cluster.deletePod('default', 'sleeper');
  });
});

test.each([
  [5_000, '5s'],
  [119_000, '119s'],
  [185_000, '3m5s'],
  [3_600_000, '60m'],
  [5 * 3_600_000 + 20 * 60_000, '5h20m'],
  [26 * 3_600_000, '26h'],
  [9 * 24 * 3_600_000, '9d'],
])('ages read like kubectl’s: %i ms → %s', (ms, text) => {
  expect(humanDuration(ms)).toBe(text);
});
