// A Bolt receiver for Azure Functions v4 HTTP triggers, modelled on Bolt's AwsLambdaReceiver. Transport only: the
// raw body, Slack's signature, the handshake requests, retries, and turning the listener's ack into the HTTP answer.
// What a command means is the app's business (app.ts).
//
// Two timing rules meet here. Slack wants an answer within 3 s. And a serverless host may stop or freeze the work of
// an invocation once it has answered, so the listener's work (starting the investigation) must finish *before* the
// answer ("processBeforeResponse"). The receiver therefore answers when the listener is done — or at the ack
// deadline, whichever comes first. At the deadline it aborts `context.ackDeadline`, so a listener still waiting
// on something slow can ack at once with what it knows, and then answers with that ack. The listener's work goes
// on after the answer (best effort; its errors are logged).
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { type App, isValidSlackRequest, type Logger, type Receiver, ReceiverMultipleAckError } from '@slack/bolt';

/** Slack's replay window: a request signed longer ago — or further in the future — than this is refused. */
export const SIGNATURE_WINDOW_SECONDS = 5 * 60;

/** The latest the HTTP answer goes out after the body is read: Slack's 3 s less room for the host and network. */
export const ACK_TIMEOUT_MILLIS = 2_500;

/**
 * Resolves after `ms`, or as soon as `signal` aborts (the wait is then simply over). The default uses a real timer;
 * tests pass one they fire themselves.
 */
export type AckTimer = (ms: number, signal: AbortSignal) => Promise<void>;

const realTimer: AckTimer = (ms, signal) => sleep(ms, undefined, { signal }).catch(() => undefined);

export interface AzureFunctionsReceiverOptions {
  signingSecret: string;
  logger: Logger;
  /** Epoch milliseconds, for the signature window. */
  now?: () => number;
  ackTimeoutMillis?: number;
  timer?: AckTimer;
}

/** What the receiver adds to every listener's `context` (Bolt spreads `customProperties` into it). */
export interface ReceiverContext {
  /** Aborted when the HTTP answer is about to go out: a listener that has not acked yet should ack now. */
  ackDeadline: AbortSignal;
}

type Body = Record<string, unknown>;
type Outcome = { finished: true; error?: unknown } | { finished: false };

export class AzureFunctionsReceiver implements Receiver {
  readonly #signingSecret: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #ackTimeoutMillis: number;
  readonly #timer: AckTimer;
  #app: App | undefined;

  constructor(options: AzureFunctionsReceiverOptions) {
    if (!options.signingSecret) throw new Error('AzureFunctionsReceiver needs the Slack signing secret.');
    this.#signingSecret = options.signingSecret;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#ackTimeoutMillis = options.ackTimeoutMillis ?? ACK_TIMEOUT_MILLIS;
    this.#timer = options.timer ?? realTimer;
  }

  init(app: App): void {
    this.#app = app;
  }

  /** There is no server to start: the Functions host calls `handle`. Returns it, as AwsLambdaReceiver does. */
  async start(): Promise<AzureFunctionsReceiver['handle']> {
    return this.handle.bind(this);
  }

  async stop(): Promise<void> {}

  /** One HTTP request from Slack → the HTTP answer. `customProperties` reach every listener's `context`. */
  async handle(request: HttpRequest, customProperties: Body = {}): Promise<HttpResponseInit> {
    const app = this.#app;
    if (!app) throw new Error('The receiver has no app: pass it to `new App({ receiver })` first.');
    // The signature covers the exact bytes Slack sent, so the body is read once, as text, before any parsing.
    const rawBody = await request.text();
    // Slack checks the certificate of slash command URLs now and then with `ssl_check=1`, which its docs say need
    // not be signed (Bolt's HTTPReceiver skips verification for it too). It gets an empty 200 and nothing else of
    // the request is used, so a command smuggled alongside it is never run.
    if (isSslCheck(rawBody, request.headers.get('content-type'))) return { status: 200, body: '' };
    const refused = this.#refusal(rawBody, request);
    if (refused) {
      // Nothing of the request is looked at beyond this point; the reason is logged, the header values are not.
      this.#logger.warn(`Refused a request to the Slack endpoint: ${refused}.`);
      return { status: 401, body: '' };
    }

    let body: Body;
    try {
      body = parseBody(rawBody, request.headers.get('content-type'));
    } catch {
      return { status: 400, body: 'The body is neither form-urlencoded nor a JSON object.' };
    }
    // The Events API's handshake when the URL is saved in the app's settings.
    if (body.type === 'url_verification') return { status: 200, jsonBody: { challenge: body.challenge } };

    // Slack retries a delivery it thinks failed (no 2xx within 3 s). The first delivery has normally already been
    // processed — with processBeforeResponse, that slowness is why there is a retry — so a retry is answered without
    // running a listener again: a retry can never start a second investigation. The trade-off: when the first
    // delivery really was lost before the app saw it, so is its work. Slack documents retries for Events API
    // deliveries; slash commands and buttons (all this app handles) get a timeout message instead, and a user who
    // saw no reply types the command again — startOrJoin then joins whatever the first one started.
    const retry = request.headers.get('x-slack-retry-num');
    if (retry !== null) {
      this.#logger.info(
        `Slack retry ${retry} (${request.headers.get('x-slack-retry-reason') ?? 'no reason given'}) acknowledged without processing.`,
      );
      return { status: 200, headers: { 'X-Slack-No-Retry': '1' }, body: '' };
    }

