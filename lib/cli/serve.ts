// `snat-doctor serve`: the app's HTTP functions on 127.0.0.1 — the Slack endpoint, the HTTP starter and the status
// of investigations — backed by the in-memory Durable host and the sandbox (or real Azure), so a Slack app can be
// pointed at a laptop (through a tunnel) and drive investigations end to end. Without a bot token, posts go to the
// sandbox's Slack Web API, which records them (GET /sandbox/slack/messages).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { isAmong } from '../appClusters.ts';
import { SnatDoctorError } from '../errors.ts';
import { RealClock } from '../local/durableHost.ts';
import { LocalDurableClient } from '../local/localClient.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { ClusterRef } from '../model.ts';
import type { Ports } from '../ports.ts';
import { terminalSafe } from '../render/terminalSafe.ts';
import { BodyTooLargeError, declaredBodyLength, MAX_REQUEST_BODY, readBody } from '../requestBody.ts';
import type { Scenario } from '../sandbox/scenario.ts';
import type { SlackAccess } from '../slack/access.ts';
import { badInputExit } from './badInput.ts';
import { connectedSandbox, probeRuns, probesLeftText } from './probeRuns.ts';
import { announceStop, ignoreRepeatedStops, STOP_SIGNALS, tolerateClosedTerminal } from './stopSignals.ts';

const { HttpRequest, InvocationContext } = azureFunctions;

/** How long stopping waits for running probes' pods to be deleted before it leaves anyway. */
export const PROBE_CLEANUP_WAIT_MS = 20_000;

export interface ServeOptions {
  port: number;
  sandbox?: string;
  /** A sandbox served by `snat-doctor sandbox` in another process: its connection file. */
  connect?: string;
  subscription?: string;
  resourceGroup?: string;
  cluster?: string;
}

export async function serve(options: ServeOptions, signal?: AbortSignal): Promise<number> {
  let running: Running;
  try {
    running = await start(options);
  } catch (error) {
    // start() has closed whatever it had started: nothing is left to keep the process alive after the message.
    return badInputExit(error);
  }
  process.stdout.write(`${running.banner}\nPress Ctrl-C to stop.\n`);
  // A stop signal (stopSignals.ts) stops it; then a second Ctrl-C leaves at once (Node's default), a repeated SIGTERM
  // or SIGHUP is ignored.
  const stoppedBy = await new Promise<'signal' | 'abort'>((resolve) => {
    const stop = (by: 'signal' | 'abort') => {
      // In this order: with no listener for a moment, Node would restore the signal's default action.
      if (by === 'signal') ignoreRepeatedStops();
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
      resolve(by);
    };
    const onSignal = (name: NodeJS.Signals) => {
      tolerateClosedTerminal(name);
      announceStop(name);
      stop('signal');
    };
    for (const name of STOP_SIGNALS) process.on(name, onSignal);
    signal?.addEventListener('abort', () => stop('abort'), { once: true });
  });
  const unfinished = await running.unfinished();
  // A probe pod runs privileged on a node: its wait is aborted and the pod deleted before anything else closes.
  const probesLeft = await running.stopProbes();
  await running.close();
  if (unfinished.length === 0) {
    process.stdout.write('Stopped.\n');
    return 0;
  }
  const what = unfinished.length === 1 ? 'an investigation' : `${unfinished.length} investigations`;
  process.stdout.write(
    `Stopped; abandoned ${what} still running: ${unfinished.join(', ')}; ${probesLeftText(probesLeft, PROBE_CLEANUP_WAIT_MS)}.\n`,
  );
  // An investigation still running holds timers and requests of its own (a capture's wait, an Azure SDK call and
  // its retries) that would keep the process alive long after "Stopped.": stopped by a signal, it leaves now.
  if (stoppedBy === 'signal') process.exit(0);
  return 0;
}

