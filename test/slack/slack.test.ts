// POST /api/slack/events end to end: the exported handler with real HttpRequests signed here, the Bolt app, and
// investigations started on the in-memory Durable host (sandbox scenario). Slack is never called: bot ids are set
// (no auth.test) and response_url points at a loopback server.

import type { HttpResponseInit } from '@azure/functions';
import { afterEach, describe, expect, test } from '@jest/globals';
import { slack } from '../../functions/slack.ts';
import { createSlackPoster, slackPort } from '../../lib/adapters/slack.ts';
import { type Env, readConfig } from '../../lib/config.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { InvestigationRequest, Report } from '../../lib/model.ts';
import type { NodeProbe } from '../../lib/ports.ts';
import { renderSlackReport, SLACK_ACTIONS } from '../../lib/render/slackBlocks.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { type PostedSlackMessage, type SlackServer, startSlackServer } from '../../lib/sandbox/slackServer.ts';
import { createSlackApp, type SlackInvestigationClient } from '../../lib/slack/app.ts';
import { newInvestigationId, nodeKey, ORCHESTRATOR_NAME } from '../../lib/workflow/instanceId.ts';
import { registryId } from '../../lib/workflow/nodeRegistry.ts';
import { investigateOn } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';
import {
  ALICE,
  accessDocument,
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
const OTHER_NODE = 'aks-nodepool1-31415926-vmss000002';
const CONFIG = readSlackSection(slackEnv());

/** The shape of every new investigation id (lib/workflow/instanceId.ts): cluster, time and nonce, then the node. */
const idOf = (node: string) =>
  new RegExp(`^snat:${SANDBOX_CLUSTER.subscriptionId}:rg-payments-prod:aks-prod:\\d{8}t\\d{6}z-[0-9a-f]{6}:${node}$`);

/** The one investigation a test started (ids are no longer derived from the node: they are read back). */
async function onlyInstance(host: { listInstances(): Promise<{ instanceId: string }[]> }): Promise<string> {
  const instances = await host.listInstances();
  expect(instances).toHaveLength(1);
  return instances[0]?.instanceId ?? '';
}

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
    const id = await onlyInstance(host);
    expect(id).toMatch(idOf(NODE));
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
    const id = await onlyInstance(host);
    expect(id).toMatch(idOf('most-exhausted'));
    await host.waitForCompletion(id);
  });

  test('a second diagnose for the same node joins the running investigation', async () => {
    const { host, command } = await setup();
    await command(`diagnose ${NODE}`);
    const second = await command(`diagnose prod ${NODE}`);
    const id = await onlyInstance(host);
    expect(text(second)).toContain('is already under investigation: you joined it');
    expect(text(second)).toContain(`\`${id}\``);
    await host.waitForCompletion(id);
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
    await host.waitForCompletion(await onlyInstance(host));
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
    const id = await onlyInstance(host);
    await host.waitForCompletion(id);
    const response = await command('status');
    expect(text(response)).toContain(`Investigation \`${id}\`: *Completed*.`);
  });

  test('a signed command with no text field at all is answered with the help, not a 500', async () => {
    // Slack sends `text=` for a bare /snat; a body without the field is what anyone holding the secret could send.
    const { host, send } = await setup();
    const body = new URLSearchParams(commandBody('help'));
    body.delete('text');
    const response = await send(body.toString());
    expect(response.status ?? 200).toBe(200);
    expect(text(response)).toContain('/snat diagnose');
    expect(await host.listInstances()).toEqual([]);
  });

  test('status with an id answers the runtime status and the current step', async () => {
    const { host, command } = await setup();
    const started = await command('diagnose prod 10.224.0.5');
    const id = await onlyInstance(host);
    expect(id).toMatch(idOf('10.224.0.5'));
    expect(text(started)).toContain(`\`${id}\``);
    const response = await command(`status ${id}`);
    expect(text(response)).toMatch(new RegExp(`Investigation \`${id}\`: \\*(Pending|Running)\\*`));
    await host.waitForCompletion(id);
  });

  test('status of an id never started says so', async () => {
    const { command } = await setup();
    const id = newInvestigationId(SANDBOX_CLUSTER, 'aks-nodepool1-31415926-vmss000009', new Date(), 'abc123');
    const response = await command(`status ${id}`);
    expect(text(response)).toBe(`There is no investigation \`${id}\` that this channel may see.`);
  });

  test('status from a channel that may not see the cluster reads as if there were no such investigation', async () => {
    const { host, command } = await setup();
    await command(`diagnose prod ${NODE}`);
    const id = await onlyInstance(host);
    const response = await command(`status ${id}`, { channel_id: OTHER_CHANNEL });
    expect(text(response)).toBe(`There is no investigation \`${id}\` that this channel may see.`);
    await host.waitForCompletion(id);
  });

  test('status of an id of the old deterministic shape is refused, saying what an id looks like', async () => {
    const { command } = await setup();
    const response = await command('status snat:rg-payments-prod:aks-prod:most-exhausted');
    expect(text(response)).toMatch(/investigation id .* is not valid: expected snat:\{subscription\}/);
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
    const id = await onlyInstance(host);
    expect(String(reply?.text)).toContain(`\`${id}\``);
    const status = await host.getStatus(id);
    expect(status?.input).toMatchObject({
      captureSeconds: 20,
      requestedBy: { kind: 'slack', who: ALICE, where: CHANNEL },
    });
    await host.waitForCompletion(id);
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

describe('a NAT gateway report: one button per next node holding the hot endpoint (issue 15)', () => {
  test('"Investigate <node>" starts a /snat diagnose of that node, as the app accepts any button', async () => {
    // The built-in scenario behind a managed NAT gateway, no node named: the survey chooses vmss000001 (710 of the
    // 758 connections to 20.50.2.10:443) and names vmss000002 (48).
    const nat = scenarioWith((doc) => {
      Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway', idleTimeoutMinutes: 4 });
    });
    const { report } = await investigateOn(nat, { captureSeconds: 30 });
    expect(report.survey?.nodes.map((n) => n.name)).toEqual([NODE, OTHER_NODE]);
    const message = renderSlackReport(report, { request: { captureSeconds: 30 } });
    const buttons = message.blocks
      .flatMap((block) => (block.type === 'actions' ? block.elements : []))
      .filter((element) => element.type === 'button');
    const next = buttons.find((b) => b.action_id === SLACK_ACTIONS.investigateNode1);
    expect(next?.text.text).toBe(`Investigate ${OTHER_NODE}`);
    expect(buttons.some((b) => b.action_id === SLACK_ACTIONS.investigateNode2)).toBe(false);
    const { host, send } = await setup();
    const slackSide = await responseUrl();
    await send(buttonBody(next?.action_id ?? '', next?.value ?? '', { responseUrl: slackSide.url }));
    const [reply] = await slackSide.waitFor(1);
    expect(String(reply?.text)).toContain('Investigating node');
    const [instance] = await host.listInstances();
    expect(instance?.input).toMatchObject({ node: OTHER_NODE, captureSeconds: 30 });
    await host.waitForCompletion(instance?.instanceId ?? '');
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

  test('a start that never finishes: the ack still goes out at the deadline, saying the id follows', async () => {
    // Its own node: a start that never ends keeps that node's start lock (lib/watch/startOnce.ts) for good.
    const node = 'aks-nodepool1-31415926-vmss000002';
    const starts: string[] = [];
    const client: SlackInvestigationClient = {
      getStatus: async () => undefined,
      startNew: (_name, options) => {
        starts.push(options.instanceId);
        return new Promise(() => {}); // the Durable extension never answers
      },
      readEntityState: async () => ({ entityExists: false }), // the node was never investigated
      signalEntity: async () => {},
    };
    const { receiver, clock } = slowApp(client);
    const answer = receiver.handle(signedRequest(commandBody(`diagnose prod ${node}`)));
    for (let i = 0; i < 50 && starts.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    clock.fire();
    const response = await answer;
    expect(response.status).toBe(200);
    // The id is made by the start (it is unique per run), so the ack cannot name it yet.
    expect(text(response)).toBe(
      `:hourglass_flowing_sand: Starting the investigation of node \`${node}\` of \`prod\`. A reply with its id follows when it has started.`,
    );
    expect(starts).toEqual([expect.stringMatching(idOf(node))]);
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
      readEntityState: (entity) => local.readEntityState(entity),
      signalEntity: (entity, operation, input) => local.signalEntity(entity, operation, input),
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
    const id = await onlyInstance(host);
    expect(String(followUp?.text)).toContain(`\`${id}\``);
    await host.waitForCompletion(id);
  });
});

// ── Issue 14: one probe per node, every run kept ─────────────────────────────────────────────────────────────────
//
// Here investigations report to a sandbox Slack (lib/sandbox/slackServer.ts, through the real poster), so what each
// channel was posted can be read back, and the node probe can be held mid-capture: the node is then under
// investigation (its registry holds it) for as long as a test needs.

/** Another subscription's cluster with the sandbox cluster's resource group and name, allowed only in OTHER_CHANNEL. */
const TWIN_CLUSTER = { ...SANDBOX_CLUSTER, subscriptionId: '99999999-9999-9999-9999-999999999999' };
const TWIN_CONFIG = readSlackSection(
  slackEnv({
    SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({
      clusters: [...accessDocument().clusters, { alias: 'twin', ...TWIN_CLUSTER, channels: [OTHER_CHANNEL] }],
    }),
  }),
);
const SANDBOX_SLACK_TOKEN = 'xoxb-sandbox';

const slackApis: SlackServer[] = [];
afterEach(async () => {
  await Promise.all(slackApis.splice(0).map((api) => api.close()));
});

/** Counts node captures, and holds them once `hold()` is called, until the hold is let go. */
function captureGate(probe: NodeProbe) {
  let held: { reached: Promise<void>; reach(): void; released: Promise<void>; release(): void } | undefined;
  const captures: string[] = [];
  return {
    /** The node of every capture run, in order. */
    captures,
    probe: {
      capture: async (...args: Parameters<NodeProbe['capture']>) => {
        captures.push(args[1].name);
        const hold = held;
        if (hold) {
          hold.reach();
          await hold.released;
        }
        return probe.capture(...args);
      },
    } satisfies NodeProbe,
    /** The next captures wait; `reached` resolves when one does, `release()` lets them all go on. */
    hold() {
      let reach!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((resolve) => {
        reach = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      held = { reached, reach, released, release };
      return {
        reached,
        release: () => {
          held = undefined;
          release();
        },
      };
    },
  };
}

async function setupWithSlack(config = CONFIG) {
  const slackApi = await startSlackServer({ token: SANDBOX_SLACK_TOKEN });
  slackApis.push(slackApi);
  const base = scenarioPorts(scenarioWith());
  const gate = captureGate(base.probe);
  const { host } = await startLocalRuntime({
    ports: {
      ...base,
      probe: gate.probe,
      slack: slackPort(createSlackPoster({ token: SANDBOX_SLACK_TOKEN, apiUrl: slackApi.url })),
    },
    clock: new VirtualClock(),
  });
  const client = new LocalDurableClient(host);
  const command = (commandText: string, fields: Record<string, string> = {}) =>
    slack(signedRequest(commandBody(commandText, fields)), client, invocation(), config);
  /** The messages of a channel's own timeline (not thread replies, not ephemeral ones). */
  const channelMessages = (channel: string): PostedSlackMessage[] =>
    slackApi.messages().filter((m) => m.channel === channel && !m.threadTs && !m.ephemeralTo);
  return { host, client, command, gate, channelMessages };
}

/** The instance id in a start reply: `Investigation \`snat:…\``. */
function startedId(response: HttpResponseInit): string {
  const id = /Investigation `(snat:[^`]+)`/.exec(text(response))?.[1];
  if (!id) throw new Error(`no investigation id in: ${text(response)}`);
  return id;
}

/** Which investigation a posted message belongs to, as the poster keys it (lib/adapters/slack.ts). */
const keyOf = (message: PostedSlackMessage | undefined) => message?.metadata?.event_payload;

describe('issue 14: /snat status <id> is authorised by the investigation’s own cluster', () => {
  test('an investigation of a cluster the channel may not diagnose reads exactly as an id that does not exist (item 4)', async () => {
    const { host, command } = await setupWithSlack(TWIN_CONFIG);
    // An investigation of the prod cluster (subscription 1), from the channel allowed prod.
    const id = startedId(await command(`diagnose prod ${NODE}`));
    await host.waitForCompletion(id);

    // OTHER_CHANNEL may diagnose only `twin`: the same resource group and name, in subscription 2.
    const fromTwin = await command(`status ${id}`, { channel_id: OTHER_CHANNEL });
    const missing = newInvestigationId(SANDBOX_CLUSTER, NODE, new Date('2026-01-01T00:00:00Z'), 'abc123');
    const unknownFromTwin = await command(`status ${missing}`, { channel_id: OTHER_CHANNEL });
    // The same words, the id aside: a denial does not tell that the investigation exists.
    expect(text(fromTwin).replace(id, 'ID')).toBe(text(unknownFromTwin).replace(missing, 'ID'));
    expect(text(fromTwin)).toBe(`There is no investigation \`${id}\` that this channel may see.`);

    // A channel allowed the cluster sees it.
    expect(text(await command(`status ${id}`))).toContain(`Investigation \`${id}\`: *Completed*.`);
  });

  test('what the id says is not what is authorised: the instance’s input cluster is', async () => {
    const { host, client, command } = await setupWithSlack(TWIN_CONFIG);
    // An id that names the twin's subscription, for an investigation that ran on the prod cluster.
    const id = newInvestigationId(TWIN_CLUSTER, NODE, new Date('2026-01-01T00:00:00Z'), 'abc123');
    await client.startNew(ORCHESTRATOR_NAME, {
      instanceId: id,
      input: {
        cluster: SANDBOX_CLUSTER,
        node: NODE,
        captureSeconds: 30,
        requestedBy: { kind: 'slack', who: ALICE, where: CHANNEL },
      } satisfies InvestigationRequest,
    });
    await host.waitForCompletion(id);
    expect(text(await command(`status ${id}`, { channel_id: OTHER_CHANNEL }))).toBe(
      `There is no investigation \`${id}\` that this channel may see.`,
    );
    expect(text(await command(`status ${id}`))).toContain(`Investigation \`${id}\`: *Completed*.`);
  });
});

describe('issue 14: /snat status [cluster] <node-name> lists the node’s investigations', () => {
  test('the running investigation and the past ones, by id', async () => {
    const { host, command, gate } = await setupWithSlack();
    const first = startedId(await command(`diagnose prod ${NODE}`));
    await host.waitForCompletion(first);

    const afterOne = text(await command(`status prod ${NODE}`));
    expect(afterOne).toContain(`Investigations of node \`${NODE}\` of \`prod\`:`);
    expect(afterOne).toMatch(new RegExp(`• \\S+ \\(completed\\): \`${first}\``));
    expect(afterOne).not.toContain('*running*');
    // The channel's only cluster when it is left out.
    expect(text(await command(`status ${NODE}`))).toBe(afterOne);

    // A second run, held in its capture: the node is under investigation.
    const hold = gate.hold();
    const second = startedId(await command(`diagnose prod ${NODE}`));
    await hold.reached;
    const whileRunning = text(await command(`status prod ${NODE}`));
    expect(whileRunning).toMatch(new RegExp(`• \\*running\\* since \\S+: \`${second}\``));
    expect(whileRunning).toContain(`(completed): \`${first}\``);
    hold.release();
    await host.waitForCompletion(second);

    const afterTwo = text(await command(`status prod ${NODE}`));
    expect(afterTwo).not.toContain('*running*');
    // Newest first.
    expect(afterTwo.indexOf(second)).toBeGreaterThan(-1);
    expect(afterTwo.indexOf(second)).toBeLessThan(afterTwo.indexOf(first));
  });

  test('a node never investigated has none yet', async () => {
    const { command } = await setupWithSlack();
    expect(text(await command('status prod aks-nodepool1-31415926-vmss000000'))).toContain('none yet.');
  });

  test('an IP is refused: registries are kept by node name', async () => {
    const { host, command } = await setupWithSlack();
    const response = await command('status prod 10.224.0.5');
    expect(text(response)).toContain(`"10.224.0.5" is an IP: a node's investigations are kept by its name`);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a channel that may not diagnose the cluster is refused', async () => {
    const { command } = await setupWithSlack();
    const response = await command(`status prod ${NODE}`, { channel_id: OTHER_CHANNEL });
    expect(text(response)).toMatch(/Cluster `prod` cannot be diagnosed from this channel/);
  });
});

describe('issue 14: every run is kept', () => {
  test('a re-run after the first finished is a new investigation with a report message of its own (item 5)', async () => {
    const { host, command, channelMessages } = await setupWithSlack();
    const first = startedId(await command(`diagnose prod ${NODE}`));
    const firstReport = (await host.waitForCompletion(first)).output as Report;
    const second = startedId(await command(`diagnose prod ${NODE}`));
    const secondReport = (await host.waitForCompletion(second)).output as Report;

    expect(second).not.toBe(first);
    expect((await host.listInstances()).map((i) => i.instanceId).sort()).toEqual([first, second].sort());
    for (const report of [firstReport, secondReport]) expect(report.joined).toBeUndefined();
    // Two messages in the channel, each its own run's report: the second did not edit the first in place.
    const messages = channelMessages(CHANNEL);
    expect(messages.map(keyOf)).toEqual([
      { instance_id: first, kind: 'report' },
      { instance_id: second, kind: 'report' },
    ]);
    for (const message of messages) {
      expect(message.edits).toBe(1); // its placeholder, replaced by its report
      expect(message.text).toMatch(/checkout-api/);
    }
  });
});

describe('issue 14: a channel that joins an investigation started elsewhere gets its report (item 9)', () => {
  test.each([
    ['by name: joined at the start, from the node’s registry', NODE, 'joined'],
    ['by IP: its own investigation joins once it has located the node', '10.224.0.5', 'started'],
  ])('%s', async (_name, node, outcome) => {
    const { host, command, gate, channelMessages } = await setupWithSlack();
    const hold = gate.hold();
    const holder = startedId(await command(`diagnose prod ${NODE}`));
    await hold.reached; // the first channel's investigation holds the node, mid-capture

    // Alice, in the shared channel, through the same cluster's other alias.
    const second = await command(`diagnose prod-restricted ${node}`, { channel_id: SHARED_CHANNEL });
    const secondId = startedId(second);
    if (outcome === 'joined') {
      expect(text(second)).toContain('is already under investigation: you joined it');
      expect(secondId).toBe(holder);
    } else {
      expect(secondId).not.toBe(holder);
      const joined = (await host.waitForCompletion(secondId)).output as Report;
      expect(joined.joined).toMatchObject({ instanceId: holder });
      // Its own report says whom it joined, and that that report follows here.
      const [own] = channelMessages(SHARED_CHANNEL).filter((m) => keyOf(m)?.instance_id === secondId);
      expect(visibleText(own)).toContain(`Already under investigation by \`${holder}\``);
    }
    await host.entityIdle(registryId(nodeKey(SANDBOX_CLUSTER, NODE)));
    hold.release();
    const report = (await host.waitForCompletion(holder)).output as Report;
    expect(report.joined).toBeUndefined();

    // The holder's report, in the channel that asked for it and in the one that joined it.
    for (const channel of [CHANNEL, SHARED_CHANNEL]) {
      const posted = channelMessages(channel).filter((m) => keyOf(m)?.instance_id === holder);
      expect(posted).toHaveLength(1);
      expect(posted[0]?.text).toMatch(/checkout-api/);
    }
    // One probe ran on the node: the joiner ran nothing there.
    expect(gate.captures).toEqual([NODE]);
    expect(await host.listInstances()).toHaveLength(outcome === 'joined' ? 1 : 2);
  });
});
