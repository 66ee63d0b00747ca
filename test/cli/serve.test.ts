// `snat-doctor serve` as a user drives it: a signed /snat diagnose posted to the local endpoint starts an
// investigation on the sandbox, and the sandbox's Slack records the report and the progress thread.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { start } from '../../lib/cli/serve.ts';

const SECRET = '8f14e45fceea167a5a36dedd4bea2543';
let served: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  process.env.SLACK_SIGNING_SECRET = SECRET;
  delete process.env.SLACK_BOT_TOKEN;
  served = await start({ port: 0 });
});
afterAll(async () => {
  await served.close();
  delete process.env.SLACK_SIGNING_SECRET;
});

function signed(body: string, timestamp = Math.floor(Date.now() / 1000)) {
  const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
    },
    body,
  };
}

const command = (text: string) =>
  new URLSearchParams({
    team_id: 'T0SANDBOX',
    channel_id: 'C0SANDBOX',
    user_id: 'U0ALICE',
    command: '/snat',
    text,
    response_url: 'http://127.0.0.1:9/unused',
    trigger_id: '1',
  }).toString();

describe('snat-doctor serve', () => {
  test('a signed /snat diagnose starts an investigation whose report and progress land in the sandbox Slack', async () => {
    const ack = await fetch(`${served.url}/api/slack/events`, signed(command('diagnose --seconds 5')));
    expect(ack.status).toBe(200);
    const { text } = (await ack.json()) as { text: string };
    const id = /`(snat:[^`]+)`/.exec(text)?.[1];
    expect(id).toBeDefined();
    let status: { runtimeStatus?: string } = {};
    while (status.runtimeStatus !== 'Completed' && status.runtimeStatus !== 'Failed') {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await (
        await fetch(
          `${served.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id!)}?code=${served.key}`,
        )
      ).json()) as { runtimeStatus?: string };
    }
    expect(status.runtimeStatus).toBe('Completed');
    const state = (await (
      await fetch(`${served.url}/api/investigations/${encodeURIComponent(id!)}?code=${served.key}`)
    ).json()) as {
      report: { culprits: { pod: string }[] };
    };
    expect(state.report.culprits[0]?.pod).toMatch(/^checkout-api-/);
    const messages = (await (await fetch(`${served.url}/sandbox/slack/messages?code=${served.key}`)).json()) as {
      threadTs?: string;
      text: string;
    }[];
    expect(messages.filter((m) => !m.threadTs).map((m) => m.text)).toEqual([expect.stringMatching(/checkout-api/)]);
    expect(messages.filter((m) => m.threadTs)).toHaveLength(1);
  });

  test('a request with a wrong signature gets 401 and starts nothing', async () => {
    const request = signed(command('diagnose'));
    request.headers['x-slack-signature'] = 'v0=0000';
    const response = await fetch(`${served.url}/api/slack/events`, request);
    expect(response.status).toBe(401);
  });
});

// Issue 14: serve took a cross-site `text/plain` POST (Origin: https://evil.example) and started a privileged probe.
describe('who may call the starter and the status', () => {
  const body = JSON.stringify({
    cluster: {
      subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
      resourceGroup: 'rg-payments-prod',
      name: 'aks-prod',
    },
    node: '10.224.0.4',
  });
  const post = (query: string, headers: Record<string, string> = {}) =>
    fetch(`${served.url}/api/investigations${query}`, { method: 'POST', headers, body });

  test('a web page cannot: its cross-site text/plain POST is refused, key or not, and starts nothing', async () => {
    for (const query of ['', `?code=${served.key}`]) {
      const response = await post(query, { 'content-type': 'text/plain', origin: 'https://evil.example' });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { message: string }).message).toMatch(/takes no calls from web pages/);
    }
    expect(await served.unfinished()).toEqual([]);
  });

  test('a caller without the key gets 401 saying where the key is; with it, 202', async () => {
    const refused = await post('');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toMatch(/\?code=KEY/);
    expect((await fetch(`${served.url}/api/investigations/x`)).status).toBe(401);
    const started = await post('', { 'x-functions-key': served.key });
    expect(started.status).toBe(202);
    const links = (await started.json()) as { instanceId: string; statusQueryGetUri: string };
    // The links it hands back carry the key, as the Durable extension's carry theirs; followed to the end, so no
    // investigation outlives the test.
    for (;;) {
      const status = await fetch(links.statusQueryGetUri);
      expect(status.status).toBe(200);
      const { runtimeStatus } = (await status.json()) as { runtimeStatus: string };
      if (runtimeStatus === 'Completed' || runtimeStatus === 'Failed') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  // Issue 14, item 6: the starter took any cluster its identity could reach. serve is set up for its sandbox's cluster.
  test('the starter refuses a cluster other than the one served with 403 and starts nothing', async () => {
    const elsewhere = {
      cluster: {
        subscriptionId: '00000000-0000-4000-8000-000000000000',
        resourceGroup: 'rg-payments-prod',
        name: 'aks-prod',
      },
      node: 'aks-nodepool1-31415926-vmss000001',
    };
    const response = await fetch(`${served.url}/api/investigations?code=${served.key}`, {
      method: 'POST',
      body: JSON.stringify(elsewhere),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: 'CLUSTER_NOT_ALLOWED',
      message: expect.stringMatching(/^Cluster rg-payments-prod\/aks-prod is not one this app is set up for/),
    });
    expect(await served.unfinished()).toEqual([]);
  });

  test('DNS rebinding: a request under another Host name is refused', async () => {
    const port = new URL(served.url).port;
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: `/api/investigations/x?code=${served.key}`,
          headers: { host: `evil.example:${port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});

