// The Slack front door's replies to the person who asked: command acks, status answers, refusals. Pure. Help and
// refusals are the Block Kit of lib/render/slackBlocks.ts (the report's renderer); the rest are one or two lines of
// mrkdwn text, which is all an ephemeral acknowledgement needs.
import { type Block, renderSlackError, renderSlackHelp } from '../render/slackBlocks.ts';
import type { NodeRegistry } from '../workflow/nodeRegistry.ts';

export interface Reply {
  text: string;
  blocks?: Block[];
}

/** Slack's limit on a message's text. */
const TEXT_MAX = 3000;

/** Where the investigation runs, as a reply names it. */
export interface Target {
  alias: string;
  /** Absent: the most exhausted node. */
  node?: string;
  seconds: number;
}

/** The renderer's help, and which clusters this channel can diagnose (which only the access config knows). */
export function helpReply(aliasesHere: readonly string[]): Reply {
  const clusters =
    aliasesHere.length === 0
      ? 'No cluster can be diagnosed from this channel yet.'
      : aliasesHere.length === 1
        ? `This channel diagnoses \`${aliasesHere[0]}\`, so the cluster may be left out.`
        : `Clusters for this channel: ${aliasesHere.map((alias) => `\`${alias}\``).join(', ')}.`;
  const help = renderSlackHelp();
  return {
    text: help.text,
    blocks: [...help.blocks, { type: 'context', elements: [{ type: 'mrkdwn', text: reply(clusters).text }] }],
  };
}

/** A refusal: the message says what is wrong and what is accepted. */
export function errorReply(message: string): Reply {
  return renderSlackError(message);
}

export function startedReply(target: Target, instanceId: string, joined: boolean): Reply {
  if (joined) {
    return reply(
      `:mag: ${where(target)} is already under investigation: you joined it (a running capture keeps its length). Investigation \`${instanceId}\`; \`/snat status ${instanceId}\` shows its progress.`,
    );
  }
  return reply(
    `:mag: Investigating ${where(target)} with a ${target.seconds} s capture. Investigation \`${instanceId}\`; \`/snat status ${instanceId}\` shows its progress.`,
  );
}

/** The ack when starting takes longer than Slack waits: the outcome, with the investigation's id, follows. */
export function startingReply(target: Target): Reply {
  return reply(
    `:hourglass_flowing_sand: Starting the investigation of ${where(target)}. A reply with its id follows when it has started.`,
  );
}

export function startFailedReply(target: Target): Reply {
  return reply(
    `:x: The investigation of ${where(target)} could not be started; the error is in the app’s logs. Try again in a minute.`,
  );
}

/** A node's registry: the investigation holding it, and the last ones (newest first). */
export function historyReply(alias: string, node: string, registry: NodeRegistry, shown = 10): Reply {
  const lines = [`Investigations of node \`${node}\` of \`${alias}\`:`];
  const { running, history } = registry;
  if (running) lines.push(`• *running* since ${running.since}: \`${running.instanceId}\``);
  for (const past of history.slice(0, shown)) {
    lines.push(`• ${past.finishedAt} (${past.outcome}): \`${past.instanceId}\``);
  }
  if (!running && history.length === 0) lines.push('none yet.');
  else if (history.length > shown) lines.push(`… and ${history.length - shown} earlier.`);
  lines.push('`/snat status <id>` shows one.');
  return reply(lines.join('\n'));
}

export interface StatusView {
  runtimeStatus: string;
  customStatus?: unknown;
}

export function statusReply(instanceId: string, status: StatusView): Reply {
  const step = stepOf(status.customStatus);
  const detail =
    status.runtimeStatus === 'Completed'
      ? ' The report is posted where the investigation was asked for.'
      : step
        ? ` ${step}`
        : '';
  return reply(`Investigation \`${instanceId}\`: *${status.runtimeStatus}*.${detail}`);
}

export function statusPendingReply(instanceId: string): Reply {
  return reply(`:hourglass_flowing_sand: Looking up \`${instanceId}\`; the answer follows.`);
}

/** Not found and not allowed read the same: a denial does not say whether the investigation exists. */
export function statusUnseenReply(instanceId: string): Reply {
  return reply(`There is no investigation \`${instanceId}\` that this channel may see.`);
}

export function statusFailedReply(instanceId: string): Reply {
  return reply(`:x: The status of \`${instanceId}\` could not be read; the error is in the app’s logs.`);
}

/** `/snat status` with no id, in a channel this process has not started anything from. */
export function noRecentReply(): Reply {
  return reply(
    'No investigation was started from this channel since this app instance started (it remembers the latest one per channel, in memory only). Give its id, or a node: `/snat status [cluster] <node-name>` lists the node’s investigations.',
  );
}

function where(target: Target): string {
  return `${target.node ? `node \`${target.node}\`` : 'the most exhausted node'} of \`${target.alias}\``;
}

/** The orchestrator's custom status: `{ step, index, of, message }` (lib/workflow/investigate.ts). */
function stepOf(customStatus: unknown): string | undefined {
  if (typeof customStatus !== 'object' || customStatus === null) return undefined;
  const { index, of, message } = customStatus as Record<string, unknown>;
  if (typeof message !== 'string') return undefined;
  const position = typeof index === 'number' && typeof of === 'number' ? `Step ${index}/${of}: ` : '';
  return `${position}${message.replace(/\s+/g, ' ')}`;
}

/**
 * Every reply passes here: `&`, `<` and `>` escaped (so no echoed value can become a mention, a link or
 * `<!channel>`), and the text kept within Slack's limit. Our own formatting uses only backticks, `*` and emoji codes.
 */
function reply(text: string): Reply {
  const escaped = text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  return { text: escaped.length <= TEXT_MAX ? escaped : `${escaped.slice(0, TEXT_MAX - 1)}…` };
}
