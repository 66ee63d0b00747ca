// `snat-doctor config`: the app settings checked as the Functions app checks them, from a local.settings.json or the
// environment, through the real CLI entry.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from '@jest/globals';

const BIN = fileURLToPath(new URL('../../bin/snat-doctor.js', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../local.settings.sample.json', import.meta.url));
const SUBSCRIPTION = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const BOT_TOKEN = 'xoxb-1234-5678-abcdefghijklmnop';

/** Runs the CLI with only the given environment (and PATH), so this process's settings do not leak in. */
function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'config', ...args],
      { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const COMPLETE = {
  SLACK_SIGNING_SECRET: '8f14e45fceea167a5a36dedd4bea2543',
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({
    clusters: [
      {
        alias: 'prod',
        subscriptionId: SUBSCRIPTION,
        resourceGroup: 'rg-prod',
        name: 'aks-prod',
        channels: ['C0123456789'],
        users: [],
      },
    ],
  }),
  SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([
    { subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-prod', name: 'aks-prod' },
  ]),
  SNAT_DOCTOR_WATCH_SCHEDULE: '0 */5 * * * *',
  TASKHUB_NAME: 'snatdoctor',
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=http://localhost:8080;Authentication=None',
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'snat-doctor-config-'));
});

const settingsFile = async (name: string, content: string) => {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
};

describe('snat-doctor config', () => {
  test('complete settings in a local.settings.json: every area on, exit 0', async () => {
    const file = await settingsFile('complete.json', JSON.stringify({ IsEncrypted: false, Values: COMPLETE }));
    const { code, stdout } = await run(['--settings', file]);
    expect(code).toBe(0);
    expect(stdout).toContain('the app settings are complete');
    expect(stdout).toContain('✔ Slack endpoint');
    expect(stdout).toContain('✔ evidence store: SNAT_DOCTOR_EVIDENCE_CONTAINER_URL is not set');
    expect(stdout).not.toContain(BOT_TOKEN);
  });

  test('the shipped sample: the two Slack secrets to fill in, exit 1', async () => {
    const { code, stdout } = await run(['--settings', SAMPLE, '--json']);
    expect(code).toBe(1);
    const result = JSON.parse(stdout);
    expect(result.complete).toBe(false);
    expect(result.areas.slack.on).toBe(false);
    expect(result.areas.slack.problems.map((p: string) => p.split(' ')[0])).toEqual([
      'SLACK_SIGNING_SECRET',
      'SLACK_BOT_TOKEN',
    ]);
    for (const area of ['watch', 'alerts', 'evidence', 'host']) expect(result.areas[area]).toEqual({ on: true });
  });

  test('without --settings it reads the environment', async () => {
    const { code, stdout } = await run([], { ...COMPLETE, SNAT_DOCTOR_COOLDOWN_MINUTES: 'soon' });
    expect(code).toBe(1);
    expect(stdout).toContain('Settings from the environment');
    expect(stdout).toContain('✖ watch (snatWatch timer) is off:');
    expect(stdout).toContain('SNAT_DOCTOR_COOLDOWN_MINUTES is "soon"');
    expect(stdout).toContain('✔ alerts (alertHook)');
  });

  test.each([
    ['a missing file', null, /cannot read .*missing\.json: ENOENT/],
    ['not JSON', '{"Values": ', /is not JSON/],
    ['no Values', '{"IsEncrypted": false}', /has no "Values" object/],
    [
      'a value that is not a string',
      JSON.stringify({ Values: { ...COMPLETE, SNAT_DOCTOR_WATCH_CLUSTERS: [] } }),
      /SNAT_DOCTOR_WATCH_CLUSTERS is not \(JSON settings are written as strings/,
    ],
  ])('a settings file with %s: exit 2 and what is wrong', async (_what, content, message) => {
    const file =
      content === null ? join(dir, 'missing.json') : await settingsFile(`bad-${content.length}.json`, content);
    const { code, stdout, stderr } = await run(['--settings', file]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});
