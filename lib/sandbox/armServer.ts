// The sandbox's Azure endpoints, served over HTTPS on 127.0.0.1 so that the real SDK clients (lib/adapters/azure.ts)
// talk to them exactly as to Azure: ARM's ManagedCluster, its user kubeconfig and runCommand with its long-running
// operation protocol, the VNet a cluster brings (GET virtualNetworks, its subnet naming a user-assigned NAT gateway),
// the cluster's outbound public IPs (GET publicIPAddresses, naming a managed NAT gateway), and Azure Monitor's metrics
// batch API for load balancers and NAT gateways. Answers come from the scenario — the same facts and metrics
// scenarioPorts.ts gives in-process — with its latencies and protocol-level faults (429 with Retry-After, runCommand
// `Failed`, output cut off, a request never answered …).
//
// One server holds both services: ARM under `/subscriptions/…`, the metrics batch API under a per-region prefix
// (`/regions/{location}/subscriptions/{s}/metrics:getBatch`), which stands in for `https://{location}.metrics.monitor.azure.com`
// and lets a test see which regional endpoint a query went to.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { strFromU8, unzipSync } from 'fflate';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { NAT_GATEWAYS } from '../adapters/azure/natGatewaySnat.ts';
import { readBody } from '../requestBody.ts';
import { allowed, metricsRefusal } from './azureRbac.ts';
import { AUDIENCES, readToken } from './entra.ts';
import { FaultInjector } from './faults.ts';
import { natGatewaySnatOf, outboundIpIds, publicIpResource, subnetNatGatewayId } from './natGateways.ts';
import type { Fault, FaultTarget, Scenario } from './scenario.ts';
import type { SandboxCertificate } from './tls.ts';
import { subnetId, virtualNetworkResource, vnetId } from './virtualNetworks.ts';

/** The command AKS would run in its `command-<id>` pod, as the sandbox's executor receives it. */
export interface RunCommandRequest {
  command: string;
  /** The request's `context` decoded from base64: the zip of the attached files (absent when none were sent). */
  context?: Buffer;
  /** The same files, unzipped: name → UTF-8 text. */
  files: Record<string, string>;
  /** The token for the AKS AAD server app that AAD-managed clusters require. */
  clusterToken?: string;
}

export interface RunCommandOutcome {
  exitCode: number;
  logs: string;
  /** Default `Succeeded`; `Failed` (with `reason`) is what AKS reports when its command pod could not run. */
  provisioningState?: 'Succeeded' | 'Failed';
  reason?: string;
}

/** Interprets a runCommand against the simulated cluster. `signal` aborts when the server closes. */
export type RunCommandExecutor = (request: RunCommandRequest, signal: AbortSignal) => Promise<RunCommandOutcome>;

export type ArmCall = FaultTarget | 'arm.getCommandResult' | 'unknown';

export interface RecordedCall {
  method: string;
  /** The path without the query string. */
  path: string;
  /** Query parameters, names lower-cased. */
  query: Record<string, string>;
  target: ArmCall;
  /** The bearer token the request carried. */
  token?: string;
  /** Its audience and principal (object id), when the sandbox's Entra ID issued it. */
  audience?: string;
  principal?: string;
  /** The JSON body, when there was one. */
  body?: unknown;
  /** For metrics: the region of the endpoint the query was sent to. */
  region?: string;
  /** The HTTP status answered; absent while (or when) the request is held without an answer. */
  status?: number;
  /** The client gave up on a request the server was holding (the `timeout` fault). */
  abandoned?: boolean;
}

export interface ArmServerOptions {
  cert: SandboxCertificate;
  /** The secret the sandbox's Entra ID signs its tokens with (entra.ts): a token not signed with it is refused. */
  entraSecret: string;
  runCommand: RunCommandExecutor;
  /** The cluster user kubeconfig (YAML) to hand out; AAD-managed clusters get its users replaced by kubelogin's exec. */
  kubeconfig?: () => string;
  port?: number;
  /** Waits out the scenario's latencies; tests pass one that returns at once. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ArmServer {
  /** The ARM endpoint: `https://127.0.0.1:PORT`. */
  url: string;
  /** The metrics batch endpoint for a region, as `https://{location}.metrics.monitor.azure.com` would be. */
  metricsEndpoint(location: string): string;
  calls: RecordedCall[];
  close(): Promise<void>;
}

/** AKS keeps 512 kB of a command's output ("limited to 512kB", access-private-cluster.md). */
export const RUN_COMMAND_OUTPUT_LIMIT = 512 * 1024;
/** The application every AKS-managed Entra ID cluster trusts, in every cloud. */
export const AKS_SERVER_APP_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';
/** Azure CLI's public client id, which AKS's kubelogin exec stanza names. */
const AZURE_CLI_CLIENT_ID = '80faf920-1908-4b52-b5ef-a8e7bedfc67a';
const TENANT_ID = '72f988bf-0000-4000-8000-00000000aa01';
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const MAX_BODY = 8 * 1024 * 1024;

const CLUSTER_PATH =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters\/([^/]+)(\/.*)?$/i;
const VNET_PATH =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/virtualNetworks\/([^/]+)$/i;
const PUBLIC_IP_PATH =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/publicIPAddresses\/([^/]+)$/i;
const METRICS_PATH = /^\/regions\/([a-z0-9]+)\/subscriptions\/([^/]+)\/metrics:getBatch$/i;

/** The action a forbidden call names, as ARM's AuthorizationFailed does. */
type ArmTarget =
  | 'arm.getCluster'
  | 'arm.getVirtualNetwork'
  | 'arm.getPublicIpAddress'
  | 'arm.listClusterUserCredential'
  | 'arm.runCommand'
  | MetricsTarget;
