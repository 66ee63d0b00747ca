// The app settings three places must agree on: what the code reads, local.settings.sample.json, and the function
// app's appSettings in infra/main.bicep. A setting added to the code without the other two fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { SETTINGS } from '../../lib/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Settings the Functions host reads itself; Flex Consumption takes the worker runtime from functionAppConfig. */
const HOST_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage'];
/** In Azure, AzureWebJobsStorage is identity-based: these replace it in the Bicep. */
const IDENTITY_STORAGE_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
];
/**
 * Set only in Azure: Application Insights for the host, and the user-assigned identity's client id, which
 * DefaultAzureCredential (the Azure SDKs, not our code) needs to pick that identity. Locally `az login` stands in.
 */
const INFRA_ONLY_SETTINGS = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'AZURE_CLIENT_ID'];
/** The CLI's own environment (terminal colours, who asked, where `watch` keeps its state), never an app setting: allowed only under lib/cli. */
const CLI_ONLY = ['NO_COLOR', 'USER', 'XDG_STATE_HOME'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|cts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

const matches = (text: string, pattern: RegExp): string[] =>
  [...text.matchAll(pattern)].flatMap((match) => (match[1] === undefined ? [] : [match[1]]));

/** Every setting name the code reads, with the files reading it. */
function settingsReadByCode(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (name: string, file: string) => found.set(name, [...(found.get(name) ?? []), file]);

  for (const file of [...sourceFiles('functions'), ...sourceFiles('lib')]) {
    const text = read(file);
    const names = [
      ...matches(text, /process\.env\.([A-Za-z_][A-Za-z0-9_]*)/g),
      ...matches(text, /process\.env\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]/g),
      // An environment object passed around (`env.X`, `env['X']`): upper-case names only, not methods.
      ...matches(text, /\benv\.([A-Z][A-Z0-9_]*)\b/g),
      ...matches(text, /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g),
      // Binding expressions in trigger options written out ('%NAME%') rather than built from the SETTINGS table.
      ...(file.startsWith('functions') ? matches(text, /['"`]%([A-Za-z_][A-Za-z0-9_]*)%['"`]/g) : []),
    ];
    // Names declared in a settings table (`export const X_SETTINGS = { key: 'NAME', … }`) and read through it.
    for (const table of matches(text, /export const [A-Z_]*SETTINGS\s*=\s*\{([\s\S]*?)\}/g)) {
      names.push(...matches(table, /:\s*'([A-Za-z_][A-Za-z0-9_]*)'/g));
    }
    for (const name of names) add(name, file);
  }

  // host.json: binding expressions and the Durable Task Scheduler's connection setting.
  const host = read('host.json');
  for (const name of matches(host, /%([A-Za-z_][A-Za-z0-9_]*)%/g)) add(name, 'host.json');
  for (const name of matches(host, /"connectionStringName"\s*:\s*"([^"]+)"/g)) add(name, 'host.json');
  return found;
}

function sampleSettings(): string[] {
  return Object.keys(JSON.parse(read('local.settings.sample.json')).Values);
}

function bicepAppSettings(): string[] {
  const bicep = read('infra/main.bicep');
  const block = bicep.match(/\bappSettings:\s*\[([\s\S]*?)\n\s*\]/);
  if (block === null) throw new Error('infra/main.bicep has no appSettings block');
  return matches(block[1] ?? '', /\bname:\s*'([^']+)'/g);
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

describe('app settings: code, local.settings.sample.json and infra/main.bicep agree', () => {
  const code = settingsReadByCode();
  const appSettingsReadByCode = sorted([...code.keys()].filter((name) => !CLI_ONLY.includes(name)));

  test('the scan finds the settings tables and binding expressions (the scan itself works)', () => {
    for (const name of Object.values(SETTINGS)) {
      expect(appSettingsReadByCode).toContain(name);
    }
    expect(appSettingsReadByCode).toEqual(
      expect.arrayContaining([
        'SNAT_DOCTOR_WATCH_SCHEDULE',
        'SNAT_DOCTOR_EVIDENCE_CONTAINER_URL',
        'TASKHUB_NAME',
        'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
      ]),
    );
  });

  test('CLI-only environment variables are read only by the CLI', () => {
    for (const name of CLI_ONLY) {
      for (const file of code.get(name) ?? []) expect(file).toMatch(/^lib\/cli\//);
    }
  });

  test('the app reads its settings in lib/config.ts only (the CLI may prepare an environment for it)', () => {
    const elsewhere = [...code.entries()]
      .filter(([name]) => !CLI_ONLY.includes(name))
      .flatMap(([name, files]) => files.map((file) => `${name} in ${file}`))
      .filter((read) => !/ in (lib\/config\.ts|lib\/cli\/.*|host\.json)$/.test(read));
    expect(elsewhere).toEqual([]);
  });

  test("the README's settings table documents every setting the app reads", () => {
    const readme = read('README.md');
    const table = readme.slice(readme.indexOf('### Settings'), readme.indexOf('### Deploy'));
    const documented = matches(table, /`([A-Z][A-Z0-9_]+)`/g);
    expect(Object.values(SETTINGS).filter((name) => !documented.includes(name))).toEqual([]);
  });

  test('local.settings.sample.json has exactly the settings the code reads, plus the host settings', () => {
    expect(sorted(sampleSettings())).toEqual(sorted([...appSettingsReadByCode, ...HOST_SETTINGS]));
  });

  test('infra/main.bicep sets exactly the sample settings (identity-based storage, no worker runtime), plus Azure-only ones', () => {
    const bicep = bicepAppSettings();
    expect(bicep.length).toBe(new Set(bicep).size); // no setting twice
    const expected = [
      ...sampleSettings().filter((name) => !HOST_SETTINGS.includes(name)),
      ...IDENTITY_STORAGE_SETTINGS,
      ...INFRA_ONLY_SETTINGS,
    ];
    expect(sorted(bicep)).toEqual(sorted(expected));
  });

  test('the Slack secrets are Key Vault references, and the identity reaches the storage and the scheduler', () => {
    const bicep = read('infra/main.bicep');
    const settingValue = (name: string) =>
      bicep.match(new RegExp(`name: '${name}'\\s*\\n\\s*value: ([^\\n]+)`))?.[1]?.trim() ?? `(${name} not found)`;
    expect(settingValue('SLACK_SIGNING_SECRET')).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}\)'$/);
    expect(settingValue('SLACK_BOT_TOKEN')).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}\)'$/);
    expect(settingValue('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(settingValue('DURABLE_TASK_SCHEDULER_CONNECTION_STRING')).toContain('Authentication=ManagedIdentity');
    expect(settingValue('SNAT_DOCTOR_EVIDENCE_CONTAINER_URL')).toContain('evidenceContainerName');
    expect(bicep).toContain("var evidenceContainerName = 'snat-doctor-evidence'");
    expect(bicep).toMatch(/runtime:\s*\{\s*name: 'node'\s*version: '22'\s*\}/);
  });
});
