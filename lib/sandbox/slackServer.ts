// The sandbox's Slack Web API, on 127.0.0.1, so that the real WebClient (lib/adapters/slack.ts) talks to it exactly as
// to https://slack.com/api/: the methods snat-doctor calls, in Slack's envelope (`{ ok: true, … }`, or
// `{ ok: false, error }` with HTTP 200), the bearer token checked, form-encoded and JSON bodies both read. It keeps the
// channels' messages — what a test (or the sandbox's user) sees as "what was posted" — and injects the faults that
// matter for posting: a 429 with Retry-After, a 500, a call never answered, and the ambiguous one: the message is
// stored, then the connection dropped before the answer, which is how a retried post duplicates a message.
//
// HTTPS when given the sandbox's certificate (as Slack is; the adapter then trusts that CA), plain HTTP otherwise —
// the WebClient takes either as its slackApiUrl.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { projectPath } from '../projectRoot.ts';
import { readBody } from '../requestBody.ts';
import type { SandboxCertificate } from './tls.ts';

export type SlackMethod =
  | 'auth.test'
  | 'chat.postMessage'
  | 'chat.update'
  | 'chat.postEphemeral'
  | 'conversations.history'
  | 'conversations.replies';

export interface SlackFault {
  method: SlackMethod;
  /**
   * `ratelimited`: HTTP 429 with Retry-After; `server-error`: HTTP 500; `timeout`: never answered; `post-then-drop`:
   * the call takes effect (a message is stored or updated), then the connection is destroyed without an answer.
   */
  error: 'ratelimited' | 'server-error' | 'timeout' | 'post-then-drop';
  /** How many calls it hits; every call when absent. */
  times?: number;
  /** For `ratelimited`: the Retry-After, in seconds (default 1). */
  retryAfterSeconds?: number;
}

/** A channel of the sandbox's workspace. Without a list, every well-formed id is a public channel the app is in. */
export interface SlackChannel {
  id: string;
  name: string;
  /** Whether the app is a member; default true. */
  member?: boolean;
  /** A private channel the app is not in does not exist for it (channel_not_found, not not_in_channel). */
  private?: boolean;
  /** A direct message (its id starts with D) or a group DM: their history needs im:history / mpim:history. */
  kind?: 'im' | 'mpim';
  archived?: boolean;
}

export interface SlackServerOptions {
  /** The bot token the server accepts. */
  token: string;
  /** Serve HTTPS with the sandbox's certificate; plain HTTP when absent. */
  cert?: SandboxCertificate;
  faults?: SlackFault[];
  channels?: SlackChannel[];
  port?: number;
}

export interface SlackMessageMetadata {
  event_type: string;
  event_payload: Record<string, unknown>;
}

/** A message as the channel holds it, after any updates. */
export interface PostedSlackMessage {
  channel: string;
  ts: string;
  /** The parent's ts, for a reply in a thread. */
  threadTs?: string;
  text: string;
  blocks: unknown[];
  metadata?: SlackMessageMetadata;
  /** Who posted it: the app's bot user, or someone else (`postAsOther`). */
  user: string;
  botId?: string;
  /** An ephemeral message: only this user saw it, and no history shows it. */
  ephemeralTo?: string;
  /** How many times chat.update changed it. */
  edits: number;
}

export interface RecordedSlackCall {
  method: string;
  /** The arguments, as the server read them (the token left out). */
  params: Record<string, unknown>;
  token?: string;
  /** The HTTP status answered; absent when the call was dropped or never answered. */
  status?: number;
  /** Slack's `error`, for an `ok: false` answer. */
  error?: string;
  fault?: SlackFault['error'];
  /** The client gave up on a call the server was holding (`timeout`). */
  abandoned?: boolean;
}

export interface SlackServer {
  /** The slackApiUrl: `https://127.0.0.1:PORT/api/` (or http:// without a certificate). */
  url: string;
  /** Every message posted, in order, as it is now (updates applied); ephemeral ones included, marked. */
  messages(): PostedSlackMessage[];
  calls: RecordedSlackCall[];
  /** Someone else (a person, or another app with `botId`) posts: history the app must look past. Returns the ts. */
  postAsOther(message: {
    channel: string;
    text: string;
    user?: string;
    botId?: string;
    threadTs?: string;
    metadata?: SlackMessageMetadata;
  }): string;
  close(): Promise<void>;
}

