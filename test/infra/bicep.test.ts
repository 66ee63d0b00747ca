// infra/ compiled by the real Bicep compiler (the version tools/bicep.mjs pins, fetched from NuGet with the .NET SDK):
// `bicep build` and `bicep lint` on main.bicep and roles.bicep must print nothing — no error, no warning (a warning
// that is wrong for us is suppressed in the Bicep with `#disable-next-line <rule> // reason`). Then the compiled ARM
// JSON, which is what Azure receives, is checked for what matters when it is deployed: who gets which role where, the
// function app's settings against lib/config.ts, the outputs the guides and azd read, and the SNAT alert's criteria.
//
// Without `dotnet` on PATH the compiler cannot be fetched and these tests are skipped, saying so.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { SETTINGS } from '../../lib/config.ts';
import { DEFAULT_ROLE_ASSIGNMENTS, ROLE_ACTIONS } from '../../lib/sandbox/azureRbac.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const run = promisify(execFile);

const BICEP_VERSION = '0.49.2'; // tools/bicep.mjs's BICEP_VERSION
const FILES = ['main', 'roles'] as const;
type File = (typeof FILES)[number];

const dotnet = spawnSync('dotnet', ['--version'], {
  encoding: 'utf8',
  env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
});
const hasDotnet = dotnet.error === undefined && dotnet.status === 0;
// Without dotnet, a compiler fetched before (node_modules/.cache/bicep) still does.
const fetchedBefore =
  !hasDotnet &&
  spawnSync(process.execPath, [join(ROOT, 'tools/bicep.mjs'), '--check'], { encoding: 'utf8' }).status === 0;
if (!hasDotnet && !fetchedBefore) {
  console.warn(
    'test/infra/bicep.test.ts is SKIPPED: the .NET SDK (`dotnet`) is not on PATH, so the Bicep compiler cannot be ' +
      'fetched from NuGet (node tools/bicep.mjs). Install the .NET SDK (https://dot.net) and run the tests again, or ' +
      'run `bash .ci/run` on a machine that has it (this project’s machines and CI do).',
  );
}
const withCompiler = hasDotnet || fetchedBefore ? describe : describe.skip;

// ---- what the compiler says ------------------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function bicep(binary: string, args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await run(binary, args, { cwd: ROOT, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof failed.code !== 'number') throw error; // could not start it at all
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message };
  }
}

/** The compiler's diagnostics (`path(line,col) : Warning rule: message [link]`), one a line. */
const diagnostics = (output: string) => output.split('\n').filter((line) => / : (Error|Warning|Info) /.test(line));

// ---- the compiled ARM JSON ---------------------------------------------------------------------------------------

interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  condition?: string;
  scope?: string;
  tags?: unknown;
  identity?: { type: string; userAssignedIdentities?: Record<string, unknown> };
  properties?: Record<string, unknown>;
  dependsOn?: string[];
}
interface ArmTemplate {
  $schema: string;
  languageVersion?: string;
  parameters: Record<string, { type: string; defaultValue?: unknown }>;
  variables?: Record<string, unknown>;
  resources: ArmResource[] | Record<string, ArmResource>;
  outputs: Record<string, { type: string; value: string }>;
}

const resourcesOf = (template: ArmTemplate): ArmResource[] =>
  Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
const ofType = (template: ArmTemplate, type: string) => resourcesOf(template).filter((r) => r.type === type);
function single(template: ArmTemplate, type: string): ArmResource {
  const found = ofType(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as ArmResource;
}

// Built-in role definition ids, as Microsoft's list of Azure built-in roles gives them
// (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
const BUILT_IN_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  '43d0d8ad-25c7-4714-9337-8ba259a9fe05': 'Monitoring Reader',
  '0ad04412-c4d5-4796-b79c-f76d14c8d402': 'Durable Task Data Contributor',
};

