// Every app setting snat-doctor reads, read here and nowhere else, and validated together: each area of the app
// (the Slack endpoint, the watch, alerts, the evidence store, the Functions host's own settings) gets its settings
// or the list of what is wrong with them, and `problems` has every problem of every area at once, each naming its
// setting. Areas stand apart: a Slack app not set up yet does not stop the watch.
//
// The Functions app reads process.env once per process (`appConfig()`) and logs every problem at start
// (functions/index.ts); `snat-doctor config` prints the same report for a local.settings.json or the environment.
// No message ever carries a secret's value, nor any part of a value that looks like one (a Slack token pasted into
// the wrong setting): it names the setting, what the value looks like and where that belongs (`settingIs`).
import { readFileSync } from 'node:fs';
import type { ClusterRef, PrivateRange } from './model.ts';
import { CIDR_EXAMPLE, parsePrivateRanges } from './privateRanges.ts';
import { projectPath } from './projectRoot.ts';
import { parseSlackAccess, type SlackAccess } from './slack/access.ts';
import { validateClusterName, validateResourceGroup, validateSubscriptionId } from './validation.ts';
import {
  DEFAULT_COOLDOWN_MINUTES,
  DEFAULT_HORIZON_MINUTES,
  DEFAULT_THRESHOLDS,
  type Thresholds,
} from './watch/policy.ts';

/** The app settings, by what they are for. local.settings.sample.json and infra/main.bicep hold the same list. */
export const SETTINGS = {
  slackSigningSecret: 'SLACK_SIGNING_SECRET',
  slackBotToken: 'SLACK_BOT_TOKEN',
  slackAccess: 'SNAT_DOCTOR_SLACK_ACCESS',
  slackBotId: 'SLACK_BOT_ID',
  slackBotUserId: 'SLACK_BOT_USER_ID',
  watchClusters: 'SNAT_DOCTOR_WATCH_CLUSTERS',
  warnRatio: 'SNAT_DOCTOR_WARN_RATIO',
  investigateRatio: 'SNAT_DOCTOR_INVESTIGATE_RATIO',
  cooldownMinutes: 'SNAT_DOCTOR_COOLDOWN_MINUTES',
  horizonMinutes: 'SNAT_DOCTOR_EXHAUSTION_HORIZON_MINUTES',
  evidenceContainerUrl: 'SNAT_DOCTOR_EVIDENCE_CONTAINER_URL',
  privateRanges: 'SNAT_DOCTOR_PRIVATE_RANGES',
  // Read by the Functions host itself (host.json and the snatWatch trigger's binding expression): checked here so a
  // missing one is reported with the rest rather than as the host's indexing error.
  watchSchedule: 'SNAT_DOCTOR_WATCH_SCHEDULE',
  taskHubName: 'TASKHUB_NAME',
  schedulerConnection: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
} as const;

export type Env = Record<string, string | undefined>;

/** One area's settings, or everything wrong with them. */
export type Section<T> = { ok: true; settings: T } | { ok: false; problems: string[] };

export interface SlackSettings {
  signingSecret: string;
  botToken: string;
  access: SlackAccess;
  /** With both ids set, Bolt never calls auth.test to learn them (one Slack API call per request saved). */
  botId?: string;
  botUserId?: string;
}

export interface WatchSettings {
  clusters: ClusterRef[];
  thresholds: Thresholds;
  cooldownMinutes: number;
  /** A node predicted to exhaust its SNAT ports within this many minutes is investigated now (lib/watch/trend.ts). */
  horizonMinutes: number;
}

export interface AlertSettings {
  /** The clusters alerts may start investigations on: the watched ones. */
  clusters: ClusterRef[];
}

export interface EvidenceSettings {
  /** Unset: evidence is not stored (reports still are, in the Durable history). */
  containerUrl?: string;
}

export interface RangeSettings {
  /**
   * Ranges every investigation leaves out of the SNAT model, besides those the cluster's facts give (on-premises
   * networks over ExpressRoute or VPN, a hub VNet the identity may not read …); source `setting`.
   */
  privateRanges: PrivateRange[];
}

export interface HostSettings {
  watchSchedule: string;
  taskHubName: string;
}

export interface AppConfig {
  slack: Section<SlackSettings>;
  watch: Section<WatchSettings>;
  alerts: Section<AlertSettings>;
  evidence: Section<EvidenceSettings>;
  ranges: Section<RangeSettings>;
  host: Section<HostSettings>;
  /** Every problem of every area, each once, in the order of the areas above. */
  problems: string[];
}