interface Running {
  url: string;
  banner: string;
  /**
   * The key every request but Slack's must carry (`?code=` or `x-functions-key`), as the Functions host asks for a
   * function key (authLevel "function"): made anew at each start and printed in the banner.
   */
  key: string;
  /** Investigations still running (their ids): what stopping now abandons. */
  unfinished(): Promise<string[]>;
  /** Aborts every probe still running and waits (at most PROBE_CLEANUP_WAIT_MS) for their pods' deletion; how many did not end. */
  stopProbes(): Promise<number>;
  close(): Promise<void>;
}

/** A request refused before any function sees it (a path that cannot be decoded, a request target that is no URL). */
class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Checks every input it can before starting anything (the cluster or scenario, the Slack settings), then starts
 * the sandbox, the sandbox's Slack, the local runtime and the HTTP server. If any of that fails, what was started
 * is closed before the error propagates, so a refused `serve` exits instead of hanging on an open server.
 */
export async function start(options: ServeOptions): Promise<Running> {
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    return await startAll(options, closers, closeAll);
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}

async function startAll(
  options: ServeOptions,
  closers: (() => Promise<void>)[],
  closeAll: () => Promise<void>,
): Promise<Running> {
  // 1. What is served: a real cluster (names validated) or a sandbox scenario (read and checked, not started yet).
  let target:
    | { kind: 'azure'; ports: Ports }
    | { kind: 'connect'; ports: Ports }
    | { kind: 'sandbox'; scenario: Scenario };
  // Aborted when serve stops: a probe's wait ends and its pod is deleted (as diagnose does on Ctrl-C).
  const stopping = new AbortController();
  let where: string;
  let alias: string;
  let clusterRef: ClusterRef;
  if (options.subscription || options.resourceGroup || options.cluster) {
    const { validateClusterRef } = await import('../validation.ts');
    clusterRef = validateClusterRef({
      subscriptionId: options.subscription ?? '',
      resourceGroup: options.resourceGroup ?? '',
      name: options.cluster ?? '',
    });
    const { azurePorts } = await import('../adapters/azurePorts.ts');
    target = { kind: 'azure', ports: azurePorts({ signal: stopping.signal }) };
    where = `cluster ${clusterRef.name} (DefaultAzureCredential)`;
    alias = clusterRef.name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63);
  } else if (options.connect !== undefined) {
    const connected = await connectedSandbox({ connect: options.connect, sandbox: options.sandbox }, stopping.signal);
    clusterRef = connected.cluster;
    target = { kind: 'connect', ports: connected.ports };
    where = `the sandbox at ${connected.host} (cluster ${clusterRef.name})`;
    alias = 'sandbox';
  } else {
    const { DEFAULT_SCENARIO_PATH, loadScenario } = await import('../sandbox/scenario.ts');
    const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    clusterRef = { subscriptionId, resourceGroup, name };
    target = { kind: 'sandbox', scenario };
    where = `the sandbox scenario "${scenario.name}" (cluster ${name})`;
    alias = 'sandbox';
  }

  // 2. The Slack settings, as the app reads them. Without SLACK_BOT_TOKEN, posts go to the sandbox's Slack Web API
  // (started below with this token), which records them.
  const env = { ...process.env };
  const sandboxSlackToken = env.SLACK_BOT_TOKEN ? undefined : `xoxb-sandbox-${randomBytes(8).toString('hex')}`;
  if (sandboxSlackToken) {
    env.SLACK_BOT_TOKEN = sandboxSlackToken;
    // Known bot ids: Bolt then never calls auth.test (which would go to slack.com).
    env.SLACK_BOT_ID ??= 'B0SANDBOX';
    env.SLACK_BOT_USER_ID ??= 'U0SANDBOXBOT';
  }
  const generatedSecret = env.SLACK_SIGNING_SECRET ? undefined : randomBytes(16).toString('hex');
  const key = randomBytes(18).toString('base64url');
  env.SLACK_SIGNING_SECRET ??= generatedSecret;
  const defaultAccess = !env.SNAT_DOCTOR_SLACK_ACCESS;
  if (defaultAccess) {
    env.SNAT_DOCTOR_SLACK_ACCESS = JSON.stringify({
      clusters: [{ alias, ...clusterRef, channels: ['C0SANDBOX'], users: [] }],
    });
  }
  const { readConfig } = await import('../config.ts');
  const slackConfig = readConfig(env).slack;
  if (!slackConfig.ok) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `The Slack settings are not usable:\n  ${slackConfig.problems.join('\n  ')}`,
    );
  }

  // 3. Everything checked: start the servers, each closed again if a later one fails.
  let ports: Ports;
  if (target.kind === 'sandbox') {
    const { startSandbox } = await import('../sandbox/sandbox.ts');
    const sandbox = await startSandbox(target.scenario, { latency: true });
    closers.push(() => sandbox.close());
    ports = sandbox.ports({ signal: stopping.signal });
  } else {
    ports = target.ports;
  }
  // The probe runs in flight, so that stopping waits for their pods to be deleted.
  const runs = probeRuns(ports);
  ports = runs.ports;
  let slackMessages: (() => unknown) | undefined;
  const { createSlackPoster, slackPort } = await import('../adapters/slack.ts');
  if (sandboxSlackToken) {
    const { startSlackServer } = await import('../sandbox/slackServer.ts');
    const slack = await startSlackServer({ token: sandboxSlackToken });
    closers.push(() => slack.close());
    slackMessages = () => slack.messages();
    ports = { ...ports, slack: slackPort(createSlackPoster({ token: sandboxSlackToken, apiUrl: slack.url })) };
  } else {
    ports = { ...ports, slack: slackPort(createSlackPoster({ token: slackConfig.settings.botToken })) };
  }

  const { host } = await startLocalRuntime({ ports, clock: new RealClock() });
  const { slack } = await import('../../functions/slack.ts');
  const { startInvestigation } = await import('../../functions/startInvestigation.ts');
  const { status: statusFunction, nodeInvestigations } = await import('../../functions/status.ts');

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => refuse(res, error));
  });
  // A client that sends `Expect: 100-continue` is told 413 before it sends a body that is too large.
  server.on('checkContinue', (req, res) => {
    if (declaredBodyLength(req.headers['content-length']) <= MAX_REQUEST_BODY) res.writeContinue();
    server.emit('request', req, res);
  });
  const origin = () => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url ?? '/', origin());
    const body = await readBody(req, MAX_REQUEST_BODY);
    // Slack's requests are signed (the Slack function checks it) and may come through a tunnel under its own Host.
    // Everything else starts or reads investigations on a cluster: only this machine's callers, with the key.
    if (url.pathname !== '/api/slack/events') checkCaller(req, url, (server.address() as { port: number }).port, key);
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.href,
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
      ),
      ...(body.length > 0 ? { body: { string: body } } : {}),
    });
    const client = new LocalDurableClient(host, origin(), key);
    // The functions' errors (a listener that failed, a step that threw) are printed; their info and warnings are not.
    const context = (name: string) =>
      new InvocationContext({
        functionName: name,
        logHandler: (level, ...args) => {
          if (level === 'error' || level === 'critical')
            process.stderr.write(`${name}: ${terminalSafe(args.map(String).join(' '))}\n`);
        },
      });
    let response: HttpResponseInit;
    const instance = /^\/runtime\/webhooks\/durabletask\/instances\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/api/slack/events') {
      response = await slack(request, client, context('slack'), slackConfig);
    } else if (req.method === 'POST' && url.pathname === '/api/investigations') {
      response = await startInvestigation(request, client, context('startInvestigation'), [clusterRef]);
    } else if (req.method === 'GET' && url.pathname === '/api/investigations') {
      response = await nodeInvestigations(request, client, context('nodeInvestigations'), [clusterRef]);
    } else if (req.method === 'GET' && /^\/api\/investigations\/[^/]+$/.test(url.pathname)) {
      // As the Functions host does, the route's {id} arrives decoded.
      request.params.id = decodePathSegment(url.pathname.slice('/api/investigations/'.length));
      response = await statusFunction(request, client, context('status'), [clusterRef]);
    } else if (req.method === 'GET' && instance) {
      // As GET /api/investigations/{id}: only an investigation of the served cluster (one Slack started on another
      // cluster its access allows reads as not found here, as it does there).
      const status = await host.getStatus(decodePathSegment(instance[1] ?? ''));
      const cluster = (status?.input as { cluster?: ClusterRef } | null | undefined)?.cluster;
      response =
        status && cluster && isAmong([clusterRef], cluster)
          ? { status: 200, jsonBody: { ...status, history: undefined } }
          : { status: 404, jsonBody: { message: 'no such investigation' } };
    } else if (req.method === 'GET' && url.pathname === '/sandbox/slack/messages' && slackMessages) {
      response = { status: 200, jsonBody: slackMessages() };
    } else {
      response = { status: 404, jsonBody: { message: `nothing at ${req.method} ${url.pathname}` } };
    }
    await send(res, response);
  }
  await listen(server, options.port);
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));

  const url = origin();
  const banner = [
    `snat-doctor serving ${where} on ${url}`,
    `  POST ${url}/api/slack/events        Slack slash commands and buttons (/snat …)`,
    `  POST ${url}/api/investigations      the HTTP starter`,
    `  GET  ${url}/api/investigations/ID   an investigation's state, steps and report`,
    `  GET  ${url}/api/investigations?subscriptionId=…&resourceGroup=…&cluster=…&node=NAME   a node's investigations`,
    `  GET  ${url}/runtime/webhooks/durabletask/instances/ID   the Durable status`,
    ...(slackMessages ? [`  GET  ${url}/sandbox/slack/messages  what was posted to the sandbox's Slack`] : []),
    `Key (made at this start; every call but Slack's must carry it, as ?code=KEY or an x-functions-key header): ${key}`,
    generatedSecret
      ? `Signing secret (generated; set SLACK_SIGNING_SECRET to use your Slack app's): ${generatedSecret}`
      : 'Signing secret: SLACK_SIGNING_SECRET',
    ...accessLines(slackConfig.settings.access, {
      defaultAccess,
      served: target.kind === 'sandbox' ? clusterRef : undefined,
    }),
  ].join('\n');
  return {
    url,
    banner,
    key,
    async unfinished() {
      const instances = await host.listInstances();
      return instances
        .filter((i) => i.runtimeStatus === 'Running' || i.runtimeStatus === 'Pending')
        .map((i) => i.instanceId);
    },
    async stopProbes() {
      stopping.abort(new SnatDoctorError('INTERNAL', 'snat-doctor serve was stopped'));
      return runs.settled(PROBE_CLEANUP_WAIT_MS);
    },
    close: closeAll,
  };
}

