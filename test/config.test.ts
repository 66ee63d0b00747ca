// The central settings module: every setting read in one place, validated once, all problems reported together by
// name, areas independent, no value of a secret ever in a message.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { AREAS, appConfig, durableProviderOf, type Env, readConfig, SETTINGS, settingsReport } from '../lib/config.ts';

const SUBSCRIPTION = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const CLUSTER = { subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-prod', name: 'aks-prod' };
const SIGNING_SECRET = '8f14e45fceea167a5a36dedd4bea2543';
const BOT_TOKEN = 'xoxb-1234-5678-abcdefghijklmnop';

/** A complete, correct set of settings, as in Azure. */
const complete = (overrides: Env = {}): Env => ({
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SLACK_BOT_ID: 'B0BOTBOT1',
  SLACK_BOT_USER_ID: 'U0BOTBOT1',
  SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({
    clusters: [{ alias: 'prod', ...CLUSTER, channels: ['C0123456789'], users: [] }],
  }),
  SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([CLUSTER]),
  SNAT_DOCTOR_WARN_RATIO: '0.75',
  SNAT_DOCTOR_INVESTIGATE_RATIO: '0.9',
  SNAT_DOCTOR_COOLDOWN_MINUTES: '30',
  SNAT_DOCTOR_EVIDENCE_CONTAINER_URL: 'https://snatdoc.blob.core.windows.net/snat-doctor-evidence',
  SNAT_DOCTOR_WATCH_SCHEDULE: '0 */5 * * * *',
  TASKHUB_NAME: 'snatdoctor',
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING:
    'Endpoint=https://snatdoc-a1b2.westeurope.durabletask.io;Authentication=ManagedIdentity;ClientID=8c1e6f0a-0000-4000-8000-000000000000',
  ...overrides,
});

const problemsOf = (env: Env) => readConfig(env).problems;

describe('readConfig', () => {
  test('a complete configuration: every area on, no problem', () => {
    const config = readConfig(complete());
    expect(config.problems).toEqual([]);
    for (const area of AREAS) expect(config[area].ok).toBe(true);
    expect(config.slack).toMatchObject({ ok: true, settings: { signingSecret: SIGNING_SECRET, botToken: BOT_TOKEN } });
    expect(config.watch).toMatchObject({ ok: true, settings: { clusters: [CLUSTER], cooldownMinutes: 30 } });
    expect(config.alerts).toEqual({ ok: true, settings: { clusters: [CLUSTER] } });
    expect(config.evidence).toEqual({
      ok: true,
      settings: { containerUrl: 'https://snatdoc.blob.core.windows.net/snat-doctor-evidence' },
    });
    expect(config.host).toEqual({ ok: true, settings: { watchSchedule: '0 */5 * * * *', taskHubName: 'snatdoctor' } });
  });

  test('an empty environment: every required setting named at once, and evidence (optional) stays on', () => {
    const config = readConfig({});
    const named = config.problems.map((problem) => problem.split(' ')[0]);
    expect(named).toEqual([
      'SLACK_SIGNING_SECRET',
      'SLACK_BOT_TOKEN',
      'SNAT_DOCTOR_SLACK_ACCESS',
      'SNAT_DOCTOR_WATCH_CLUSTERS', // once, though the watch and alerts both need it
      'SNAT_DOCTOR_WATCH_SCHEDULE',
      'TASKHUB_NAME',
      'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
    ]);
    for (const problem of config.problems) expect(problem).toMatch(/ is not set: /);
    expect(config.evidence).toEqual({ ok: true, settings: {} });
    expect(config.alerts.ok || config.alerts.problems).toEqual([expect.stringMatching(/^SNAT_DOCTOR_WATCH_CLUSTERS/)]);
  });

  test('areas stand apart: a Slack app not set up yet leaves the watch, alerts and evidence on', () => {
    const config = readConfig(complete({ SLACK_SIGNING_SECRET: undefined, SNAT_DOCTOR_SLACK_ACCESS: '{' }));
    expect(config.slack.ok).toBe(false);
    expect(config.watch.ok && config.alerts.ok && config.evidence.ok && config.host.ok).toBe(true);
    expect(config.problems).toEqual([
      expect.stringMatching(/^SLACK_SIGNING_SECRET is not set/),
      expect.stringMatching(/^SNAT_DOCTOR_SLACK_ACCESS /),
    ]);
  });

  test('a bad threshold turns off the watch, not alerts (which investigate the same clusters)', () => {
    const config = readConfig(complete({ SNAT_DOCTOR_WARN_RATIO: '95%' }));
    expect(config.watch.ok).toBe(false);
    expect(config.alerts.ok).toBe(true);
    expect(config.problems).toEqual([expect.stringMatching(/^SNAT_DOCTOR_WARN_RATIO is "95%": expected a share/)]);
  });

  test('every problem starts with the name of the setting it is about', () => {
    const names: string[] = Object.values(SETTINGS);
    const env = complete({
      SLACK_BOT_TOKEN: 'xoxp-user-token',
      SLACK_BOT_ID: 'bot',
      SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([{ ...CLUSTER, name: 'bad name!' }]),
      SNAT_DOCTOR_INVESTIGATE_RATIO: '2',
      SNAT_DOCTOR_COOLDOWN_MINUTES: '-5',
      SNAT_DOCTOR_EVIDENCE_CONTAINER_URL: 'ftp://x',
      SNAT_DOCTOR_WATCH_SCHEDULE: '*/5 * * * *',
      TASKHUB_NAME: '1hub',
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Authentication=None',
    });
    const problems = problemsOf(env);
    expect(problems.length).toBeGreaterThanOrEqual(9);
    for (const problem of problems) {
      expect(names).toContain(problem.match(/^[A-Z_]+/)?.[0]);
    }
  });

  test('no secret or URL value is ever repeated in a problem', () => {
    const secrets = {
      SLACK_SIGNING_SECRET: 'hunter2-not-hex-SECRET',
      SLACK_BOT_TOKEN: 'xoxp-SECRET-user-token',
      SNAT_DOCTOR_EVIDENCE_CONTAINER_URL: 'https://acct.blob.core.windows.net/c1?sv=2024&sig=SECRETSIG',
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=nope;Authentication=Key;Key=SECRETKEY',
    };
    const report = settingsReport(readConfig(complete(secrets)), { all: true });
    expect(report).toContain('SLACK_SIGNING_SECRET');
    expect(report).toContain('SNAT_DOCTOR_EVIDENCE_CONTAINER_URL carries a query');
    expect(report).toContain('DURABLE_TASK_SCHEDULER_CONNECTION_STRING has no Endpoint');
    for (const leak of ['hunter2', 'xoxp-SECRET', 'SECRETSIG', 'sig=', 'SECRETKEY', 'nope']) {
      expect(report).not.toContain(leak);
    }
  });

  test.each([
    ['Azure', 'https://snatdoc.blob.core.windows.net/snat-doctor-evidence', true],
    ['Azurite on this machine', 'http://127.0.0.1:10000/devstoreaccount1/snat-doctor-evidence', true],
    ['plain http elsewhere', 'http://snatdoc.blob.core.windows.net/snat-doctor-evidence', false],
    ['the account, no container', 'https://snatdoc.blob.core.windows.net/', false],
    ['a blob, not a container', 'https://snatdoc.blob.core.windows.net/evidence/one.json', false],
    ['a container name with capitals', 'https://snatdoc.blob.core.windows.net/Evidence', false],
    ['the placeholder of the sample', 'https://<account>.blob.core.windows.net/snat-doctor-evidence', false],
  ])('evidence container URL: %s', (_what, url, ok) => {
    expect(readConfig(complete({ SNAT_DOCTOR_EVIDENCE_CONTAINER_URL: url })).evidence.ok).toBe(ok);
  });

  test.each([
    ['Azure (managed identity)', complete().DURABLE_TASK_SCHEDULER_CONNECTION_STRING, true],
    ['the emulator', 'Endpoint=http://localhost:8080;Authentication=None', true],
    ['no endpoint', 'Authentication=None', false],
    ['no authentication', 'Endpoint=http://localhost:8080', false],
  ])('scheduler connection: %s', (_what, connection, ok) => {
    expect(readConfig(complete({ DURABLE_TASK_SCHEDULER_CONNECTION_STRING: connection })).host.ok).toBe(ok);
  });

  test('with Azure Storage as the Durable backend, the scheduler connection is not needed', () => {
    const env = complete({ DURABLE_TASK_SCHEDULER_CONNECTION_STRING: undefined });
    expect(readConfig(env, { durableProvider: 'AzureStorage' }).problems).toEqual([]);
    expect(readConfig(env, { durableProvider: 'azureManaged' }).problems).toEqual([
      expect.stringMatching(/^DURABLE_TASK_SCHEDULER_CONNECTION_STRING is not set/),
    ]);
  });

  test("durableProviderOf: the shipped host.json is the scheduler's; none named is Azure Storage", () => {
    expect(durableProviderOf(new URL('../host.json', import.meta.url).pathname)).toBe('azureManaged');
    const dir = mkdtempSync(join(tmpdir(), 'host-json-'));
    writeFileSync(join(dir, 'host.json'), JSON.stringify({ version: '2.0', extensions: { durableTask: {} } }));
    expect(durableProviderOf(join(dir, 'host.json'))).toBe('AzureStorage');
    expect(durableProviderOf(join(dir, 'missing.json'))).toBe('azureManaged');
  });

  test('the watch schedule is NCRONTAB: six fields, seconds first', () => {
    expect(readConfig(complete({ SNAT_DOCTOR_WATCH_SCHEDULE: '0 */5 * * * *' })).host.ok).toBe(true);
    expect(problemsOf(complete({ SNAT_DOCTOR_WATCH_SCHEDULE: '*/5 * * * *' }))).toEqual([
      expect.stringMatching(/^SNAT_DOCTOR_WATCH_SCHEDULE is "\*\/5 \* \* \* \*": expected an NCRONTAB schedule of six/),
    ]);
  });

  test('local.settings.sample.json as shipped: only the Slack placeholders the user must fill are problems', () => {
    const sample = JSON.parse(readFileSync(new URL('../local.settings.sample.json', import.meta.url), 'utf8'));
    const config = readConfig(sample.Values);
    expect(config.problems.map((problem) => problem.split(' ')[0])).toEqual([
      'SLACK_SIGNING_SECRET',
      'SLACK_BOT_TOKEN',
    ]);
    expect(config.watch.ok && config.alerts.ok && config.host.ok).toBe(true);
    // Locally (func start) evidence is not stored unless a container is named.
    expect(config.evidence).toEqual({ ok: true, settings: {} });
  });
});

describe('SNAT_DOCTOR_PRIVATE_RANGES', () => {
  test('unset or blank: no ranges, the area on', () => {
    expect(readConfig(complete()).ranges).toEqual({ ok: true, settings: { privateRanges: [] } });
    expect(readConfig(complete({ SNAT_DOCTOR_PRIVATE_RANGES: '  ' })).ranges).toEqual({
      ok: true,
      settings: { privateRanges: [] },
    });
  });

  test('comma-separated CIDRs, IPv4 and IPv6, each once, with source "setting"', () => {
    const config = readConfig(
      complete({ SNAT_DOCTOR_PRIVATE_RANGES: '30.10.0.0/16, 172.31.0.0/16,fd00:10::/64,30.10.0.0/16' }),
    );
    expect(config.problems).toEqual([]);
    expect(config.ranges).toEqual({
      ok: true,
      settings: {
        privateRanges: [
          { cidr: '30.10.0.0/16', source: 'setting' },
          { cidr: '172.31.0.0/16', source: 'setting' },
          { cidr: 'fd00:10::/64', source: 'setting' },
        ],
      },
    });
  });

  test('every bad entry is reported by name; the area is off and the others stay on', () => {
    const config = readConfig(complete({ SNAT_DOCTOR_PRIVATE_RANGES: '30.10.0.0/16,onprem,10.1.2.3,30.10.0.0/40' }));
    expect(config.problems).toEqual([
      expect.stringMatching(/^SNAT_DOCTOR_PRIVATE_RANGES: "onprem" is not a CIDR range: .*like 30\.10\.0\.0\/16/),
      expect.stringMatching(/^SNAT_DOCTOR_PRIVATE_RANGES: "10\.1\.2\.3" is not a CIDR range: .*\/32/),
      expect.stringMatching(/^SNAT_DOCTOR_PRIVATE_RANGES: "30\.10\.0\.0\/40" is not a CIDR range/),
    ]);
    expect(config.ranges.ok).toBe(false);
    expect(config.slack.ok && config.watch.ok && config.alerts.ok && config.host.ok).toBe(true);
  });
});

describe('settingsReport', () => {
  test('groups the problems by the area they turn off; with `all`, the areas that are on too', () => {
    const config = readConfig(complete({ SLACK_BOT_TOKEN: undefined, SNAT_DOCTOR_COOLDOWN_MINUTES: 'soon' }));
    expect(settingsReport(config, { all: true }).split('\n')).toEqual([
      'snat-doctor: 2 problem(s) with the app settings:',
      '  ✖ Slack endpoint (slack function) is off:',
      expect.stringMatching(/^ {6}SLACK_BOT_TOKEN is not set/),
      '  ✖ watch (snatWatch timer) is off:',
      expect.stringMatching(/^ {6}SNAT_DOCTOR_COOLDOWN_MINUTES is "soon"/),
      '  ✔ alerts (alertHook)',
      '  ✔ evidence store',
      '  ✔ private ranges (added to every investigation)',
      '  ✔ Functions host (Durable Task Scheduler, timer schedule)',
    ]);
    expect(settingsReport(readConfig(complete()))).toBe('snat-doctor: the app settings are complete.');
    const unset = settingsReport(readConfig(complete({ SNAT_DOCTOR_EVIDENCE_CONTAINER_URL: '' })), { all: true });
    expect(unset).toContain(
      '  ✔ evidence store: SNAT_DOCTOR_EVIDENCE_CONTAINER_URL is not set, so evidence is not stored (reports stay in the Durable history)',
    );
  });
});

test('appConfig reads process.env once per process', () => {
  const name = SETTINGS.watchClusters;
  const before = process.env[name];
  try {
    process.env[name] = JSON.stringify([CLUSTER]);
    const first = appConfig();
    process.env[name] = 'changed after the first read';
    expect(appConfig()).toBe(first);
    expect(first.alerts).toEqual({ ok: true, settings: { clusters: [CLUSTER] } });
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
});
