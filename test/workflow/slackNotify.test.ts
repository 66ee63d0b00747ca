// An investigation asked for from Slack reports there: one message in the channel (a placeholder, then the report)
// and one progress reply in its thread, updated at each step — through the real poster and the sandbox's Slack API.
import { afterEach, describe, expect, test } from '@jest/globals';
import { createSlackPoster, slackPort } from '../../lib/adapters/slack.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { Report } from '../../lib/model.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { type SlackServer, startSlackServer } from '../../lib/sandbox/slackServer.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { requestFor } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';

const TOKEN = 'xoxb-sandbox';
let slack: SlackServer | undefined;
afterEach(async () => {
  await slack?.close();
});

async function investigateFromSlack(faults: Parameters<typeof startSlackServer>[0]['faults'] = []) {
  slack = await startSlackServer({ token: TOKEN, faults });
  const scenario = scenarioWith();
  const ports = {
    ...scenarioPorts(scenario),
    slack: slackPort(createSlackPoster({ token: TOKEN, apiUrl: slack.url })),
  };
  const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
  const instanceId = await startNewInvestigation(
    host,
    requestFor(scenario, { requestedBy: { kind: 'slack', who: 'U0123ABCD', where: 'C0SNAT' } }),
  );
  const status = await host.waitForCompletion(instanceId);
  return { report: status.output as Report, messages: slack.messages() };
}

describe('an investigation started from Slack', () => {
  test('posts one message that becomes the report, and one progress reply in its thread', async () => {
    const { report, messages } = await investigateFromSlack();
    expect(report.steps.map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
    const [root, ...replies] = messages;
    expect(messages).toHaveLength(2);
    expect(root?.channel).toBe('C0SNAT');
    expect(root?.threadTs).toBeUndefined();
    expect(root?.text).toMatch(/checkout-api/);
    expect(root?.edits).toBe(1); // the placeholder, replaced by the report
    expect(replies[0]).toMatchObject({ channel: 'C0SNAT', threadTs: root?.ts });
    // The reply is posted at the first step and edited at each later one (and per chunk of POD_CHUNK pods).
    expect(replies[0]?.edits).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(replies[0]?.blocks)).toMatch(/\[5\/5\]/);
  });

  test('a post whose answer was lost is not posted twice', async () => {
    const { messages } = await investigateFromSlack([
      { method: 'chat.postMessage', error: 'post-then-drop', times: 1 },
    ]);
    expect(messages.filter((m) => !m.threadTs)).toHaveLength(1);
  });

  test('a rate-limited post waits out its Retry-After, then posts once', async () => {
    slack = await startSlackServer({
      token: TOKEN,
      faults: [{ method: 'chat.postMessage', error: 'ratelimited', retryAfterSeconds: 30, times: 1 }],
    });
    const scenario = scenarioWith();
    const ports = {
      ...scenarioPorts(scenario),
      slack: slackPort(createSlackPoster({ token: TOKEN, apiUrl: slack.url })),
    };
    const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
    const instanceId = await startNewInvestigation(
      host,
      requestFor(scenario, { requestedBy: { kind: 'slack', who: 'U0123ABCD', where: 'C0SNAT' } }),
    );
    const { history } = await host.waitForCompletion(instanceId);
    const failed = history.findIndex((e) => e.EventType === 6 && JSON.stringify(e).includes('retry after 30 s'));
    expect(failed).toBeGreaterThan(-1);
    const timer = history.slice(failed).find((e) => e.EventType === 10);
    expect(Date.parse(String(timer?.FireAt)) - Date.parse(history[failed]!.Timestamp)).toBeGreaterThanOrEqual(30_000);
    expect(slack.messages().filter((m) => !m.threadTs)).toHaveLength(1);
  });

  test('Slack being down does not change the report', async () => {
    const { report } = await investigateFromSlack([{ method: 'chat.postMessage', error: 'server-error' }]);
    expect(report.steps.map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  });
});