export const AREAS = [
  'slack',
  'watch',
  'alerts',
  'evidence',
  'ranges',
  'host',
] as const satisfies readonly (keyof AppConfig)[];

/** What each area is for, in words a person setting the app up knows. */
export const AREA_TITLES: Record<(typeof AREAS)[number], string> = {
  slack: 'Slack endpoint (slack function)',
  watch: 'watch (snatWatch timer)',
  alerts: 'alerts (alertHook)',
  evidence: 'evidence store',
  ranges: 'private ranges (added to every investigation)',
  host: 'Functions host (Durable Task Scheduler, timer schedule)',
};

export interface ConfigOptions {
  /**
   * host.json's Durable storage provider: `azureManaged` (the Durable Task Scheduler, as shipped) needs the scheduler's
   * connection; Azure Storage (no storageProvider) needs only AzureWebJobsStorage, which the host checks itself.
   */
  durableProvider?: string;
}

export function readConfig(env: Env, options: ConfigOptions = {}): AppConfig {
  const read = reader(env);
  // The watch and alerts share one cluster list: read once, its problems reported by both areas.
  const clusterProblems: string[] = [];
  const clusters = watchedClusters(read, clusterProblems);
  const sections = {
    slack: slackSection(read),
    watch: watchSection(read, clusters, clusterProblems),
    alerts: section(clusterProblems, () => ({ clusters })),
    evidence: evidenceSection(read),
    ranges: rangesSection(read),
    host: hostSection(read, options.durableProvider ?? SCHEDULER_PROVIDER),
  };
  const problems = [...new Set(AREAS.flatMap((area) => (sections[area].ok ? [] : sections[area].problems)))];
  return { ...sections, problems };
}

let loaded: AppConfig | undefined;

/** The app's settings from process.env, read and validated once per process. */
export function appConfig(): AppConfig {
  loaded ??= projectConfig(process.env);
  return loaded;
}

/** The settings read against this package's own host.json, which says which Durable backend the host needs. */
export function projectConfig(env: Env): AppConfig {
  return readConfig(env, { durableProvider: durableProviderOf(projectPath('host.json')) });
}

const SCHEDULER_PROVIDER = 'azureManaged';

/** The Durable storage provider named in a host.json; the scheduler's when the file cannot be read. */
export function durableProviderOf(hostJsonPath: string): string {
  try {
    const host = JSON.parse(readFileSync(hostJsonPath, 'utf8'));
    return host?.extensions?.durableTask?.storageProvider?.type ?? 'AzureStorage';
  } catch {
    return SCHEDULER_PROVIDER;
  }
}

/**
 * The settings' standing as text: every area with problems and its problems (and, with `all`, the areas that are
 * fine). Names and reasons; a value is quoted only where it is no secret (a ratio, a schedule), never a secret or a URL.
 */
export function settingsReport(config: AppConfig, options: { all?: boolean } = {}): string {
  const count = config.problems.length;
  const lines = [
    count === 0
      ? 'snat-doctor: the app settings are complete.'
      : `snat-doctor: ${count} problem(s) with the app settings:`,
  ];
  for (const area of AREAS) {
    const section = config[area];
    if (section.ok) {
      if (options.all) lines.push(`  ✔ ${AREA_TITLES[area]}${area === 'evidence' ? evidenceNote(config) : ''}`);
      continue;
    }
    lines.push(`  ✖ ${AREA_TITLES[area]} is off:`, ...section.problems.map((problem) => `      ${problem}`));
  }
  return lines.join('\n');
}

function evidenceNote(config: AppConfig): string {
  return config.evidence.ok && config.evidence.settings.containerUrl === undefined
    ? `: ${SETTINGS.evidenceContainerUrl} is not set, so evidence is not stored (reports stay in the Durable history)`
    : '';
}

/** A setting's value, trimmed; undefined when unset or blank. */
type Read = (name: string) => string | undefined;

function reader(env: Env): Read {
  return (name) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
}

function section<T>(problems: string[], settings: () => T): Section<T> {
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings: settings() };
}

// ---- Slack ----------------------------------------------------------------------------------------------------

