// The sandbox cluster's Kubernetes API on loopback: HTTPS with a bearer token, enough of the real API that the real
// `kubectl` (1.32) and `@kubernetes/client-node` work against it — discovery (aggregated and legacy), nodes, pods
// (list with field/label selectors and `limit`/`continue`, the Table format `kubectl get` asks for, create, delete,
// logs) and exec upgraded to WebSocket with the `channel.k8s.io` subprotocols.
//
// The state and the scenario's faults live in SandboxCluster; this file turns its answers into the wire's behaviour:
// a `KubeStatusError` becomes a `Status` body with its code (and `Retry-After`), a `TransportFault` a request that is
// never answered (`hang`) or an answer cut short (`drop`).

import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { stringify as toYaml } from 'yaml';
import { AKS_SERVER_APP_ID } from './armServer.ts';
import { readToken } from './entra.ts';
import {
  badRequest,
  type ExecOutcome,
  type KubeObject,
  KubeStatusError,
  type ListOptions,
  type PodObject,
  SANDBOX_KUBERNETES_VERSION,
  type SandboxCluster,
  TransportFault,
} from './sandboxCluster.ts';
import type { SandboxCertificate } from './tls.ts';

export interface KubeApiServerOptions {
  cert: SandboxCertificate;
  /** The bearer token every request must carry (the kubeconfig's user has it). */
  token: string;
  /** Default: any free port. */
  port?: number;
  /** Sees every request (method, path with query, headers): tests use it to check what a client asked for. */
  onRequest?: (request: { method: string; url: string; headers: IncomingMessage['headers'] }) => void;
}

export interface KubeApiServer {
  /** `https://127.0.0.1:PORT` */
  url: string;
  /** A kubeconfig trusting the sandbox's certificate (certificate-authority-data) with the bearer token as user. */
  kubeconfig(contextName?: string): string;
  /** Stops listening and cuts every open connection (held requests, exec streams). */
  close(): Promise<void>;
}

/** The WebSocket subprotocols of remote command, best first (the client offers its list; we pick). */
const EXEC_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
];
const CHANNEL = { stdout: 1, stderr: 2, error: 3 } as const;
/** The kubelet streams output in chunks; a client must reassemble frames. */
const FRAME_BYTES = 16 * 1024;
const AGGREGATED_DISCOVERY = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

export async function startKubeApiServer(
  cluster: SandboxCluster,
  options: KubeApiServerOptions,
): Promise<KubeApiServer> {
  const held = new Set<Duplex>();
  const sockets = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  const server: Server = createServer({ key: options.cert.key, cert: options.cert.cert }, (req, res) => {
    options.onRequest?.({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    if (!authorized(req, options.token)) return sendStatus(res, unauthorized());
    handle(cluster, req, res).catch((error: unknown) => sendError(res, error));
  });
  // Every TCP connection, so close() can cut them all: keep-alive ones, held ones, and ones whose first request
  // is still on its way when close() is called (closeAllConnections would miss those).
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    options.onRequest?.({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    held.add(socket);
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => socket.destroy());
    if (!authorized(req, options.token)) return refuseUpgrade(socket, unauthorized());
    upgradeExec(cluster, sockets, req, socket, head).catch((error: unknown) => {
      if (error instanceof TransportFault && error.kind === 'hang') return; // held open until the client gives up
      refuseUpgrade(socket, error instanceof KubeStatusError ? error : internal(error));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    kubeconfig(contextName = 'snat-doctor-sandbox') {
      return toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: contextName,
            cluster: { server: url, 'certificate-authority-data': Buffer.from(options.cert.cert).toString('base64') },
          },
        ],
        users: [{ name: `${contextName}-user`, user: { token: options.token } }],
        contexts: [{ name: contextName, context: { cluster: contextName, user: `${contextName}-user` } }],
        'current-context': contextName,
        preferences: {},
      });
    },
    async close() {
      for (const client of sockets.clients) client.terminate();
      for (const socket of held) socket.destroy();
      sockets.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of connections) socket.destroy();
      await closed;
    },
  };
}

// ── Requests ─────────────────────────────────────────────────────────────────────────────────────────────────────