/** Who the sandbox's bot token belongs to (auth.test). */
export const SANDBOX_SLACK_BOT = {
  userId: 'U0SNATBOT1',
  botId: 'B0SNATBOT1',
  appId: 'A0SNATAPP1',
  name: 'snat-doctor',
  teamId: 'T0SANDBOX1',
  team: 'snat-doctor sandbox',
};

/** Block Kit's limits that snat-doctor's reports run into (DESIGN §2.3). */
const MAX_BLOCKS = 50;
const MAX_SECTION_TEXT = 3000;
const MAX_SECTION_FIELDS = 10;
const MAX_FIELD_TEXT = 2000;
const MAX_HEADER_TEXT = 150;
const MAX_CONTEXT_ELEMENTS = 10;
/** chat.postMessage's limit on `text`. */
const MAX_TEXT = 40_000;
const MAX_BODY = 1024 * 1024;
/**
 * The bot's scopes are the ones the app's manifest requests (slack-app-manifest.yaml, oauth_config.scopes.bot): the
 * sandbox grants what a workspace installing that manifest would, and nothing more.
 */
export function manifestBotScopes(path = projectPath('slack-app-manifest.yaml')): string[] {
  const manifest = parseYaml(readFileSync(path, 'utf8')) as { oauth_config?: { scopes?: { bot?: unknown } } };
  const bot = manifest.oauth_config?.scopes?.bot;
  return Array.isArray(bot) ? bot.filter((scope): scope is string => typeof scope === 'string') : [];
}
const SCOPES = manifestBotScopes();

/**
 * The scope conversations.history needs for a conversation, by kind, else by id (D… is a direct message): Slack's scope
 * pages (docs.slack.dev/reference/scopes/channels.history, groups.history, im.history, mpim.history) each name
 * conversations.history for their kind of conversation. A missing one is `missing_scope` with `needed` and `provided`
 * (the fields of @slack/web-api's ConversationsHistoryResponse).
 */
function historyScope(id: string, channel: SlackChannel | undefined): string {
  if (channel?.kind === 'im' || id.startsWith('D')) return 'im:history';
  if (channel?.kind === 'mpim') return 'mpim:history';
  return channel?.private ? 'groups:history' : 'channels:history';
}

type Params = Record<string, unknown>;
type Body = Record<string, unknown>;

/** An HTTP answer; Slack's API errors are HTTP 200 with `ok: false`. */
interface Answer {
  status: number;
  body: Body;
  headers?: Record<string, string>;
}

const ok = (body: Body = {}): Answer => ({ status: 200, body: { ok: true, ...body } });
const refuse = (error: string, extra: Body = {}): Answer => ({ status: 200, body: { ok: false, error, ...extra } });

