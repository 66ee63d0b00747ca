// Posting to Slack through the Web API (@slack/web-api's WebClient; this is the only file importing it). Settings keep
// Bolt's names: the token is SLACK_BOT_TOKEN.
//
// Two things matter more here than anywhere else in the adapters:
//
// - A retried activity must never post twice. A post whose answer was lost (a dropped connection, a timeout) may well
//   have reached the channel, so every message carries Slack message metadata naming the investigation and the kind of
//   message; before posting, the channel (or the thread) is searched for our own message with that key, and when found
//   it is updated instead of posted again.
// - The orchestrator's retries are the only ones. The WebClient would otherwise retry ten times over about thirty
//   minutes and sleep out a 429 itself, hiding the Retry-After from the orchestrator and holding the activity open:
//   `retryConfig: { retries: 0 }` and `rejectRateLimitedCalls: true` turn both off, and every failure is mapped once,
//   here, to the vocabulary of lib/errors.ts — what is worth retrying becomes a TransientError carrying the
//   Retry-After, the rest say how to fix it.
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  type ChatPostMessageArguments,
  type FetchFunction,
  type Logger,
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { SnatDoctorError, TransientError } from '../errors.ts';
import type { SlackApi } from '../ports.ts';

/** Block Kit blocks, as chat.postMessage takes them. */
export type SlackBlocks = Extract<ChatPostMessageArguments, { blocks: unknown }>['blocks'];

export interface SlackMessage {
  /** Plain text: the notification, and what shows where blocks cannot. */
  text: string;
  blocks: SlackBlocks;
}

/** Which message of which investigation: at most one message per key is ever in a channel (or thread). */
export interface MessageKey {
  instanceId: string;
  kind: 'report' | 'progress';
}

export interface PostedMessage {
  ts: string;
  /** The channel's id, as Slack answered it. */
  channel: string;
  /** The message was already there (an earlier attempt posted it) and was updated instead of posted again. */
  reused: boolean;
}

export interface SlackPoster {
  /** Posts the message for `key`, or updates it when an earlier attempt already posted it. */
  postReport(channel: string, message: SlackMessage, key: MessageKey, thread?: string): Promise<PostedMessage>;
  /** Replaces a message's text and blocks; its metadata (and so its key) stays. */
  updateMessage(channel: string, ts: string, message: SlackMessage): Promise<void>;
  /** A message only `user` sees. Ephemeral messages cannot be looked up, so a retried call may show it twice. */
  postEphemeral(channel: string, user: string, message: SlackMessage): Promise<void>;
}

export interface SlackPosterOptions {
  /** The bot token (SLACK_BOT_TOKEN, `xoxb-…`). */
  token: string;
  /** The Web API's base URL, ending in `/api/`; default Slack's. The sandbox passes its own. */
  apiUrl?: string;
  /** A PEM CA certificate to trust instead of the public CAs (the sandbox's self-signed one). */
  tlsCa?: string;
  /** How long one call may go unanswered; default 30 s. */
  timeoutMs?: number;
}

/** The metadata event type that marks snat-doctor's messages. */
export const MESSAGE_EVENT_TYPE = 'snat_doctor_message';

/**
 * How many recent messages (of the channel, or of the thread) are searched for an earlier attempt's message. A retry
 * follows the lost attempt within minutes, so it is near the top. 15 is the most conversations.history and
 * conversations.replies return to apps outside the Slack Marketplace (Slack's rate-limit change of May 2025), so the
 * search works the same for every installation; it is one page, because those apps may call each method only once a
 * minute — a second page would be throttled, and the retried activity would start over at page one.
 */
export const LOOKUP_WINDOW = 15;

const DEFAULT_TIMEOUT_MS = 30_000;

const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

interface BotIdentity {
  botId: string;
}