async function handle(cluster: SandboxCluster, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://sandbox');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const query = url.searchParams;
  const accept = req.headers.accept ?? '';
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);

  if (method === 'GET' && path === '/version') return sendJson(res, 200, versionInfo());
  if (method === 'GET' && (path === '/api' || path === '/apis')) {
    // kubectl ≥ 1.30 asks for aggregated discovery (one document with every resource); without that Accept type it
    // falls back to the legacy documents (/api → versions, /apis → groups, then /api/v1's resource list).
    if (accept.includes('as=APIGroupDiscoveryList')) {
      return sendJson(res, 200, aggregatedDiscovery(path === '/api'), AGGREGATED_DISCOVERY);
    }
    return sendJson(
      res,
      200,
      path === '/api' ? apiVersions(req) : { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
    );
  }
  if (method === 'GET' && path === '/api/v1') return sendJson(res, 200, resourceList());

  if (segments[0] !== 'api' || segments[1] !== 'v1') throw notServed(path);
  const rest = segments.slice(2);
  const list = listOptions(query);
  if (query.get('watch') === 'true' || query.get('watch') === '1') {
    throw badRequest('the snat-doctor sandbox does not serve watches: list, or get the object, instead');
  }
  const table = accept.includes('as=Table');
  const [first, second, third, fourth, fifth] = rest;

  if (rest.length === 1 && first === 'nodes' && method === 'GET') {
    return sendList(res, 'NodeList', await cluster.listNodes(list), query, table, cluster, nodeTable);
  }
  if (rest.length === 2 && first === 'nodes' && method === 'GET') {
    return sendObject(res, await cluster.getNode(second ?? ''), table, cluster, nodeTable);
  }
  if (rest.length === 1 && first === 'pods' && method === 'GET') {
    return sendList(res, 'PodList', await cluster.listPods(list), query, table, cluster, podTable);
  }
  if (rest.length === 1 && first === 'namespaces' && method === 'GET') {
    return sendList(res, 'NamespaceList', cluster.listNamespaces(), query, table, cluster, namespaceTable);
  }
  if (first !== 'namespaces' || second === undefined) throw notServed(path);
  const namespace = second;
  if (rest.length === 2 && method === 'GET') {
    return sendObject(res, cluster.getNamespace(namespace), table, cluster, namespaceTable);
  }
  if (third !== 'pods') throw notServed(path);

  if (rest.length === 3 && method === 'GET') {
    return sendList(res, 'PodList', await cluster.listPods({ ...list, namespace }), query, table, cluster, podTable);
  }
  if (rest.length === 3 && method === 'POST') {
    if (query.get('dryRun')) throw badRequest('dryRun is not supported by the snat-doctor sandbox');
    const created = await cluster.createPod(namespace, await readJson(req));
    return sendJson(res, 201, created);
  }
  const name = fourth ?? '';
  if (rest.length === 4 && method === 'GET') {
    return sendObject(res, await cluster.getPod(namespace, name), table, cluster, podTable);
  }
  if (rest.length === 4 && method === 'DELETE') {
    await readJson(req).catch(() => undefined); // DeleteOptions: the sandbox deletes at once whatever they say
    return sendJson(res, 200, await cluster.deletePod(namespace, name));
  }
  if (rest.length === 5 && fifth === 'log' && method === 'GET') {
    let logs = await cluster.podLogs(namespace, name, query.get('container') ?? undefined);
    const tail = Number(query.get('tailLines') ?? Number.NaN);
    if (Number.isInteger(tail) && tail >= 0) {
      const lines = logs.split('\n');
      if (logs.endsWith('\n')) lines.pop();
      logs = tail === 0 || lines.length === 0 ? '' : `${lines.slice(-tail).join('\n')}\n`;
    }
    const limit = Number(query.get('limitBytes') ?? Number.NaN);
    const body = Buffer.from(logs);
    res.writeHead(200, { 'content-type': 'text/plain' });
    return void res.end(Number.isInteger(limit) && limit > 0 ? body.subarray(0, limit) : body);
  }
  if (rest.length === 5 && fifth === 'exec') throw badRequest('Upgrade request required');
  throw notServed(path);
}

function listOptions(query: URLSearchParams): ListOptions {
  return {
    ...(query.get('fieldSelector') ? { fieldSelector: query.get('fieldSelector') as string } : {}),
    ...(query.get('labelSelector') ? { labelSelector: query.get('labelSelector') as string } : {}),
  };
}