/** What the Slack access really allows, cluster by cluster, as lines of the banner. */
export function accessLines(
  access: SlackAccess,
  options: { defaultAccess: boolean; served?: ClusterRef | undefined },
): string[] {
  const lines = access.clusters.map(({ alias, ref, channels, users }) => {
    const where = `${channels.length > 1 ? 'channels' : 'channel'} ${channels.join(', ')}`;
    const who = users.length > 0 ? `only ${users.length > 1 ? 'users' : 'user'} ${users.join(', ')} in ` : 'anyone in ';
    return `  "${alias}" (${ref.resourceGroup}/${ref.name}): ${who}${where} may diagnose it`;
  });
  const heading = options.defaultAccess
    ? 'Allowed from Slack (set SNAT_DOCTOR_SLACK_ACCESS to change it):'
    : 'Allowed from Slack (SNAT_DOCTOR_SLACK_ACCESS):';
  const { served } = options;
  const same = (ref: ClusterRef) =>
    served !== undefined &&
    ref.subscriptionId.toLowerCase() === served.subscriptionId.toLowerCase() &&
    ref.resourceGroup.toLowerCase() === served.resourceGroup.toLowerCase() &&
    ref.name.toLowerCase() === served.name.toLowerCase();
  const unserved =
    served && !access.clusters.some(({ ref }) => same(ref))
      ? [
          `  (none of these is the sandbox's cluster ${served.resourceGroup}/${served.name}: ` +
            'investigations from Slack will not find their cluster)',
        ]
      : [];
  return [heading, ...lines, ...unserved];
}