describe('GET /api/investigations?subscriptionId=&resourceGroup=&cluster=&node=', () => {
  const NODE = 'aks-nodepool1-31415926-vmss000002';
  const cluster = {
    subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
    resourceGroup: 'rg-payments-prod',
    name: 'aks-prod',
  };
  const list = (query: Record<string, string>, { withKey = true } = {}) =>
    fetch(
      `${served.url}/api/investigations?${new URLSearchParams({
        subscriptionId: cluster.subscriptionId,
        resourceGroup: cluster.resourceGroup,
        cluster: cluster.name,
        node: NODE,
        ...query,
        ...(withKey ? { code: served.key } : {}),
      })}`,
    );

  test('lists the node’s investigation once it ran; needs the key; 404 for a cluster not served', async () => {
    const started = await fetch(`${served.url}/api/investigations?code=${served.key}`, {
      method: 'POST',
      body: JSON.stringify({ cluster, node: NODE, seconds: 5 }),
    });
    expect(started.status).toBe(202);
    const { instanceId } = (await started.json()) as { instanceId: string };
    for (;;) {
      const state = (await (
        await fetch(`${served.url}/api/investigations/${encodeURIComponent(instanceId)}?code=${served.key}`)
      ).json()) as { runtimeStatus: string };
      if (state.runtimeStatus === 'Completed' || state.runtimeStatus === 'Failed') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const listed = await list({});
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({
      cluster,
      node: NODE,
      history: [{ instanceId, startedAt: expect.any(String), finishedAt: expect.any(String), outcome: 'completed' }],
    });
    expect((await list({}, { withKey: false })).status).toBe(401);
    expect((await list({ subscriptionId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
    expect((await list({ node: '10.224.0.6' })).status).toBe(400);
  });
});

// Found re-running issue 14's attack: the Durable status route answered for an investigation of a cluster other than
// the served one (Slack may start one on any cluster its access allows), which GET /api/investigations/{id} hides.
describe('the Durable status route, for a cluster other than the one served', () => {
  const STAGING = {
    subscriptionId: '11111111-2222-3333-4444-555555555555',
    resourceGroup: 'rg-payments-prod',
    name: 'aks-prod',
  };
  let other: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    process.env.SNAT_DOCTOR_SLACK_ACCESS = JSON.stringify({
      clusters: [
        {
          alias: 'prod',
          subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c',
          resourceGroup: 'rg-payments-prod',
          name: 'aks-prod',
          channels: ['C0SANDBOX'],
          users: [],
        },
        { alias: 'staging', ...STAGING, channels: ['C0STAGE01'], users: [] },
      ],
    });
    other = await start({ port: 0 });
  });
  afterAll(async () => {
    await other.close();
    delete process.env.SNAT_DOCTOR_SLACK_ACCESS;
  });

  test('reads as not found, as the status route does', async () => {
    const body = new URLSearchParams(command('diagnose staging --seconds 5'));
    body.set('channel_id', 'C0STAGE01');
    const ack = await fetch(`${other.url}/api/slack/events`, signed(body.toString()));
    const id = /`(snat:[^`]+)`/.exec(((await ack.json()) as { text: string }).text)?.[1];
    expect(id).toContain(STAGING.subscriptionId);
    const path = `${encodeURIComponent(id!)}?code=${other.key}`;
    expect((await fetch(`${other.url}/runtime/webhooks/durabletask/instances/${path}`)).status).toBe(404);
    expect((await fetch(`${other.url}/api/investigations/${path}`)).status).toBe(404);
  });
});
