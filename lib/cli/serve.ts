// `snat-doctor serve`: the app's HTTP functions on 127.0.0.1 — the Slack endpoint, the HTTP starter and the status
// of investigations — backed by the in-memory Durable host and the sandbox (or real Azure), so a Slack app can be
// pointed at a laptop (through a tunnel) and drive investigations end to end. Without a bot token, posts go to the
// sandbox's Slack Web API, which records them (GET /sandbox/slack/messages).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { SnatDoctorError } from '../errors.ts';
import { RealClock } from '../local/durableHost.ts';
import { LocalDurableClient } from '../local/localClient.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { Ports } from '../ports.ts';
import { readBody } from '../sandbox/requestBody.ts';
import { badInputExit } from './badInput.ts';

const { HttpRequest, InvocationContext } = azureFunctions;

export interface ServeOptions {
  port: number;
  sandbox?: string;
  subscription?: string;
  resourceGroup?: string;
  cluster?: string;
}

export async function serve(options: ServeOptions, signal?: AbortSignal): Promise<number> {
  try {
    const running = await start(options);
    process.stdout.write(`${running.banner}\nPress Ctrl-C to stop.\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await running.close();
    process.stdout.write('Stopped.\n');
    return 0;
  } catch (error) {
    return badInputExit(error);
  }
}

interface Running {
  url: string;
  banner: string;
  close(): Promise<void>;
}

export async function start(options: ServeOptions): Promise<Running> {
  const closers: (() => Promise<void>)[] = [];
  let ports: Ports;
  let where: string;
  let alias: string;
  let clusterRef: { subscriptionId: string; resourceGroup: string; name: string };
  if (options.subscription || options.resourceGroup || options.cluster) {
    const { validateClusterRef } = await import('../validation.ts');
    clusterRef = validateClusterRef({
      subscriptionId: options.subscription ?? '',
      resourceGroup: options.resourceGroup ?? '',
      name: options.cluster ?? '',
    });
    const { azurePorts } = await import('../adapters/azurePorts.ts');
    ports = azurePorts();
    where = `cluster ${clusterRef.name} (DefaultAzureCredential)`;
    alias = clusterRef.name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 63);
  } else {
    const { DEFAULT_SCENARIO_PATH, loadScenario } = await import('../sandbox/scenario.ts');
    const { startSandbox } = await import('../sandbox/sandbox.ts');
    const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
    const sandbox = await startSandbox(scenario, { latency: true });
    closers.push(() => sandbox.close());
    ports = sandbox.ports();
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    clusterRef = { subscriptionId, resourceGroup, name };
    where = `the sandbox scenario "${scenario.name}" (cluster ${name})`;
    alias = 'sandbox';
  }

  // Slack: the real one when SLACK_BOT_TOKEN is set, else the sandbox's Web API, which records what is posted.
  const env = { ...process.env };
  let slackMessages: (() => unknown) | undefined;
  const { createSlackPoster, slackPort } = await import('../adapters/slack.ts');
  if (env.SLACK_BOT_TOKEN) {
    ports = { ...ports, slack: slackPort(createSlackPoster({ token: env.SLACK_BOT_TOKEN })) };
  } else {
    const { startSlackServer } = await import('../sandbox/slackServer.ts');
    const token = `xoxb-sandbox-${randomBytes(8).toString('hex')}`;
    const slack = await startSlackServer({ token });
    closers.push(() => slack.close());
    slackMessages = () => slack.messages();
    ports = { ...ports, slack: slackPort(createSlackPoster({ token, apiUrl: slack.url })) };
    env.SLACK_BOT_TOKEN = token;
    // Known bot ids: Bolt then never calls auth.test (which would go to slack.com).
    env.SLACK_BOT_ID ??= 'B0SANDBOX';
    env.SLACK_BOT_USER_ID ??= 'U0SANDBOXBOT';
  }
  const generatedSecret = env.SLACK_SIGNING_SECRET ? undefined : randomBytes(16).toString('hex');
  env.SLACK_SIGNING_SECRET ??= generatedSecret;
  env.SNAT_DOCTOR_SLACK_ACCESS ??= JSON.stringify({
    clusters: [{ alias, ...clusterRef, channels: ['C0SANDBOX'], users: [] }],
  });
  const { readConfig } = await import('../config.ts');
  const slackConfig = readConfig(env).slack;
  if (!slackConfig.ok) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `The Slack settings are not usable:\n  ${slackConfig.problems.join('\n  ')}`,
    );
  }

  const { host } = await startLocalRuntime({ ports, clock: new RealClock() });
  const { slack } = await import('../../functions/slack.ts');
  const { startInvestigation } = await import('../../functions/startInvestigation.ts');
  const { status: statusFunction } = await import('../../functions/status.ts');

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`snat-doctor serve: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  const origin = () => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin());
    const body = await readBody(req, 1 << 20);
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.href,
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
      ),
      ...(body.length > 0 ? { body: { string: body } } : {}),
    });
    const client = new LocalDurableClient(host, origin());
    const context = (name: string) => new InvocationContext({ functionName: name, logHandler: () => {} });
    let response: HttpResponseInit;
    const instance = /^\/runtime\/webhooks\/durabletask\/instances\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/api/slack/events') {
      response = await slack(request, client, context('slack'), slackConfig);
    } else if (req.method === 'POST' && url.pathname === '/api/investigations') {
      response = await startInvestigation(request, client, context('startInvestigation'));
    } else if (req.method === 'GET' && /^\/api\/investigations\/[^/]+$/.test(url.pathname)) {
      const id = decodeURIComponent(url.pathname.slice('/api/investigations/'.length));
      request.params.id = id;
      response = await statusFunction(request, client, context('status'));
    } else if (req.method === 'GET' && instance) {
      const status = await host.getStatus(decodeURIComponent(instance[1] ?? ''));
      response = status
        ? { status: 200, jsonBody: { ...status, history: undefined } }
        : { status: 404, jsonBody: { message: 'no such investigation' } };
    } else if (req.method === 'GET' && url.pathname === '/sandbox/slack/messages' && slackMessages) {
      response = { status: 200, jsonBody: slackMessages() };
    } else {
      response = { status: 404, jsonBody: { message: `nothing at ${req.method} ${url.pathname}` } };
    }
    await send(res, response);
  }
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));

  const url = origin();
  const banner = [
    `snat-doctor serving ${where} on ${url}`,
    `  POST ${url}/api/slack/events        Slack slash commands and buttons (/snat …)`,
    `  POST ${url}/api/investigations      the HTTP starter`,
    `  GET  ${url}/api/investigations/ID   an investigation's state, steps and report`,
    `  GET  ${url}/runtime/webhooks/durabletask/instances/ID   the Durable status`,
    ...(slackMessages ? [`  GET  ${url}/sandbox/slack/messages  what was posted to the sandbox's Slack`] : []),
    generatedSecret
      ? `Signing secret (generated; set SLACK_SIGNING_SECRET to use your Slack app's): ${generatedSecret}`
      : 'Signing secret: SLACK_SIGNING_SECRET',
    `Allowed: channel C0SANDBOX may diagnose "${alias}" (set SNAT_DOCTOR_SLACK_ACCESS to change it).`,
  ].join('\n');
  return {
    url,
    banner,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
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
