// The Slack front door's settings, read from the environment in this one place and validated together: every
// missing or bad setting is reported at once, by name. Secret values never appear in a message.
import { parseSlackAccess, type SlackAccess } from './access.ts';

export interface SlackConfig {
  signingSecret: string;
  botToken: string;
  access: SlackAccess;
  /** With both ids set, Bolt never calls auth.test to learn them (one Slack API call per request saved). */
  botId?: string;
  botUserId?: string;
}

export type SlackConfigResult = { ok: true; config: SlackConfig } | { ok: false; problems: string[] };

export const SLACK_SETTINGS = {
  signingSecret: 'SLACK_SIGNING_SECRET',
  botToken: 'SLACK_BOT_TOKEN',
  access: 'SNAT_DOCTOR_SLACK_ACCESS',
  botId: 'SLACK_BOT_ID',
  botUserId: 'SLACK_BOT_USER_ID',
} as const;

export function readSlackConfig(env: Record<string, string | undefined> = process.env): SlackConfigResult {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const required = (name: string, what: string) => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} is not set: ${what}.`);
    return value;
  };

  const signingSecret = required(
    SLACK_SETTINGS.signingSecret,
    "the Slack app's signing secret (Basic Information → App Credentials)",
  );
  if (signingSecret !== undefined && !/^[0-9a-f]{16,128}$/i.test(signingSecret)) {
    problems.push(`${SLACK_SETTINGS.signingSecret} does not look like a Slack signing secret (hexadecimal digits).`);
  }
  const botToken = required(SLACK_SETTINGS.botToken, "the bot's OAuth token (xoxb-…, OAuth & Permissions)");
  if (botToken !== undefined && !/^xoxb-[A-Za-z0-9-]+$/.test(botToken)) {
    problems.push(`${SLACK_SETTINGS.botToken} does not look like a bot token: it starts with "xoxb-".`);
  }
  const accessJson = required(SLACK_SETTINGS.access, 'JSON naming the clusters and who may diagnose them (README)');
  let access: SlackAccess | undefined;
  if (accessJson !== undefined) {
    const parsed = parseSlackAccess(accessJson);
    if (parsed.ok) access = parsed.access;
    else problems.push(...parsed.problems.map((problem) => `${SLACK_SETTINGS.access} ${problem}`));
  }
  const botId = get(SLACK_SETTINGS.botId);
  const botUserId = get(SLACK_SETTINGS.botUserId);
  if ((botId === undefined) !== (botUserId === undefined)) {
    problems.push(`${SLACK_SETTINGS.botId} and ${SLACK_SETTINGS.botUserId} go together: set both or neither.`);
  }
  if (botId !== undefined && !/^B[A-Z0-9]{6,20}$/.test(botId)) {
    problems.push(`${SLACK_SETTINGS.botId} is not a bot id like B0123ABCD.`);
  }
  if (botUserId !== undefined && !/^[UW][A-Z0-9]{6,20}$/.test(botUserId)) {
    problems.push(`${SLACK_SETTINGS.botUserId} is not a user id like U0123ABCD.`);
  }

  if (problems.length > 0 || signingSecret === undefined || botToken === undefined || access === undefined) {
    return { ok: false, problems };
  }
  return {
    ok: true,
    config: {
      signingSecret,
      botToken,
      access,
      ...(botId !== undefined && botUserId !== undefined ? { botId, botUserId } : {}),
    },
  };
}