/** The request target as a URL on this server (absolute-form targets are taken for their path). */
function requestUrl(target: string, origin: string): URL {
  try {
    if (target.startsWith('/')) return new URL(`${origin}${target}`);
    const absolute = new URL(target);
    return new URL(`${origin}${absolute.pathname}${absolute.search}`);
  } catch {
    throw new Refusal(400, `The request target ${JSON.stringify(target.slice(0, 80))} is not a path.`);
  }
}

/** One path segment, percent-decoded; a malformed escape (`%ZZ`, a cut UTF-8 sequence) is the client's error. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    const shown = segment.length > 80 ? `${JSON.stringify(segment.slice(0, 80))}…` : JSON.stringify(segment);
    throw new Refusal(
      400,
      `The path segment ${shown} has a malformed percent-escape: write "%" as %25 and encode the id as ` +
        "encodeURIComponent does (the starter's links are already encoded).",
    );
  }
}

/** The answer to a request that failed: 413 and 400 for the client's errors, 500 for ours. */
/**
 * A caller of the starter or the status must be on this machine and carry the key: as a function key in Azure, given
 * as the `code` query parameter or an `x-functions-key` header (learn.microsoft.com, "Azure Functions HTTP trigger",
 * API key authorization; "Work with access keys in Azure Functions"). A web page cannot: its browser
 * sends the page's Origin (a cross-site POST, even a `text/plain` one that needs no preflight, started an
 * investigation), DNS rebinding arrives under a Host other than 127.0.0.1 or localhost, and neither knows the key.
 */
