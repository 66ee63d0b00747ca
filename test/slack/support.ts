// Builders for the Slack tests: requests signed here from Slack's spec (not with the code under test), an access
// config naming the sandbox cluster, a timer the test fires itself, and a loopback server standing in for
// response_url.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { Logger } from '@slack/bolt';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { ClusterRef } from '../../lib/model.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import type { AckTimer } from '../../lib/slack/receiver.ts';
import { scenarioWith } from '../support/scenarios.ts';

export const SIGNING_SECRET = 'a3f1c9e07b5d42e88c1f6a9d2b7e4c50';
export const BOT_TOKEN = 'xoxb-1234-5678-abcdefghijkl';
export const BOT = { botId: 'B0BOTBOT1', botUserId: 'U0BOTBOT1' } as const;

export const CHANNEL = 'C0PAYMENTS';
export const OTHER_CHANNEL = 'C0RANDOM01';
export const SHARED_CHANNEL = 'C0SHARED01';
export const ALICE = 'U0ALICE001';
export const MALLORY = 'U0MALLORY1';

/** The sandbox's cluster (lib/sandbox/scenarios/default.yaml). */
export const SANDBOX_CLUSTER: ClusterRef = {
  subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
  resourceGroup: 'rg-payments-prod',
  name: 'aks-prod',
};

/** `prod` (the sandbox) is for CHANNEL, anyone there, and for SHARED_CHANNEL, Alice only; `staging` for SHARED_CHANNEL. */
export function accessDocument() {
  return {
    clusters: [
      { alias: 'prod', ...SANDBOX_CLUSTER, channels: [CHANNEL] },
      { alias: 'prod-restricted', ...SANDBOX_CLUSTER, channels: [SHARED_CHANNEL], users: [ALICE] },
      {
        alias: 'staging',
        subscriptionId: '11111111-2222-3333-4444-555555555555',
        resourceGroup: 'rg-staging',
        name: 'aks-staging',
        channels: [SHARED_CHANNEL],
      },
    ],
  };
}

export function slackEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify(accessDocument()),
    SLACK_BOT_ID: BOT.botId,
    SLACK_BOT_USER_ID: BOT.botUserId,
    ...overrides,
  };
}

/** Slack's v0 signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with the signing secret. */
export function sign(body: string, timestamp: number, secret = SIGNING_SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export interface SignedOptions {
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  secret?: string;
  contentType?: string;
  /** Replaces or removes (undefined) headers after signing. */
  headers?: Record<string, string | undefined>;
}

export function signedRequest(body: string, options: SignedOptions = {}): HttpRequest {
  const timestamp = options.timestamp ?? nowSeconds();
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': sign(body, timestamp, options.secret),
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return new HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1:7071/api/slack/events',
    body: { string: body },
    headers,
  });
}

/** A slash command's form body, as Slack sends it. */
export function commandBody(text: string, fields: Partial<Record<string, string>> = {}): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: 'T0TEAM0001',
    team_domain: 'contoso',
    channel_id: CHANNEL,
    channel_name: 'payments',
    user_id: ALICE,
    user_name: 'alice',
    command: '/snat',
    text,
    api_app_id: 'A0APP00001',
    response_url: 'http://127.0.0.1:9/never-used',
    trigger_id: '1.2.3',
    ...fields,
  }).toString();
}

/** A block_actions payload for one button click, form-encoded in `payload=` as Slack sends it. */
export function buttonBody(
  actionId: string,
  value: string,
  options: { user?: string; channel?: string; responseUrl: string },
): string {
  const payload = {
    type: 'block_actions',
    team: { id: 'T0TEAM0001', domain: 'contoso' },
    user: { id: options.user ?? ALICE, username: 'alice', team_id: 'T0TEAM0001' },
    api_app_id: 'A0APP00001',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: options.channel ?? CHANNEL },
    trigger_id: '1.2.3',
    channel: { id: options.channel ?? CHANNEL, name: 'payments' },
    message: { type: 'message', ts: '1700000000.000100', text: 'report' },
    response_url: options.responseUrl,
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'actions',
        text: { type: 'plain_text', text: 'Run again' },
        value,
        action_ts: '1700000001.000200',
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export function buttonValue(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    cluster: SANDBOX_CLUSTER,
    node: 'aks-nodepool1-31415926-vmss000001',
    seconds: 30,
    ...overrides,
  });
}

/** The in-memory Durable host on the sandbox scenario, and the client the Slack app gets. */
export async function startHost() {
  const { host } = await startLocalRuntime({ ports: scenarioPorts(scenarioWith()), clock: new VirtualClock() });
  return { host, client: new LocalDurableClient(host) };
}

export function invocation(): InvocationContext {
  return new InvocationContext({ functionName: 'slack', logHandler: () => {} });
}

/** Collects what was logged, so a test can check that a secret never appears. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  let level = 'debug';
  const write = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  return {
    lines,
    debug: write,
    info: write,
    warn: write,
    error: write,
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level as ReturnType<Logger['getLevel']>,
    setName: () => {},
  };
}

/** An ack timer that only fires when the test says so: the deadline without waiting for it. */
export function manualTimer(): { timer: AckTimer; fire(): void; started: number } {
  const pending: (() => void)[] = [];
  const state = {
    started: 0,
    timer: ((_ms, signal) =>
      new Promise<void>((resolve) => {
        state.started++;
        pending.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      })) as AckTimer,
    fire() {
      for (const resolve of pending.splice(0)) resolve();
    },
  };
  return state;
}

/** A loopback HTTP server standing in for Slack's response_url: records every JSON body posted to it. */
export async function responseUrlServer() {
  const received: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (chunk) => {
      data += chunk;
    });
    req.on('end', () => {
      received.push(JSON.parse(data) as Record<string, unknown>);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/actions/T0TEAM0001/1/abc`,
    received,
    /** Resolves once `count` bodies have arrived. */
    async waitFor(count: number) {
      while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Everything a reader sees in a message: its text and the texts of its blocks (sections, context, header). */
export function visibleText(message: { text?: unknown; blocks?: unknown } | undefined): string {
  const parts = [String(message?.text ?? '')];
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (typeof node === 'object' && node !== null) {
      const { type, text } = node as { type?: unknown; text?: unknown };
      if ((type === 'mrkdwn' || type === 'plain_text') && typeof text === 'string') parts.push(text);
      for (const value of Object.values(node)) collect(value);
    }
  };
  collect(message?.blocks);
  return parts.join('\n');
}