export function createSlackPoster(options: SlackPosterOptions): SlackPoster {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new WebClient(options.token, {
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: timeoutMs,
    // A method name that looks like a URL must never carry the token to another host.
    allowAbsoluteUrls: false,
    // Failures reach the caller as our errors, with what Slack said; the client's own log would only repeat them.
    logger: silentLogger,
    ...(options.tlsCa ? { fetch: fetchTrusting(options.tlsCa) } : {}),
  });

  let identity: Promise<BotIdentity> | undefined;
  /** The bot user's name once auth.test has said it, for "/invite @name" advice. */
  let botName: string | undefined;

  const call = async <T>(method: string, target: SlackTarget, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw toSlackError(error, { method, timeoutMs, botName, ...target });
    }
  };

  /** Who the token posts as: only messages of this bot are ever reused. Asked once; a failure is asked again. */
  const botIdentity = (): Promise<BotIdentity> => {
    identity ??= call('auth.test', {}, () => client.auth.test()).then((answer) => {
      if (!answer.bot_id) {
        throw new SnatDoctorError(
          'BAD_ARGUMENT',
          'SLACK_BOT_TOKEN is not a bot token (auth.test names no bot): use the Bot User OAuth Token (xoxb-…) from the app’s OAuth & Permissions page.',
        );
      }
      botName = answer.user;
      return { botId: answer.bot_id };
    });
    identity.catch(() => {
      identity = undefined;
    });
    return identity;
  };

  /** The ts of our message for `key` among the recent messages of the channel (or the thread), if there is one. */
  const findPosted = async (channel: string, key: MessageKey, thread: string | undefined) => {
    const { botId } = await botIdentity();
    const page = thread
      ? await call('conversations.replies', { channel }, () =>
          client.conversations.replies({ channel, ts: thread, include_all_metadata: true, limit: LOOKUP_WINDOW }),
        )
      : await call('conversations.history', { channel }, () =>
          client.conversations.history({ channel, include_all_metadata: true, limit: LOOKUP_WINDOW }),
        );
    const mine = (page.messages ?? []).find((m) => m.bot_id === botId && m.ts && hasKey(m.metadata, key));
    return mine?.ts;
  };

  return {
    async postReport(channel, message, key, thread) {
      const posted = await findPosted(channel, key, thread);
      if (posted) {
        const answer = await call('chat.update', { channel, ts: posted }, () =>
          client.chat.update({ channel, ts: posted, text: message.text, blocks: message.blocks }),
        );
        return { ts: posted, channel: answer.channel ?? channel, reused: true };
      }
      const answer = await call('chat.postMessage', { channel }, () =>
        client.chat.postMessage({
          channel,
          text: message.text,
          blocks: message.blocks,
          metadata: { event_type: MESSAGE_EVENT_TYPE, event_payload: { instance_id: key.instanceId, kind: key.kind } },
          ...(thread ? { thread_ts: thread } : {}),
        }),
      );
      if (!answer.ts) throw new SnatDoctorError('INTERNAL', `Slack posted to ${channel} but answered no message ts.`);
      return { ts: answer.ts, channel: answer.channel ?? channel, reused: false };
    },

    async updateMessage(channel, ts, message) {
      // No metadata: chat.update keeps a message's metadata when the call carries none.
      await call('chat.update', { channel, ts }, () =>
        client.chat.update({ channel, ts, text: message.text, blocks: message.blocks }),
      );
    },

    async postEphemeral(channel, user, message) {
      await call('chat.postEphemeral', { channel, user }, () =>
        client.chat.postEphemeral({ channel, user, text: message.text, blocks: message.blocks }),
      );
    },
  };
}

function hasKey(
  metadata: { event_type?: string; event_payload?: Record<string, unknown> } | undefined,
  key: MessageKey,
) {
  return (
    metadata?.event_type === MESSAGE_EVENT_TYPE &&
    metadata.event_payload?.instance_id === key.instanceId &&
    metadata.event_payload?.kind === key.kind
  );
}

// ── Failures ────────────────────────────────────────────────────────────────────────────────────────────────────

/** What a call was about, for messages that say what to fix. */
interface SlackTarget {
  channel?: string;
  ts?: string;
  user?: string;
}

interface SlackCallContext extends SlackTarget {
  method: string;
  timeoutMs?: number;
  /** The bot user's name, once auth.test has said it. */
  botName?: string;
}

/** Slack's own "try again later" errors, answered in the body of an HTTP 200. */
const TRANSIENT_SLACK_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);
const TOKEN_ERRORS = new Set(['not_authed', 'invalid_auth', 'account_inactive', 'token_revoked', 'token_expired']);
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/;