function checkCaller(req: IncomingMessage, url: URL, port: number, key: string): void {
  const local = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  if (!local.includes((req.headers.host ?? '').toLowerCase())) {
    throw new Refusal(
      403,
      `Host ${JSON.stringify(req.headers.host ?? '')} is not this machine: call 127.0.0.1:${port}.`,
    );
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !local.some((host) => origin.toLowerCase() === `http://${host}`)) {
    throw new Refusal(
      403,
      `Requests from ${JSON.stringify(origin)} are refused: snat-doctor serve takes no calls from web pages.`,
    );
  }
  const given = url.searchParams.get('code') ?? headerValue(req.headers['x-functions-key']);
  if (given === undefined || !sameSecret(given, key)) {
    throw new Refusal(401, 'A key is required: add ?code=KEY (or an x-functions-key header), KEY as serve printed it.');
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof BodyTooLargeError) {
    // The rest of the body is never read: the connection closes once the answer is written.
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: error.code, message: error.message }));
    return;
  }
  if (error instanceof Refusal) {
    res.writeHead(error.status, { 'content-type': 'application/json' });
    const code = error.status === 401 || error.status === 403 ? 'FORBIDDEN' : 'BAD_ARGUMENT';
    res.end(JSON.stringify({ error: code, message: error.message }));
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain' });
  res.end(`snat-doctor serve: ${error instanceof Error ? error.message : String(error)}\n`);
}

/** Listens on 127.0.0.1; a port that is taken or not allowed is a bad argument, not a crash. */
function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const why =
        error.code === 'EADDRINUSE'
          ? 'is in use by another program'
          : error.code === 'EACCES'
            ? 'needs privileges this user does not have'
            : `cannot be used (${error.code ?? error.message})`;
      reject(
        new SnatDoctorError('BAD_ARGUMENT', `Port ${port} on 127.0.0.1 ${why}: choose another with --port.`, {
          cause: error,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError).once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

async function send(res: ServerResponse, response: HttpResponseInit): Promise<void> {
  const headers: Record<string, string> = {};
  new Headers(response.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, key) => {
    headers[key] = value;
  });
  let body = '';
  if (response.jsonBody !== undefined) {
    body = JSON.stringify(response.jsonBody);
    headers['content-type'] ??= 'application/json';
  } else if (typeof response.body === 'string') body = response.body;
  res.writeHead(response.status ?? 200, headers);
  res.end(body);
}
