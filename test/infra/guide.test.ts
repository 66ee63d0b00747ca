// The deployment guide (infra/README.md and the README's "In Azure") against what it names: the files it links, the
// Bicep parameters its commands pass, the outputs it reads, the azd variables it sets. A new user follows it top to
// bottom without Azure here to catch a wrong name; this does.
import { existsSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const all = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[1] as string);

const guide = read('infra/README.md');
const readme = read('README.md');
const bicep = read('infra/main.bicep');
const roles = read('infra/roles.bicep');
const params = all(bicep, /^param (\w+)/gm);
const roleParams = all(roles, /^param (\w+)/gm);
const outputs = all(bicep, /^output (\w+)/gm);

/** The fenced shell blocks of a markdown text. */
const shellBlocks = (markdown: string) => all(markdown, /```sh\n([\s\S]*?)```/g).join('\n');

describe('the deployment guide names only what exists', () => {
  test.each([
    ['infra/README.md', guide, 'infra'],
    ['README.md', readme, ''],
  ])('every relative link in %s points at a file of the repository', (_name, text, base) => {
    const links = all(text, /\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)/g);
    expect(links.length).toBeGreaterThan(0);
    const missing = links.filter((link) => !existsSync(join(ROOT, normalize(join(base, link)))));
    expect(missing).toEqual([]);
  });

  test('every file a command names exists', () => {
    const commands = shellBlocks(guide) + shellBlocks(readme);
    const files = all(commands, /(?:-f |--file |--settings |cp )(\S+\.(?:bicep|json))/g).filter(
      (file) => file !== 'local.settings.json', // the copy the user makes
    );
    expect(files).toEqual(expect.arrayContaining(['infra/main.bicep', 'infra/roles.bicep']));
    expect(files.filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });

  test('the parameters passed to az deployment are parameters of the file it deploys', () => {
    // name=value pairs in the shell commands (lower-case first: Bicep parameters, not the shell's own variables);
    // a command deploying infra/roles.bicep passes roles.bicep's, every other one main.bicep's.
    const commands = shellBlocks(guide).replace(/\\\n/g, ' ').split('\n');
    const passed = commands.flatMap((command) =>
      all(command, /(?:^|\s)([a-z][A-Za-z]+)=(?:["'$]|[a-z0-9])/g).map((name) => ({
        name,
        file: command.includes('infra/roles.bicep') ? 'roles.bicep' : 'main.bicep',
      })),
    );
    passed.push(
      ...all(guide, /plus\s+(.*)$/gm).flatMap((rest) =>
        all(rest, /([a-z][A-Za-z]+)=/g).map((name) => ({ name, file: 'main.bicep' })),
      ),
    );
    expect(passed.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['namePrefix', 'watchedClustersJson', 'enableSnatAlert', 'principalId']),
    );
    const unknown = passed.filter(({ name, file }) => !(file === 'roles.bicep' ? roleParams : params).includes(name));
    expect(unknown).toEqual([]);
  });

  test('azd asks for exactly the parameters with no default that its parameter file does not fill', () => {
    const filled = Object.keys(JSON.parse(read('infra/main.parameters.json')).parameters);
    const required = all(bicep, /^param (\w+) \w+$/gm);
    const asked = required.filter((name) => !filled.includes(name));
    const azdLine = guide.slice(guide.indexOf('azd up'), guide.indexOf('```', guide.indexOf('azd up')));
    for (const name of asked) expect(azdLine).toContain(name);
    expect(filled.filter((name) => !params.includes(name))).toEqual([]);
  });

  test('the azd variables the guide sets are the ones main.parameters.json reads', () => {
    const set = all(guide, /azd env set (\w+)/g);
    const parameterFile = read('infra/main.parameters.json');
    expect(set.length).toBeGreaterThan(0);
    expect(set.filter((name) => !parameterFile.includes(`\${${name}`))).toEqual([]);
  });

  test('the outputs the guide reads are main.bicep outputs', () => {
    const read = [...guide.matchAll(/`([A-Z][A-Z_]+)` (?:output|from main\.bicep)|outputs\.([A-Z_]+)\.value/g)].map(
      (m) => (m[1] ?? m[2]) as string,
    );
    expect(read).toEqual(
      expect.arrayContaining(['SLACK_EVENTS_URL', 'IDENTITY_PRINCIPAL_ID', 'AZURE_FUNCTION_APP_NAME']),
    );
    expect(read.filter((name) => !outputs.includes(name))).toEqual([]);
  });

  test('the role the guide assigns is the one roles.bicep creates', () => {
    const assigned = all(guide, /--role "([^"]+)"/g).filter((role) => role !== 'Monitoring Reader');
    const created = roles.match(/param roleName string = '([^']+)'/)?.[1];
    // Assigned twice: on the cluster, and (optionally) on a VNet the cluster brings.
    expect([...new Set(assigned)]).toEqual([created]);
  });

  test('Monitoring Reader is given on the subscription, never on a resource group (metrics:getBatch)', () => {
    const commands = [shellBlocks(guide), shellBlocks(readme)].join('\n').replace(/\\\n/g, ' ').split('\n');
    const monitoringReader = commands.filter((command) => command.includes('--role "Monitoring Reader"'));
    expect(monitoringReader.length).toBeGreaterThan(0);
    for (const command of monitoringReader) {
      expect(command).toMatch(/--scope "\/subscriptions\/[^/"]+"(\s|$)/);
    }
    // roles.bicep does the same when given the identity: its deployment command passes principalId.
    expect(commands.filter((command) => command.includes('-f infra/roles.bicep')).join('\n')).toContain('principalId=');
  });

  test('the Slack manifest the guide points at sends to the endpoint the app serves', () => {
    const manifest = read('slack-app-manifest.yaml');
    expect(all(manifest, /(https:\/\/\S+)/g)).toEqual(
      expect.arrayContaining([expect.stringMatching(/\/api\/slack\/events$/)]),
    );
    expect(bicep).toMatch(/output SLACK_EVENTS_URL string = '.*\/api\/slack\/events'/);
  });
});