function slackSection(read: Read): Section<SlackSettings> {
  const problems: string[] = [];
  const required = (name: string, what: string) => {
    const value = read(name);
    if (value === undefined) problems.push(`${name} is not set: ${what}.`);
    return value;
  };

  const signingSecret = required(
    SETTINGS.slackSigningSecret,
    "the Slack app's signing secret (Basic Information → App Credentials)",
  );
  if (signingSecret !== undefined && !/^[0-9a-f]{16,128}$/i.test(signingSecret)) {
    problems.push(
      secretLookalike(signingSecret)
        ? `${settingIs(SETTINGS.slackSigningSecret, signingSecret)}: expected the Slack app's signing secret, hexadecimal digits (Basic Information → App Credentials).`
        : `${SETTINGS.slackSigningSecret} does not look like a Slack signing secret (hexadecimal digits).`,
    );
  }
  const botToken = required(SETTINGS.slackBotToken, "the bot's OAuth token (xoxb-…, OAuth & Permissions)");
  if (botToken !== undefined && !/^xoxb-[A-Za-z0-9-]+$/.test(botToken)) {
    problems.push(`${SETTINGS.slackBotToken} does not look like a bot token: it starts with "xoxb-".`);
  }
  const accessJson = required(SETTINGS.slackAccess, 'JSON naming the clusters and who may diagnose them (README)');
  let access: SlackAccess | undefined;
  if (accessJson !== undefined) {
    const syntax = jsonSyntaxProblem(accessJson);
    if (secretLookalike(accessJson, { strict: true })) {
      problems.push(
        `${settingIs(SETTINGS.slackAccess, accessJson)}: expected JSON naming the clusters and who may diagnose them (README).`,
      );
    } else if (syntax !== undefined) {
      problems.push(`${SETTINGS.slackAccess} (the document): not valid JSON (${syntax}).`);
    } else {
      const parsed = parseSlackAccess(accessJson);
      if (parsed.ok) access = parsed.access;
      else problems.push(...parsed.problems.map((problem) => `${SETTINGS.slackAccess} ${problem}`));
    }
  }
  const botId = read(SETTINGS.slackBotId);
  const botUserId = read(SETTINGS.slackBotUserId);
  if ((botId === undefined) !== (botUserId === undefined)) {
    problems.push(`${SETTINGS.slackBotId} and ${SETTINGS.slackBotUserId} go together: set both or neither.`);
  }
  if (botId !== undefined && !/^B[A-Z0-9]{6,20}$/.test(botId)) {
    problems.push(
      secretLookalike(botId)
        ? `${settingIs(SETTINGS.slackBotId, botId)}: expected a bot id like B0123ABCD.`
        : `${SETTINGS.slackBotId} is not a bot id like B0123ABCD.`,
    );
  }
  if (botUserId !== undefined && !/^[UW][A-Z0-9]{6,20}$/.test(botUserId)) {
    problems.push(
      secretLookalike(botUserId)
        ? `${settingIs(SETTINGS.slackBotUserId, botUserId)}: expected a user id like U0123ABCD.`
        : `${SETTINGS.slackBotUserId} is not a user id like U0123ABCD.`,
    );
  }

  return section(problems, () => ({
    signingSecret: signingSecret as string,
    botToken: botToken as string,
    access: access as SlackAccess,
    ...(botId !== undefined && botUserId !== undefined ? { botId, botUserId } : {}),
  }));
}

// ---- The watch and alerts ---------------------------------------------------------------------------------------

const CLUSTER_FIELDS = {
  subscriptionId: validateSubscriptionId,
  resourceGroup: validateResourceGroup,
  name: validateClusterName,
} as const;
const CLUSTER_SHAPE = '{"subscriptionId": "…", "resourceGroup": "…", "name": "…"}';