/** The role GUID a compiled roleDefinitionId expression names: a literal, `variables('x')` or `variables('x').y`. */
function roleGuid(expression: string, variables: Record<string, unknown>): string {
  const argument = expression.match(
    /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', (.+)\)\]$/,
  )?.[1];
  if (argument === undefined) throw new Error(`not a built-in role definition id: ${expression}`);
  const literal = argument.match(/^'([0-9a-f-]{36})'$/)?.[1];
  if (literal !== undefined) return literal;
  const variable = argument.match(/^variables\('(\w+)'\)(?:\.(\w+))?$/);
  if (variable === null) throw new Error(`cannot resolve the role in ${expression}`);
  const value = variables[variable[1] as string];
  const resolved = variable[2] === undefined ? value : (value as Record<string, unknown>)[variable[2]];
  if (typeof resolved !== 'string') throw new Error(`${argument} is not a string in the template's variables`);
  return resolved;
}

/** `[resourceId('Microsoft.Storage/storageAccounts', …)]` → Microsoft.Storage/storageAccounts. */
const scopeType = (scope: string | undefined) =>
  scope === undefined ? 'the deployment scope' : (scope.match(/^\[resourceId\('([^']+)'/)?.[1] ?? scope);

/** What a role assignment gives to whom, in words the expectations below use. */
function describeAssignment(file: File, template: ArmTemplate, assignment: ArmResource, identity: string) {
  const properties = assignment.properties as Record<string, string>;
  const guid = roleGuid(properties.roleDefinitionId as string, template.variables ?? {});
  const principal = properties.principalId as string;
  const parameter = principal.match(/^\[parameters\('(\w+)'\)\]$/)?.[1];
  return {
    file,
    role: BUILT_IN_ROLES[guid] ?? `unknown role ${guid}`,
    principal:
      parameter !== undefined
        ? `parameter ${parameter}`
        : principal === identity
          ? "the app's identity"
          : `unexpected principal ${principal}`,
    principalType: properties.principalType,
    scope:
      file === 'roles' && assignment.scope === undefined && template.$schema.includes('subscriptionDeploymentTemplate')
        ? 'the subscription'
        : scopeType(assignment.scope),
    condition: assignment.condition ?? 'always',
  };
}

/** The function app's identity: the one user-assigned identity of main.bicep, as its principalId is written. */
function identityPrincipal(template: ArmTemplate): string {
  const identity = single(template, 'Microsoft.ManagedIdentity/userAssignedIdentities');
  const site = single(template, 'Microsoft.Web/sites');
  const assigned = Object.keys(site.identity?.userAssignedIdentities ?? {});
  expect(site.identity?.type).toBe('UserAssigned');
  expect(assigned).toHaveLength(1);
  expect(assigned[0]).toContain("resourceId('Microsoft.ManagedIdentity/userAssignedIdentities'");
  // Language version 2.0 references resources by symbolic name, 1.x by resourceId(…).
  return template.languageVersion === '2.0'
    ? `[reference('${Object.entries(template.resources).find(([, r]) => r === identity)?.[0]}').principalId]`
    : `[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', ${
        identity.name.replace(/^\[|\]$/g, '') /* format('id-{0}-{1}', …) */
      }), '${identity.apiVersion}').principalId]`;
}

// ---- the tests ---------------------------------------------------------------------------------------------------

withCompiler('infra/ compiled by the real Bicep compiler', () => {
  let binary = '';
  let version: Run;
  const builds = {} as Record<File, Run>;
  const lints = {} as Record<File, Run>;
  const templates = {} as Record<File, ArmTemplate>;

  beforeAll(async () => {
    // Fetches the compiler on the first run (NuGet, through `dotnet restore`), then finds it in the cache.
    const fetched = await run(process.execPath, [join(ROOT, 'tools/bicep.mjs')], { cwd: ROOT, timeout: 900_000 });
    binary = fetched.stdout.trim();
    const runs = await Promise.all([
      bicep(binary, ['--version']),
      ...FILES.map((file) => bicep(binary, ['build', `infra/${file}.bicep`, '--stdout'])),
      ...FILES.map((file) => bicep(binary, ['lint', `infra/${file}.bicep`])),
    ]);
    version = runs[0] as Run;
    FILES.forEach((file, i) => {
      builds[file] = runs[1 + i] as Run;
      lints[file] = runs[1 + FILES.length + i] as Run;
      if (builds[file].code === 0) templates[file] = JSON.parse(builds[file].stdout) as ArmTemplate;
    });
  }, 900_000);

  test(`the compiler is Bicep CLI ${BICEP_VERSION}`, () => {
    expect(binary).toMatch(/\/bicep$/);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(new RegExp(`^Bicep CLI version ${BICEP_VERSION.replace(/\./g, '\\.')} \\(`));
  });

  test.each(FILES)('bicep build infra/%s.bicep: no errors, no warnings', (file) => {
    const build = builds[file];
    expect(diagnostics(build.stderr + build.stdout)).toEqual([]);
    expect(build.stderr).toBe('');
    expect(build.code).toBe(0);
    expect(templates[file].$schema).toContain(
      file === 'main' ? 'deploymentTemplate.json' : 'subscriptionDeploymentTemplate.json',
    );
  });

  test.each(FILES)('bicep lint infra/%s.bicep: no errors, no warnings (infra/bicepconfig.json)', (file) => {
    const lint = lints[file];
    expect(diagnostics(lint.stderr + lint.stdout)).toEqual([]);
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.code).toBe(0);
  });

  test('every role assignment: the role, the principal and the scope', () => {
    const main = templates.main;
    const identity = identityPrincipal(main);
    const assignments = FILES.flatMap((file) =>
      ofType(templates[file], 'Microsoft.Authorization/roleAssignments').map((assignment) =>
        describeAssignment(file, templates[file], assignment, identity),
      ),
    );
    const sort = (list: typeof assignments) =>
      [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(sort(assignments)).toEqual(
      sort([
        // The Functions host's identity-based AzureWebJobsStorage, the deployment package and the evidence blobs.
        {
          file: 'main',
          role: 'Storage Blob Data Owner',
          principal: "the app's identity",
          principalType: 'ServicePrincipal',
          scope: 'Microsoft.Storage/storageAccounts',
          condition: 'always',
        },
        // The Durable Task Scheduler's task hub: the app's orchestrations…
        {
          file: 'main',
          role: 'Durable Task Data Contributor',
          principal: "the app's identity",
          principalType: 'ServicePrincipal',
          scope: 'Microsoft.DurableTask/schedulers/taskHubs',
          condition: 'always',
        },
        // … and its dashboard, for the person azd names (AZURE_PRINCIPAL_ID), when one is.
        {
          file: 'main',
          role: 'Durable Task Data Contributor',
          principal: 'parameter dashboardPrincipalId',
          principalType: 'User',
          scope: 'Microsoft.DurableTask/schedulers/taskHubs',
          condition: "[not(empty(parameters('dashboardPrincipalId')))]",
        },
        // The Slack secrets' Key Vault references.
        {
          file: 'main',
          role: 'Key Vault Secrets User',
          principal: "the app's identity",
          principalType: 'ServicePrincipal',
          scope: 'Microsoft.KeyVault/vaults',
          condition: 'always',
        },
        // metrics:getBatch is a subscription-level API: Monitoring Reader on the subscription itself, given to the
        // identity main.bicep made (its IDENTITY_PRINCIPAL_ID output, roles.bicep's principalId). Never on a node
        // resource group or a load balancer, where "the request fails".
        {
          file: 'roles',
          role: 'Monitoring Reader',
          principal: 'parameter principalId',
          principalType: 'ServicePrincipal',
          scope: 'the subscription',
          condition: "[not(empty(parameters('principalId')))]",
        },
      ]),
    );
  });

  test("roles.bicep's principalId is main.bicep's IDENTITY_PRINCIPAL_ID: optional, and the identity the app runs as", () => {
    const roles = templates.roles;
    expect(roles.parameters.principalId).toEqual(expect.objectContaining({ type: 'string', defaultValue: '' }));
    expect(templates.main.outputs.IDENTITY_PRINCIPAL_ID?.value).toBe(identityPrincipal(templates.main));
    // Each role assignment's name is a GUID made of what it grants, so deploying again changes nothing.
    for (const file of FILES) {
      for (const assignment of ofType(templates[file], 'Microsoft.Authorization/roleAssignments')) {
        expect(assignment.name).toMatch(/^\[guid\(/);
      }
    }
    // The custom role for the clusters: the AKS actions and the VNet read, assignable in this subscription only.
    const role = single(roles, 'Microsoft.Authorization/roleDefinitions').properties as Record<string, unknown>;
    expect(role.assignableScopes).toEqual(['[subscription().id]']);
    // The same actions the sandbox's ARM grants that role (lib/sandbox/azureRbac.ts), so its checks are infra's.
    expect((role.permissions as { actions: string[] }[])[0]?.actions).toEqual([
      ...ROLE_ACTIONS['snat-doctor cluster investigator'],
    ]);
    expect(roles.parameters.roleName?.defaultValue).toBe('snat-doctor cluster investigator');
  });

  test("the sandbox's identity holds by default exactly what infra/ assigns it (so a test fails where infra/ asks too little)", () => {
    // roles.bicep: Monitoring Reader on the subscription (above); infra/README.md: the custom role on each cluster.
    expect(DEFAULT_ROLE_ASSIGNMENTS).toEqual([
      { role: 'snat-doctor cluster investigator', scope: 'cluster' },
      { role: 'Monitoring Reader', scope: 'subscription' },
    ]);
    const guide = readFileSync(join(ROOT, 'infra', 'README.md'), 'utf8');
    expect(guide).toMatch(/--role "snat-doctor cluster investigator" --scope "\$CLUSTER_ID"/);
  });

  test('the function app starts after its role assignments and containers exist', () => {
    const main = templates.main;
    const site = single(main, 'Microsoft.Web/sites');
    const names = Array.isArray(main.resources)
      ? undefined
      : new Map(Object.entries(main.resources).map(([name, resource]) => [resource, name]));
    const dependsOnType = (type: string) =>
      (site.dependsOn ?? []).filter((dependency) =>
        names === undefined
          ? dependency.includes(`'${type}'`)
          : ofType(main, type).some((resource) => names.get(resource) === dependency),
      ).length;
    expect(dependsOnType('Microsoft.Authorization/roleAssignments')).toBe(3);
    expect(dependsOnType('Microsoft.Storage/storageAccounts/blobServices/containers')).toBe(2);
  });

  test("the function app's settings are lib/config.ts's SETTINGS plus the Azure-side ones, the secrets by reference", () => {
    const site = single(templates.main, 'Microsoft.Web/sites');
    const siteConfig = site.properties?.siteConfig as { appSettings: { name: string; value: string }[] };
    const settings = new Map(siteConfig.appSettings.map(({ name, value }) => [name, value]));
    expect(settings.size).toBe(siteConfig.appSettings.length); // none twice
    const azureSide = [
      // identity-based AzureWebJobsStorage (Flex Consumption takes the worker runtime from functionAppConfig)
      'AzureWebJobsStorage__accountName',
      'AzureWebJobsStorage__credential',
      'AzureWebJobsStorage__clientId',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'AZURE_CLIENT_ID', // DefaultAzureCredential picks the user-assigned identity
    ];
    expect([...settings.keys()].sort()).toEqual([...Object.values(SETTINGS), ...azureSide].sort());

    // The Slack secrets are Key Vault references to the vault's secrets, never the @secure() parameters themselves.
    for (const name of [SETTINGS.slackSigningSecret, SETTINGS.slackBotToken]) {
      expect(settings.get(name)).toMatch(
        /^\[format\('@Microsoft\.KeyVault\(SecretUri=\{0\}\)', reference\(.+\)\.secretUri\)\]$/,
      );
    }
    const values = [...settings.values()].join('\n');
    expect(values).not.toContain("parameters('slackSigningSecret')");
    expect(values).not.toContain("parameters('slackBotToken')");
    expect(site.properties?.keyVaultReferenceIdentity).toContain(
      "resourceId('Microsoft.ManagedIdentity/userAssignedIdentities'",
    );
    expect(settings.get('AzureWebJobsStorage__credential')).toBe('managedidentity');
    expect(settings.get(SETTINGS.schedulerConnection)).toMatch(/Authentication=ManagedIdentity;ClientID=\{1\}/);
    // Every setting has a value the deployment fills in (a parameter, a resource property or a literal).
    for (const [name, value] of settings) expect([name, typeof value]).toEqual([name, 'string']);
  });

  test('the outputs the guides, the Slack manifest and azd use exist, with the values they are used for', () => {
    const main = templates.main;
    const outputs = new Set([...Object.keys(main.outputs), ...Object.keys(templates.roles.outputs)]);
    const docs = ['README.md', 'infra/README.md', 'azure.yaml', 'slack-app-manifest.yaml'].map(read).join('\n');
    // Outputs named as outputs: `X` output, X output, outputs.X.value, <X> placeholders, "the X output".
    const named = [
      ...docs.matchAll(
        /`([A-Z][A-Z0-9_]+)` output|\b([A-Z][A-Z0-9_]{3,}) output|outputs\.([A-Z0-9_]+)\.value|<([A-Z][A-Z0-9_]+)>/g,
      ),
    ].map((m) => (m[1] ?? m[2] ?? m[3] ?? m[4]) as string);
    expect(named).toEqual(
      expect.arrayContaining(['SLACK_EVENTS_URL', 'AZURE_FUNCTION_APP_NAME', 'IDENTITY_PRINCIPAL_ID']),
    );
    expect([...new Set(named)].filter((name) => !outputs.has(name))).toEqual([]);

    const site = single(main, 'Microsoft.Web/sites');
    // AZURE_FUNCTION_APP_NAME is the app's name; azd finds the app to deploy to by its azd-service-name tag (azure.yaml's
    // service `api`).
    expect(main.outputs.AZURE_FUNCTION_APP_NAME?.value).toBe(site.name);
    expect(JSON.stringify(site.tags)).toContain("'azd-service-name', 'api'");
    expect(read('azure.yaml')).toMatch(/services:\s*\n\s*api:/);
    // SLACK_EVENTS_URL is the route functions/slack.ts serves (and the manifest's request URL ends with it).
    const slackRoute = read('functions/slack.ts').match(/route: '([^']+)'/)?.[1];
    expect(slackRoute).toBe('slack/events');
    expect(main.outputs.SLACK_EVENTS_URL?.value).toMatch(
      new RegExp(`^\\[format\\('https://\\{0\\}/api/${slackRoute}'`),
    );
    expect(main.outputs.SLACK_EVENTS_URL?.value).toContain('defaultHostName');
    for (const output of Object.values(main.outputs)) expect(output.type).toBe('string');
  });

  test('the SNAT alert: SnatConnectionCount, ConnectionState = Failed (as documented), per backend IP, to alertHook', () => {
    const main = templates.main;
    const alert = single(main, 'Microsoft.Insights/metricAlerts');
    expect(alert.condition).toBe("[parameters('enableSnatAlert')]");
    const criteria = (alert.properties as { criteria: { allOf: Record<string, unknown>[] } }).criteria.allOf;
    expect(criteria).toHaveLength(1);
    // Azure Load Balancer docs, "Outbound availability alerting": SNAT connection count filtered to
    // Connection State = Failed, Total aggregation, split by backend IP address, threshold greater than zero.
    expect(criteria[0]).toEqual(
      expect.objectContaining({
        metricNamespace: 'Microsoft.Network/loadBalancers',
        metricName: 'SnatConnectionCount',
        operator: 'GreaterThan',
        threshold: 0,
        timeAggregation: 'Total',
        dimensions: [
          { name: 'ConnectionState', operator: 'Include', values: ['Failed'] },
          { name: 'BackendIPAddress', operator: 'Include', values: ['*'] },
        ],
      }),
    );
    const hook = single(main, 'Microsoft.Insights/actionGroups').properties as {
      webhookReceivers: { serviceUri: string; useCommonAlertSchema: boolean }[];
    };
    const alertRoute = read('functions/alertHook.ts').match(/route: '([^']+)'/)?.[1];
    expect(alertRoute).toBe('alerts/snat');
    expect(hook.webhookReceivers).toHaveLength(1);
    expect(hook.webhookReceivers[0]?.serviceUri).toContain(`/api/${alertRoute}?code=`);
    expect(hook.webhookReceivers[0]?.useCommonAlertSchema).toBe(true);
  });
});
