// POST /api/slack/events end to end: the exported handler with real HttpRequests signed here, the Bolt app, and
// investigations started on the in-memory Durable host (sandbox scenario). Slack is never called: bot ids are set
// (no auth.test) and response_url points at a loopback server.

import type { HttpResponseInit } from '@azure/functions';
import { afterEach, describe, expect, test } from '@jest/globals';
import { slack } from '../../functions/slack.ts';
import { type Env, readConfig } from '../../lib/config.ts';
import type { InvestigationRequest } from '../../lib/model.ts';
import { renderSlackReport } from '../../lib/render/slackBlocks.ts';
import { createSlackApp, type SlackInvestigationClient } from '../../lib/slack/app.ts';
import { investigationId } from '../../lib/workflow/instanceId.ts';
import { investigateOn } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';
import {
  ALICE,
  BOT,
  BOT_TOKEN,
  buttonBody,
  buttonValue,
  CHANNEL,
  commandBody,
  invocation,
  MALLORY,
  manualTimer,
  nowSeconds,
  OTHER_CHANNEL,
  recordingLogger,
  responseUrlServer,
  SANDBOX_CLUSTER,
  SHARED_CHANNEL,
  SIGNING_SECRET,
  type SignedOptions,
  signedRequest,
  slackEnv,
  startHost,
  visibleText,
} from './support.ts';

const readSlackSection = (env: Env) => readConfig(env).slack;

const NODE = 'aks-nodepool1-31415926-vmss000001';
const CONFIG = readSlackSection(slackEnv());