function watchSection(read: Read, clusters: ClusterRef[], clusterProblems: string[]): Section<WatchSettings> {
  const problems = [...clusterProblems];
  const warn = ratio(read(SETTINGS.warnRatio), SETTINGS.warnRatio, DEFAULT_THRESHOLDS.warn, problems);
  const investigate = ratio(
    read(SETTINGS.investigateRatio),
    SETTINGS.investigateRatio,
    DEFAULT_THRESHOLDS.investigate,
    problems,
  );
  if (warn !== undefined && investigate !== undefined && warn > investigate) {
    problems.push(
      `${SETTINGS.warnRatio} (${warn}) is above ${SETTINGS.investigateRatio} (${investigate}): a node is warned about before it is investigated.`,
    );
  }

  const cooldownText = read(SETTINGS.cooldownMinutes);
  if (cooldownText !== undefined && !/^\d+$/.test(cooldownText)) {
    problems.push(
      `${settingIs(SETTINGS.cooldownMinutes, cooldownText)}: expected a whole number of minutes (0 for none; default ${DEFAULT_COOLDOWN_MINUTES}).`,
    );
  }
  const cooldownMinutes = cooldownText === undefined ? DEFAULT_COOLDOWN_MINUTES : Number(cooldownText);
  const horizonText = read(SETTINGS.horizonMinutes);
  if (horizonText !== undefined && !/^\d{1,4}$/.test(horizonText)) {
    problems.push(
      `${settingIs(SETTINGS.horizonMinutes, horizonText)}: expected a whole number of minutes up to 9999 (0: never investigate early; default ${DEFAULT_HORIZON_MINUTES}).`,
    );
  }
  const horizonMinutes = horizonText === undefined ? DEFAULT_HORIZON_MINUTES : Number(horizonText);
  return section(problems, () => ({
    clusters,
    thresholds: { warn: warn as number, investigate: investigate as number },
    cooldownMinutes,
    horizonMinutes,
  }));
}

function watchedClusters(read: Read, problems: string[]): ClusterRef[] {
  const name = SETTINGS.watchClusters;
  const json = read(name);
  if (json === undefined) {
    problems.push(`${name} is not set: a JSON array of the clusters to watch, [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  if (secretLookalike(json, { strict: true })) {
    problems.push(`${settingIs(name, json)}: expected a JSON array of the clusters to watch, [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  const syntax = jsonSyntaxProblem(json);
  if (syntax !== undefined) {
    problems.push(`${name} is not valid JSON (${syntax}): expected [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  const document: unknown = JSON.parse(json);
  if (!Array.isArray(document) || document.length === 0) {
    problems.push(`${name}: expected a JSON array of at least one cluster, [${CLUSTER_SHAPE}, …].`);
    return [];
  }
  const clusters: ClusterRef[] = [];
  const seen = new Map<string, number>();
  document.forEach((entry: unknown, i) => {
    const where = `${name}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected ${CLUSTER_SHAPE}.`);
      return;
    }
    const fields = entry as Record<string, unknown>;
    const before = problems.length;
    for (const key of Object.keys(fields)) {
      if (!(key in CLUSTER_FIELDS)) problems.push(`${where}.${key}: unknown field (expected ${CLUSTER_SHAPE}).`);
    }
    const ref: Record<string, string> = {};
    for (const [field, validate] of Object.entries(CLUSTER_FIELDS)) {
      const value = fields[field];
      if (typeof value !== 'string') {
        problems.push(`${where}.${field}: missing (a string is expected).`);
        continue;
      }
      try {
        ref[field] = validate(value);
      } catch (error) {
        problems.push(`${where}.${field}: ${(error as Error).message}`);
      }
    }
    if (problems.length > before) return;
    const cluster = ref as unknown as ClusterRef;
    const key = `${cluster.subscriptionId}/${cluster.resourceGroup}/${cluster.name}`.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${where}: the same cluster as ${name}[${first}].`);
    else seen.set(key, i);
    clusters.push(cluster);
  });
  return clusters;
}

/** A share in (0, 1]; the default when unset, undefined (and a problem) when malformed. */
function ratio(text: string | undefined, name: string, fallback: number, problems: string[]): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(value > 0 && value <= 1)) {
    problems.push(
      `${settingIs(name, text)}: expected a share of the allocated ports above 0 and at most 1, like ${fallback} (the default).`,
    );
    return undefined;
  }
  return value;
}

// ---- Evidence ---------------------------------------------------------------------------------------------------

// A blob container's URL: https://<account>.blob.core.windows.net/<container> in Azure; Azurite's
// http://127.0.0.1:10000/<account>/<container> locally. Container names: 3-63 of a-z, 0-9 and single hyphens.
const CONTAINER = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

