// The Functions app as the host runs it: the bundle (dist/functions.js, with its production dependencies inside)
// registers the functions, and investigations run through those registrations — the HTTP starter and the Slack
// endpoint with the Durable client durable-functions builds (talking HTTP to a loopback stand-in for the Durable
// extension's API), the orchestrator and every activity on the bundle's in-memory Durable host, the activities
// reaching the sandbox over HTTPS and WebSocket through the bundled Azure SDKs and @kubernetes/client-node, and the
// evidence blob written to Azurite by the bundled @azure/storage-blob.
// The functions, the Durable host and the ports all come from dist/: dist/functions-local/*.js share the bundle's
// chunks (tools/build.mjs), so their `usePorts`, host and adapters are the very module instances dist/functions.js
// runs; nothing under functions/ is loaded from source.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import type { Report } from '../../lib/model.ts';
import type { EvidenceStore } from '../../lib/ports.ts';
import { CHANNEL, commandBody, SANDBOX_CLUSTER, signedRequest, slackEnv } from '../slack/support.ts';
import { type Azurite, getBlob, startAzurite } from '../support/azurite.ts';
import { scenarioWith } from '../support/scenarios.ts';

type RuntimeModule = typeof import('../../lib/local/runtime.ts');
type SandboxModule = typeof import('../../lib/sandbox/sandbox.ts');
type EvidenceModule = typeof import('../../lib/adapters/evidenceStore.ts');
type AzureModule = typeof import('../../lib/adapters/azure.ts');
type Host = Awaited<ReturnType<RuntimeModule['startLocalRuntime']>>['host'];
type Sandbox = Awaited<ReturnType<SandboxModule['startSandbox']>>;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = 'aks-nodepool1-31415926-vmss000001';
// A computed specifier: the bundle has no type declarations, and it is built (npm run build) before the tests.
const built = <T>(path: string) => import(new URL(`../../dist/${path}`, import.meta.url).href) as Promise<T>;
/**
 * A chunk the app imports on first use, named by esbuild after its source file (lib/adapters/azure.ts →
 * functions-chunks/azure-<hash>.js): the bundle's own copy of that module.
 */
function lazyChunk<T>(name: string): Promise<T> {
  const files = readdirSync(join(ROOT, 'dist', 'functions-chunks')).filter((f) =>
    new RegExp(`^${name}-[A-Z0-9]+\\.js$`).test(f),
  );
  expect(files).toHaveLength(1);
  return built<T>(`functions-chunks/${files[0]}`);
}

/**
 * The Durable extension's HTTP API as durable-functions' client calls it when the binding gives an `rpcBaseUrl`
 * (start an orchestration, read an instance's status, read and signal an entity: a node's registry), served from the
 * bundle's in-memory host.
 */