/** A metrics batch query is one or the other by its namespace (a batch is one resource type). */
type MetricsTarget = 'metrics.backendSnat' | 'metrics.natGatewaySnat';
const ACTION: Record<ArmTarget, string> = {
  'arm.getCluster': 'Microsoft.ContainerService/managedClusters/read',
  'arm.getVirtualNetwork': 'Microsoft.Network/virtualNetworks/read',
  'arm.getPublicIpAddress': 'Microsoft.Network/publicIPAddresses/read',
  'arm.listClusterUserCredential': 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action',
  'arm.runCommand': 'Microsoft.ContainerService/managedClusters/runCommand/action',
  'metrics.backendSnat': 'Microsoft.Insights/metrics/read',
  'metrics.natGatewaySnat': 'Microsoft.Insights/metrics/read',
};
const isMetrics = (target: ArmTarget): target is MetricsTarget =>
  target === 'metrics.backendSnat' || target === 'metrics.natGatewaySnat';
const COMMAND_RESULTS_READ = 'Microsoft.ContainerService/managedClusters/commandResults/read';

/** Audiences compared as Entra ID's resource ids are: without a trailing slash, case-insensitively. */
const sameAudience = (a: string, b: string) =>
  a.replace(/\/+$/, '').toLowerCase() === b.replace(/\/+$/, '').toLowerCase();

interface CommandRecord {
  startedAt: string;
  /** Settles when the executor has answered and the command's latency has passed. */
  outcome?: RunCommandOutcome & { finishedAt: string };
}

interface Exchange {
  req: IncomingMessage;
  url: URL;
  call: RecordedCall;
}

/** What the server does with a request: answer it, cut its answer short, never answer, or drop the connection. */
type Outcome = HttpAnswer | { truncate: HttpAnswer; bytes?: number } | 'hold' | 'drop';

class HttpAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(status: number, body?: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

function cloudError(status: number, code: string, message: string, headers: Record<string, string> = {}): HttpAnswer {
  return new HttpAnswer(status, { error: { code, message } }, headers);
}

export async function startArmServer(scenario: Scenario, options: ArmServerOptions): Promise<ArmServer> {
  const faults = new FaultInjector(scenario.faults);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const calls: RecordedCall[] = [];
  const commands = new Map<string, CommandRecord>();
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const { cluster } = scenario;
  const fqdn = `${cluster.name.toLowerCase()}-dns-${hex(`fqdn:${cluster.name}`, 8)}.hcp.${cluster.location}.azmk8s.io`;
  let commandCount = 0;
  let origin = '';

  const latency = async (target: FaultTarget) => {
    const ms = scenario.latencies[target] ?? 0;
    if (ms > 0) await sleep(ms);
  };

  /**
   * What an injected fault does to the exchange; `answer` is what the call would have answered (`truncated` sends
   * its JSON cut short, which the client cannot parse). For runCommand, `failed`, `pending` and `truncated` shape
   * the command's result instead (see startCommand).
   */
  const faultAnswer = (fault: Fault, target: ArmTarget, scope: string, answer: () => HttpAnswer): Outcome => {
    const message = fault.message;
    const metrics = isMetrics(target);
    switch (fault.error) {
      case 'transient':
        return cloudError(503, 'ServiceUnavailable', message ?? 'The service is temporarily unavailable. Retry later.');
      case 'throttled': {
        const seconds = fault.retryAfterSeconds ?? 1;
        if (metrics) {
          // The metrics backend throttles with 529 (Azure Monitor docs, migrate-to-batch-api, "529 throttling errors").
          return cloudError(529, 'TooManyRequests', message ?? 'The metrics backend is throttling requests.', {
            'Retry-After': String(seconds),
          });
        }
        return cloudError(
          429,
          'SubscriptionRequestsThrottled',
          message ??
            `Number of requests for subscription '${cluster.subscriptionId}' exceeded the limit. Please try again after '${seconds}' seconds.`,
          { 'Retry-After': String(seconds) },
        );
      }
      case 'server-error':
        return cloudError(500, 'InternalServerError', message ?? 'An internal error occurred. Retry later.');
      case 'forbidden':
        if (metrics) {
          // What metrics:getBatch answers a caller without Monitoring Reader on the subscription: 401 (azureRbac.ts).
          const refusal = metricsRefusal(
            { ...scenario, azure: { ...scenario.azure, roleAssignments: [] } },
            scenario.azure.principalId,
            scope.replace(/^\/subscriptions\//, ''),
          );
          if (refusal) return cloudError(refusal.status, refusal.code, message ?? refusal.message);
        }
        return cloudError(
          403,
          'AuthorizationFailed',
          message ??
            `The client 'snat-doctor' with object id '00000000-0000-0000-0000-00000000d0c7' does not have authorization to perform action '${ACTION[target]}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        );
      case 'timeout':
      case 'pending':
        return 'hold';
      case 'stream-dropped':
        return 'drop';
      case 'failed':
        return cloudError(400, 'BadRequest', message ?? `${target} failed (simulated).`);
      case 'truncated':
        return { truncate: answer(), bytes: fault.bytes };
    }
  };

  const clusterScope = `/subscriptions/${cluster.subscriptionId}/resourceGroups/${cluster.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${cluster.name}`;

  /** 404s as ARM words them: the subscription, the resource group, or the cluster is not there. */
  const findCluster = (subscription: string, group: string, name: string): HttpAnswer | undefined => {
    if (subscription.toLowerCase() !== cluster.subscriptionId) {
      return cloudError(404, 'SubscriptionNotFound', `The subscription '${subscription}' could not be found.`);
    }
    if (group.toLowerCase() !== cluster.resourceGroup.toLowerCase()) {
      return cloudError(404, 'ResourceGroupNotFound', `Resource group '${group}' could not be found.`);
    }
    if (name.toLowerCase() !== cluster.name.toLowerCase()) {
      return cloudError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.ContainerService/managedClusters/${name}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    }
    return undefined;
  };

  const handle = async ({ req, url, call }: Exchange): Promise<Outcome> => {
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) {
      return cloudError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    }
    call.token = token;
    const claims = readToken(options.entraSecret, token);
    if (!claims) return cloudError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    call.audience = claims.aud;
    call.principal = claims.oid;

    const metrics = METRICS_PATH.exec(url.pathname);
    // Each service takes tokens for its own audience only (entra.ts, AUDIENCES). The code and message are ARM's, word
    // for word as public reports quote it (e.g. Azure-Samples/active-directory-dotnetcore-daemon-v2#145); what the
    // metrics batch API itself answers a wrong audience is not documented, so it gets the same.
    const accepted: readonly string[] = metrics ? AUDIENCES.metrics : AUDIENCES.arm;
    if (!accepted.some((audience) => sameAudience(audience, claims.aud))) {
      return cloudError(
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences ${accepted.map((a) => `'${a}'`).join(',')}.`,
      );
    }
    if (metrics) {
      const target: MetricsTarget =
        (call.query.metricnamespace ?? '').toLowerCase() === NAT_GATEWAYS.toLowerCase()
          ? 'metrics.natGatewaySnat'
          : 'metrics.backendSnat';
      call.target = target;
      call.region = metrics[1]?.toLowerCase();
      return withFault(target, `/subscriptions/${metrics[2]}`, call, () =>
        metricsBatch(scenario, {
          region: call.region ?? '',
          subscription: metrics[2] ?? '',
          query: call.query,
          body: call.body,
        }),
      );
    }

    const vnet = VNET_PATH.exec(url.pathname);
    if (vnet && req.method === 'GET') {
      call.target = 'arm.getVirtualNetwork';
      const [, subscription = '', group = '', name = ''] = vnet;
      const scope = `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${name}`;
      return (
        badApiVersion(call) ??
        withFault('arm.getVirtualNetwork', scope, call, () => virtualNetwork(subscription, group, name))
      );
    }

    const publicIp = PUBLIC_IP_PATH.exec(url.pathname);
    if (publicIp && req.method === 'GET') {
      call.target = 'arm.getPublicIpAddress';
      const [, subscription = '', group = '', name = ''] = publicIp;
      const scope = `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Network/publicIPAddresses/${name}`;
      return (
        badApiVersion(call) ??
        withFault('arm.getPublicIpAddress', scope, call, () => publicIpAddress(subscription, scope, name, group))
      );
    }

    const match = CLUSTER_PATH.exec(url.pathname);
    if (!match) return cloudError(404, 'NotFound', `No route for ${req.method} ${url.pathname}.`);
    const [, subscription = '', group = '', name = '', rest = ''] = match;
    const refused = badApiVersion(call);
    if (refused) return refused;
    const route = `${req.method} ${rest.toLowerCase()}`;

    if (route === 'GET ') {
      call.target = 'arm.getCluster';
      return withFault(
        'arm.getCluster',
        clusterScope,
        call,
        () => findCluster(subscription, group, name) ?? new HttpAnswer(200, managedCluster(scenario, fqdn)),
      );
    }
    if (route === 'POST /listclusterusercredential') {
      call.target = 'arm.listClusterUserCredential';
      return withFault('arm.listClusterUserCredential', clusterScope, call, () => {
        const missing = findCluster(subscription, group, name);
        if (missing) return missing;
        const text = userKubeconfig(scenario, fqdn, options.kubeconfig);
        return new HttpAnswer(200, {
          kubeconfigs: [{ name: 'clusterUser', value: Buffer.from(text, 'utf8').toString('base64') }],
        });
      });
    }
    if (route === 'POST /runcommand') {
      call.target = 'arm.runCommand';
      return startCommand(subscription, group, name, call);
    }
    const result = /^GET \/commandresults\/([^/]+)$/.exec(route);
    if (result) {
      call.target = 'arm.getCommandResult';
      return (
        refusedBy(COMMAND_RESULTS_READ, clusterScope, call) ??
        commandResult(subscription, group, name, result[1] ?? '', call.query['api-version'])
      );
    }
    return cloudError(404, 'NotFound', `No route for ${req.method} ${url.pathname}.`);
  };

  /** The VNet the cluster brings, as GET virtualNetworks answers; ARM's 404s for anything else. */
  function virtualNetwork(subscription: string, group: string, name: string): HttpAnswer {
    if (subscription.toLowerCase() !== cluster.subscriptionId) {
      return cloudError(404, 'SubscriptionNotFound', `The subscription '${subscription}' could not be found.`);
    }
    const { vnet } = cluster;
    const same =
      vnet &&
      vnetId(vnet).toLowerCase() === vnetId({ subscriptionId: subscription, resourceGroup: group, name }).toLowerCase();
    if (!vnet || !same) {
      return cloudError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Network/virtualNetworks/${name}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    }
    return new HttpAnswer(200, virtualNetworkResource(vnet, cluster.location, subnetNatGatewayId(cluster)));
  }

  /** One of the cluster's outbound public IPs, as GET publicIPAddresses answers; ARM's 404s for anything else. */
  function publicIpAddress(subscription: string, id: string, name: string, group: string): HttpAnswer {
    if (subscription.toLowerCase() !== cluster.subscriptionId) {
      return cloudError(404, 'SubscriptionNotFound', `The subscription '${subscription}' could not be found.`);
    }
    const resource = publicIpResource(cluster, id);
    if (!resource) {
      return cloudError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Network/publicIPAddresses/${name}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    }
    return new HttpAnswer(200, resource);
  }

  /** Applies the target's latency, then its next fault (if any), then the caller's roles, else answers. */
  async function withFault(
    target: ArmTarget,
    scope: string,
    call: RecordedCall,
    answer: () => HttpAnswer,
  ): Promise<Outcome> {
    await latency(target);
    const fault = faults.take(target);
    if (fault) return faultAnswer(fault, target, scope, answer);
    if (isMetrics(target)) {
      const refusal = metricsRefusal(scenario, call.principal ?? '', scope.replace(/^\/subscriptions\//, ''));
      if (refusal) return cloudError(refusal.status, refusal.code, refusal.message);
      return answer();
    }
    // A subscription the identity holds no role in is one ARM does not show it: SubscriptionNotFound (answer()).
    if (!scope.toLowerCase().startsWith(`/subscriptions/${cluster.subscriptionId}`)) return answer();
    return refusedBy(ACTION[target], scope, call) ?? answer();
  }

  /** ARM's 403 for a caller whose role assignments do not grant `action` on `scope` (azureRbac.ts). */
  function refusedBy(action: string, scope: string, call: RecordedCall): HttpAnswer | undefined {
    const principal = call.principal ?? '';
    if (allowed(scenario, principal, action, scope)) return undefined;
    return cloudError(
      403,
      'AuthorizationFailed',
      `The client '${principal}' with object id '${principal}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }

  async function startCommand(subscription: string, group: string, name: string, call: RecordedCall): Promise<Outcome> {
    const fault = faults.take('arm.runCommand');
    // `failed`, `pending` and `truncated` shape the command's result (runExecutor); the rest fail the submission.
    const shapesResult = fault?.error === 'failed' || fault?.error === 'pending' || fault?.error === 'truncated';
    if (fault && !shapesResult) return faultAnswer(fault, 'arm.runCommand', clusterScope, () => new HttpAnswer(202));
    const refused = refusedBy(ACTION['arm.runCommand'], clusterScope, call);
    if (refused) return refused;
    const missing = findCluster(subscription, group, name);
    if (missing) return missing;
    if (cluster.disableRunCommand) {
      // The wording is ours: the real service's message for a cluster with run command disabled is not documented.
      return cloudError(
        400,
        'OperationNotAllowed',
        `Run command is disabled for managed cluster '${cluster.name}' (properties.apiServerAccessProfile.disableRunCommand is true).`,
      );
    }
    const body = call.body as { command?: unknown; context?: unknown; clusterToken?: unknown } | undefined;
    if (typeof body?.command !== 'string' || body.command === '') {
      return cloudError(400, 'InvalidParameter', "The property 'command' is required in the request body.");
    }
    const clusterToken =
      typeof body.clusterToken === 'string' && body.clusterToken !== '' ? body.clusterToken : undefined;
    if (cluster.aadManaged && !clusterToken) {
      // Also ours: an Entra ID cluster runs the command as the caller, so it needs the caller's token for its server app.
      return cloudError(
        400,
        'BadRequest',
        `Managed cluster '${cluster.name}' is AAD-enabled: the request needs a clusterToken issued for the AKS AAD server app ${AKS_SERVER_APP_ID}.`,
      );
    }
    let context: Buffer | undefined;
    let files: Record<string, string> = {};
    if (typeof body.context === 'string' && body.context !== '') {
      context = Buffer.from(body.context, 'base64');
      try {
        files = Object.fromEntries(Object.entries(unzipSync(context)).map(([file, bytes]) => [file, strFromU8(bytes)]));
      } catch {
        return cloudError(400, 'InvalidParameter', "The property 'context' must be a base64-encoded zip file.");
      }
    }

    const id = hex(`command:${++commandCount}`, 32);
    const record: CommandRecord = { startedAt: new Date().toISOString() };
    commands.set(id, record);
    void Promise.all([
      runExecutor({ command: body.command, context, files, clusterToken }, fault),
      // The command's latency is how long its result stays 202, whatever the executor does.
      latency('arm.runCommand'),
    ]).then(([outcome]) => {
      record.outcome = { ...outcome, finishedAt: new Date().toISOString() };
    });
    const location = `${origin}${clusterScope}/commandResults/${id}?api-version=${call.query['api-version']}`;
    return new HttpAnswer(202, undefined, { Location: location, 'Retry-After': '0' });
  }

  async function runExecutor(request: RunCommandRequest, fault: Fault | undefined): Promise<RunCommandOutcome> {
    if (fault?.error === 'failed') {
      return {
        exitCode: 0,
        logs: '',
        provisioningState: 'Failed',
        reason:
          fault.message ??
          'KubernetesPerformanceError: container command-runtime in aks-command namespace did not start within 30s on your cluster, retry may helps',
      };
    }
    if (fault?.error === 'pending') {
      return {
        exitCode: 0,
        logs: '',
        provisioningState: 'Failed',
        reason:
          fault.message ??
          'KubernetesOperationError: pod command-runtime in aks-command namespace is Pending: 0/3 nodes are available',
      };
    }
    let outcome: RunCommandOutcome;
    try {
      outcome = await options.runCommand(request, closing.signal);
    } catch (error) {
      return {
        exitCode: 0,
        logs: '',
        provisioningState: 'Failed',
        reason: `KubernetesOperationError: ${(error as Error).message}`,
      };
    }
    const limit =
      fault?.error === 'truncated' ? (fault.bytes ?? Math.floor(Buffer.byteLength(outcome.logs) / 2)) : undefined;
    return {
      ...outcome,
      logs: cutBytes(outcome.logs, Math.min(limit ?? RUN_COMMAND_OUTPUT_LIMIT, RUN_COMMAND_OUTPUT_LIMIT)),
    };
  }

  function commandResult(
    subscription: string,
    group: string,
    name: string,
    id: string,
    apiVersion: string | undefined,
  ): HttpAnswer {
    const missing = findCluster(subscription, group, name);
    if (missing) return missing;
    const record = commands.get(id);
    if (!record) return cloudError(404, 'NotFound', `Command ${id} was not found.`);
    if (!record.outcome) {
      // Still running: 202, and the result so far, which the Azure CLI reads while it waits (Azure/azure-cli, acs
      // module custom.py, _aks_command_result_in_progess_helper: properties.provisioningState and startedAt).
      const location = `${origin}${clusterScope}/commandResults/${id}?api-version=${apiVersion}`;
      return new HttpAnswer(
        202,
        { id, properties: { provisioningState: 'Running', startedAt: record.startedAt } },
        { Location: location, 'Retry-After': '0' },
      );
    }
    const { outcome } = record;
    const failed = outcome.provisioningState === 'Failed';
    return new HttpAnswer(200, {
      id,
      properties: {
        provisioningState: outcome.provisioningState ?? 'Succeeded',
        ...(failed ? {} : { exitCode: outcome.exitCode, logs: outcome.logs }),
        startedAt: record.startedAt,
        finishedAt: outcome.finishedAt,
        ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
      },
    });
  }

  const server: Server = createServer({ key: options.cert.key, cert: options.cert.cert }, (req, res) => {
    void serve(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const query = Object.fromEntries([...url.searchParams].map(([k, v]) => [k.toLowerCase(), v]));
    const call: RecordedCall = { method: req.method ?? 'GET', path: url.pathname, query, target: 'unknown' };
    calls.push(call);
    let answer: Outcome;
    try {
      const text = await readBody(req, MAX_BODY);
      if (text !== '') {
        try {
          call.body = JSON.parse(text);
        } catch {
          return respond(
            res,
            call,
            cloudError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.'),
          );
        }
      }
      answer = await handle({ req, url, call });
    } catch (error) {
      answer = cloudError(500, 'InternalServerError', `The sandbox failed: ${(error as Error).message}`);
    }
    if (answer === 'hold') {
      // Never answer: the client's own timeout has to end the call.
      res.on('close', () => {
        call.abandoned = true;
      });
      return;
    }
    if (answer === 'drop') {
      req.socket.destroy();
      return;
    }
    if (answer instanceof HttpAnswer) return respond(res, call, answer);
    respond(res, call, answer.truncate, { bytes: answer.bytes });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: origin,
    metricsEndpoint: (location) => `${origin}/regions/${location.toLowerCase()}`,
    calls,
    async close() {
      closing.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

let requests = 0;

/** Sends the answer; `cut` sends only the first `bytes` of its body (default half). */
function respond(res: ServerResponse, call: RecordedCall, answer: HttpAnswer, cut?: { bytes?: number }): void {
  call.status = answer.status;
  const headers: Record<string, string> = { 'x-ms-request-id': hex(`request:${++requests}`, 32), ...answer.headers };
  if (answer.body === undefined) {
    res.writeHead(answer.status, { ...headers, 'Content-Length': '0' });
    res.end();
    return;
  }
  let payload = Buffer.from(JSON.stringify(answer.body), 'utf8');
  if (cut) payload = payload.subarray(0, cut.bytes ?? Math.floor(payload.length / 2));
  res.writeHead(answer.status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(payload.length),
  });
  res.end(payload);
}

/** The first `bytes` bytes of UTF-8 text (a character cut in half is dropped). */
function cutBytes(text: string, bytes: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return text;
  return buffer
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

function hex(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

// ── The ManagedCluster ──────────────────────────────────────────────────────────────────────────────────────────

/** `aks-nodepool1-31415926-vmss000001` → `nodepool1`. */
function poolOf(nodeName: string, os: string): string {
  return /^aks-([a-z0-9]{1,12})-\d+-vmss[0-9a-z]{6}$/.exec(nodeName)?.[1] ?? (os === 'windows' ? 'npwin' : 'nodepool1');
}

/** The ManagedCluster as ARM returns it (GET, api-version 2025-10-01 shape), for the fields snat-doctor reads. */
export function managedCluster(scenario: Scenario, fqdn: string): Record<string, unknown> {
  const { cluster } = scenario;
  const pools = new Map<string, { count: number; os: string }>();
  for (const node of scenario.nodes) {
    const name = poolOf(node.name, node.os);
    const pool = pools.get(name) ?? { count: 0, os: node.os };
    pool.count++;
    pools.set(name, pool);
  }
  // AKS names the managed outbound IPs after GUIDs (natGateways.ts); GET publicIPAddresses serves each.
  const outboundIps = outboundIpIds(cluster).map((id) => ({ id }));
  // A VNet the cluster brings itself shows only as the pools' subnet (its address space is on the VNet resource);
  // AKS's own VNet is always 10.224.0.0/12 and the pools name no subnet.
  const ownSubnet = cluster.vnet ? subnetId(cluster.vnet) : undefined;
  const network: Record<string, unknown> = {
    networkPlugin: 'azure',
    networkPluginMode: 'overlay',
    networkPolicy: 'none',
    podCidr: cluster.podCidr,
    serviceCidr: cluster.serviceCidr,
    dnsServiceIP: dnsServiceIp(cluster.serviceCidr),
    outboundType: cluster.outboundType,
    loadBalancerSku: 'standard',
    podCidrs: [cluster.podCidr],
    serviceCidrs: [cluster.serviceCidr],
    ipFamilies: ['IPv4'],
  };
  if (cluster.outboundType === 'loadBalancer') {
    network.loadBalancerProfile = {
      managedOutboundIPs: { count: cluster.outboundIps },
      effectiveOutboundIPs: outboundIps,
      allocatedOutboundPorts: cluster.allocatedOutboundPorts,
      idleTimeoutInMinutes: cluster.idleTimeoutMinutes,
      backendPoolType: 'NodeIPConfiguration',
    };
  }
  if (cluster.outboundType === 'managedNATGateway') {
    network.natGatewayProfile = {
      managedOutboundIPProfile: { count: cluster.outboundIps },
      effectiveOutboundIPs: outboundIps,
      idleTimeoutInMinutes: cluster.idleTimeoutMinutes,
    };
  }
  return {
    id: `/subscriptions/${cluster.subscriptionId}/resourcegroups/${cluster.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${cluster.name}`,
    location: cluster.location,
    name: cluster.name,
    type: 'Microsoft.ContainerService/ManagedClusters',
    sku: { name: 'Base', tier: 'Standard' },
    properties: {
      provisioningState: 'Succeeded',
      powerState: { code: 'Running' },
      kubernetesVersion: '1.32',
      currentKubernetesVersion: '1.32.7',
      dnsPrefix: `${cluster.name}-dns`,
      fqdn,
      agentPoolProfiles: [...pools].map(([name, pool], i) => ({
        name,
        count: pool.count,
        vmSize: 'Standard_D4ds_v5',
        osType: pool.os === 'windows' ? 'Windows' : 'Linux',
        mode: i === 0 ? 'System' : 'User',
        type: 'VirtualMachineScaleSets',
        provisioningState: 'Succeeded',
        ...(ownSubnet ? { vnetSubnetID: ownSubnet } : {}),
      })),
      nodeResourceGroup: cluster.nodeResourceGroup,
      enableRBAC: true,
      networkProfile: network,
      ...(cluster.aadManaged ? { aadProfile: { managed: true, enableAzureRBAC: true, tenantID: TENANT_ID } } : {}),
      apiServerAccessProfile: { disableRunCommand: cluster.disableRunCommand },
    },
  };
}

function dnsServiceIp(serviceCidr: string): string {
  const [base = '10.0.0.0'] = serviceCidr.split('/');
  const parts = base.split('.');
  return parts.length === 4 ? `${parts.slice(0, 3).join('.')}.10` : `${base}a`;
}

/**
 * The cluster user kubeconfig. For an AAD-managed cluster AKS hands out users that run kubelogin (an exec plugin) to
 * get an Entra ID token for its server app; the adapter does what kubelogin would.
 */
function userKubeconfig(scenario: Scenario, fqdn: string, provided: (() => string) | undefined): string {
  const { cluster } = scenario;
  const user = `clusterUser_${cluster.resourceGroup}_${cluster.name}`;
  const text =
    provided?.() ??
    stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster.name, cluster: { server: `https://${fqdn}:443` } }],
      contexts: [{ name: cluster.name, context: { cluster: cluster.name, user } }],
      'current-context': cluster.name,
      users: [{ name: user, user: { token: hex(`token:${cluster.name}`, 64) } }],
    });
  if (!cluster.aadManaged) return text;
  const config = parseYaml(text) as { users?: { name: string; user: unknown }[] };
  for (const entry of config.users ?? []) {
    entry.user = {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        command: 'kubelogin',
        args: [
          'get-token',
          '--login',
          'devicecode',
          '--server-id',
          AKS_SERVER_APP_ID,
          '--client-id',
          AZURE_CLI_CLIENT_ID,
          '--tenant-id',
          TENANT_ID,
          '--environment',
          'AzurePublicCloud',
        ],
        env: null,
        installHint: 'kubelogin is not installed which is required to connect to AAD enabled cluster.',
        provideClusterInfo: false,
      },
    };
  }
  return stringifyYaml(config);
}

/** ARM's answer to a request without a usable api-version; undefined when it has one. */
function badApiVersion(call: RecordedCall): HttpAnswer | undefined {
  const version = call.query['api-version'];
  if (!version) {
    return cloudError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
  if (!API_VERSION.test(version)) {
    return cloudError(400, 'InvalidApiVersionParameter', `The api-version '${version}' is invalid.`);
  }
  return undefined;
}

// ── Metrics (metrics:getBatch) ──────────────────────────────────────────────────────────────────────────────────

interface MetricDefinition {
  /** The REST name, as the service spells it. */
  name: string;
  display: string;
  dimensions: string[];
}

/** A metrics namespace the sandbox serves: its metrics (supported-metrics reference) and each resource's series. */
interface Namespace {
  /** As the service names it in answers. */
  namespace: string;
  /** The resource type in the service's error for an unknown metric. */
  resourceType: string;
  metrics: Record<string, MetricDefinition>;
  /** The scenario's own resource of this type (its series come from the scenario); anything else has none. */
  ours(resourceId: string): boolean;
  series(metric: string, filter: Record<string, string[]>): Series[];
}

/** The load balancer metrics the sandbox has, their display names and dimensions (supported-metrics reference). */
const LB_METRICS: Record<string, MetricDefinition> = {
  usedsnatports: {
    name: 'UsedSnatPorts',
    display: 'Used SNAT Ports',
    dimensions: ['frontendipaddress', 'backendipaddress', 'protocoltype', 'isawaitingremoval'],
  },
  allocatedsnatports: {
    name: 'AllocatedSnatPorts',
    display: 'Allocated SNAT Ports',
    dimensions: ['frontendipaddress', 'backendipaddress', 'protocoltype', 'isawaitingremoval'],
  },
  snatconnectioncount: {
    name: 'SnatConnectionCount',
    display: 'SNAT Connection Count',
    dimensions: ['frontendipaddress', 'backendipaddress', 'connectionstate'],
  },
};
/**
 * The NAT gateway metrics the sandbox has (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
 * microsoft-network-natgateways-metrics): none has a per-node dimension.
 */
const NAT_METRICS: Record<string, MetricDefinition> = {
  snatconnectioncount: {
    name: 'SNATConnectionCount',
    display: 'SNAT Connection Count',
    dimensions: ['protocol', 'connectionstate'],
  },
  totalconnectioncount: {
    name: 'TotalConnectionCount',
    display: 'Total SNAT Connection Count',
    dimensions: ['protocol'],
  },
  packetdropcount: { name: 'PacketDropCount', display: 'Dropped Packets', dimensions: [] },
};
const AGGREGATIONS = ['average', 'minimum', 'maximum', 'total', 'count'];
const MAX_BATCH = 50;

interface BatchQuery {
  region: string;
  subscription: string;
  query: Record<string, string>;
  body: unknown;
}

/** One series of one metric: its dimension values and the value over the whole window. */
interface Series {
  dimensions: Record<string, string>;
  value: number;
  /** Totals are spread over the window's points; averages repeat in each. */
  additive: boolean;
}

function namespaces(scenario: Scenario): Record<string, Namespace> {
  const { cluster } = scenario;
  const lbId = `/subscriptions/${cluster.subscriptionId}/resourceGroups/${cluster.nodeResourceGroup}/providers/Microsoft.Network/loadBalancers/kubernetes`;
  return {
    'microsoft.network/loadbalancers': {
      namespace: 'Microsoft.Network/loadBalancers',
      resourceType: 'loadBalancers',
      metrics: LB_METRICS,
      ours: (id) => cluster.outboundType === 'loadBalancer' && id.toLowerCase() === lbId.toLowerCase(),
      series: (metric, filter) => seriesOf(scenario, metric, filter),
    },
    [NAT_GATEWAYS.toLowerCase()]: {
      namespace: NAT_GATEWAYS,
      resourceType: 'natGateways',
      metrics: NAT_METRICS,
      ours: (id) => natGatewaySnatOf(cluster, id) !== undefined,
      series: (metric, filter) => natGatewaySeries(scenario, metric, filter),
    },
  };
}

function metricsBatch(scenario: Scenario, batch: BatchQuery): HttpAnswer {
  const bad = (message: string) => cloudError(400, 'BadRequest', message);
  const { query } = batch;
  const served = namespaces(scenario);
  const space = served[(query.metricnamespace ?? '').toLowerCase()];
  if (!space) {
    return bad(
      `metricnamespace '${query.metricnamespace ?? ''}' is not supported by this sandbox: use ${Object.values(served)
        .map((n) => n.namespace)
        .join(' or ')}.`,
    );
  }
  const ids = (batch.body as { resourceids?: unknown } | undefined)?.resourceids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
    return bad("The request body needs 'resourceids', a list of resource ids.");
  }
  if (ids.length > MAX_BATCH)
    return bad(`At most ${MAX_BATCH} resource ids can be queried in one batch; got ${ids.length}.`);
  const foreign = (ids as string[]).find(
    (id) => !id.toLowerCase().startsWith(`/subscriptions/${batch.subscription.toLowerCase()}/`),
  );
  if (foreign)
    return bad(`Resource ${foreign} is not in subscription ${batch.subscription}: a batch is for one subscription.`);
  // "All resources in a batch must be … of the same resource type" (migrate-to-batch-api): the namespace's.
  const otherType = (ids as string[]).find(
    (id) => !id.toLowerCase().includes(`/providers/${space.namespace.toLowerCase()}/`),
  );
  if (otherType)
    return bad(`Resource ${otherType} is not of type ${space.namespace}: a batch is for one resource type.`);

  const names = (query.metricnames ?? '').split(',').filter((n) => n !== '');
  if (names.length === 0) return bad('metricnames is required.');
  const unknown = names.find((n) => !space.metrics[n.toLowerCase()]);
  if (unknown) {
    return bad(
      `Failed to find metric configuration for provider: Microsoft.Network, resource Type: ${space.resourceType}, metric: ${unknown}, Valid metrics: ${Object.values(
        space.metrics,
      )
        .map((m) => m.name)
        .join(',')}`,
    );
  }
  const aggregations = (query.aggregation ?? 'average').toLowerCase().split(',');
  if (aggregations.some((a) => !AGGREGATIONS.includes(a)))
    return bad(`aggregation '${query.aggregation}' is not valid.`);
  const filter = parseFilter(query.filter ?? '');
  if (typeof filter === 'string') return bad(filter);
  for (const name of names) {
    const metric = space.metrics[name.toLowerCase()] as MetricDefinition;
    const foreignDimension = Object.keys(filter).find((d) => !metric.dimensions.includes(d));
    // Like the service, which validates dimensions (the batch API has no validatedimensions=false).
    if (foreignDimension) {
      return bad(
        `Metric: ${metric.name} does not support requested dimension combination: ${foreignDimension}, supported ones are: ${metric.dimensions.join(',')}`,
      );
    }
  }
  // With a filter the service returns at most `top` series per metric and resource, 10 unless asked for more.
  const top = query.filter ? Number(query.top ?? 10) : Number.POSITIVE_INFINITY;
  const end = query.endtime ? new Date(query.endtime) : new Date();
  const start = query.starttime ? new Date(query.starttime) : new Date(end.getTime() - 3600_000);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end) {
    return bad('starttime and endtime must be ISO 8601 times, starttime first.');
  }
  const grain = query.interval ?? 'PT1M';
  const grainMs = grain.toUpperCase() === 'FULL' ? end.getTime() - start.getTime() : durationMs(grain);
  if (grainMs === undefined) return bad(`interval '${grain}' is not an ISO 8601 duration.`);
  const points = Math.max(1, Math.ceil((end.getTime() - start.getTime()) / grainMs));

  const values = (ids as string[]).map((resourceId) => {
    const ours = space.ours(resourceId);
    return {
      starttime: start.toISOString(),
      endtime: end.toISOString(),
      interval: grain,
      namespace: space.namespace,
      resourceregion: ours ? scenario.cluster.location : batch.region,
      resourceid: resourceId,
      value: names.map((name) => {
        const metric = space.metrics[name.toLowerCase()] as MetricDefinition;
        const series = ours ? space.series(name.toLowerCase(), filter) : [];
        return {
          id: `${resourceId}/providers/Microsoft.Insights/metrics/${metric.name}`,
          type: 'Microsoft.Insights/metrics',
          name: { value: metric.name, localizedValue: metric.display },
          displayDescription: metric.display,
          unit: 'Count',
          errorCode: 'Success',
          timeseries: series.slice(0, top).map((s) => ({
            metadatavalues: Object.entries(s.dimensions).map(([dimension, value]) => ({
              name: { value: dimension, localizedValue: dimension },
              value,
            })),
            data: Array.from({ length: points }, (_, i) => {
              const share = s.additive ? spread(s.value, points, i) : s.value;
              const point: Record<string, unknown> = {
                timeStamp: new Date(start.getTime() + i * grainMs).toISOString(),
              };
              for (const aggregation of aggregations) point[aggregation] = aggregation === 'count' ? 1 : share;
              return point;
            }),
          })),
        };
      }),
    };
  });
  // A resource outside the endpoint's region is an error at the service, so a wrongly grouped batch shows up here.
  const misplaced = values.find((v) => v.resourceregion !== batch.region);
  if (misplaced)
    return bad(`Resource ${misplaced.resourceid} is in region ${misplaced.resourceregion}, not ${batch.region}.`);
  return new HttpAnswer(200, { values });
}

/**
 * The NAT gateway's series the filter asks for, from the scenario's `cluster.natGateway`: SNATConnectionCount by
 * ConnectionState (Failed: `failedConnections`; Attempted: `totalConnections` + `failedConnections`, the values the
 * docs list, monitor-nat-gateway-reference), TotalConnectionCount (`totalConnections`, a level, the same in every
 * minute) and PacketDropCount (`droppedPackets`). The scenario's traffic is TCP (Protocol: TCP; UDP has none).
 */
function natGatewaySeries(scenario: Scenario, metric: string, filter: Record<string, string[]>): Series[] {
  const gateway = scenario.cluster.natGateway;
  if (!gateway) return [];
  const cells: { dimensions: Record<string, string>; value: number }[] =
    metric === 'snatconnectioncount'
      ? [
          {
            dimensions: { protocol: 'TCP', connectionstate: 'Attempted' },
            value: gateway.totalConnections + gateway.failedConnections,
          },
          { dimensions: { protocol: 'TCP', connectionstate: 'Failed' }, value: gateway.failedConnections },
          { dimensions: { protocol: 'UDP', connectionstate: 'Attempted' }, value: 0 },
          { dimensions: { protocol: 'UDP', connectionstate: 'Failed' }, value: 0 },
        ]
      : metric === 'totalconnectioncount'
        ? [
            { dimensions: { protocol: 'TCP' }, value: gateway.totalConnections },
            { dimensions: { protocol: 'UDP' }, value: 0 },
          ]
        : [{ dimensions: {}, value: gateway.droppedPackets }];
  const accepted = cells.filter(({ dimensions }) =>
    Object.entries(filter).every(
      ([dimension, wanted]) =>
        wanted.includes('*') || wanted.some((w) => w.toLowerCase() === (dimensions[dimension] ?? '').toLowerCase()),
    ),
  );
  // Every dimension the filter names is returned (split) in the series' metadata; the others are summed over.
  const grouped = new Map<string, Series>();
  for (const cell of accepted) {
    const dimensions = Object.fromEntries(Object.keys(filter).map((d) => [d, cell.dimensions[d] ?? '']));
    const key = JSON.stringify(dimensions);
    const series = grouped.get(key) ?? { dimensions, value: 0, additive: metric !== 'totalconnectioncount' };
    series.value += cell.value;
    grouped.set(key, series);
  }
  return [...grouped.values()];
}

/** `A eq 'x' and B eq '*'` (and `A eq 'x' or A eq 'y'`) → dimension (lower-cased) → accepted values ('*' = split). */
function parseFilter(filter: string): Record<string, string[]> | string {
  const result: Record<string, string[]> = {};
  if (filter.trim() === '') return result;
  for (const clause of filter.split(/\s+and\s+/i)) {
    let dimension: string | undefined;
    for (const alternative of clause.split(/\s+or\s+/i)) {
      const match = /^\s*\(?\s*([A-Za-z]+)\s+eq\s+'([^']*)'\s*\)?\s*$/i.exec(alternative);
      if (!match) return `The filter '${filter}' is not valid: expected clauses like BackendIPAddress eq '*'.`;
      const name = (match[1] ?? '').toLowerCase();
      if (dimension !== undefined && dimension !== name) {
        return `The filter '${filter}' is not valid: the or operator cannot separate two different metadata names.`;
      }
      dimension = name;
      result[name] = [...(result[name] ?? []), match[2] ?? ''];
    }
  }
  return result;
}

/** Every series the filter asks for, one per node (× connection state, × protocol when split). */
function seriesOf(scenario: Scenario, metric: string, filter: Record<string, string[]>): Series[] {
  const accepts = (dimension: string, value: string) => {
    const wanted = filter[dimension];
    return !wanted || wanted.includes('*') || wanted.some((w) => w.toLowerCase() === value.toLowerCase());
  };
  const splits = (dimension: string) => filter[dimension]?.includes('*') === true;
  const series: Series[] = [];
  // Each backend IP is a series of its own: a dual-stack node's IPv6 address has its own SNAT ports.
  const backends = scenario.nodes.flatMap((node) => [
    { ip: node.ip, snat: node.snat },
    ...(node.ipv6 && node.snatIpv6 ? [{ ip: node.ipv6, snat: node.snatIpv6 }] : []),
  ]);
  for (const node of backends) {
    if (!accepts('backendipaddress', node.ip)) continue;
    const backend: Record<string, string> = splits('backendipaddress') ? { backendipaddress: node.ip } : {};
    if (metric === 'snatconnectioncount') {
      const states = [
        { state: 'Succeeded', value: node.snat.successfulConnections },
        { state: 'Failed', value: node.snat.failedConnections },
      ].filter((s) => accepts('connectionstate', s.state));
      if (splits('connectionstate')) {
        for (const s of states) {
          series.push({ dimensions: { ...backend, connectionstate: s.state }, value: s.value, additive: true });
        }
      } else {
        series.push({ dimensions: backend, value: states.reduce((sum, s) => sum + s.value, 0), additive: true });
      }
      continue;
    }
    // The scenario's SNAT is TCP. Unfiltered, the service averages the port metrics over TCP and UDP (the LB
    // diagnostics doc), which halves "used" — why the adapter filters ProtocolType eq 'TCP'.
    const used = metric === 'usedsnatports';
    const protocols = [
      { protocol: 'TCP', value: used ? node.snat.usedPorts : node.snat.allocatedPorts },
      { protocol: 'UDP', value: used ? 0 : node.snat.allocatedPorts },
    ].filter((p) => accepts('protocoltype', p.protocol));
    if (splits('protocoltype')) {
      for (const p of protocols) {
        series.push({ dimensions: { ...backend, protocoltype: p.protocol }, value: p.value, additive: false });
      }
    } else if (protocols.length > 0) {
      const average = protocols.reduce((sum, p) => sum + p.value, 0) / protocols.length;
      series.push({ dimensions: backend, value: average, additive: false });
    }
  }
  return series;
}

/** The i-th of n whole-number shares of a total (the remainder goes to the last). */
function spread(total: number, n: number, i: number): number {
  const share = Math.floor(total / n);
  return i === n - 1 ? total - share * (n - 1) : share;
}

function durationMs(iso: string): number | undefined {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/i.exec(iso);
  if (!match || iso.toUpperCase() === 'P' || iso.toUpperCase() === 'PT') return undefined;
  const [, days = '0', hours = '0', minutes = '0'] = match;
  const ms = ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000;
  return ms > 0 ? ms : undefined;
}

// ── Faults ──────────────────────────────────────────────────────────────────────────────────────────────────────