function evidenceSection(read: Read): Section<EvidenceSettings> {
  const name = SETTINGS.evidenceContainerUrl;
  const text = read(name);
  if (text === undefined) return { ok: true, settings: {} };
  // The value is never repeated in a message: a URL may carry a SAS token.
  const expected = `expected the evidence container's URL, like https://<account>.blob.core.windows.net/snat-doctor-evidence`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const lookalike = secretLookalike(text) ? `${settingIs(name, text)}, not a URL` : `${name} is not a URL`;
    return { ok: false, problems: [`${lookalike}: ${expected}.`] };
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  const segments = url.pathname.split('/').filter(Boolean);
  const problems: string[] = [];
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    problems.push(`${name} must use https (plain http only for Azurite on this machine): ${expected}.`);
  }
  if (url.search !== '') {
    problems.push(`${name} carries a query (a SAS token?): the app signs in with its managed identity; ${expected}.`);
  }
  // Azurite puts the account in the path: http://127.0.0.1:10000/devstoreaccount1/<container>.
  const container = segments.at(-1);
  if (segments.length !== (loopback ? 2 : 1) || container === undefined || !CONTAINER.test(container)) {
    problems.push(`${name} does not end in one container name (3-63 of a-z, 0-9, -): ${expected}.`);
  }
  return section(problems, () => ({ containerUrl: text }));
}

// ---- Private ranges -----------------------------------------------------------------------------------------------

function rangesSection(read: Read): Section<RangeSettings> {
  const name = SETTINGS.privateRanges;
  const text = read(name);
  if (text === undefined) return { ok: true, settings: { privateRanges: [] } };
  const { ranges, invalid } = parsePrivateRanges(text, 'setting');
  // Every bad entry by name: addresses are no secret, but an entry that looks like one is not shown.
  const problems = invalid.map(
    (entry) =>
      `${name}: ${shownValue(entry, name)} is not a CIDR range: write each range as address/prefix-length, like ${CIDR_EXAMPLE} (a single address as /32), separated by commas.`,
  );
  return section(problems, () => ({ privateRanges: ranges }));
}

// ---- The Functions host's own settings --------------------------------------------------------------------------

function hostSection(read: Read, durableProvider: string): Section<HostSettings> {
  const problems: string[] = [];
  const watchSchedule = read(SETTINGS.watchSchedule);
  if (watchSchedule === undefined) {
    problems.push(
      `${SETTINGS.watchSchedule} is not set: the snatWatch timer's NCRONTAB schedule, like "0 */5 * * * *" (every 5 minutes); without it the timer does not run.`,
    );
  } else if (watchSchedule.split(/\s+/).length !== 6) {
    problems.push(
      `${settingIs(SETTINGS.watchSchedule, watchSchedule)}: expected an NCRONTAB schedule of six fields (seconds first), like "0 */5 * * * *".`,
    );
  }
  const taskHubName = read(SETTINGS.taskHubName);
  if (taskHubName === undefined) {
    problems.push(
      `${SETTINGS.taskHubName} is not set: the Durable Task Scheduler task hub's name (host.json hubName).`,
    );
  } else if (!/^[A-Za-z][A-Za-z0-9-]{2,63}$/.test(taskHubName) || secretLookalike(taskHubName, { strict: true })) {
    problems.push(
      `${settingIs(SETTINGS.taskHubName, taskHubName)}: a task hub name starts with a letter and has 3-64 letters, digits and hyphens.`,
    );
  }
  // Another backend (Azure Storage) does not use the scheduler's connection.
  if (durableProvider.toLowerCase() === SCHEDULER_PROVIDER.toLowerCase()) {
    problems.push(...schedulerConnectionProblems(read(SETTINGS.schedulerConnection)));
  }
  return section(problems, () => ({ watchSchedule: watchSchedule as string, taskHubName: taskHubName as string }));
}

function schedulerConnectionProblems(connection: string | undefined): string[] {
  const problems: string[] = [];
  if (connection === undefined) {
    problems.push(
      `${SETTINGS.schedulerConnection} is not set: "Endpoint=https://<scheduler>.durabletask.io;Authentication=ManagedIdentity;ClientID=<identity>" in Azure, "Endpoint=http://localhost:8080;Authentication=None" with the emulator.`,
    );
    return problems;
  }
  // Keys only: a connection string may one day carry a secret, so its values are not repeated.
  const keys = new Map(
    connection
      .split(';')
      .filter(Boolean)
      .map((part) => {
        const at = part.indexOf('=');
        return [
          part
            .slice(0, at < 0 ? undefined : at)
            .trim()
            .toLowerCase(),
          at < 0 ? '' : part.slice(at + 1),
        ];
      }),
  );
  const endpoint = keys.get('endpoint');
  if (endpoint === undefined || !/^https?:\/\/[^\s;]+$/.test(endpoint)) {
    problems.push(`${SETTINGS.schedulerConnection} has no Endpoint=http(s)://… part.`);
  }
  if (!keys.has('authentication')) {
    problems.push(
      `${SETTINGS.schedulerConnection} has no Authentication=… part (ManagedIdentity in Azure, None with the emulator).`,
    );
  }
  return problems;
}

