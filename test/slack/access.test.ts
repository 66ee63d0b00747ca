// Who may diagnose what: the SNAT_DOCTOR_SLACK_ACCESS document, and the rule "the channel is listed AND (no users
// are listed OR the user is)".
import { describe, expect, test } from '@jest/globals';
import { type Env, readConfig } from '../../lib/config.ts';
import { authorize, authorizeRef, parseSlackAccess, type SlackAccess } from '../../lib/slack/access.ts';
import {
  ALICE,
  accessDocument,
  BOT_TOKEN,
  CHANNEL,
  MALLORY,
  OTHER_CHANNEL,
  SANDBOX_CLUSTER,
  SHARED_CHANNEL,
  SIGNING_SECRET,
  slackEnv,
} from './support.ts';

const readSlackSection = (env: Env) => readConfig(env).slack;

function access(): SlackAccess {
  const parsed = parseSlackAccess(JSON.stringify(accessDocument()));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  return parsed.access;
}

describe('parseSlackAccess', () => {
  test('reads clusters, with users defaulting to anyone in the channels', () => {
    expect(access().clusters[0]).toEqual({ alias: 'prod', ref: SANDBOX_CLUSTER, channels: [CHANNEL], users: [] });
  });

  test('reports every problem at once, each by its field path', () => {
    const document = {
      clusters: [
        {
          alias: 'Prod!',
          subscriptionId: 'not-a-guid',
          resourceGroup: 'rg;rm',
          name: '$(id)',
          channels: ['#payments'],
          users: ['@alice'],
        },
        { alias: 'staging', ...SANDBOX_CLUSTER, channels: [] },
        { alias: 'staging', ...SANDBOX_CLUSTER, channels: [CHANNEL], user: [ALICE] },
      ],
    };
    const parsed = parseSlackAccess(JSON.stringify(document));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const problems = parsed.problems.join('\n');
    for (const expected of [
      /clusters\[0\]\.alias: use 1-63 lower-case letters/,
      /clusters\[0\]\.subscriptionId: subscription id "not-a-guid" is not valid/,
      /clusters\[0\]\.resourceGroup: resource group "rg;rm" is not valid/,
      /clusters\[0\]\.name: cluster name "\$\(id\)" is not valid/,
      /clusters\[0\]\.channels\[0\]: expected a Slack channel id/,
      /clusters\[0\]\.users\[0\]: expected a Slack user id/,
      /clusters\[1\]\.channels: list at least one Slack channel id/,
      /clusters\[2\]: .*"user"/,
      /clusters\[2\]\.alias: alias "staging" is used twice/,
    ]) {
      expect(problems).toMatch(expected);
    }
  });

  test('a repeated alias is reported where it repeats', () => {
    const document = { clusters: [accessDocument().clusters[0], accessDocument().clusters[0]] };
    const parsed = parseSlackAccess(JSON.stringify(document));
    expect(parsed).toEqual({ ok: false, problems: ['clusters[1].alias: alias "prod" is used twice'] });
  });

  test.each([
    ['not JSON', '{clusters', /\(the document\): not valid JSON/],
    ['no clusters', '{"clusters": []}', /clusters: list at least one cluster/],
    ['a list instead of an object', '[]', /\(the document\)/],
  ])('%s', (_name, json, message) => {
    const parsed = parseSlackAccess(json);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.join('\n')).toMatch(message);
  });
});

