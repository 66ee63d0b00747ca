// Slack's front door: POST /api/slack/events receives slash commands (`/snat …`) and button clicks. The Bolt app
// (lib/slack/app.ts) does the work; this trigger takes the settings (read once, lib/config.ts), builds the app around
// this invocation's Durable client and hands it the request.
import azureFunctions, { type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { appConfig, type Section, type SlackSettings } from '../lib/config.ts';
import { BodyTooLargeError, MAX_REQUEST_BODY, readRequestBytes } from '../lib/requestBody.ts';
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
  // The body is read here, bounded, and the receiver gets exactly those bytes (the signature covers them).
  let body: Uint8Array;
  try {
    body = await readRequestBytes(request, MAX_REQUEST_BODY);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    context.warn(`The Slack endpoint refused a request: ${error.message}`);
    return { status: 413, body: `snat-doctor: ${error.message}` };
  }
  // The app is built per invocation because the Durable client is per invocation; building it makes no network
  // call (with SLACK_BOT_ID and SLACK_BOT_USER_ID set, none happens before the listener either).
  // Bolt loads on the first Slack request, not when the app starts (cold start; the CLI never needs it).
  const [{ createSlackApp }, { boltLogger }] = await Promise.all([
    import('../lib/slack/app.ts'),
    import('../lib/slack/logger.ts'),
  ]);
  const { receiver } = createSlackApp({ ...config.settings, client, recent, logger: boltLogger(context) });
  return receiver.handle(
    new azureFunctions.HttpRequest({
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
      query: Object.fromEntries(request.query),
      params: request.params,
      body: { bytes: body },
    }),
  );
}

df.app.client.http('slack', {
  route: 'slack/events',
  methods: ['POST'],
  authLevel: 'anonymous', // Slack cannot send a function key; every request is authenticated by its signature.
  handler: slack,
});