// ---- Values that look like secrets --------------------------------------------------------------------------------

/** What a secret-looking value looks like, and the setting where that belongs (if snat-doctor takes it). */
export interface SecretLookalike {
  what: string;
  belongsIn?: string;
}

// Slack's tokens by prefix (https://api.slack.com/concepts/token-types), then the shapes of secrets in general. The
// first match names the value.
const SECRET_SHAPES: { pattern: RegExp; lookalike: SecretLookalike }[] = [
  { pattern: /xoxb-/i, lookalike: { what: 'a Slack bot token', belongsIn: SETTINGS.slackBotToken } },
  { pattern: /xoxp-/i, lookalike: { what: 'a Slack user token' } },
  { pattern: /xapp-/i, lookalike: { what: 'a Slack app-level token' } },
  { pattern: /xox[a-z]-|xoxe\./i, lookalike: { what: 'a Slack token' } },
  {
    pattern: /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/i,
    lookalike: { what: 'a Slack signing secret', belongsIn: SETTINGS.slackSigningSecret },
  },
  { pattern: /[0-9a-f]{33,}/i, lookalike: { what: 'a hexadecimal key' } },
  { pattern: /eyJ[\w-]{8,}\.[\w-]{8,}/, lookalike: { what: 'a JWT' } },
  {
    pattern: /(?:accountkey|sharedaccesskey|sig|secret|password|pwd|api_?key)=/i,
    lookalike: { what: 'a connection string with a key or password' },
  },
];

// A long run of letters, digits, +, /, _ and - that mixes upper case, lower case and digits (a storage key, a token):
// in a value that is not valid anyway (a ratio, a schedule, a range), it is not quoted.
const RANDOM_RUN = /[A-Za-z0-9+/_-]{24,}/g;
const mixed = (run: string) => /[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run);

/**
 * What `value` looks like when it looks like a secret; undefined when it does not. `strict`: only the shapes above,
 * for a value that may be valid (JSON naming clusters, a task hub name), where any long mixed run is not a secret.
 */
export function secretLookalike(value: string, options: { strict?: boolean } = {}): SecretLookalike | undefined {
  const shaped = SECRET_SHAPES.find(({ pattern }) => pattern.test(value));
  if (shaped) return shaped.lookalike;
  if (!options.strict && (value.match(RANDOM_RUN) ?? []).some(mixed)) {
    return { what: 'a key or token' };
  }
  return undefined;
}

/**
 * A value as a problem shows it: quoted when it looks like no secret; otherwise what it looks like and where that
 * belongs (`setting` being where it is), and none of it.
 */
export function shownValue(value: string, setting: string): string {
  const lookalike = secretLookalike(value);
  if (lookalike === undefined) {
    return value.length > 80
      ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} characters)`
      : JSON.stringify(value);
  }
  const home =
    lookalike.belongsIn !== undefined && lookalike.belongsIn !== setting
      ? `; it belongs in ${lookalike.belongsIn}`
      : '';
  return `what looks like ${lookalike.what} (not shown${home})`;
}

/** `NAME is "value"`, or `NAME holds what looks like … (not shown)`: see shownValue. */
export function settingIs(name: string, value: string): string {
  return `${name} ${secretLookalike(value) ? 'holds' : 'is'} ${shownValue(value, name)}`;
}

/** Why `json` does not parse, without the text JSON.parse quotes; undefined when it parses. */
function jsonSyntaxProblem(json: string): string | undefined {
  try {
    JSON.parse(json);
    return undefined;
  } catch (error) {
    return jsonSyntaxError(error);
  }
}

/**
 * JSON.parse's complaint without the text it quotes around the fault (V8 quotes a few characters, which may be a
 * secret's): what is wrong, and where when it says.
 */
export function jsonSyntaxError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = / in JSON at position \d+(?: \(line \d+ column \d+\))?/.exec(message);
  if (at) return message.slice(0, at.index + at[0].length);
  if (message.startsWith('Unexpected end of JSON input')) return 'it ends early';
  if (message.startsWith('Unexpected token')) return 'an unexpected character: values are quoted, like "this"';
  return 'not JSON';
}
