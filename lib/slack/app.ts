// The Slack front door as a Bolt app: `/snat diagnose | status | help` and the report's two buttons. Every input is
// parsed (commands.ts) and authorised (access.ts) here, then the one start path (startOnce) runs. Transport —
// signature, ack deadline, retries — is the receiver's (receiver.ts); the wording of replies is replies.ts's.
//
// Acking: under processBeforeResponse the HTTP answer leaves when the listener is done, so the listener may do the
// quick start (one status read, one startNew) and then ack with what actually happened (started or joined). When
// that is slow, the receiver's deadline aborts `ackDeadline`: the listener acks at once with a placeholder, and the
// outcome (started or joined, and the instance id) follows through `response_url` once known. Either way Slack has
// its answer in time and the investigation is started before the invocation ends.
import { App, type BlockAction, type ButtonAction, type Logger } from '@slack/bolt';
import type { InvestigationRequest } from '../model.ts';
import { SLACK_ACTIONS } from '../render/slackBlocks.ts';
import { startOnce } from '../watch/startOnce.ts';
import { nodeKey } from '../workflow/instanceId.ts';
import { type InvestigationClient, readRegistry, statusOf } from '../workflow/start.ts';
import { aliasesOf, authorize, authorizeRef, type Requester, type SlackAccess, type SlackCluster } from './access.ts';
import { parseButtonValue, parseInvestigationId, parseSnatCommand } from './commands.ts';
import { boltLogger } from './logger.ts';
import { AzureFunctionsReceiver, type AzureFunctionsReceiverOptions } from './receiver.ts';
import { RecentInvestigations } from './recentInvestigations.ts';
import {
  errorReply,
  helpReply,
  historyReply,
  noRecentReply,
  type Reply,
  startedReply,
  startFailedReply,
  startingReply,
  statusFailedReply,
  statusPendingReply,
  statusReply,
  statusUnseenReply,
  type Target,
} from './replies.ts';

export const SLASH_COMMAND = '/snat';
/** Every button of the report answers as a `/snat diagnose` of its value's cluster, node and seconds. */
export const BUTTON_ACTIONS = SLACK_ACTIONS;

/** The Durable client surface the Slack app uses (the real `DurableClient` and `LocalDurableClient` both fit). */
export interface SlackInvestigationClient extends InvestigationClient {
  getStatus(
    instanceId: string,
    options?: { showInput?: boolean },
  ): Promise<{ runtimeStatus: string; customStatus?: unknown; input?: unknown } | undefined>;
}

export interface SlackAppOptions {
  signingSecret: string;
  botToken: string;
  access: SlackAccess;
  client: SlackInvestigationClient;
  /** With both, Bolt never calls auth.test (no Slack API call before a listener runs). */
  botId?: string;
  botUserId?: string;
  /** The per-channel "latest investigation" index; pass one that outlives the app to share it across requests. */
  recent?: RecentInvestigations;
  logger?: Logger;
  /** Receiver knobs for tests: the clock, the ack deadline's timer. */
  receiver?: Omit<AzureFunctionsReceiverOptions, 'signingSecret' | 'logger'>;
}

export interface SlackApp {
  app: App;
  receiver: AzureFunctionsReceiver;
}

interface Deps {
  access: SlackAccess;
  client: SlackInvestigationClient;
  recent: RecentInvestigations;
  logger: Logger;
}

/** What to answer: a reply now, or a placeholder to ack with if `work` is not done by the ack deadline. */
type Answer = { now: Reply } | { placeholder: Reply; work: Promise<Reply> };

export function createSlackApp(options: SlackAppOptions): SlackApp {
  const logger = options.logger ?? boltLogger(console);
  const receiver = new AzureFunctionsReceiver({ ...options.receiver, signingSecret: options.signingSecret, logger });
  const app = new App({
    receiver,
    token: options.botToken,
    botId: options.botId,
    botUserId: options.botUserId,
    logger,
    // Bolt would otherwise call auth.test as the app is built, un-awaited (a failure there would be an unhandled
    // rejection); this way it is called only when an event is authorised — and never when botId and botUserId are
    // given.
    tokenVerificationEnabled: false,
    // No conversation state is kept between requests.
    convoStore: false,
  });
  const deps: Deps = {
    access: options.access,
    client: options.client,
    recent: options.recent ?? new RecentInvestigations(),
    logger,
  };

  app.command(SLASH_COMMAND, async ({ command, ack, respond, context }) => {
    const requester = { user: command.user_id, channel: command.channel_id };
    // Slack sends `text=` for a bare /snat; a signed body without the field is answered as one (it was a 500).
    const answer = answerCommand(command.text ?? '', requester, deps);
    await answerInTime(answer, ackDeadlineOf(context), {
      ack: (reply) => ack({ response_type: 'ephemeral', ...reply }),
      followUp: (reply) => respond({ response_type: 'ephemeral', ...reply }),
      logger,
    });
  });

  for (const actionId of Object.values(BUTTON_ACTIONS)) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, respond }) => {
      // A button's HTTP answer carries nothing; the reply goes to response_url, after the work.
      await ack();
      const reply = await answerButton(action.value, { user: body.user.id, channel: body.channel?.id }, deps);
      await respond({ response_type: 'ephemeral', replace_original: false, ...reply }).catch((error: unknown) =>
        logger.warn(`Could not reply to a button through response_url: ${messageOf(error)}`),
      );
    });
  }

  return { app, receiver };
}