type ToTable = (objects: KubeObject[], now: Date) => Table;

function sendList(
  res: ServerResponse,
  kind: string,
  items: KubeObject[],
  query: URLSearchParams,
  table: boolean,
  cluster: SandboxCluster,
  toTable: ToTable,
): void {
  // `limit` and `continue` (kubectl get pages with limit=500): the token is the offset, opaque to clients.
  const offset = Number.parseInt(Buffer.from(query.get('continue') ?? '', 'base64url').toString() || '0', 10) || 0;
  const limit = Number.parseInt(query.get('limit') ?? '', 10);
  const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
  const next =
    limit > 0 && offset + limit < items.length ? Buffer.from(String(offset + limit)).toString('base64url') : '';
  const metadata = {
    resourceVersion: cluster.resourceVersion,
    ...(next ? { continue: next, remainingItemCount: items.length - offset - page.length } : {}),
  };
  if (table) sendJson(res, 200, { ...toTable(page, cluster.now()), metadata }, TABLE);
  else sendJson(res, 200, { kind, apiVersion: 'v1', metadata, items: page });
}

function sendObject(
  res: ServerResponse,
  object: KubeObject,
  table: boolean,
  cluster: SandboxCluster,
  toTable: ToTable,
): void {
  if (table) {
    sendJson(
      res,
      200,
      { ...toTable([object], cluster.now()), metadata: { resourceVersion: cluster.resourceVersion } },
      TABLE,
    );
  } else {
    sendJson(res, 200, object);
  }
}

// ── Exec over WebSocket ──────────────────────────────────────────────────────────────────────────────────────────

async function upgradeExec(
  cluster: SandboxCluster,
  sockets: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://sandbox');
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec\/?$/.exec(url.pathname);
  if (!match) throw notServed(url.pathname);
  const argv = url.searchParams.getAll('command');
  if (argv.length === 0) throw badRequest('you must specify at least 1 command');
  const [namespace = '', name = ''] = [decodeURIComponent(match[1] ?? ''), decodeURIComponent(match[2] ?? '')];
  // The API server authorizes and finds the pod before it upgrades: those failures are plain HTTP answers, whatever
  // the protocol asked for.
  const outcome = await cluster.exec(namespace, name, url.searchParams.get('container') ?? undefined, argv);
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    // kubectl 1.32 tries WebSocket first and falls back to SPDY/3.1 when the upgrade is refused (any non-101 answer,
    // a 403 included), so the error it prints is the one its SPDY attempt gets: that attempt is authorized and
    // faulted like any call, and only then refused for its protocol, which the sandbox does not speak.
    throw badRequest(`the snat-doctor sandbox serves exec over WebSocket only, not "${req.headers.upgrade}"`);
  }
  sockets.handleUpgrade(req, socket, head, (ws) => stream(ws, outcome, argv));
}

/** Writes the command's output as channel frames, then its status (v4+: a Status object), then closes. */
function stream(ws: WebSocket, outcome: ExecOutcome, argv: string[]): void {
  const frame = (channel: number, data: Buffer) => Buffer.concat([Buffer.from([channel]), data]);
  const chunks = (text: string) => {
    const bytes = Buffer.from(text);
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += FRAME_BYTES) out.push(bytes.subarray(at, at + FRAME_BYTES));
    return out;
  };
  // Frames sent from a client (stdin, resize, v5's close signal on channel 255) are read and ignored: nothing
  // the sandbox runs reads input.
  ws.on('message', () => {});
  const frames = chunks(outcome.stdout).map((chunk) => frame(CHANNEL.stdout, chunk));
  if (outcome.dropped) {
    // The connection breaks once the output sent so far is on the wire: no status, no close frame.
    const last = frames.pop();
    for (const f of frames) ws.send(f);
    if (last) ws.send(last, () => ws.terminate());
    else ws.terminate();
    return;
  }
  for (const f of frames) ws.send(f);
  for (const chunk of chunks(outcome.stderr)) ws.send(frame(CHANNEL.stderr, chunk));
  ws.send(frame(CHANNEL.error, Buffer.from(execStatus(ws.protocol, outcome.exitCode, argv))));
  ws.close(1000);
}