describe('authorize', () => {
  test.each<[string, { user: string; channel: string; alias?: string }, string | RegExp]>([
    ['the channel’s only cluster, without an alias', { user: MALLORY, channel: CHANNEL }, 'prod'],
    ['a listed channel, no users listed: anyone there', { user: MALLORY, channel: CHANNEL, alias: 'prod' }, 'prod'],
    [
      'a listed channel and a listed user',
      { user: ALICE, channel: SHARED_CHANNEL, alias: 'prod-restricted' },
      'prod-restricted',
    ],
    [
      'a listed channel, but not a listed user',
      { user: MALLORY, channel: SHARED_CHANNEL, alias: 'prod-restricted' },
      /You are not on the list of people who may diagnose `prod-restricted`.*\(U0MALLORY1\)/,
    ],
    [
      'a listed user, but not a listed channel',
      { user: ALICE, channel: OTHER_CHANNEL, alias: 'prod-restricted' },
      /Cluster `prod-restricted` cannot be diagnosed from this channel\. No cluster can be diagnosed from this channel.*\(C0RANDOM01\)/,
    ],
    [
      'a channel with no cluster',
      { user: ALICE, channel: OTHER_CHANNEL },
      /No cluster can be diagnosed from this channel/,
    ],
    [
      'a channel with several clusters and no alias',
      { user: ALICE, channel: SHARED_CHANNEL },
      /several clusters \(`prod-restricted`, `staging`\): name one/,
    ],
    [
      'an unknown alias',
      { user: ALICE, channel: SHARED_CHANNEL, alias: 'prdo' },
      /There is no cluster `prdo`\. From this channel: `prod-restricted`, `staging`\./,
    ],
  ])('%s', (_name, request, expected) => {
    const result = authorize(access(), request);
    if (typeof expected === 'string') {
      expect(result).toMatchObject({ ok: true, cluster: { alias: expected } });
    } else {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(expected);
    }
  });

  test('a button’s cluster is allowed through any configured entry the requester may use', () => {
    expect(authorizeRef(access(), { user: ALICE, channel: SHARED_CHANNEL }, SANDBOX_CLUSTER)).toMatchObject({
      ok: true,
      cluster: { alias: 'prod-restricted' },
    });
    expect(authorizeRef(access(), { user: MALLORY, channel: SHARED_CHANNEL }, SANDBOX_CLUSTER)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/not on the list/),
    });
    expect(
      authorizeRef(access(), { user: ALICE, channel: CHANNEL }, { ...SANDBOX_CLUSTER, name: 'aks-other' }),
    ).toMatchObject({ ok: false, message: expect.stringMatching(/not one snat-doctor is set up for/) });
  });

  // `/snat status <id>` is authorised by the cluster in the instance's input, through authorizeRef: the cluster's
  // subscription counts, not only the resource group and name an id of old carried.
  test('issue 14 item 4: a cluster of the same group and name in another subscription is another cluster', () => {
    const twin = {
      alias: 'twin',
      ...SANDBOX_CLUSTER,
      subscriptionId: '99999999-9999-9999-9999-999999999999',
      channels: [OTHER_CHANNEL],
    };
    const parsed = parseSlackAccess(JSON.stringify({ clusters: [...accessDocument().clusters, twin] }));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const fromTwin = { user: ALICE, channel: OTHER_CHANNEL };
    expect(authorizeRef(parsed.access, fromTwin, SANDBOX_CLUSTER)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/cannot be diagnosed from this channel/),
    });
    expect(
      authorizeRef(parsed.access, fromTwin, { ...SANDBOX_CLUSTER, subscriptionId: twin.subscriptionId }),
    ).toMatchObject({ ok: true, cluster: { alias: 'twin' } });
    expect(authorizeRef(parsed.access, { user: MALLORY, channel: CHANNEL }, SANDBOX_CLUSTER)).toMatchObject({
      ok: true,
      cluster: { alias: 'prod' },
    });
  });
});

describe('the Slack section of the app settings (lib/config.ts)', () => {
  test('reads a complete configuration', () => {
    const result = readSlackSection(slackEnv());
    expect(result).toMatchObject({
      ok: true,
      settings: { signingSecret: SIGNING_SECRET, botToken: BOT_TOKEN, botId: 'B0BOTBOT1', botUserId: 'U0BOTBOT1' },
    });
  });

  test('bot ids are optional', () => {
    const result = readSlackSection(slackEnv({ SLACK_BOT_ID: undefined, SLACK_BOT_USER_ID: undefined }));
    expect(result.ok).toBe(true);
  });

  test('lists every missing or bad setting together, by name, without any value', () => {
    const secretLooking = 'xoxp-this-is-a-user-token-not-a-bot-token';
    const result = readSlackSection({
      SLACK_SIGNING_SECRET: 'not hex at all',
      SLACK_BOT_TOKEN: secretLooking,
      SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({ clusters: [{ alias: 'prod', ...SANDBOX_CLUSTER, channels: ['x'] }] }),
      SLACK_BOT_ID: 'B0BOTBOT1',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      'SLACK_SIGNING_SECRET does not look like a Slack signing secret (hexadecimal digits).',
      'SLACK_BOT_TOKEN does not look like a bot token: it starts with "xoxb-".',
      expect.stringMatching(/^SNAT_DOCTOR_SLACK_ACCESS clusters\[0\]\.channels\[0\]: expected a Slack channel id/),
      'SLACK_BOT_ID and SLACK_BOT_USER_ID go together: set both or neither.',
    ]);
    expect(result.problems.join('\n')).not.toContain(secretLooking);
    expect(result.problems.join('\n')).not.toContain('not hex at all');
  });

  test('an empty environment names all three required settings', () => {
    const result = readSlackSection({});
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems.map((p) => p.split(' ')[0])).toEqual([
        'SLACK_SIGNING_SECRET',
        'SLACK_BOT_TOKEN',
        'SNAT_DOCTOR_SLACK_ACCESS',
      ]);
    }
  });
});