/** The one normaliser at the Slack edge: WebClient errors (and transport errors under them) → lib/errors.ts. */
export function toSlackError(error: unknown, context: SlackCallContext): Error {
  if (error instanceof SnatDoctorError) return error;
  const { method } = context;
  if (error instanceof WebAPIRateLimitedError) {
    return new TransientError(`Slack rate-limited ${method}.`, { cause: error, retryAfterSeconds: error.retryAfter });
  }
  if (error instanceof WebAPIPlatformError) return fromPlatform(error, context);
  if (error instanceof WebAPIHTTPError) {
    const { statusCode } = error;
    if (statusCode === 429 || statusCode === 408 || statusCode >= 500) {
      return new TransientError(`Slack answered HTTP ${statusCode} to ${method}.`, {
        cause: error,
        retryAfterSeconds: retryAfterSeconds(error.headers['retry-after']),
      });
    }
    return new SnatDoctorError(
      'INTERNAL',
      `Slack answered HTTP ${statusCode} to ${method}: check the Slack API URL (it ends in /api/).`,
      { cause: error, context: { method, status: statusCode } },
    );
  }
  if (error instanceof WebAPIRequestError) return fromTransport(error.original, context);
  // With rejectRateLimitedCalls, a 429 whose Retry-After the client cannot read ends in a plain Error.
  if (error instanceof Error && /Retry header did not contain a valid timeout/.test(error.message)) {
    return new TransientError(`Slack rate-limited ${method}.`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SnatDoctorError('INTERNAL', `Slack call ${method} failed: ${message}`, { cause: error });
}

function fromPlatform(error: WebAPIPlatformError, context: SlackCallContext): Error {
  const { method, channel, user, ts } = context;
  const code = error.data.error;
  const options = { cause: error, context: { slackError: code, method, ...(channel ? { channel } : {}) } };
  const invite = `/invite @${context.botName ?? 'your-app'}`;
  if (TRANSIENT_SLACK_ERRORS.has(code)) {
    return new TransientError(`Slack answered ${code} to ${method}.`, {
      cause: error,
      retryAfterSeconds: error.data.response_metadata?.retryAfter,
    });
  }
  if (TOKEN_ERRORS.has(code)) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `Slack did not accept the bot token (${code}, on ${method}): set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…, on the app's OAuth & Permissions page); if the app was uninstalled or the token revoked, reinstall the app to the workspace and use its new token.`,
      options,
    );
  }
  switch (code) {
    case 'not_in_channel':
      return new SnatDoctorError(
        'FORBIDDEN',
        `The Slack app is not a member of channel ${channel}: invite it (\`${invite}\` in the channel), then ask again.`,
        options,
      );
    case 'channel_not_found':
      return new SnatDoctorError(
        'FORBIDDEN',
        `Slack has no channel ${channel} that the app can see: check the channel id (C…, from the channel's details), and if the channel is private, invite the app (\`${invite}\` in the channel).`,
        options,
      );
    case 'missing_scope': {
      const needed = (error.data as { needed?: unknown }).needed;
      return new SnatDoctorError(
        'FORBIDDEN',
        `The Slack app lacks the ${typeof needed === 'string' ? needed : ''} scope ${method} needs: add it under OAuth & Permissions → Bot Token Scopes, reinstall the app, and update SLACK_BOT_TOKEN.`,
        options,
      );
    }
    case 'is_archived':
      return new SnatDoctorError(
        'BAD_ARGUMENT',
        `Channel ${channel} is archived: unarchive it, or send snat-doctor's reports to another channel.`,
        options,
      );
    case 'user_not_in_channel':
      return new SnatDoctorError('BAD_ARGUMENT', `User ${user} is not in channel ${channel}.`, options);
    case 'message_not_found':
    case 'cant_update_message':
      return new SnatDoctorError(
        'BAD_ARGUMENT',
        `Slack cannot update message ${ts} in ${channel} (${code}): it was deleted, or was not posted by this app.`,
        options,
      );
    default: {
      // invalid_blocks, msg_too_long, invalid_metadata_format …: the message we built is wrong.
      const details = [
        ...(((error.data as { errors?: unknown }).errors as string[] | undefined) ?? []),
        ...(error.data.response_metadata?.messages ?? []),
      ];
      return new SnatDoctorError(
        'INTERNAL',
        `Slack refused ${method}: ${code}${details.length > 0 ? ` (${details.join('; ')})` : ''}.`,
        options,
      );
    }
  }
}