function execStatus(protocol: string, exitCode: number, argv: string[]): string {
  const failure = `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`;
  // Before v4 the error channel carries plain text, and nothing at all on success.
  if (protocol !== 'v4.channel.k8s.io' && protocol !== 'v5.channel.k8s.io') return exitCode === 0 ? '' : failure;
  if (exitCode === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: failure,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  });
}

function refuseUpgrade(socket: Duplex, error: KubeStatusError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(error.status);
  const code = error.status.code;
  const headers = [
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(error.retryAfterSeconds !== undefined ? [`Retry-After: ${error.retryAfterSeconds}`] : []),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

// ── Answers ──────────────────────────────────────────────────────────────────────────────────────────────────────

function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, error: KubeStatusError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
  sendJson(res, error.status.code, error.status);
}

function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof TransportFault) {
    if (error.kind === 'hang') return; // never answered: the client's timeout (or closing) ends it
    // The start of an answer, then a broken connection.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
    res.write('{"apiVersion":"v1","metadata":{"resourceVersion":"');
    (res.socket as Socket | null)?.destroy();
    return;
  }
  if (res.headersSent) return void res.destroy();
  sendStatus(res, error instanceof KubeStatusError ? error : internal(error));
}

/**
 * The kubeconfig's own token, or (an Entra ID cluster's users authenticate so) a token the sandbox's Entra ID issued
 * for the AKS server app, which the API server's webhook accepts.
 */
function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header);
  if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
  const bearer = /^Bearer (.+)$/.exec(header)?.[1];
  return bearer !== undefined && readToken(token, bearer)?.aud === AKS_SERVER_APP_ID;
}

function unauthorized(): KubeStatusError {
  return new KubeStatusError({ reason: 'Unauthorized', message: 'Unauthorized', code: 401 });
}

function internal(error: unknown): KubeStatusError {
  const message = error instanceof Error ? error.message : String(error);
  return new KubeStatusError({ reason: 'InternalError', message: `Internal error occurred: ${message}`, code: 500 });
}

