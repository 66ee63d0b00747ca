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
        await fetch(`${served.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id!)}`)
      ).json()) as { runtimeStatus?: string };
    }
    expect(status.runtimeStatus).toBe('Completed');
    const state = (await (await fetch(`${served.url}/api/investigations/${encodeURIComponent(id!)}`)).json()) as {
      report: { culprits: { pod: string }[] };
    };
    expect(state.report.culprits[0]?.pod).toMatch(/^checkout-api-/);
    const messages = (await (await fetch(`${served.url}/sandbox/slack/messages`)).json()) as {
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