export async function startSlackServer(options: SlackServerOptions): Promise<SlackServer> {
  const bot = SANDBOX_SLACK_BOT;
  const posted: PostedSlackMessage[] = [];
  const calls: RecordedSlackCall[] = [];
  const faults = (options.faults ?? []).map((fault) => ({ fault, remaining: fault.times }));
  const sockets = new Set<Socket>();
  let lastMicros = 0n;

  /** Slack's ts: seconds.microseconds, unique and increasing within the workspace. */
  const nextTs = (): string => {
    const now = BigInt(Date.now()) * 1000n;
    lastMicros = now > lastMicros ? now : lastMicros + 1n;
    return `${lastMicros / 1_000_000n}.${String(lastMicros % 1_000_000n).padStart(6, '0')}`;
  };

  const takeFault = (method: string): SlackFault | undefined => {
    const entry = faults.find((f) => f.fault.method === method && f.remaining !== 0);
    if (!entry) return undefined;
    if (entry.remaining !== undefined) entry.remaining--;
    return entry.fault;
  };

  /** The channel a call names, or the error Slack gives the app for it. */
  const resolveChannel = (value: unknown, purpose: 'read' | 'write'): { id: string } | Answer => {
    const wanted = typeof value === 'string' ? value.replace(/^#/, '') : '';
    if (!options.channels) {
      return /^[CGD][A-Z0-9]{2,}$/.test(wanted) ? { id: wanted } : refuse('channel_not_found');
    }
    const channel = options.channels.find((c) => c.id === wanted || c.name === wanted);
    if (!channel) return refuse('channel_not_found');
    const member = channel.member ?? true;
    if (!member && channel.private) return refuse('channel_not_found');
    if (!member) return refuse('not_in_channel');
    if (channel.archived && purpose === 'write') return refuse('is_archived');
    return { id: channel.id };
  };

  const inChannel = (channel: string, ts: string) =>
    posted.find((m) => m.channel === channel && m.ts === ts && m.ephemeralTo === undefined);

  const repliesTo = (parent: PostedSlackMessage) =>
    posted.filter((m) => m.channel === parent.channel && m.threadTs === parent.ts && m.ephemeralTo === undefined);

  /** A message as the Web API shows it. */
  const view = (message: PostedSlackMessage, withMetadata: boolean): Body => {
    const replies = message.threadTs === undefined ? repliesTo(message) : [];
    const users = [...new Set(replies.map((r) => r.user))];
    return {
      type: 'message',
      user: message.user,
      ...(message.botId ? { bot_id: message.botId } : {}),
      ...(message.botId === bot.botId ? { app_id: bot.appId } : {}),
      text: message.text,
      ts: message.ts,
      team: bot.teamId,
      blocks: message.blocks,
      ...(message.threadTs ? { thread_ts: message.threadTs, parent_user_id: parentUser(message) } : {}),
      ...(replies.length > 0
        ? {
            thread_ts: message.ts,
            reply_count: replies.length,
            reply_users_count: users.length,
            reply_users: users,
            latest_reply: replies.at(-1)?.ts,
          }
        : {}),
      ...(message.edits > 0 ? { edited: { user: message.user, ts: message.ts } } : {}),
      ...(withMetadata && message.metadata ? { metadata: message.metadata } : {}),
    };
  };

  const parentUser = (reply: PostedSlackMessage) =>
    reply.threadTs ? inChannel(reply.channel, reply.threadTs)?.user : undefined;

  // ── The methods ──────────────────────────────────────────────────────────────────────────────────────────────

  const methods: Record<SlackMethod, (params: Params) => Answer> = {
    'auth.test': () =>
      ok({
        url: 'https://snat-doctor-sandbox.slack.com/',
        team: bot.team,
        user: bot.name,
        team_id: bot.teamId,
        user_id: bot.userId,
        bot_id: bot.botId,
        is_enterprise_install: false,
      }),

    'chat.postMessage': (params) => {
      const channel = resolveChannel(params.channel, 'write');
      if ('status' in channel) return channel;
      const content = readContent(params, 'post');
      if ('status' in content) return content;
      let threadTs = str(params.thread_ts);
      if (threadTs) {
        // Stricter than Slack, which documents no error for it: a reply to a message that is not there is our bug.
        const parent = inChannel(channel.id, threadTs);
        if (!parent) return refuse('thread_not_found');
        threadTs = parent.threadTs ?? parent.ts;
      }
      const message: PostedSlackMessage = {
        channel: channel.id,
        ts: nextTs(),
        ...(threadTs ? { threadTs } : {}),
        text: content.text ?? '',
        blocks: content.blocks ?? [],
        ...(content.metadata ? { metadata: content.metadata } : {}),
        user: bot.userId,
        botId: bot.botId,
        edits: 0,
      };
      posted.push(message);
      return ok({ channel: channel.id, ts: message.ts, message: view(message, true) });
    },

    'chat.update': (params) => {
      const channel = resolveChannel(params.channel, 'write');
      if ('status' in channel) return channel;
      const message = inChannel(channel.id, str(params.ts) ?? '');
      if (!message) return refuse('message_not_found');
      if (message.botId !== bot.botId) return refuse('cant_update_message');
      const content = readContent(params, 'update');
      if ('status' in content) return content;
      // What the call leaves out stays: text, blocks and metadata alike; `metadata: {}` removes the metadata.
      if (content.text !== undefined) message.text = content.text;
      if (content.blocks !== undefined) message.blocks = content.blocks;
      if (content.metadata === null) delete message.metadata;
      else if (content.metadata) message.metadata = content.metadata;
      message.edits++;
      return ok({ channel: channel.id, ts: message.ts, text: message.text, message: view(message, true) });
    },

    'chat.postEphemeral': (params) => {
      const channel = resolveChannel(params.channel, 'write');
      if ('status' in channel) return channel;
      const user = str(params.user);
      if (!user || !/^[UW][A-Z0-9]{2,}$/.test(user)) return refuse('user_not_found');
      const content = readContent(params, 'post');
      if ('status' in content) return content;
      const threadTs = str(params.thread_ts);
      const message: PostedSlackMessage = {
        channel: channel.id,
        ts: nextTs(),
        ...(threadTs ? { threadTs } : {}),
        text: content.text ?? '',
        blocks: content.blocks ?? [],
        user: bot.userId,
        botId: bot.botId,
        ephemeralTo: user,
        edits: 0,
      };
      posted.push(message);
      return ok({ message_ts: message.ts });
    },

    'conversations.history': (params) => {
      const channel = resolveChannel(params.channel, 'read');
      if ('status' in channel) return channel;
      const needed = historyScope(
        channel.id,
        options.channels?.find((c) => c.id === channel.id),
      );
      if (!SCOPES.includes(needed)) {
        return refuse('missing_scope', { needed, provided: SCOPES.join(',') });
      }
      const oldest = tsValue(str(params.oldest) ?? '0') ?? 0n;
      const latest = tsValue(str(params.latest) ?? '') ?? BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n;
      const inclusive = flag(params.inclusive);
      const before = cursorTs(str(params.cursor));
      // Thread replies are not in a channel's history (unless broadcast, which snat-doctor does not do).
      const messages = posted
        .filter((m) => m.channel === channel.id && m.ephemeralTo === undefined && m.threadTs === undefined)
        .filter((m) => {
          const at = tsValue(m.ts) ?? 0n;
          const inRange = inclusive ? at >= oldest && at <= latest : at > oldest && at < latest;
          return inRange && (before === undefined || at < before);
        })
        .reverse();
      const page = messages.slice(0, pageSize(params.limit, 100));
      const hasMore = messages.length > page.length;
      return ok({
        messages: page.map((m) => view(m, flag(params.include_all_metadata))),
        has_more: hasMore,
        pin_count: 0,
        channel_actions_ts: null,
        channel_actions_count: 0,
        ...(hasMore ? { response_metadata: { next_cursor: cursorFor(page.at(-1)?.ts ?? '') } } : {}),
      });
    },

    'conversations.replies': (params) => {
      const channel = resolveChannel(params.channel, 'read');
      if ('status' in channel) return channel;
      const asked = inChannel(channel.id, str(params.ts) ?? '');
      if (!asked) return refuse('thread_not_found');
      const parent = asked.threadTs ? inChannel(channel.id, asked.threadTs) : asked;
      if (!parent) return refuse('thread_not_found');
      const after = cursorTs(str(params.cursor));
      const thread = [parent, ...repliesTo(parent)].filter((m) => after === undefined || (tsValue(m.ts) ?? 0n) > after);
      const page = thread.slice(0, pageSize(params.limit, 1000));
      const hasMore = thread.length > page.length;
      return ok({
        messages: page.map((m) => view(m, flag(params.include_all_metadata))),
        has_more: hasMore,
        ...(hasMore ? { response_metadata: { next_cursor: cursorFor(page.at(-1)?.ts ?? '') } } : {}),
      });
    },
  };

  // ── HTTP ─────────────────────────────────────────────────────────────────────────────────────────────────────

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname)?.[1] ?? url.pathname;
    const call: RecordedSlackCall = { method, params: {} };
    calls.push(call);
    let read: { params: Params; formToken?: string; warning?: string } | Answer;
    try {
      read = readParams(req.headers['content-type'], await readBody(req, MAX_BODY), url.searchParams);
    } catch {
      return respond(res, call, { status: 413, body: { ok: false, error: 'request_too_large' } });
    }
    if ('status' in read) return respond(res, call, read);
    call.params = read.params;
    // The token goes in the Authorization header; a form body may carry it too (a JSON body may not).
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? read.formToken;
    if (token !== undefined) call.token = token;
    if (!(method in methods)) return respond(res, call, { status: 404, body: { ok: false, error: 'unknown_method' } });
    if (token === undefined) return respond(res, call, refuse('not_authed'));
    if (token !== options.token) return respond(res, call, refuse('invalid_auth'));

    const fault = takeFault(method);
    if (fault) call.fault = fault.error;
    switch (fault?.error) {
      case 'ratelimited': {
        const seconds = fault.retryAfterSeconds ?? 1;
        return respond(res, call, {
          status: 429,
          body: { ok: false, error: 'ratelimited' },
          headers: { 'Retry-After': String(seconds) },
        });
      }
      case 'server-error':
        return respond(res, call, { status: 500, body: { ok: false, error: 'internal_error' } });
      case 'timeout':
        // Never answer: the client's own timeout has to end the call.
        res.on('close', () => {
          call.abandoned = true;
        });
        return;
      case 'post-then-drop':
        methods[method as SlackMethod](read.params);
        req.socket.destroy();
        return;
      case undefined:
        break;
    }
    const answer = methods[method as SlackMethod](read.params);
    if (read.warning && answer.body.ok) {
      answer.body.warning = read.warning;
      answer.body.response_metadata = { warnings: [read.warning] };
    }
    respond(res, call, answer);
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    serve(req, res).catch((error: unknown) => {
      respond(
        res,
        { method: req.url ?? '', params: {} },
        {
          status: 500,
          body: { ok: false, error: 'internal_error', detail: (error as Error).message },
        },
      );
    });
  };
  const server: Server = options.cert
    ? createHttpsServer({ key: options.cert.key, cert: options.cert.cert }, handler)
    : createHttpServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const scheme = options.cert ? 'https' : 'http';

  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    messages: () => posted.map((m) => structuredClone(m)),
    calls,
    postAsOther(message) {
      const { channel, text, user = 'U0SOMEONE1', botId, threadTs, metadata } = message;
      const ts = nextTs();
      posted.push({
        channel,
        ts,
        ...(threadTs ? { threadTs } : {}),
        text,
        blocks: [],
        ...(metadata ? { metadata } : {}),
        user,
        ...(botId ? { botId } : {}),
        edits: 0,
      });
      return ts;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

// ── Reading a call ──────────────────────────────────────────────────────────────────────────────────────────────

/**
 * The call's arguments. Slack takes `application/x-www-form-urlencoded` (where structured arguments such as `blocks`
 * are JSON strings — what the WebClient sends) and `application/json` (structured arguments as JSON values; without
 * `charset` Slack answers with a `missing_charset` warning); query-string arguments count too.
 */
function readParams(
  contentType: string | undefined,
  text: string,
  query: URLSearchParams,
): { params: Params; formToken?: string; warning?: string } | Answer {
  const params: Params = Object.fromEntries(query);
  const type = (contentType ?? '').toLowerCase();
  let formToken: string | undefined;
  let warning: string | undefined;
  if (type.startsWith('application/json')) {
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      return refuse('invalid_json');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return refuse('invalid_json');
    Object.assign(params, parsed);
    if (!/charset=/.test(type)) warning = 'missing_charset';
  } else if (type.startsWith('application/x-www-form-urlencoded') || (type === '' && text !== '')) {
    const form = Object.fromEntries(new URLSearchParams(text));
    formToken = form.token;
    Object.assign(params, form);
  } else if (text !== '') {
    return refuse('invalid_form_data');
  }
  delete params.token;
  return { params, ...(formToken ? { formToken } : {}), ...(warning ? { warning } : {}) };
}

interface Content {
  text?: string;
  blocks?: unknown[];
  /** `null`: chat.update was asked to remove the metadata (`metadata: {}`). */
  metadata?: SlackMessageMetadata | null;
}

/** A message's text, blocks and metadata, checked as Slack checks them. */
function readContent(params: Params, purpose: 'post' | 'update'): Content | Answer {
  const text = str(params.text);
  const blocks = structured(params.blocks);
  if (blocks === 'bad' || (blocks !== undefined && !Array.isArray(blocks))) return refuse('invalid_blocks_format');
  if (text === undefined && blocks === undefined && purpose === 'post') return refuse('no_text');
  if (text !== undefined && text.length > MAX_TEXT) return refuse('msg_too_long');
  if (blocks) {
    const problems = blockProblems(blocks);
    if (problems.length > 0) {
      return refuse('invalid_blocks', {
        errors: problems,
        response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
      });
    }
  }
  const metadata = structured(params.metadata);
  let readMetadata: SlackMessageMetadata | null | undefined;
  if (metadata !== undefined) {
    if (metadata === 'bad' || metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      return refuse('invalid_metadata_format');
    }
    const { event_type, event_payload } = metadata as { event_type?: unknown; event_payload?: unknown };
    if (Object.keys(metadata).length === 0 && purpose === 'update') {
      readMetadata = null;
    } else if (
      typeof event_type !== 'string' ||
      event_type === '' ||
      event_payload === null ||
      typeof event_payload !== 'object' ||
      Array.isArray(event_payload)
    ) {
      return refuse('invalid_metadata_format');
    } else {
      readMetadata = { event_type, event_payload: event_payload as Record<string, unknown> };
    }
  }
  return {
    ...(text !== undefined ? { text } : {}),
    ...(blocks !== undefined ? { blocks } : {}),
    ...(readMetadata !== undefined ? { metadata: readMetadata } : {}),
  };
}

/** Block Kit's limits, worded as Slack words `invalid_blocks` errors (a message and a JSON pointer). */
function blockProblems(blocks: unknown[]): string[] {
  const problems: string[] = [];
  if (blocks.length > MAX_BLOCKS) problems.push(`must provide at most ${MAX_BLOCKS} items [json-pointer:/blocks]`);
  blocks.forEach((block, i) => {
    const at = `/blocks/${i}`;
    if (block === null || typeof block !== 'object' || typeof (block as { type?: unknown }).type !== 'string') {
      problems.push(`missing required field: type [json-pointer:${at}]`);
      return;
    }
    const b = block as { type: string; text?: { text?: unknown }; fields?: unknown; elements?: unknown };
    const length = (value: unknown) => (typeof value === 'string' ? value.length : 0);
    if (b.type === 'section') {
      if (length(b.text?.text) > MAX_SECTION_TEXT) {
        problems.push(`must be less than ${MAX_SECTION_TEXT + 1} characters [json-pointer:${at}/text/text]`);
      }
      if (Array.isArray(b.fields)) {
        if (b.fields.length > MAX_SECTION_FIELDS) {
          problems.push(`must provide at most ${MAX_SECTION_FIELDS} items [json-pointer:${at}/fields]`);
        }
        b.fields.forEach((field: { text?: unknown } | null, j) => {
          if (length(field?.text) > MAX_FIELD_TEXT) {
            problems.push(`must be less than ${MAX_FIELD_TEXT + 1} characters [json-pointer:${at}/fields/${j}/text]`);
          }
        });
      }
    }
    if (b.type === 'header' && length(b.text?.text) > MAX_HEADER_TEXT) {
      problems.push(`must be less than ${MAX_HEADER_TEXT + 1} characters [json-pointer:${at}/text/text]`);
    }
    if (b.type === 'context' && Array.isArray(b.elements) && b.elements.length > MAX_CONTEXT_ELEMENTS) {
      problems.push(`must provide at most ${MAX_CONTEXT_ELEMENTS} items [json-pointer:${at}/elements]`);
    }
  });
  return problems;
}

/** A structured argument: a JSON string (form bodies) or a JSON value (JSON bodies); 'bad' when it does not parse. */
function structured(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return 'bad';
  }
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function flag(value: unknown): boolean {
  return value === true || value === 1 || value === 'true' || value === '1';
}

function pageSize(value: unknown, fallback: number): number {
  const n = Number(str(value) ?? fallback);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 999) : fallback;
}