function notServed(path: string): KubeStatusError {
  return new KubeStatusError({
    reason: 'NotFound',
    message: `the server could not find the requested resource (the snat-doctor sandbox does not serve ${path})`,
    details: { causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }] },
    code: 404,
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body of the request was in an unknown format: ${(error as Error).message}`);
  }
}

// ── Discovery ────────────────────────────────────────────────────────────────────────────────────────────────────

function versionInfo(): Record<string, string> {
  const [major = '1', minor = '32'] = SANDBOX_KUBERNETES_VERSION.slice(1).split('.');
  return {
    major,
    minor,
    gitVersion: SANDBOX_KUBERNETES_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-04-22T00:00:00Z',
    goVersion: 'go1.23.8',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

interface ResourceDefinition {
  name: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: { name: string; kind: string; verbs: string[] }[];
}

const RESOURCES: ResourceDefinition[] = [
  {
    name: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    verbs: ['get', 'list'],
    shortNames: ['ns'],
  },
  { name: 'nodes', singular: 'node', kind: 'Node', namespaced: false, verbs: ['get', 'list'], shortNames: ['no'] },
  {
    name: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    verbs: ['create', 'delete', 'get', 'list'],
    shortNames: ['po'],
    categories: ['all'],
    subresources: [
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
    ],
  },
];

function aggregatedDiscovery(core: boolean): Record<string, unknown> {
  const resources = RESOURCES.map((r) => ({
    resource: r.name,
    responseKind: { group: '', version: 'v1', kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: r.verbs,
    ...(r.shortNames ? { shortNames: r.shortNames } : {}),
    ...(r.categories ? { categories: r.categories } : {}),
    ...(r.subresources
      ? {
          subresources: r.subresources.map((s) => ({
            subresource: s.name,
            responseKind: { group: '', version: 'v1', kind: s.kind },
            verbs: s.verbs,
          })),
        }
      : {}),
  }));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: core
      ? [{ metadata: { creationTimestamp: null }, versions: [{ version: 'v1', resources, freshness: 'Current' }] }]
      : [],
  };
}

function apiVersions(req: IncomingMessage): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '127.0.0.1' }],
  };
}

function resourceList(): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: RESOURCES.flatMap((r) => [
      {
        name: r.name,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.verbs,
        ...(r.shortNames ? { shortNames: r.shortNames } : {}),
        ...(r.categories ? { categories: r.categories } : {}),
      },
      ...(r.subresources ?? []).map((s) => ({
        name: `${r.name}/${s.name}`,
        singularName: '',
        namespaced: r.namespaced,
        kind: s.kind,
        verbs: s.verbs,
      })),
    ]),
  };
}

// ── Tables (what `kubectl get` prints; priority 1 columns only with -o wide) ─────────────────────────────────────

interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  columnDefinitions: { name: string; type: string; format: string; description: string; priority: number }[];
  rows: { cells: (string | number)[]; object: Record<string, unknown> }[];
}

function table(
  columns: [name: string, priority: number, format?: string][],
  objects: KubeObject[],
  cells: (o: KubeObject) => (string | number)[],
): Table {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    columnDefinitions: columns.map(([name, priority, format]) => ({
      name,
      type: 'string',
      format: format ?? '',
      description: name,
      priority,
    })),
    rows: objects.map((object) => ({
      cells: cells(object),
      // kubectl reads the namespace (for -A) and labels (for --show-labels) from each row's object metadata.
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata },
    })),
  };
}

function nodeTable(nodes: KubeObject[], now: Date): Table {
  return table(
    [
      ['Name', 0, 'name'],
      ['Status', 0],
      ['Roles', 0],
      ['Age', 0],
      ['Version', 0],
      ['Internal-IP', 1],
      ['External-IP', 1],
      ['OS-Image', 1],
      ['Kernel-Version', 1],
      ['Container-Runtime', 1],
    ],
    nodes,
    (node) => {
      const status = node.status as {
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
        nodeInfo: Record<string, string>;
      };
      const ready = status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
      const address = (type: string) => status.addresses.find((a) => a.type === type)?.address ?? '<none>';
      const roles = Object.keys(node.metadata.labels ?? {})
        .filter((l) => l.startsWith('node-role.kubernetes.io/'))
        .map((l) => l.slice('node-role.kubernetes.io/'.length));
      return [
        node.metadata.name,
        ready ? 'Ready' : 'NotReady',
        roles.join(',') || '<none>',
        age(node, now),
        status.nodeInfo.kubeletVersion ?? '',
        address('InternalIP'),
        address('ExternalIP'),
        status.nodeInfo.osImage ?? '',
        status.nodeInfo.kernelVersion ?? '',
        status.nodeInfo.containerRuntimeVersion ?? '',
      ];
    },
  );
}

function podTable(pods: KubeObject[], now: Date): Table {
  return table(
    [
      ['Name', 0, 'name'],
      ['Ready', 0],
      ['Status', 0],
      ['Restarts', 0],
      ['Age', 0],
      ['IP', 1],
      ['Node', 1],
      ['Nominated Node', 1],
      ['Readiness Gates', 1],
    ],
    pods,
    (object) => {
      const pod = object as PodObject;
      const statuses = (pod.status.containerStatuses ?? []) as {
        ready: boolean;
        restartCount: number;
        state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode: number } };
      }[];
      let reason: string = pod.status.phase;
      for (const s of statuses) {
        if (s.state?.waiting?.reason) reason = s.state.waiting.reason;
        else if (s.state?.terminated) reason = s.state.terminated.reason ?? `ExitCode:${s.state.terminated.exitCode}`;
      }
      if (pod.metadata.deletionTimestamp) reason = 'Terminating';
      return [
        pod.metadata.name,
        `${statuses.filter((s) => s.ready).length}/${pod.spec.containers.length}`,
        reason,
        String(statuses.reduce((n, s) => n + s.restartCount, 0)),
        age(pod, now),
        String(pod.status.podIP ?? '<none>'),
        pod.spec.nodeName ?? '<none>',
        '<none>',
        '<none>',
      ];
    },
  );
}

function namespaceTable(namespaces: KubeObject[], now: Date): Table {
  return table(
    [
      ['Name', 0, 'name'],
      ['Status', 0],
      ['Age', 0],
    ],
    namespaces,
    (ns) => [ns.metadata.name, String(ns.status?.phase ?? 'Active'), age(ns, now)],
  );
}

function age(object: KubeObject, now: Date): string {
  return humanDuration(now.getTime() - Date.parse(object.metadata.creationTimestamp));
}

/** apimachinery's duration.HumanDuration: "45s", "3m12s", "5h20m", "26h", "9d", "2y14d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}
