// Posting to Slack through the real WebClient against the sandbox's Slack Web API on 127.0.0.1: messages carry their
// key and a retried post updates instead of duplicating, throttling and faults surface at once as TransientError with
// the Retry-After (the client neither sleeps nor retries), and configuration mistakes say how to fix them.
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import {
  createSlackPoster,
  MESSAGE_EVENT_TYPE,
  type MessageKey,
  type SlackMessage,
  type SlackPoster,
} from '../../lib/adapters/slack.ts';
import { retryAfterFrom, SnatDoctorError, TransientError } from '../../lib/errors.ts';
import {
  type PostedSlackMessage,
  type SlackServer,
  type SlackServerOptions,
  startSlackServer,
} from '../../lib/sandbox/slackServer.ts';
import { createSandboxCertificate, type SandboxCertificate } from '../../lib/sandbox/tls.ts';

const TOKEN = 'xoxb-1111-2222-sandbox';
const CHANNEL = 'C0SNATOPS1';
const INSTANCE = 'snat-aks-prod-aks-nodepool1-31415926-vmss000001';

let cert: SandboxCertificate;
const servers: SlackServer[] = [];

beforeAll(async () => {
  cert = await createSandboxCertificate();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Setup {
  server: SlackServer;
  slack: SlackPoster;
}

/** The fake Slack and a poster talking to it: over HTTPS trusting only the sandbox CA, or plain HTTP (global fetch). */
async function setUp(
  server: Partial<SlackServerOptions> = {},
  poster: { token?: string; timeoutMs?: number; https?: boolean } = {},
): Promise<Setup> {
  const https = poster.https ?? true;
  const slackServer = await startSlackServer({ token: TOKEN, ...(https ? { cert } : {}), ...server });
  servers.push(slackServer);
  const slack = createSlackPoster({
    token: poster.token ?? TOKEN,
    apiUrl: slackServer.url,
    ...(https ? { tlsCa: cert.cert } : {}),
    ...(poster.timeoutMs ? { timeoutMs: poster.timeoutMs } : {}),
  });
  return { server: slackServer, slack };
}

function message(text = 'SNAT report', overrides: Partial<SlackMessage> = {}): SlackMessage {
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${text}*` } }], ...overrides };
}

function key(kind: MessageKey['kind'] = 'report', instanceId = INSTANCE): MessageKey {
  return { instanceId, kind };
}

function metadataOf(k: MessageKey) {
  return { event_type: MESSAGE_EVENT_TYPE, event_payload: { instance_id: k.instanceId, kind: k.kind } };
}

/** What the channel shows: ephemeral messages were only ever seen by one user. */
function channelMessages(server: SlackServer): PostedSlackMessage[] {
  return server.messages().filter((m) => m.ephemeralTo === undefined);
}

function callsTo(server: SlackServer, method: string) {
  return server.calls.filter((c) => c.method === method);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('posting through the real WebClient', () => {
  test.each([
    { transport: 'HTTPS, trusting only the sandbox CA', https: true },
    { transport: 'plain HTTP, through the global fetch', https: false },
  ])('posts a report carrying its key, then updates it in place ($transport)', async ({ https }) => {
    const { server, slack } = await setUp({}, { https });

    const posted = await slack.postReport(CHANNEL, message('3 pods use 1,010 of 1,024 ports'), key());
    expect(posted).toEqual({ ts: expect.stringMatching(/^\d+\.\d{6}$/), channel: CHANNEL, reused: false });
    await slack.updateMessage(CHANNEL, posted.ts, message('Resolved'));

    expect(channelMessages(server)).toEqual([
      expect.objectContaining({
        channel: CHANNEL,
        ts: posted.ts,
        text: 'Resolved',
        blocks: message('Resolved').blocks,
        // chat.update without metadata keeps the message's key.
        metadata: metadataOf(key()),
        edits: 1,
      }),
    ]);
    expect(server.calls.map((c) => c.method)).toEqual([
      'auth.test',
      'conversations.history',
      'chat.postMessage',
      'chat.update',
    ]);
    // The WebClient sends form bodies: structured arguments travel as JSON strings, the token in the header.
    expect(callsTo(server, 'chat.postMessage')[0]).toMatchObject({
      token: TOKEN,
      params: { channel: CHANNEL, metadata: JSON.stringify(metadataOf(key())) },
    });
    expect(callsTo(server, 'conversations.history')[0]?.params).toMatchObject({
      include_all_metadata: 'true',
      limit: '15',
    });
  });

  test.each([
    ['a direct message', { id: 'D0123ABCDE', name: 'dm-with-sre', kind: 'im' as const }],
    ['a group DM', { id: 'G0123ABCDE', name: 'mpdm-sre-oncall', kind: 'mpim' as const }],
    ['a private channel', { id: 'C0456PRIVA', name: 'sre-private', private: true }],
  ])('a /snat in %s: the history lookup has the scope the manifest requests for it', async (_name, channel) => {
    const { server, slack } = await setUp({ channels: [channel] });
    const posted = await slack.postReport(channel.id, message(), key());
    expect(posted).toMatchObject({ channel: channel.id, reused: false });
    expect(callsTo(server, 'conversations.history')[0]?.error).toBeUndefined();
  });

  test('asks auth.test once per poster, not once per post', async () => {
    const { server, slack } = await setUp();
    await slack.postReport(CHANNEL, message(), key('progress'));
    await slack.postReport(CHANNEL, message(), key('report'));
    expect(callsTo(server, 'auth.test')).toHaveLength(1);
  });

  test('an ephemeral message reaches only its user and never counts as a posted report', async () => {
    const { server, slack } = await setUp();
    await slack.postEphemeral(CHANNEL, 'U0ASKER001', message('You may not diagnose cluster aks-prod.'));
    const posted = await slack.postReport(CHANNEL, message(), key());

    expect(posted.reused).toBe(false);
    expect(server.messages()).toEqual([
      expect.objectContaining({ text: 'You may not diagnose cluster aks-prod.', ephemeralTo: 'U0ASKER001' }),
      expect.objectContaining({ ts: posted.ts, text: 'SNAT report' }),
    ]);
  });
});

describe('rate limits and faults surface at once as TransientError', () => {
  test('a 429 becomes a TransientError with the Retry-After seconds; the client neither waits nor retries', async () => {
    const { server, slack } = await setUp({
      faults: [{ method: 'chat.postMessage', error: 'ratelimited', retryAfterSeconds: 7, times: 1 }],
    });
    const started = Date.now();
    const error = await failure(slack.postReport(CHANNEL, message(), key()));

    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryAfterSeconds).toBe(7);
    // What crosses the Durable boundary is the message, and the Retry-After travels in it.
    expect(retryAfterFrom(error.message)).toBe(7);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(callsTo(server, 'chat.postMessage')).toHaveLength(1);
    expect(channelMessages(server)).toEqual([]);

    // The orchestrator's retry, after the wait, posts once.
    await expect(slack.postReport(CHANNEL, message(), key())).resolves.toMatchObject({ reused: false });
    expect(channelMessages(server)).toHaveLength(1);
  });

  test.each([
    {
      scenario: 'the lookup before posting is rate-limited',
      fault: { method: 'conversations.history', error: 'ratelimited', retryAfterSeconds: 30 },
      expected: /Slack rate-limited conversations\.history\. \(retry after 30 s\)/,
    },
    {
      scenario: 'Slack answers HTTP 500',
      fault: { method: 'chat.postMessage', error: 'server-error' },
      expected: /Slack answered HTTP 500 to chat\.postMessage/,
    },
    {
      scenario: 'Slack never answers',
      fault: { method: 'chat.postMessage', error: 'timeout' },
      expected: /Slack did not answer chat\.postMessage within 300 ms/,
    },
  ] as const)('$scenario → TransientError', async ({ fault, expected }) => {
    const { server, slack } = await setUp({ faults: [{ ...fault, times: 1 }] }, { timeoutMs: 300 });
    const error = await failure(slack.postReport(CHANNEL, message(), key()));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toMatch(expected);
    // One attempt: the client's own retries are off, so the orchestrator's back-off is the only one.
    expect(callsTo(server, fault.method)).toHaveLength(1);
    expect(channelMessages(server)).toEqual([]);
  });
});

describe('a retried post never duplicates the message', () => {
  test.each([
    { transport: 'HTTPS', https: true },
    { transport: 'plain HTTP', https: false },
  ])(
    'the post reached Slack but its answer was lost: the retry finds it and updates it ($transport)',
    async ({ https }) => {
      const { server, slack } = await setUp(
        { faults: [{ method: 'chat.postMessage', error: 'post-then-drop', times: 1 }] },
        { https },
      );

      const error = await failure(slack.postReport(CHANNEL, message('attempt 1'), key()));
      expect(error).toBeInstanceOf(TransientError);
      expect(channelMessages(server)).toHaveLength(1);

      const retried = await slack.postReport(CHANNEL, message('attempt 2'), key());
      expect(retried.reused).toBe(true);
      expect(channelMessages(server)).toEqual([
        expect.objectContaining({ ts: retried.ts, text: 'attempt 2', metadata: metadataOf(key()), edits: 1 }),
      ]);
      expect(callsTo(server, 'chat.postMessage')).toHaveLength(1);
    },
  );

  test.each([
    {
      scenario: "this app's message for another investigation",
      before: async ({ slack }: Setup) => {
        await slack.postReport(CHANNEL, message(), key('report', 'snat-aks-prod-other-node'));
      },
    },
    {
      scenario: "this investigation's progress message (another kind)",
      before: async ({ slack }: Setup) => {
        await slack.postReport(CHANNEL, message(), key('progress'));
      },
    },
    {
      scenario: 'another app posting with the same key',
      before: async ({ server }: Setup) => {
        server.postAsOther({ channel: CHANNEL, text: 'copy', botId: 'B0OTHERAPP', metadata: metadataOf(key()) });
      },
    },
    {
      scenario: 'a person talking in the channel',
      before: async ({ server }: Setup) => {
        server.postAsOther({ channel: CHANNEL, text: 'is prod slow for anyone?' });
      },
    },
  ])('is not fooled by $scenario', async ({ before }) => {
    const setup = await setUp();
    await before(setup);
    const posted = await setup.slack.postReport(CHANNEL, message(), key());
    expect(posted.reused).toBe(false);
    expect(channelMessages(setup.server)).toHaveLength(2);
  });
});

describe('progress in the channel, the report in its thread', () => {
  test('the report is a reply; a retried report updates that reply, and progress updates keep their key', async () => {
    const { server, slack } = await setUp();

    const progress = await slack.postReport(CHANNEL, message('Investigating aks-nodepool1…'), key('progress'));
    const report = await slack.postReport(CHANNEL, message('Report'), key('report'), progress.ts);
    expect(report).toMatchObject({ channel: CHANNEL, reused: false });
    await slack.updateMessage(CHANNEL, progress.ts, message('Done: the report is in the thread'));

    const again = await slack.postReport(CHANNEL, message('Report, retried'), key('report'), progress.ts);
    expect(again).toEqual({ ts: report.ts, channel: CHANNEL, reused: true });
    // Retrying the progress message finds it in the channel, past its thread.
    await expect(slack.postReport(CHANNEL, message('Investigating…'), key('progress'))).resolves.toMatchObject({
      ts: progress.ts,
      reused: true,
    });

    expect(channelMessages(server)).toEqual([
      expect.objectContaining({ ts: progress.ts, metadata: metadataOf(key('progress')), text: 'Investigating…' }),
      expect.objectContaining({
        ts: report.ts,
        threadTs: progress.ts,
        metadata: metadataOf(key('report')),
        text: 'Report, retried',
      }),
    ]);
    expect(callsTo(server, 'conversations.replies')[0]?.params).toMatchObject({ ts: progress.ts });
  });
});

describe('configuration mistakes say how to fix them', () => {
  test.each([
    {
      scenario: 'a token Slack does not accept',
      server: {},
      token: 'xoxb-revoked',
      code: 'FORBIDDEN',
      advice:
        /did not accept the bot token \(invalid_auth.*set SLACK_BOT_TOKEN to the app's Bot User OAuth Token \(xoxb-/,
    },
    {
      scenario: 'the app not invited to the channel',
      server: { channels: [{ id: CHANNEL, name: 'snat-ops', member: false }] },
      code: 'FORBIDDEN',
      advice: /not a member of channel C0SNATOPS1: invite it \(`\/invite @snat-doctor` in the channel\)/,
    },
    {
      scenario: 'a private channel the app is not in',
      server: { channels: [{ id: CHANNEL, name: 'snat-ops', member: false, private: true }] },
      code: 'FORBIDDEN',
      advice: /no channel C0SNATOPS1 that the app can see: check the channel id.*invite the app/,
    },
    {
      scenario: 'an archived channel',
      server: { channels: [{ id: CHANNEL, name: 'snat-ops', archived: true }] },
      code: 'BAD_ARGUMENT',
      advice: /archived: unarchive it, or send snat-doctor's reports to another channel/,
    },
  ])('$scenario', async ({ server: serverOptions, token, code, advice }) => {
    const { server, slack } = await setUp(serverOptions, { ...(token ? { token } : {}) });
    const error = await failure(slack.postReport(CHANNEL, message(), key()));
    expect(error).toBeInstanceOf(SnatDoctorError);
    expect(error).not.toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code });
    expect(error.message).toMatch(advice);
    expect(channelMessages(server)).toEqual([]);
  });

  test('a report beyond Block Kit limits is refused, naming the block (a rendering bug, not worth retrying)', async () => {
    const { slack } = await setUp();
    const blocks = Array.from({ length: 51 }, (_, i) => ({ type: 'section', text: { type: 'mrkdwn', text: `${i}` } }));
    const error = await failure(slack.postReport(CHANNEL, message('too long', { blocks }), key()));
    expect(error).toMatchObject({ code: 'INTERNAL', context: { slackError: 'invalid_blocks' } });
    expect(error.message).toMatch(/invalid_blocks \(must provide at most 50 items \[json-pointer:\/blocks\]/);
  });
});

describe("the sandbox's Slack Web API", () => {
  /** A raw call, as any Slack client would make it. */
  async function raw(server: SlackServer, method: string, body: string, contentType: string, token = TOKEN) {
    const answer = await fetch(`${server.url}${method}`, {
      method: 'POST',
      headers: { 'Content-Type': contentType, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body,
    });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  }

  test('takes JSON bodies as Slack does, and shows metadata only when asked', async () => {
    const server = await startSlackServer({ token: TOKEN });
    servers.push(server);
    const post = await raw(
      server,
      'chat.postMessage',
      JSON.stringify({ channel: CHANNEL, text: 'hi', metadata: metadataOf(key()) }),
      'application/json',
    );
    expect(post).toEqual({
      status: 200,
      body: expect.objectContaining({
        ok: true,
        channel: CHANNEL,
        ts: expect.any(String),
        message: expect.objectContaining({ text: 'hi', bot_id: 'B0SNATBOT1' }),
        warning: 'missing_charset',
      }),
    });

    const history = async (form: string) =>
      (await raw(server, 'conversations.history', form, 'application/x-www-form-urlencoded')).body;
    expect(await history(`channel=${CHANNEL}`)).toMatchObject({
      ok: true,
      has_more: false,
      messages: [expect.not.objectContaining({ metadata: expect.anything() })],
    });
    expect(await history(`channel=${CHANNEL}&include_all_metadata=true`)).toMatchObject({
      messages: [expect.objectContaining({ metadata: metadataOf(key()) })],
    });
  });

  test("answers Slack's errors in Slack's envelope", async () => {
    const server = await startSlackServer({ token: TOKEN });
    servers.push(server);
    const form = 'application/x-www-form-urlencoded';
    expect(await raw(server, 'chat.postMessage', `channel=${CHANNEL}&text=x`, form, '')).toEqual({
      status: 200,
      body: { ok: false, error: 'not_authed' },
    });
    expect(await raw(server, 'chat.postMessage', `channel=${CHANNEL}`, form)).toEqual({
      status: 200,
      body: { ok: false, error: 'no_text' },
    });
    expect((await raw(server, 'chat.update', `channel=${CHANNEL}&ts=1.000001&text=x`, form)).body).toEqual({
      ok: false,
      error: 'message_not_found',
    });
    // The token may come in a form body too.
    expect((await raw(server, 'auth.test', `token=${TOKEN}`, form, '')).body).toMatchObject({
      ok: true,
      bot_id: 'B0SNATBOT1',
    });
  });
});

describe('no traffic beyond 127.0.0.1', () => {
  /** The host of every socket opened while `run` runs (TLS and global fetch both connect through net.Socket). */
  async function hostsContacted(run: () => Promise<unknown>): Promise<string[]> {
    const hosts: string[] = [];
    const original = net.Socket.prototype.connect;
    const spy = jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket, ...args) {
      const first = Array.isArray(args[0]) ? args[0][0] : args[0];
      if (first !== null && typeof first === 'object') {
        const options = first as { host?: string; path?: string };
        if (options.path === undefined) hosts.push(options.host ?? 'localhost');
      } else if (typeof args[1] === 'string') {
        hosts.push(args[1]);
      }
      return (original as (...a: unknown[]) => net.Socket).apply(this, args);
    });
    try {
      await run().catch(() => undefined);
    } finally {
      spy.mockRestore();
    }
    return hosts;
  }

  test('a post, its lookup and its update reach only the sandbox, over either transport', async () => {
    const secure = await setUp();
    const plain = await setUp({}, { https: false });
    const hosts = await hostsContacted(async () => {
      for (const { slack } of [secure, plain]) {
        const posted = await slack.postReport(CHANNEL, message(), key());
        await slack.updateMessage(CHANNEL, posted.ts, message('updated'));
      }
    });
    expect(hosts.length).toBeGreaterThan(0);
    expect(new Set(hosts)).toEqual(new Set(['127.0.0.1']));
    expect(channelMessages(secure.server)).toHaveLength(1);
    expect(channelMessages(plain.server)).toHaveLength(1);
  });

  test('without apiUrl the poster would go to slack.com, which the test guard refuses before any packet', async () => {
    const slack = createSlackPoster({ token: TOKEN });
    let error: Error | undefined;
    const hosts = await hostsContacted(async () => {
      error = await failure(slack.postReport(CHANNEL, message(), key()));
    });
    expect(hosts).toEqual(['slack.com']);
    expect(error).toBeInstanceOf(TransientError);
  });
});
