// The Slack app manifest users paste must match what the app serves: the route, the command, the scopes it uses.
import { readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import { parse } from 'yaml';

const manifest = parse(readFileSync(new URL('../../slack-app-manifest.yaml', import.meta.url), 'utf8'));
const slackFunction = readFileSync(new URL('../../functions/slack.ts', import.meta.url), 'utf8');

test('the command and the buttons go to the route the slack function serves', () => {
  const route = /route: '([^']+)'/.exec(slackFunction)?.[1];
  expect(route).toBe('slack/events');
  const paths = [manifest.features.slash_commands[0].url, manifest.settings.interactivity.request_url].map(
    (url: string) => new URL(url).pathname,
  );
  expect(paths).toEqual([`/api/${route}`, `/api/${route}`]);
  expect(manifest.features.slash_commands[0].command).toBe('/snat');
});

test('the bot scopes are the ones posting and its duplicate check need, in every kind of conversation /snat works in', () => {
  // conversations.history needs channels:history, groups:history, im:history or mpim:history by conversation kind.
  expect(manifest.oauth_config.scopes.bot.sort()).toEqual([
    'channels:history',
    'chat:write',
    'commands',
    'groups:history',
    'im:history',
    'mpim:history',
  ]);
});