async function setup() {
  const { host, client } = await startHost();
  const send = (body: string, signed: SignedOptions = {}) =>
    slack(signedRequest(body, signed), client, invocation(), CONFIG);
  const command = (text: string, fields: Record<string, string> = {}) => send(commandBody(text, fields));
  return { host, client, send, command };
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
async function responseUrl() {
  const server = await responseUrlServer();
  servers.push(server);
  return server;
}

/** What the person who typed the command sees: the ephemeral ack's text and blocks. */
function text(response: HttpResponseInit): string {
  const body = response.jsonBody as { response_type?: string; text?: string; blocks?: unknown } | undefined;
  expect(body?.response_type).toBe('ephemeral');
  return visibleText(body);
}

describe('/snat diagnose', () => {
  test('starts the investigation, acks ephemerally with its id, and records who asked from where', async () => {
    const { host, command } = await setup();
    const response = await command(`diagnose prod ${NODE} --seconds 10`);
    expect(response.status).toBe(200);
    const id = investigationId(SANDBOX_CLUSTER, NODE);
    expect(text(response)).toContain(`Investigating node \`${NODE}\` of \`prod\` with a 10 s capture`);
    expect(text(response)).toContain(`\`${id}\``);
    const status = await host.getStatus(id);
    expect(status?.input).toEqual({
      cluster: SANDBOX_CLUSTER,
      node: NODE,
      captureSeconds: 10,
      requestedBy: { kind: 'slack', who: ALICE, where: CHANNEL },
    } satisfies InvestigationRequest);
    expect((await host.waitForCompletion(id)).runtimeStatus).toBe('Completed');
  });

  test('the channel’s only cluster and the most exhausted node when both are left out', async () => {
    const { host, command } = await setup();
    const response = await command('diagnose');
    expect(text(response)).toContain('the most exhausted node of `prod`');
    const [instance] = await host.listInstances();
    expect(instance?.instanceId).toBe('snat:rg-payments-prod:aks-prod:most-exhausted');
    await host.waitForCompletion(instance?.instanceId ?? '');
  });

  test('a second diagnose for the same node joins the running investigation', async () => {
    const { host, command } = await setup();
    await command(`diagnose ${NODE}`);
    const second = await command(`diagnose prod ${NODE}`);
    expect(text(second)).toContain('is already under investigation: you joined it');
    expect(await host.listInstances()).toHaveLength(1);
    await host.waitForCompletion(investigationId(SANDBOX_CLUSTER, NODE));
  });

  test.each<[string, string, Record<string, string>, RegExp]>([
    [
      'a user not listed for the cluster',
      'diagnose prod-restricted',
      { user_id: MALLORY, channel_id: SHARED_CHANNEL },
      /You are not on the list of people who may diagnose `prod-restricted`/,
    ],
    [
      'a channel not listed for the cluster',
      'diagnose prod',
      { channel_id: OTHER_CHANNEL },
      /Cluster `prod` cannot be diagnosed from this channel/,
    ],
    [
      'a channel with no cluster',
      'diagnose',
      { channel_id: OTHER_CHANNEL },
      /No cluster can be diagnosed from this channel/,
    ],
    ['an unknown cluster', `diagnose nope ${NODE}`, {}, /There is no cluster `nope`/],
  ])('denies %s, and starts nothing', async (_name, commandText, fields, message) => {
    const { host, command } = await setup();
    const response = await command(commandText, fields);
    expect(response.status).toBe(200);
    expect(text(response)).toMatch(message);
    expect(await host.listInstances()).toEqual([]);
  });

  // Every argument, every kind of attempt: refused with a message naming the value and what is accepted.
  test.each<[string, string, RegExp]>([
    ['`;` in the node', `diagnose prod ${NODE};reboot`, /node "aks-nodepool1-31415926-vmss000001;reboot" is not valid/],
    ['`$(…)` in the node', 'diagnose prod $(id)', /node "\$\(id\)" is not valid/],
    ['backticks in the node', 'diagnose prod `id`', /node "`id`" is not valid/],
    ['quotes in the node', `diagnose prod '${NODE}'`, /node "'aks-nodepool1-31415926-vmss000001'" is not valid/],
    ['`;` in the cluster', `diagnose prod;id ${NODE}`, /cluster "prod;id" is not valid/],
    ['`$(…)` in the cluster', `diagnose $(id) ${NODE}`, /cluster "\$\(id\)" is not valid/],
    ['backticks in the cluster', `diagnose \`id\` ${NODE}`, /cluster "`id`" is not valid/],
    ['quotes in the cluster', `diagnose "prod" ${NODE}`, /cluster "\\"prod\\"" is not valid/],
    ['`;` in the seconds', 'diagnose prod --seconds 10;id', /capture seconds "10;id" is not valid/],
    ['`$(…)` in the seconds', 'diagnose prod --seconds $(id)', /capture seconds "\$\(id\)" is not valid/],
    ['backticks in the seconds', 'diagnose prod --seconds `id`', /capture seconds "`id`" is not valid/],
    ['quotes in the seconds', 'diagnose prod --seconds "30"', /capture seconds "\\"30\\"" is not valid/],
    ['a newline', `diagnose prod\n${NODE}`, /line break or a control character/],
    ['a very long node', `diagnose prod ${'n'.repeat(400)}`, /node "n{80}"… \(400 characters\) is not valid/],
    ['a very long command', `diagnose prod ${'n'.repeat(4000)}`, /is 4014 characters long; \/snat accepts at most 500/],
    ['a Slack mention as the node', 'diagnose prod <!channel>', /node "&lt;!channel&gt;" is not valid/],
  ])('refuses %s, says what is accepted, and starts nothing', async (_name, commandText, message) => {
    const { host, command } = await setup();
    const response = await command(commandText);
    expect(response.status).toBe(200);
    expect(text(response)).toMatch(message);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a Slack retry is answered 200 and starts nothing (the first delivery did)', async () => {
    const { host, send } = await setup();
    const response = await send(commandBody(`diagnose prod ${NODE}`), { headers: { 'x-slack-retry-num': '1' } });
    expect(response.status).toBe(200);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a retry after a first delivery leaves exactly one investigation', async () => {
    const { host, send } = await setup();
    const body = commandBody(`diagnose prod ${NODE}`);
    await send(body);
    await send(body, { headers: { 'x-slack-retry-num': '1' } });
    await send(body, { headers: { 'x-slack-retry-num': '2' } });
    expect(await host.listInstances()).toHaveLength(1);
    await host.waitForCompletion(investigationId(SANDBOX_CLUSTER, NODE));
  });
});

describe('the signature, through the endpoint', () => {
  test.each<[string, SignedOptions]>([
    ['a wrong signature', { secret: 'f'.repeat(32) }],
    ['a stale timestamp (6 minutes)', { timestamp: nowSeconds() - 6 * 60 }],
    ['a future timestamp (6 minutes)', { timestamp: nowSeconds() + 6 * 60 }],
    ['no signature', { headers: { 'x-slack-signature': undefined } }],
    ['no timestamp', { headers: { 'x-slack-request-timestamp': undefined } }],
    ['neither header', { headers: { 'x-slack-signature': undefined, 'x-slack-request-timestamp': undefined } }],
  ])('%s → 401 and nothing started', async (_name, signed) => {
    const { host, send } = await setup();
    const response = await send(commandBody(`diagnose prod ${NODE}`), signed);
    expect(response.status).toBe(401);
    expect(await host.listInstances()).toEqual([]);
  });

  test('url_verification is answered with the challenge', async () => {
    const { send } = await setup();
    const body = JSON.stringify({
      token: 't',
      challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
      type: 'url_verification',
    });
    const response = await send(body, { contentType: 'application/json' });
    expect(response).toMatchObject({
      status: 200,
      jsonBody: { challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' },
    });
  });
});

describe('/snat status and help', () => {
  test('status without an id answers for the latest investigation started from this channel', async () => {
    const { host, command } = await setup();
    await command(`diagnose prod ${NODE}`);
    const id = investigationId(SANDBOX_CLUSTER, NODE);
    await host.waitForCompletion(id);
    const response = await command('status');
    expect(text(response)).toContain(`Investigation \`${id}\`: *Completed*.`);
  });

  test('status with an id answers the runtime status and the current step', async () => {
    const { host, command } = await setup();
    await command('diagnose prod 10.224.0.5');
    const id = investigationId(SANDBOX_CLUSTER, '10.224.0.5');
    const response = await command(`status ${id}`);
    expect(text(response)).toMatch(new RegExp(`Investigation \`${id}\`: \\*(Pending|Running)\\*`));
    await host.waitForCompletion(id);
  });

  test('status of an id never started says so', async () => {
    const { command } = await setup();
    const response = await command('status snat:rg-payments-prod:aks-prod:aks-nodepool1-31415926-vmss000009');
    expect(text(response)).toContain('There is no investigation');
  });

  test('status from a channel that may not see the cluster is denied', async () => {
    const { command } = await setup();
    const response = await command('status snat:rg-payments-prod:aks-prod:most-exhausted', {
      channel_id: OTHER_CHANNEL,
    });
    expect(text(response)).toMatch(/cannot be diagnosed from this channel/);
  });

  test.each(['', 'help', 'HELP me'])('"%s" shows the help with the channel’s clusters', async (commandText) => {
    const { command } = await setup();
    const response = await command(commandText);
    expect(text(response)).toContain('`/snat diagnose [cluster] [node-name|node-ip] [--seconds N]`');
    expect(text(response)).toContain('This channel diagnoses `prod`');
  });
});

describe('buttons', () => {
  test('"Run again" starts the investigation it names and replies through response_url', async () => {
    const { host, send } = await setup();
    const slackSide = await responseUrl();
    const response = await send(buttonBody('snat_rerun', buttonValue({ seconds: 20 }), { responseUrl: slackSide.url }));
    expect(response).toMatchObject({ status: 200, body: '' });
    const [reply] = await slackSide.waitFor(1);
    expect(reply).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(reply?.text)).toContain('with a 20 s capture');
    const status = await host.getStatus(investigationId(SANDBOX_CLUSTER, NODE));
    expect(status?.input).toMatchObject({
      captureSeconds: 20,
      requestedBy: { kind: 'slack', who: ALICE, where: CHANNEL },
    });
    await host.waitForCompletion(investigationId(SANDBOX_CLUSTER, NODE));
  });

  test.each<[string, string, { user?: string; channel?: string }, RegExp]>([
    [
      'a cluster snat-doctor is not set up for',
      buttonValue({ cluster: { ...SANDBOX_CLUSTER, name: 'aks-other' } }),
      {},
      /not one snat-doctor is set up for/,
    ],
    [
      'another subscription',
      buttonValue({ cluster: { ...SANDBOX_CLUSTER, subscriptionId: '99999999-9999-9999-9999-999999999999' } }),
      {},
      /not one snat-doctor is set up for/,
    ],
    ['shell text in the node', buttonValue({ node: `${NODE};reboot` }), {}, /node ".*;reboot" is not valid/],
    ['too long a capture', buttonValue({ seconds: 86400 }), {}, /capture seconds "86400" is not valid/],
    ['an extra field', buttonValue({ kubeconfig: 'x' }), {}, /unknown fields \("kubeconfig"\)/],
    ['not JSON', 'prod; reboot', {}, /not JSON/],
    ['a user not allowed', buttonValue(), { user: MALLORY, channel: SHARED_CHANNEL }, /You are not on the list/],
    ['a channel not allowed', buttonValue(), { channel: OTHER_CHANNEL }, /cannot be diagnosed from this channel/],
  ])('refuses a button value with %s, and starts nothing', async (_name, value, who, message) => {
    const { host, send } = await setup();
    const slackSide = await responseUrl();
    const response = await send(buttonBody('snat_capture_longer', value, { ...who, responseUrl: slackSide.url }));
    expect(response.status).toBe(200);
    const [reply] = await slackSide.waitFor(1);
    expect(visibleText(reply)).toMatch(message);
    expect(await host.listInstances()).toEqual([]);
  });
});

describe('the buttons the report renders (lib/render/slackBlocks.ts) are the ones this app accepts', () => {
  test('each button of a rendered report starts the investigation its value names', async () => {
    const { report } = await investigateOn(scenarioWith(), { captureSeconds: 30 });
    const message = renderSlackReport(report, { request: { node: report.node?.name, captureSeconds: 30 } });
    const buttons = message.blocks
      .flatMap((block) => (block.type === 'actions' ? block.elements : []))
      .filter((element) => element.type === 'button');
    expect(buttons.map((button) => button.action_id).sort()).toEqual(['snat_capture_longer', 'snat_rerun']);
    for (const button of buttons) {
      const { host, send } = await setup();
      const slackSide = await responseUrl();
      await send(buttonBody(button.action_id ?? '', button.value ?? '', { responseUrl: slackSide.url }));
      const [reply] = await slackSide.waitFor(1);
      expect(String(reply?.text)).toContain('Investigating node');
      const [instance] = await host.listInstances();
      expect(instance?.input).toMatchObject({ requestedBy: { kind: 'slack', who: ALICE, where: CHANNEL } });
      await host.waitForCompletion(instance?.instanceId ?? '');
    }
  });
});

describe('configuration', () => {
  test('a misconfigured endpoint answers 500 and logs every problem by name, never a value', async () => {
    const { host, client } = await setup();
    const lines: string[] = [];
    const context = invocation();
    context.error = (...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    };
    const config = readSlackSection(
      slackEnv({ SLACK_BOT_TOKEN: 'xoxp-user-token', SNAT_DOCTOR_SLACK_ACCESS: undefined }),
    );
    const response = await slack(signedRequest(commandBody('diagnose')), client, context, config);
    expect(response.status).toBe(500);
    const logged = lines.join('\n');
    expect(logged).toContain('SLACK_BOT_TOKEN does not look like a bot token');
    expect(logged).toContain('SNAT_DOCTOR_SLACK_ACCESS is not set');
    expect(logged).not.toContain('xoxp-user-token');
    expect(logged).not.toContain(SIGNING_SECRET);
    expect(await host.listInstances()).toEqual([]);
  });
});

describe('a slow start (the ack deadline, with a timer the test fires)', () => {
  function slowApp(client: SlackInvestigationClient) {
    if (!CONFIG.ok) throw new Error('test config');
    const clock = manualTimer();
    const { receiver } = createSlackApp({
      ...CONFIG.settings,
      ...BOT,
      botToken: BOT_TOKEN,
      client,
      logger: recordingLogger(),
      receiver: { timer: clock.timer },
    });
    return { receiver, clock };
  }

  test('a start that never finishes: the ack still goes out at the deadline, naming the instance id', async () => {
    // Its own node: a start that never ends keeps that node's start lock (lib/watch/startOnce.ts) for good.
    const node = 'aks-nodepool1-31415926-vmss000002';
    const starts: string[] = [];
    const client: SlackInvestigationClient = {
      getStatus: async () => undefined,
      startNew: (_name, options) => {
        starts.push(options.instanceId);
        return new Promise(() => {}); // the Durable extension never answers
      },
    };
    const { receiver, clock } = slowApp(client);
    const answer = receiver.handle(signedRequest(commandBody(`diagnose prod ${node}`)));
    for (let i = 0; i < 50 && starts.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    clock.fire();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(text(response)).toContain(
      `Starting the investigation of node \`${node}\` of \`prod\`: \`${investigationId(SANDBOX_CLUSTER, node)}\``,
    );
    expect(starts).toEqual([investigationId(SANDBOX_CLUSTER, node)]);
  });

  test('a start that finishes after the deadline: its outcome follows through response_url', async () => {
    const { host, client: local } = await startHost();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const client: SlackInvestigationClient = {
      getStatus: (id) => local.getStatus(id),
      startNew: async (name, options) => {
        await gate;
        return local.startNew(name, options);
      },
    };
    const slackSide = await responseUrl();
    const { receiver, clock } = slowApp(client);
    const answer = receiver.handle(
      signedRequest(commandBody(`diagnose prod ${NODE}`, { response_url: slackSide.url })),
    );
    for (let i = 0; i < 50 && clock.started === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    clock.fire();
    expect(text(await answer)).toContain('Starting the investigation');
    release();
    const [followUp] = await slackSide.waitFor(1);
    expect(followUp).toMatchObject({ response_type: 'ephemeral' });
    expect(String(followUp?.text)).toContain(`Investigating node \`${NODE}\` of \`prod\``);
    await host.waitForCompletion(investigationId(SANDBOX_CLUSTER, NODE));
  });
});