function answerCommand(text: string, requester: Requester, deps: Deps): Answer {
  const parsed = parseSnatCommand(text, aliasesOf(deps.access));
  if (!parsed.ok) return { now: errorReply(parsed.message) };
  const command = parsed.value;
  switch (command.kind) {
    case 'help':
      return { now: helpReply(aliasesHere(deps.access, requester.channel)) };
    case 'status':
      return answerStatus(command.instanceId, requester, deps);
    case 'history': {
      const allowed = authorize(deps.access, { ...requester, alias: command.alias });
      if (!allowed.ok) return { now: errorReply(allowed.message) };
      const { alias, ref } = allowed.cluster;
      const work = readRegistry(deps.client, nodeKey(ref, command.node)).then(
        (registry) => historyReply(alias, command.node, registry),
        (error: unknown) => {
          deps.logger.error(`Reading the registry of ${command.node} failed: ${messageOf(error)}`);
          return errorReply(
            `The investigations of \`${command.node}\` could not be read; the error is in the app’s logs.`,
          );
        },
      );
      return { placeholder: statusPendingReply(command.node), work };
    }
    case 'diagnose': {
      const allowed = authorize(deps.access, { ...requester, alias: command.alias });
      if (!allowed.ok) return { now: errorReply(allowed.message) };
      return startAnswer(allowed.cluster, command, requester, deps);
    }
  }
}

function answerStatus(given: string | undefined, requester: Requester, deps: Deps): Answer {
  const instanceId = given ?? deps.recent.latest(requester.channel);
  if (instanceId === undefined) return { now: noRecentReply() };
  const id = parseInvestigationId(instanceId);
  if (!id.ok) return { now: errorReply(id.message) };
  // Who may see it is decided by the cluster the investigation ran on (its input), not by what its id says.
  const work = statusOf(deps.client, instanceId).then(
    (status) => {
      const cluster = (status?.input as Partial<InvestigationRequest> | undefined)?.cluster;
      if (!status || !cluster || !authorizeRef(deps.access, requester, cluster).ok) {
        return statusUnseenReply(instanceId);
      }
      return statusReply(instanceId, status);
    },
    (error: unknown) => {
      deps.logger.error(`Reading the status of ${instanceId} failed: ${messageOf(error)}`);
      return statusFailedReply(instanceId);
    },
  );
  return { placeholder: statusPendingReply(instanceId), work };
}

async function answerButton(
  value: string | undefined,
  requester: { user: string; channel: string | undefined },
  deps: Deps,
): Promise<Reply> {
  const parsed = parseButtonValue(value);
  if (!parsed.ok) return errorReply(parsed.message);
  if (requester.channel === undefined) return errorReply('These buttons work in a channel only.');
  const where = { user: requester.user, channel: requester.channel };
  // Re-authorised on receipt: who may diagnose what is decided now, from this channel, not when the button was made.
  const allowed = authorizeRef(deps.access, where, parsed.value.cluster);
  if (!allowed.ok) return errorReply(allowed.message);
  const answer = startAnswer(allowed.cluster, parsed.value, where, deps);
  return 'now' in answer ? answer.now : answer.work;
}

function startAnswer(
  cluster: SlackCluster,
  choice: { node?: string; seconds: number },
  requester: Requester,
  deps: Deps,
): Answer {
  const request: InvestigationRequest = {
    cluster: cluster.ref,
    node: choice.node,
    captureSeconds: choice.seconds,
    // Every investigation records who asked, and from where.
    requestedBy: { kind: 'slack', who: requester.user, where: requester.channel },
  };
  const target: Target = { alias: cluster.alias, node: choice.node, seconds: choice.seconds };
  // startOnce: the same start path as the watch and the alert hook, so Slack requests racing each other (or an
  // alert) start one investigation, not one each.
  const work = startOnce(deps.client, request).then(
    ({ instanceId, outcome }) => {
      const joined = outcome !== 'started';
      deps.recent.remember(requester.channel, instanceId);
      deps.logger.info(`${joined ? 'Joined' : 'Started'} ${instanceId} for ${requester.user} in ${requester.channel}.`);
      return startedReply(target, instanceId, joined);
    },
    (error: unknown) => {
      deps.logger.error(
        `Starting an investigation of ${target.node ?? 'the most exhausted node'} failed: ${messageOf(error)}`,
      );
      return startFailedReply(target);
    },
  );
  return { placeholder: startingReply(target), work };
}

/**
 * Acks with the work's reply if it is ready before the receiver's deadline; otherwise acks with the placeholder as
 * the deadline passes and sends the reply to response_url when it is ready. `work` never rejects.
 */
async function answerInTime(
  answer: Answer,
  deadline: AbortSignal | undefined,
  io: { ack(reply: Reply): Promise<void>; followUp(reply: Reply): Promise<unknown>; logger: Logger },
): Promise<void> {
  if ('now' in answer) return io.ack(answer.now);
  const early = await Promise.race([answer.work, aborted(deadline)]);
  if (early !== undefined) return io.ack(early);
  await io.ack(answer.placeholder);
  const late = await answer.work;
  await io
    .followUp(late)
    .catch((error: unknown) => io.logger.warn(`Could not send a follow-up through response_url: ${messageOf(error)}`));
}

/** Resolves (to undefined) when `signal` aborts; never, without a signal. */
function aborted(signal: AbortSignal | undefined): Promise<undefined> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
}

function ackDeadlineOf(context: Record<string, unknown>): AbortSignal | undefined {
  return context.ackDeadline instanceof AbortSignal ? context.ackDeadline : undefined;
}

function aliasesHere(access: SlackAccess, channel: string): string[] {
  return access.clusters.filter((cluster) => cluster.channels.includes(channel)).map((cluster) => cluster.alias);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
