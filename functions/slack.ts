// Slack's front door: POST /api/slack/events receives slash commands (`/snat …`) and button clicks. The Bolt app
// (lib/slack/app.ts) does the work; this trigger takes the settings (read once, lib/config.ts), builds the app around
// this invocation's Durable client and hands it the request.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { appConfig, type Section, type SlackSettings } from '../lib/config.ts';
import type { SlackInvestigationClient } from '../lib/slack/app.ts';
import { RecentInvestigations } from '../lib/slack/recentInvestigations.ts';

// Per process: `/snat status`'s per-channel index, which must outlive the per-invocation app.
const recent = new RecentInvestigations();

export async function slack(
  request: HttpRequest,
  client: SlackInvestigationClient,
  context: InvocationContext,
  config: Section<SlackSettings> = appConfig().slack,
): Promise<HttpResponseInit> {
  if (!config.ok) {
    // Names and reasons only: no setting's value is ever logged.
    context.error(`The Slack endpoint is not configured:\n  ${config.problems.join('\n  ')}`);
    return {
      status: 500,
      body: 'snat-doctor: the Slack endpoint is not configured; the app logs say what is missing.',
    };
  }
  // The app is built per invocation because the Durable client is per invocation; building it makes no network
  // call (with SLACK_BOT_ID and SLACK_BOT_USER_ID set, none happens before the listener either).
  // Bolt loads on the first Slack request, not when the app starts (cold start; the CLI never needs it).
  const [{ createSlackApp }, { boltLogger }] = await Promise.all([
    import('../lib/slack/app.ts'),
    import('../lib/slack/logger.ts'),
  ]);
  const { receiver } = createSlackApp({ ...config.settings, client, recent, logger: boltLogger(context) });
  return receiver.handle(request);
}

df.app.client.http('slack', {
  route: 'slack/events',
  methods: ['POST'],
  authLevel: 'anonymous', // Slack cannot send a function key; every request is authenticated by its signature.
  handler: slack,
});