    return this.#dispatch(app, body, customProperties);
  }

  /** Why the request is refused (missing, malformed, stale or future timestamp, bad signature), or undefined. */
  #refusal(rawBody: string, request: HttpRequest): string | undefined {
    const signature = request.headers.get('x-slack-signature');
    const timestamp = request.headers.get('x-slack-request-timestamp');
    if (!signature || !timestamp) return 'X-Slack-Signature or X-Slack-Request-Timestamp is missing';
    if (!/^\d{1,12}$/.test(timestamp)) return 'X-Slack-Request-Timestamp is not a Unix time in seconds';
    const sent = Number(timestamp);
    const nowMillis = this.#now();
    // Bolt's verifier refuses only old timestamps; a future one is as replayable, so both directions are checked.
    const skew = sent - Math.floor(nowMillis / 1000);
    if (Math.abs(skew) > SIGNATURE_WINDOW_SECONDS) {
      return `the request was signed ${Math.abs(skew)} s ${skew < 0 ? 'ago' : 'in the future'} (the window is ${SIGNATURE_WINDOW_SECONDS} s)`;
    }
    // HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret, compared in constant time (tsscmp).
    const valid = isValidSlackRequest({
      signingSecret: this.#signingSecret,
      body: rawBody,
      headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': sent },
      nowMilliseconds: nowMillis,
    });
    return valid ? undefined : 'the signature does not match';
  }

  async #dispatch(app: App, body: Body, customProperties: Body): Promise<HttpResponseInit> {
    const ackDeadline = new AbortController();
    const timerDone = new AbortController();
    let acked = false;
    let answered = false;
    let stored: unknown;

    const processing: Promise<Outcome> = app
      .processEvent({
        body,
        ack: async (response?: unknown) => {
          if (acked) throw new ReceiverMultipleAckError();
          acked = true;
          if (answered) this.#logger.warn('A listener acked after the ack deadline: Slack did not see that answer.');
          stored = response ?? '';
        },
        customProperties: { ...customProperties, ackDeadline: ackDeadline.signal } satisfies ReceiverContext & Body,
      })
      .then(
        () => ({ finished: true }),
        (error: unknown) => ({ finished: true, error }),
      );
    const deadline = this.#timer(this.#ackTimeoutMillis, timerDone.signal).then((): Outcome => ({ finished: false }));

    const outcome = await Promise.race([processing, deadline]);
    timerDone.abort();

    if (!outcome.finished) {
      ackDeadline.abort();
      // A listener racing its work against `ackDeadline` acks in promise callbacks, and those all run before a
      // setImmediate callback: one turn of the event loop is all it needs, with no second timer.
      await new Promise((resolve) => setImmediate(resolve));
      answered = true;
      void processing.then((late) => {
        if (late.finished && late.error !== undefined) this.#logFailure(late.error, 'after the ack deadline');
      });
      if (!acked) {
        this.#logger.error(`No listener acked within ${this.#ackTimeoutMillis} ms; answered 200 with no content.`);
        return { status: 200, body: '' };
      }
      return toHttp(stored);
    }

    answered = true;
    if (outcome.error !== undefined) {
      this.#logFailure(outcome.error, 'while processing');
      // Slack already has the listener's answer if it acked: better that than a generic failure.
      return acked ? toHttp(stored) : { status: 500, body: 'Internal server error' };
    }
    if (!acked) {
      this.#logger.info(`No listener handled a ${String(body.type ?? body.command ?? 'request')}.`);
      return { status: 404, body: '' };
    }
    return toHttp(stored);
  }

  #logFailure(error: unknown, when: string): void {
    this.#logger.error(`A Slack listener failed ${when}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function isSslCheck(rawBody: string, contentType: string | null): boolean {
  return mediaTypeOf(contentType) === FORM && new URLSearchParams(rawBody).get('ssl_check') === '1';
}

const FORM = 'application/x-www-form-urlencoded';

function mediaTypeOf(contentType: string | null): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

/** Slash commands are form-urlencoded; interactivity is too, with its JSON in `payload=`; the Events API is JSON. */
export function parseBody(rawBody: string, contentType: string | null): Body {
  if (mediaTypeOf(contentType) === FORM) {
    const form = Object.fromEntries(new URLSearchParams(rawBody));
    return typeof form.payload === 'string' ? jsonObject(form.payload) : form;
  }
  return jsonObject(rawBody);
}

function jsonObject(text: string): Body {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
  return value as Body;
}

function toHttp(response: unknown): HttpResponseInit {
  if (typeof response === 'string') {
    return response === ''
      ? { status: 200, body: '' }
      : { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: response };
  }
  return { status: 200, jsonBody: response };
}
