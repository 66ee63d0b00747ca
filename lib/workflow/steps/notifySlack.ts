// Telling Slack (not one of the five investigation steps: a failure here never changes the report). An investigation
// started from Slack has one message in its channel — a placeholder at first, the full report at the end — and its
// progress as one reply in that message's thread, updated at each step. Messages are keyed by instance id and kind,
// so a retried activity updates what an earlier attempt posted instead of posting again.
import { SnatDoctorError } from '../../errors.ts';
import type { InvestigationRequest, Report } from '../../model.ts';
import { escapeMrkdwn, renderSlackProgress, renderSlackReport } from '../../render/slackBlocks.ts';
import type { InvestigationStatus } from '../investigate.ts';
import { defineStep } from '../step.ts';

export type NotifyInput =
  | { kind: 'progress'; channel: string; instanceId: string; thread: string; status: InvestigationStatus; at: string }
  | {
      kind: 'report';
      channel: string;
      instanceId: string;
      report?: Report;
      request: InvestigationRequest;
      node?: string;
    };

export const notifySlack = defineStep<NotifyInput, { ts: string }>('notifySlack', async (input, ports) => {
  if (!ports.slack) throw new SnatDoctorError('NOT_BUILT', 'No Slack bot is configured (SLACK_BOT_TOKEN).');
  const key = { instanceId: input.instanceId, kind: input.kind };
  if (input.kind === 'progress') {
    const message = renderSlackProgress(input.status, new Date(input.at));
    return { ts: (await ports.slack.post(input.channel, message, key, input.thread)).ts };
  }
  const message = input.report
    ? renderSlackReport(input.report, { request: input.request })
    : {
        text: `Investigating SNAT ports on ${input.node ?? 'the most exhausted node'} of ${input.request.cluster.name}…`,
        blocks: [
          {
            type: 'section',
            text: {
              type: 'mrkdwn',
              text: `:mag: Investigating SNAT ports of *${escapeMrkdwn(input.request.cluster.name)}*, node *${escapeMrkdwn(input.node ?? 'most exhausted')}* (asked by ${mention(input.request.requestedBy.who)}). Progress in the thread; the report replaces this message.`,
            },
          },
        ],
      };
  return { ts: (await ports.slack.post(input.channel, message as { text: string; blocks: unknown[] }, key)).ts };
});

/** A Slack user id becomes a mention; anything else is shown as text. */
function mention(who: string | undefined): string {
  return who && /^[UW][A-Z0-9]{2,20}$/.test(who) ? `<@${who}>` : escapeMrkdwn(who ?? 'someone');
}