/** A request that got no answer: the connection failed, was cut, or our timeout ended it. */
function fromTransport(original: Error, context: SlackCallContext): Error {
  const { method } = context;
  // The WebClient aborts a call after `timeout` with AbortSignal.timeout, whose reason is a TimeoutError DOMException.
  // A DOMException from another realm (as under jest's vm) fails the client's `instanceof Error` and arrives
  // re-wrapped as `Error('TimeoutError: …')`.
  if (original.name === 'TimeoutError' || original.message.startsWith('TimeoutError:')) {
    return new TransientError(`Slack did not answer ${method} within ${context.timeoutMs} ms.`, { cause: original });
  }
  const code = transportCode(original);
  if (code && TLS_CODES.test(code)) {
    return new SnatDoctorError(
      'INTERNAL',
      `The TLS connection to Slack failed (${code}) on ${method}: a proxy that intercepts TLS needs its CA trusted (NODE_EXTRA_CA_CERTS).`,
      { cause: original, context: { method } },
    );
  }
  return new TransientError(`The connection to Slack failed on ${method} (${code ?? original.message}).`, {
    cause: original,
  });
}

/** The Node error code under a transport failure: global fetch wraps it in `cause`, node:https does not. */
function transportCode(error: Error): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

/** Retry-After in whole seconds (Slack sends seconds; an HTTP date is read too). */
function retryAfterSeconds(header: string | undefined, now: Date = new Date()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

// ── Transport with a private CA ─────────────────────────────────────────────────────────────────────────────────

type FetchAnswer = Awaited<ReturnType<FetchFunction>>;

/**
 * The WebClient's transport when a private CA must be trusted (the sandbox's). The client speaks `fetch`, and Node's
 * global fetch takes no CA per call — only process-wide settings, which would trust the sandbox everywhere — so this
 * is a minimal fetch on node:https with its own agent. It does what the WebClient asks of fetch: POST a string body,
 * no redirects, abort on `signal` with the signal's reason (the client recognises its timeout by it).
 */
export function fetchTrusting(ca: string): FetchFunction {
  const agent = new HttpsAgent({ ca, keepAlive: true });
  return async (input, init = {}) => {
    const url = new URL(String(input));
    const { signal } = init;
    const headers: Record<string, string> = { ...init.headers };
    let body: string | Buffer | undefined;
    if (typeof init.body === 'string' || init.body === undefined) {
      body = init.body;
    } else {
      // FormData (file uploads only): let the platform encode it, boundary and all.
      const encoded = new Response(init.body);
      headers['Content-Type'] = encoded.headers.get('content-type') ?? 'multipart/form-data';
      body = Buffer.from(await encoded.arrayBuffer());
    }
    try {
      signal?.throwIfAborted();
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
        const request = send(
          url,
          { method: init.method ?? 'GET', headers, ...(url.protocol === 'https:' ? { agent } : {}), signal },
          resolve,
        );
        request.on('error', reject);
        request.end(body);
      });
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      return fetchAnswer(url, response, Buffer.concat(chunks));
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  };
}

function fetchAnswer(url: URL, response: IncomingMessage, body: Buffer): FetchAnswer {
  const headers = new Headers();
  const raw = response.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] ?? '', raw[i + 1] ?? '');
  const status = response.statusCode ?? 0;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    url: url.href,
    headers,
    arrayBuffer: async () => new Uint8Array(body).buffer,
    json: async () => JSON.parse(body.toString('utf8')) as unknown,
    text: async () => body.toString('utf8'),
  };
}

/** The workflow's Slack port on a poster: one message per key, updated on retries. */
export function slackPort(poster: SlackPoster): SlackApi {
  return {
    post: async (channel, message, key, thread) => poster.postReport(channel, message as SlackMessage, key, thread),
  };
}