/** A ts (`1700000000.000100`, or whole seconds) in microseconds, for ordering and ranges. */
function tsValue(ts: string): bigint | undefined {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(ts);
  if (!match) return undefined;
  return BigInt(match[1] ?? '0') * 1_000_000n + BigInt((match[2] ?? '').padEnd(6, '0'));
}

/** Cursors look like Slack's (`next_ts:…`, base64) and name the last message of the previous page. */
function cursorFor(ts: string): string {
  return Buffer.from(`next_ts:${ts}`).toString('base64');
}

function cursorTs(cursor: string | undefined): bigint | undefined {
  if (!cursor) return undefined;
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  return tsValue(text.replace(/^next_ts:/, ''));
}

// ── Answering ───────────────────────────────────────────────────────────────────────────────────────────────────

function respond(res: ServerResponse, call: RecordedSlackCall, answer: Answer): void {
  call.status = answer.status;
  if (answer.body.ok === false && typeof answer.body.error === 'string') call.error = answer.body.error;
  const payload = Buffer.from(JSON.stringify(answer.body), 'utf8');
  res.writeHead(answer.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(payload.length),
    'X-Slack-Req-Id': randomBytes(16).toString('hex'),
    'X-OAuth-Scopes': SCOPES.join(','),
    ...answer.headers,
  });
  res.end(payload);
}