async function durableExtension(host: Host) {
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const reply = (status: number, body?: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(body === undefined ? '' : JSON.stringify(body));
    };
    let body = '';
    for await (const chunk of request) body += chunk;
    const start = /^\/durabletask\/orchestrators\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const instance = /^\/durabletask\/instances\/([^/]+)$/.exec(url.pathname);
    const entity = /^\/durabletask\/entities\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (entity) {
      const entityId = { name: decodeURIComponent(entity[1] ?? ''), key: decodeURIComponent(entity[2] ?? '') };
      if (request.method === 'GET') {
        const state = await host.readEntityState(entityId);
        return state.entityExists ? reply(200, state.entityState ?? null) : reply(404);
      }
      if (request.method === 'POST') {
        await host.signalEntity(entityId, url.searchParams.get('op') ?? '', body ? JSON.parse(body) : undefined);
        return reply(202);
      }
    }
    if (request.method === 'POST' && start) {
      const [name, id] = [decodeURIComponent(start[1] ?? ''), decodeURIComponent(start[2] ?? '')];
      const instanceId = await host.startNew(name, { instanceId: id, input: body ? JSON.parse(body) : undefined });
      return reply(202, { id: instanceId });
    }
    if (request.method === 'GET' && instance) {
      const status = await host.getStatus(decodeURIComponent(instance[1] ?? ''));
      if (!status) return reply(404);
      const { name, instanceId, runtimeStatus, input, output, customStatus, createdTime, lastUpdatedTime } = status;
      return reply(runtimeStatus === 'Completed' || runtimeStatus === 'Failed' ? 200 : 202, {
        name,
        instanceId,
        runtimeStatus,
        input: input ?? null,
        output: output ?? null,
        customStatus: customStatus ?? null,
        createdTime,
        lastUpdatedTime,
      });
    }
    reply(404);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const webhooks = `${origin}/runtime/webhooks/durabletask`;
  const id = 'INSTANCEID';
  // The durable client binding's data, as the extension sends it to the worker.
  const clientData = {
    taskHubName: 'snatdoctor',
    creationUrls: {
      createNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]`,
      createAndWaitOnNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}`,
    },
    managementUrls: {
      id,
      statusQueryGetUri: `${webhooks}/instances/${id}?taskHub=snatdoctor`,
      sendEventPostUri: `${webhooks}/instances/${id}/raiseEvent/{eventName}?taskHub=snatdoctor`,
      terminatePostUri: `${webhooks}/instances/${id}/terminate?reason={text}&taskHub=snatdoctor`,
      purgeHistoryDeleteUri: `${webhooks}/instances/${id}?taskHub=snatdoctor`,
    },
    baseUrl: webhooks,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${origin}/durabletask/`,
  };
  return { clientData, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Calls a registered HTTP function as the worker would: its trigger, and its durable client input bound. */
async function invoke(name: string, request: HttpRequest, clientData: unknown): Promise<HttpResponseInit> {
  const registration = registrations.get(name);
  if (!registration) throw new Error(`${name} is not registered`);
  const bindings = Object.values(registration.metadata.bindings) as { type: string; name: string }[];
  const trigger = bindings.find((b) => b.type === 'httpTrigger');
  const client = bindings.find((b) => b.type === 'durableClient');
  if (!trigger || !client) throw new Error(`${name} is not an HTTP function with a durable client`);
  const context = new InvocationContext({
    functionName: name,
    logHandler: () => {},
    options: { trigger, extraInputs: [client] },
  });
  context.extraInputs.set(client.name, clientData);
  return (await registration.handler(request, context)) as HttpResponseInit;
}

describe('investigations through the bundle on the sandbox', () => {
  let sandbox: Sandbox;
  let azurite: Azurite;
  let host: Host;
  let extension: Awaited<ReturnType<typeof durableExtension>>;
  const saved = { ...process.env };

  beforeAll(async () => {
    // The app reads its settings from the environment once per process: the Slack endpoint's, here.
    Object.assign(process.env, slackEnv());
    const { startSandbox } = await built<SandboxModule>('functions-local/sandbox.js');
    const { startLocalRuntime } = await built<RuntimeModule>('functions-local/runtime.js');
    const { createEvidenceStore } = await lazyChunk<EvidenceModule>('evidenceStore');
    [sandbox, azurite] = await Promise.all([startSandbox(scenarioWith(), { timeoutMs: 15_000 }), startAzurite()]);
    const evidence: EvidenceStore = createEvidenceStore({ connectionString: azurite.connectionString });
    // Loads dist/functions.js (the runtime imports the app's entry) with the sandbox's ports installed.
    ({ host } = await startLocalRuntime({ ports: { ...sandbox.ports(), evidence }, clock: new VirtualClock() }));
    extension = await durableExtension(host);
  });
  afterAll(async () => {
    await extension?.close();
    await Promise.all([sandbox?.close(), azurite?.stop()]);
    process.env = saved;
  });

  test('POST /api/investigations: the registered starter starts it, every step succeeds, the status function reports it', async () => {
    const response = await invoke(
      'startInvestigation',
      new HttpRequest({
        method: 'POST',
        url: 'http://127.0.0.1:7071/api/investigations',
        body: { string: JSON.stringify({ cluster: SANDBOX_CLUSTER, node: NODE, seconds: 10 }) },
        headers: { 'content-type': 'application/json' },
      }),
      extension.clientData,
    );
    expect(response.status).toBe(202);
    const { instanceId, statusQueryGetUri } = response.jsonBody as { instanceId: string; statusQueryGetUri: string };
    expect(statusQueryGetUri).toBe(
      `http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/${instanceId}?taskHub=snatdoctor`,
    );

    const done = await host.waitForCompletion(instanceId);
    expect(done.runtimeStatus).toBe('Completed');
    const report = done.output as Report;
    expect(report.steps.map((s) => [s.name, s.status])).toEqual(
      ['locateNode', 'captureNode', 'mapPods', 'podConnections', 'rankAndReport'].map((s) => [s, 'succeeded']),
    );
    expect(report.culprits[0]).toMatchObject({ namespace: 'payments', publicEstablished: 905 });
    // Over the real protocols: ARM's runCommand ran the node probe, and the probe pod is gone.
    expect(sandbox.arm.calls.filter((c) => c.target === 'arm.runCommand')).toHaveLength(1);
    expect(sandbox.cluster.leftoverPods()).toEqual([]);
    // The evidence blob, in Azurite.
    const blob = await getBlob(report.evidence?.url ?? '');
    expect(blob.status).toBe(200);
    expect(JSON.parse(blob.text)).toMatchObject({ instanceId, report: { culprits: report.culprits } });

    const state = await invoke(
      'status',
      new HttpRequest({
        method: 'GET',
        url: `http://127.0.0.1:7071/api/investigations/${encodeURIComponent(instanceId)}`,
        params: { id: instanceId },
      }),
      extension.clientData,
    );
    expect(state.status).toBe(200);
    expect(state.jsonBody).toMatchObject({
      instanceId,
      runtimeStatus: 'Completed',
      report: { culprits: report.culprits },
    });

    // The node's registry (an entity the bundle registers), read by the real client: the investigation is its history.
    const query = new URLSearchParams({
      subscriptionId: SANDBOX_CLUSTER.subscriptionId,
      resourceGroup: SANDBOX_CLUSTER.resourceGroup,
      cluster: SANDBOX_CLUSTER.name,
      node: NODE,
    });
    const listed = await invoke(
      'nodeInvestigations',
      new HttpRequest({ method: 'GET', url: `http://127.0.0.1:7071/api/investigations?${query}` }),
      extension.clientData,
    );
    expect(listed.status).toBe(200);
    expect(listed.jsonBody).toMatchObject({ node: NODE, history: [{ instanceId, outcome: 'completed' }] });
    expect(listed.jsonBody).not.toHaveProperty('running');
  });

  test('/snat diagnose: the registered Slack endpoint (Bolt, bundled) acks and the investigation completes', async () => {
    // jest's ESM loader fails ("request for 'node:module' is from a module not been linked") when two dynamic imports
    // that share a dependency link at once (jestjs/jest#11434); Node does not. The Slack function imports Bolt's app
    // and its logger together (Promise.all), so load those chunks one at a time first.
    const entry = readFileSync(join(ROOT, 'dist', 'functions.js'), 'utf8');
    for (const group of entry.matchAll(/Promise\.all\(\[\s*((?:import\("[^"]+"\),?\s*)+)\]\)/g)) {
      for (const chunk of (group[1] ?? '').matchAll(/import\("([^"]+)"\)/g)) await built(chunk[1] as string);
    }
    const response = await invoke(
      'slack',
      signedRequest(commandBody('diagnose prod 10.224.0.5 --seconds 10', { channel_id: CHANNEL })),
      extension.clientData,
    );
    expect(response.status).toBe(200);
    // The reply names the investigation it started: the one instance with the Slack channel as its asker.
    const started = (await host.listInstances()).filter(
      (i) => (i.input as { requestedBy?: { where?: string } } | undefined)?.requestedBy?.where === CHANNEL,
    );
    expect(started).toHaveLength(1);
    const id = started[0]?.instanceId ?? '';
    expect(id).toMatch(/^snat:[0-9a-f-]{36}:rg-payments-prod:aks-prod:\d{8}t\d{6}z-[0-9a-f]{6}:10\.224\.0\.5$/);
    expect(JSON.stringify(response.jsonBody)).toContain(id);
    const done = await host.waitForCompletion(id);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.input).toMatchObject({ requestedBy: { kind: 'slack', where: CHANNEL } });
  });
});

describe('in Azure', () => {
  test('DefaultAzureCredential signs in with the app’s managed identity (msal-node, bundled)', async () => {
    // The identity endpoint Flex Consumption gives an app (IDENTITY_ENDPOINT and IDENTITY_HEADER), on loopback.
    const asked: { url?: string; header?: string | string[] }[] = [];
    const server = createServer((request, response) => {
      asked.push({ url: request.url, header: request.headers['x-identity-header'] });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          access_token: 'managed-identity-token',
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: 'https://management.azure.com',
          token_type: 'Bearer',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const saved = { ...process.env };
    try {
      process.env.IDENTITY_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`;
      process.env.IDENTITY_HEADER = 'identity-header';
      const { defaultCredential } = await lazyChunk<AzureModule>('azure');
      const token = await defaultCredential().getToken('https://management.azure.com/.default');
      expect(token?.token).toBe('managed-identity-token');
      expect(asked).toEqual([
        {
          url: '/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com',
          header: 'identity-header',
        },
      ]);
    } finally {
      process.env = saved;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the bundle on disk', () => {
  /** Every file dist/functions.js loads: `static` when it loads, or all of them (the chunks loaded on first use too). */
  function filesOf(kind: 'static' | 'all'): string[] {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      const relativeImports = [
        ...text.matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.{1,2}\/[^"]+)";$/gm),
        ...text.matchAll(/^import\s*"(\.{1,2}\/[^"]+)";$/gm),
        ...(kind === 'all' ? text.matchAll(/\bimport\("(\.{1,2}\/[^"]+)"\)/g) : []),
      ];
      for (const match of relativeImports) visit(join(dirname(file), match[1] as string));
    };
    visit(join(ROOT, 'dist', 'functions.js'));
    return [...seen];
  }

  test('needs nothing from node_modules but ws’s optional native add-ons: Node built-ins and functions-core', () => {
    const files = filesOf('all');
    expect(files.length).toBeGreaterThan(5);
    const loaded = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s*"([^".][^"]*)";$/gm))
        loaded.add(match[1] ?? '');
      for (const match of text.matchAll(/\b__require\("([^"]+)"\)/g)) loaded.add(match[1] ?? '');
    }
    const builtins = new Set(builtinModules);
    const packages = [...loaded].filter((name) => !name.startsWith('node:') && !builtins.has(name));
    expect(packages.sort()).toEqual(['@azure/functions-core', 'bufferutil', 'utf-8-validate']);
  });

  test('at start it loads the app, durable-functions and @azure/functions; the SDKs load on first use (cold start)', () => {
    // esbuild marks each bundled module with its path (`// node_modules/<package>/…`).
    const packagesIn = (files: string[]) => {
      const names = new Set<string>();
      for (const file of files) {
        for (const match of readFileSync(file, 'utf8').matchAll(/^\/\/ node_modules\/((?:@[^/\n]+\/)?[^/\n]+)\//gm)) {
          names.add(match[1] ?? '');
        }
      }
      return names;
    };
    const atStart = packagesIn(filesOf('static'));
    expect([...atStart]).toEqual(expect.arrayContaining(['@azure/functions', 'durable-functions']));
    const sdks = [
      '@azure/arm-containerservice',
      '@azure/identity',
      '@azure/monitor-query-metrics',
      '@azure/storage-blob',
      '@kubernetes/client-node',
      '@slack/bolt',
      '@slack/web-api',
    ];
    const lazy = [...sdks, 'cli-table3', 'commander', 'selfsigned', 'yaml'];
    expect(lazy.filter((name) => atStart.has(name))).toEqual([]);
    // …and the SDKs are in the bundle, in the chunks the app imports on first use.
    expect([...packagesIn(filesOf('all'))]).toEqual(expect.arrayContaining(sdks));
  });
});
