// The Azure Functions receiver on its own: a real Bolt App with test listeners, real HttpRequests signed here.
import { describe, expect, test } from '@jest/globals';
import { App } from '@slack/bolt';
import { AzureFunctionsReceiver, type ReceiverContext } from '../../lib/slack/receiver.ts';
import {
  BOT,
  BOT_TOKEN,
  commandBody,
  manualTimer,
  nowSeconds,
  recordingLogger,
  SIGNING_SECRET,
  type SignedOptions,
  signedRequest,
} from './support.ts';

type Listener = (args: { ack: (response?: unknown) => Promise<void>; context: ReceiverContext }) => Promise<void>;

/** A Bolt app whose `/snat` listener is the test's; counts how often a listener ran. */
function setup(listener: Listener = async ({ ack }) => ack({ text: 'ok' }), options: { timer?: boolean } = {}) {
  const logger = recordingLogger();
  const clock = manualTimer();
  const receiver = new AzureFunctionsReceiver({
    signingSecret: SIGNING_SECRET,
    logger,
    ...(options.timer === false ? {} : { timer: clock.timer }),
  });
  const app = new App({ receiver, token: BOT_TOKEN, ...BOT, logger, tokenVerificationEnabled: false });
  const ran = { command: 0, action: 0 };
  app.command('/snat', async (args) => {
    ran.command++;
    await listener(args as unknown as Parameters<Listener>[0]);
  });
  app.action('snat_rerun', async ({ ack }) => {
    ran.action++;
    await ack();
  });
  const send = (body: string, signed: SignedOptions = {}) => receiver.handle(signedRequest(body, signed));
  return { receiver, logger, clock, ran, send };
}

describe('signature', () => {
  test('a correctly signed slash command reaches its listener and its ack is the answer', async () => {
    const { ran, send } = setup();
    const response = await send(commandBody('help'));
    expect(response).toMatchObject({ status: 200, jsonBody: { text: 'ok' } });
    expect(ran.command).toBe(1);
  });

  test('a request signed 4 minutes ago is inside the window', async () => {
    const { ran, send } = setup();
    expect((await send(commandBody('help'), { timestamp: nowSeconds() - 240 })).status).toBe(200);
    expect(ran.command).toBe(1);
  });

  test.each<[string, SignedOptions | ((body: string) => SignedOptions)]>([
    ['signed with another secret', { secret: 'b'.repeat(32) }],
    ['a signature that is not hex', { headers: { 'x-slack-signature': 'v0=zzz' } }],
    [
      'an unknown signature version',
      (body) => ({ headers: { 'x-slack-signature': `v1=${'0'.repeat(64)}${body.length}` } }),
    ],
    ['signed 6 minutes ago (stale)', { timestamp: nowSeconds() - 360 }],
    ['signed 6 minutes in the future', { timestamp: nowSeconds() + 360 }],
    ['no signature header', { headers: { 'x-slack-signature': undefined } }],
    ['no timestamp header', { headers: { 'x-slack-request-timestamp': undefined } }],
    ['a timestamp that is not a number', { headers: { 'x-slack-request-timestamp': '1e9' } }],
    ['an empty signature', { headers: { 'x-slack-signature': '' } }],
  ])('401 and no listener for %s', async (_name, signed) => {
    const { ran, send, logger } = setup();
    const body = commandBody('diagnose');
    const response = await send(body, typeof signed === 'function' ? signed(body) : signed);
    expect(response.status).toBe(401);
    expect(ran.command).toBe(0);
    expect(logger.lines.join('\n')).toMatch(/Refused a request/);
  });

  test('401 when the body was changed after signing', async () => {
    const { ran, receiver } = setup();
    const timestamp = nowSeconds();
    const signed = signedRequest(commandBody('help'), { timestamp });
    const tampered = signedRequest(commandBody('diagnose prod'), {
      timestamp,
      headers: { 'x-slack-signature': signed.headers.get('x-slack-signature') ?? '' },
    });
    expect((await receiver.handle(tampered)).status).toBe(401);
    expect(ran.command).toBe(0);
  });

  test('ssl_check gets an empty 200, signed or not, and nothing smuggled with it runs', async () => {
    const { ran, send } = setup();
    expect(await send('ssl_check=1&token=x')).toMatchObject({ status: 200, body: '' });
    const smuggled = `ssl_check=1&${commandBody('diagnose prod')}`;
    const unsigned = { headers: { 'x-slack-signature': undefined, 'x-slack-request-timestamp': undefined } };
    expect(await send(smuggled, unsigned)).toMatchObject({ status: 200, body: '' });
    expect(ran.command).toBe(0);
  });

  test('url_verification is answered with its challenge', async () => {
    const { send } = setup();
    const body = JSON.stringify({ type: 'url_verification', challenge: 'c-123', token: 'x' });
    expect(await send(body, { contentType: 'application/json; charset=utf-8' })).toMatchObject({
      status: 200,
      jsonBody: { challenge: 'c-123' },
    });
  });

  test('a signed body that is neither form nor JSON is a 400', async () => {
    const { send } = setup();
    expect((await send('not json', { contentType: 'text/plain' })).status).toBe(400);
  });
});

describe('bodies', () => {
  test('an interactive payload (form-encoded JSON in payload=) reaches the action listener', async () => {
    const { ran, send } = setup();
    const payload = {
      type: 'block_actions',
      user: { id: 'U0ALICE001', username: 'alice' },
      team: { id: 'T0TEAM0001', domain: 'contoso' },
      channel: { id: 'C0PAYMENTS', name: 'payments' },
      actions: [{ type: 'button', action_id: 'snat_rerun', block_id: 'b', value: '{}', action_ts: '1' }],
      response_url: 'http://127.0.0.1:9/unused',
      trigger_id: '1',
      api_app_id: 'A1',
      token: 'x',
    };
    const response = await send(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
    expect(response).toMatchObject({ status: 200, body: '' });
    expect(ran.action).toBe(1);
  });

  test('a request no listener handles is a 404', async () => {
    const { send } = setup();
    expect((await send(commandBody('help', { command: '/other' }))).status).toBe(404);
  });
});

describe('retries', () => {
  test('X-Slack-Retry-Num is answered 200 without running the listener again', async () => {
    const { ran, send } = setup();
    const response = await send(commandBody('diagnose'), {
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(response).toMatchObject({ status: 200, headers: { 'X-Slack-No-Retry': '1' } });
    expect(ran.command).toBe(0);
  });

  test('a retry with a bad signature is still a 401', async () => {
    const { send } = setup();
    const response = await send(commandBody('diagnose'), {
      secret: 'c'.repeat(32),
      headers: { 'x-slack-retry-num': '1' },
    });
    expect(response.status).toBe(401);
  });
});

describe('the ack deadline (a timer the test fires, no waiting)', () => {
  test('a listener that acks and then never finishes: the ack goes out at the deadline', async () => {
    const { send, clock } = setup(async ({ ack }) => {
      await ack({ text: 'acked first' });
      await new Promise(() => {}); // the slow part never ends
    });
    const answer = send(commandBody('diagnose'));
    await until(() => clock.started === 1);
    clock.fire();
    expect(await answer).toMatchObject({ status: 200, jsonBody: { text: 'acked first' } });
  });

  test('a listener racing its work against context.ackDeadline acks when it aborts, and that ack is the answer', async () => {
    const { send, clock } = setup(async ({ ack, context }) => {
      await new Promise((resolve) => context.ackDeadline.addEventListener('abort', resolve));
      await ack({ text: 'still working' });
    });
    const answer = send(commandBody('diagnose'));
    await until(() => clock.started === 1);
    clock.fire();
    expect(await answer).toMatchObject({ status: 200, jsonBody: { text: 'still working' } });
  });

  test('a listener that never acks: an empty 200 at the deadline, and the failure is logged', async () => {
    const { send, clock, logger } = setup(() => new Promise(() => {}));
    const answer = send(commandBody('diagnose'));
    await until(() => clock.started === 1);
    clock.fire();
    expect(await answer).toMatchObject({ status: 200, body: '' });
    expect(logger.lines.join('\n')).toMatch(/No listener acked within 2500 ms/);
  });

  test('a listener that finishes in time is answered without the timer firing', async () => {
    const { send, clock } = setup();
    expect((await send(commandBody('help'))).status).toBe(200);
    expect(clock.started).toBe(1);
  });

  test('with the real timer, a quick listener is answered as soon as it is done', async () => {
    const { send } = setup(undefined, { timer: false });
    expect((await send(commandBody('help'))).status).toBe(200);
  });
});

describe('listener failures', () => {
  test('a failure after the ack still answers with the ack', async () => {
    const { send, logger } = setup(async ({ ack }) => {
      await ack({ text: 'acked' });
      throw new Error('boom after ack');
    });
    expect(await send(commandBody('x'))).toMatchObject({ status: 200, jsonBody: { text: 'acked' } });
    expect(logger.lines.join('\n')).toMatch(/boom after ack/);
  });

  test('a failure before any ack is a 500', async () => {
    const { send } = setup(async () => {
      throw new Error('boom');
    });
    expect((await send(commandBody('x'))).status).toBe(500);
  });
});

/** Lets pending promise callbacks run until `condition` holds (bounded, so a bug fails instead of hanging). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('condition never held');
}
