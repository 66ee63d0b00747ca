// The status and nodeInvestigations functions, called as the Functions host would (a real `HttpRequest` with the
// route's `id`, or the query), over the in-memory Durable host running investigations on the sandbox, started by the
// HTTP starter or directly.
import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { startInvestigation } from '../../functions/startInvestigation.ts';
import {
  type InvestigationState,
  investigationState,
  type NodeInvestigations,
  nodeInvestigations,
  type StatusClient,
  status,
} from '../../functions/status.ts';
import { type StatusEvent, VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { ClusterRef, InvestigationRequest, Report } from '../../lib/model.ts';
import type { Ports } from '../../lib/ports.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { newInvestigationId, ORCHESTRATOR_NAME } from '../../lib/workflow/instanceId.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { scenarioWith } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const SUB = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const STAMP = '20260101t000000z-0a1b2c';
/** An id of the shape the starters make (`newInvestigationId`), of no instance. */
const idOf = (node: string, { group = 'rg-payments-prod', cluster = 'aks-prod', sub = SUB, stamp = STAMP } = {}) =>
  `snat:${sub}:${group}:${cluster}:${stamp}:${node}`;
const NODE_ID = idOf(NODE);
/** The sandbox's cluster's name in another subscription: another cluster (issue 14, item 4). */
const ELSEWHERE: ClusterRef = {
  subscriptionId: '00000000-0000-4000-8000-000000000000',
  resourceGroup: 'rg-payments-prod',
  name: 'aks-prod',
};
const notFound = (id: string) => ({ message: `There is no investigation ${id} of a cluster this app is set up for.` });

/** The sandbox, with the node capture held until `release()`: an investigation that stays running on cue. */
function heldCapture(ports: Ports) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const probe: Ports['probe'] = {
    async capture(...args) {
      await held;
      return ports.probe.capture(...args);
    },
  };
  return { ports: { ...ports, probe }, release };
}

async function setup(options: { holdCapture?: boolean } = {}) {
  const scenario = scenarioWith();
  const sandbox = scenarioPorts(scenario);
  const held = heldCapture(sandbox);
  const { host } = await startLocalRuntime({
    ports: options.holdCapture ? held.ports : sandbox,
    clock: new VirtualClock(),
  });
  // Counts what reaches the Durable client, to prove a refused request never does.
  const asked: string[] = [];
  const local = new LocalDurableClient(host);
  const client: StatusClient = {
    getStatus: (id) => {
      asked.push(id);
      return local.getStatus(id);
    },
    readEntityState: (entityId) => {
      asked.push(`entity ${entityId.name} ${entityId.key}`);
      return local.readEntityState(entityId);
    },
  };
  const cluster: ClusterRef = {
    subscriptionId: scenario.cluster.subscriptionId,
    resourceGroup: scenario.cluster.resourceGroup,
    name: scenario.cluster.name,
  };
  const request: InvestigationRequest = {
    cluster,
    node: NODE,
    captureSeconds: 30,
    requestedBy: { kind: 'alert', who: 'aks-prod SNAT ports above 90%' },
  };
  const context = (functionName: string) => new InvocationContext({ functionName, logHandler: () => {} });
  // `allowed`: the clusters the app is set up for, given here rather than read from this process's environment.
  const get = (id: string, allowed: ClusterRef[] = [cluster]) =>
    status(
      new HttpRequest({
        method: 'GET',
        url: `http://127.0.0.1:7071/api/investigations/${encodeURIComponent(id)}`,
        params: { id },
      }),
      client,
      context('status'),
      allowed,
    );
  const post = (body: unknown, allowed: ClusterRef[] = [cluster]) =>
    startInvestigation(
      new HttpRequest({
        method: 'POST',
        url: 'http://127.0.0.1:7071/api/investigations',
        body: { string: JSON.stringify(body) },
        headers: { 'content-type': 'application/json' },
      }),
      local,
      context('startInvestigation'),
      allowed,
    );
  /** GET /api/investigations?…: the sandbox's cluster and `node`, or the query as given. */
  const list = (query: Record<string, string> | string = { node: NODE }, allowed: ClusterRef[] = [cluster]) => {
    const search =
      typeof query === 'string'
        ? query
        : new URLSearchParams({
            subscriptionId: cluster.subscriptionId,
            resourceGroup: cluster.resourceGroup,
            cluster: cluster.name,
            ...query,
          }).toString();
    return nodeInvestigations(
      new HttpRequest({ method: 'GET', url: `http://127.0.0.1:7071/api/investigations?${search}` }),
      client,
      context('nodeInvestigations'),
      allowed,
    );
  };
  return { host, cluster, request, get, post, list, asked, release: held.release };
}

describe('GET /api/investigations/{id}', () => {
  test('is registered on investigations/{id} for GET, behind a function key, with a Durable client', async () => {
    await setup();
    const bindings = Object.values(registrations.get('status')?.metadata.bindings ?? {});
    expect(bindings).toContainEqual(
      expect.objectContaining({
        type: 'httpTrigger',
        route: 'investigations/{id}',
        methods: ['GET'],
        authLevel: 'function',
      }),
    );
    expect(bindings).toContainEqual(expect.objectContaining({ type: 'durableClient' }));
  });

  test('a running investigation: its current step, the steps done so far, who asked, no report yet', async () => {
    const { host, request, get, release } = await setup({ holdCapture: true });
    const capturing = new Promise<void>((resolve) => {
      host.events.on('status', (event: StatusEvent) => {
        if ((event.customStatus as { step?: string } | null)?.step === 'captureNode') resolve();
      });
    });
    const instanceId = await startNewInvestigation(host, request);
    await capturing;

    const response = await get(instanceId);
    expect(response.status).toBe(200);
    const body = response.jsonBody as InvestigationState;
    expect(body).toMatchObject({
      instanceId,
      runtimeStatus: 'Running',
      createdTime: '2026-01-01T00:00:00.000Z',
      step: { name: 'captureNode', index: 2, of: 5, node: NODE, message: `Capturing connections on ${NODE} for 30 s` },
      steps: [{ name: 'locateNode', status: 'succeeded' }],
      report: null,
      requestedBy: { kind: 'alert', who: 'aks-prod SNAT ports above 90%' },
    });
    expect(body.step).not.toHaveProperty('steps');
    expect(body).not.toHaveProperty('error');

    release();
    await host.waitForCompletion(instanceId);
  });

  test('a completed investigation: its report and all five steps', async () => {
    const { host, request, get } = await setup();
    const instanceId = await startNewInvestigation(host, request);
    const done = await host.waitForCompletion(instanceId);

    const body = (await get(instanceId)).jsonBody as InvestigationState;
    const report = done.output as Report;
    expect(body).toMatchObject({ instanceId, runtimeStatus: 'Completed', step: null, report, steps: report.steps });
    expect(body.steps.map((s) => s.name)).toEqual([
      'locateNode',
      'captureNode',
      'mapPods',
      'podConnections',
      'rankAndReport',
    ]);
    expect(body.report?.culprits[0]?.pod).toMatch(/^checkout-api-/);
    expect(body.lastUpdatedTime).toBe((done.lastUpdatedTime as Date).toISOString());
  });

  test.each([
    ['a node name', NODE_ID],
    ['the most exhausted node', idOf('most-exhausted')],
    ['a node IP', idOf('10.224.0.9')],
    ['a node IPv6 address', idOf('fd00::9')],
    ['a long node name kept as its digest', idOf('~0123456789abcdef')],
    ['a resource group with a period and an underscore', idOf('most-exhausted', { group: 'mc_rg.payments' })],
  ])('an unknown id naming %s is looked up and gets 404', async (_name, id) => {
    const { get, asked } = await setup();
    const response = await get(id);
    expect(response.status).toBe(404);
    expect(response.jsonBody).toEqual(notFound(id));
    expect(asked).toEqual([id]);
  });

  // Each a well-formed id (NODE_ID) with one part wrong, or not an id at all.
  test.each([
    ['no id', ''],
    ['a path', '../../admin/host/keys'],
    ['not an investigation id', 'abc123def456'],
    ['an old-style id (no subscription, no time)', 'snat:rg-payments-prod:aks-prod:most-exhausted'],
    ['upper case (ids are lower-case)', idOf(NODE, { group: 'RG-PAYMENTS-PROD' })],
    ['a subscription that is not a GUID', idOf(NODE, { sub: 'prod' })],
    ['no subscription', idOf(NODE, { sub: '' })],
    ['a time that is not yyyymmddThhmmssZ', idOf(NODE, { stamp: '2026-01-01t000000z-0a1b2c' })],
    ['a nonce that is not 6 hex digits', idOf(NODE, { stamp: '20260101t000000z-0a1b2z' })],
    ['no time', `snat:${SUB}:rg-payments-prod:aks-prod:${NODE}`],
    ['a missing node', `snat:${SUB}:rg-payments-prod:aks-prod:${STAMP}`],
    ['an empty node', idOf('')],
    ['a shell command in the node', idOf('vmss000001;rm -rf /')],
    ['command substitution in the cluster', idOf('most-exhausted', { cluster: '$(id)' })],
    ['parentheses in the resource group', idOf('most-exhausted', { group: 'rg(prod)' })],
    ['a quote', idOf("x' or '1'='1")],
    ['a newline', `${idOf('most-exhausted')}\nsnat:other`],
    ['an encoded slash', idOf('a%2F..%2Fb')],
    ['a slash', idOf('10.224.0.5/../../x')],
    ['an extra part', `${NODE_ID}:extra`],
    ['a digest that is not 16 hex digits', idOf('~0123456789abcdeg')],
    ['a wildcard', 'snat:*:*:*:*:*'],
    ['a very long node', idOf('a'.repeat(5000))],
  ])('refuses %s with 400 before asking the Durable client', async (_name, id) => {
    const { get, asked } = await setup();
    const response = await get(id);
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({
      error: 'BAD_ARGUMENT',
      message: expect.stringMatching(
        /^investigation id .* is not valid: .*expected snat:\{subscription\}:\{resource group\}:\{cluster\}:\{yyyymmddThhmmssZ\}-\{6 hex digits\}:\{node\}/s,
      ),
    });
    expect(asked).toEqual([]);
  });

  test('says which part of the id is wrong', async () => {
    const { get } = await setup();
    const message = async (id: string) => ((await get(id)).jsonBody as { message: string }).message;
    expect(await message(idOf('most-exhausted', { cluster: '$(id)' }))).toMatch(/cluster name "\$\(id\)" is not valid/);
    expect(await message(idOf(NODE, { sub: 'prod' }))).toMatch(/subscription id "prod" is not valid/);
    expect(await message(idOf(NODE, { group: 'RG-PAYMENTS-PROD' }))).toMatch(/ids are lower-case/);
  });

  test('the real Durable client’s 404 (it throws) is a 404 too', async () => {
    const client: StatusClient = {
      getStatus: async (id) => {
        throw new Error(`DurableClient error: Durable Functions extension replied with HTTP 404 response. ${id}`);
      },
      readEntityState: async () => ({ entityExists: false }),
    };
    const response = await status(
      new HttpRequest({ method: 'GET', url: 'http://127.0.0.1:7071/api/x', params: { id: NODE_ID } }),
      client,
      new InvocationContext({ functionName: 'status', logHandler: () => {} }),
      [ELSEWHERE],
    );
    expect(response.status).toBe(404);
    expect(response.jsonBody).toEqual(notFound(NODE_ID));
  });
});

describe('GET /api/investigations?subscriptionId=&resourceGroup=&cluster=&node=', () => {
  test('is registered on investigations for GET, behind a function key, with a Durable client', async () => {
    await setup();
    const bindings = Object.values(registrations.get('nodeInvestigations')?.metadata.bindings ?? {});
    expect(bindings).toContainEqual(
      expect.objectContaining({
        type: 'httpTrigger',
        route: 'investigations',
        methods: ['GET'],
        authLevel: 'function',
      }),
    );
    expect(bindings).toContainEqual(expect.objectContaining({ type: 'durableClient' }));
  });

  test('a node never investigated: no running investigation, an empty history', async () => {
    const { cluster, list } = await setup();
    const response = await list();
    expect(response.status).toBe(200);
    expect(response.jsonBody).toEqual({ cluster, node: NODE, history: [] });
  });

  test('while an investigation runs on the node, it is the node’s running one', async () => {
    const { host, cluster, post, list, release } = await setup({ holdCapture: true });
    const capturing = new Promise<void>((resolve) => {
      host.events.on('status', (event: StatusEvent) => {
        if ((event.customStatus as { step?: string } | null)?.step === 'captureNode') resolve();
      });
    });
    const { instanceId } = (await post({ cluster, node: NODE })).jsonBody as { instanceId: string };
    await capturing;

    const body = (await list()).jsonBody as NodeInvestigations;
    expect(body).toMatchObject({ node: NODE, running: { instanceId }, history: [] });

    release();
    await host.waitForCompletion(instanceId);
  });

  test.each<[string, Record<string, string> | string, RegExp]>([
    ['a node IP (a node’s investigations are kept by its name)', { node: '10.224.0.5' }, /is an IP/],
    ['a node IPv6 address', { node: 'fd00::5' }, /is an IP/],
    ['an unknown query parameter', { node: NODE, nodes: NODE }, /^Unknown query parameter "nodes"/],
    [
      'a misspelt parameter',
      `subscription=${SUB}&resourceGroup=rg-payments-prod&cluster=aks-prod&node=${NODE}`,
      /Unknown query parameter "subscription"/,
    ],
    ['no node', 'subscriptionId=x', /^Missing a parameter/],
    ['an empty node', { node: '' }, /^Missing a parameter/],
    ['no query at all', '', /^Missing a parameter/],
    ['a subscription that is not a GUID', { node: NODE, subscriptionId: 'prod' }, /subscription id/],
    ['shell text in the node', { node: 'a;rm -rf /' }, /node "a;rm -rf \/" is not valid/],
    ['command substitution in the cluster name', { node: NODE, cluster: '$(id)' }, /cluster name/],
    ['a very long node name', { node: 'a'.repeat(5000) }, /node/],
  ])('%s is a 400 saying what it takes, before asking the Durable client', async (_name, query, message) => {
    const { list, asked } = await setup();
    const response = await list(query);
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({ error: 'BAD_ARGUMENT', message: expect.stringMatching(message) });
    expect(asked).toEqual([]);
  });
});

// Issue 14: "one probe per node, every run kept, nothing started by a stranger".
describe('issue 14: the HTTP API starts and shows investigations of the app’s clusters only, and keeps every run', () => {
  test('status of an investigation whose cluster is not allowed is a 404 like an unknown id’s (authorized by the investigation’s cluster, item 4/6)', async () => {
    const { host, cluster, request, get, asked } = await setup();
    const instanceId = await startNewInvestigation(host, request);
    await host.waitForCompletion(instanceId);
    // The same group and cluster name in another subscription is another cluster.
    const refused = await get(instanceId, [ELSEWHERE]);
    expect(refused.status).toBe(404);
    const unknown = NODE_ID;
    expect(refused.jsonBody).toEqual({
      message: ((await get(unknown, [ELSEWHERE])).jsonBody as { message: string }).message.replace(unknown, instanceId),
    });
    expect(JSON.stringify(refused.jsonBody)).not.toMatch(/checkout-api|Completed|culprits/);
    // The instance is there (it was looked up): only not shown.
    expect(asked).toContain(instanceId);
    expect((await host.getStatus(instanceId))?.runtimeStatus).toBe('Completed');
    expect((await get(instanceId, [cluster])).status).toBe(200);
    expect((await get(instanceId, [])).status).toBe(404);
  });

  test('status is decided by the investigation’s own cluster, not by the cluster its id names', async () => {
    const { host, cluster, request, get } = await setup();
    // An instance whose id names ELSEWHERE (allowed below) but which ran on the sandbox's cluster (not allowed).
    const instanceId = newInvestigationId(ELSEWHERE, NODE, new Date('2026-01-01T00:00:00Z'), '0a1b2c');
    await host.startNew(ORCHESTRATOR_NAME, { instanceId, input: request });
    await host.waitForCompletion(instanceId);
    const refused = await get(instanceId, [ELSEWHERE]);
    expect(refused.status).toBe(404);
    expect(refused.jsonBody).toEqual(notFound(instanceId));
    expect((await get(instanceId, [cluster])).status).toBe(200);
  });

  test('the HTTP starter refuses a cluster that is not allowed with 403 and starts nothing (item 6: it took any cluster)', async () => {
    const { host, cluster, post } = await setup();
    for (const allowed of [[ELSEWHERE], []]) {
      const response = await post({ cluster, node: NODE }, allowed);
      expect(response.status).toBe(403);
      expect(response.jsonBody).toEqual({
        error: 'CLUSTER_NOT_ALLOWED',
        message: expect.stringMatching(
          /^Cluster rg-payments-prod\/aks-prod is not one this app is set up for: add it to SNAT_DOCTOR_WATCH_CLUSTERS or SNAT_DOCTOR_SLACK_ACCESS\.$/,
        ),
      });
    }
    expect(await host.listInstances()).toEqual([]);
    // Azure names compare case-insensitively: the same cluster written in upper case is allowed.
    const upper = { ...cluster, resourceGroup: cluster.resourceGroup.toUpperCase(), name: cluster.name.toUpperCase() };
    const accepted = await post({ cluster, node: NODE }, [upper]);
    expect(accepted.status).toBe(202);
    await host.waitForCompletion((accepted.jsonBody as { instanceId: string }).instanceId);
  });

  test('nodeInvestigations lists a node’s completed investigation after it ran on the sandbox', async () => {
    const { host, cluster, post, list } = await setup();
    const { instanceId } = (await post({ cluster, node: NODE, seconds: 10 })).jsonBody as { instanceId: string };
    const done = await host.waitForCompletion(instanceId);
    expect(done.runtimeStatus).toBe('Completed');

    const response = await list();
    expect(response.status).toBe(200);
    const body = response.jsonBody as NodeInvestigations;
    expect(body).toEqual({
      cluster,
      node: NODE,
      history: [{ instanceId, startedAt: expect.any(String), finishedAt: expect.any(String), outcome: 'completed' }],
    });
    expect(body).not.toHaveProperty('running');
    // The same node asked for in upper-case cluster names is the same registry.
    const upper = { cluster: cluster.name.toUpperCase(), resourceGroup: cluster.resourceGroup.toUpperCase() };
    expect(((await list({ node: NODE, ...upper })).jsonBody as NodeInvestigations).history).toHaveLength(1);
  });

  test('nodeInvestigations answers 400 for an IP node and for an unknown query parameter, 404 for a cluster not allowed', async () => {
    const { host, cluster, post, list, asked } = await setup();
    const { instanceId } = (await post({ cluster, node: NODE })).jsonBody as { instanceId: string };
    await host.waitForCompletion(instanceId);
    asked.length = 0;

    const byIp = await list({ node: '10.224.0.5' });
    expect(byIp.status).toBe(400);
    expect(byIp.jsonBody).toEqual({
      error: 'BAD_ARGUMENT',
      message: `node "10.224.0.5" is an IP: a node's investigations are kept by its name.`,
    });
    const unknownParameter = await list({ node: NODE, instanceId });
    expect(unknownParameter.status).toBe(400);
    expect(unknownParameter.jsonBody).toEqual({
      error: 'BAD_ARGUMENT',
      message: expect.stringMatching(/^Unknown query parameter "instanceId": give \?subscriptionId=/),
    });
    const elsewhere = await list({ node: NODE }, [ELSEWHERE]);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.jsonBody).toEqual({
      message: 'Cluster rg-payments-prod/aks-prod is not one this app is set up for.',
    });
    expect(JSON.stringify(elsewhere.jsonBody)).not.toContain(instanceId);
    // None of them reached the node's registry.
    expect(asked).toEqual([]);
    expect((await list()).status).toBe(200);
  });

  test('two POSTs for one node, one after the other finishes, are two investigations, both listed newest first (item 5: a re-run replaced the first run’s history)', async () => {
    const { host, cluster, post, get, list } = await setup();
    const run = async () => {
      const response = await post({ cluster, node: NODE, seconds: 10 });
      expect(response.status).toBe(202);
      const { instanceId, joined } = response.jsonBody as { instanceId: string; joined: boolean };
      expect(joined).toBe(false);
      await host.waitForCompletion(instanceId);
      return instanceId;
    };
    const first = await run();
    const second = await run();

    expect(second).not.toBe(first);
    expect((await host.listInstances()).map((i) => i.instanceId).sort()).toEqual([first, second].sort());
    // Each run keeps its own report.
    for (const id of [first, second]) {
      expect((await get(id)).jsonBody).toMatchObject({ instanceId: id, runtimeStatus: 'Completed' });
    }
    const { history } = (await list()).jsonBody as NodeInvestigations;
    expect(history.map((h) => [h.instanceId, h.outcome])).toEqual([
      [second, 'completed'],
      [first, 'completed'],
    ]);
    expect(Date.parse(history[0]?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(history[1]?.finishedAt ?? ''));
  });
});

describe('investigationState', () => {
  test('a failed orchestration says why, in one line', () => {
    const state = investigationState(NODE_ID, {
      runtimeStatus: 'Failed',
      createdTime: new Date('2026-01-01T00:00:00Z'),
      lastUpdatedTime: '2026-01-01T00:00:05Z',
      input: { requestedBy: { kind: 'http' } },
      output: "Orchestrator function 'investigate' failed: host error: boom\n    at drive (durableHost.ts:1:1)",
      customStatus: { step: 'locateNode', index: 1, of: 5, message: 'Locating node', steps: [] },
    });
    expect(state).toEqual({
      instanceId: NODE_ID,
      runtimeStatus: 'Failed',
      createdTime: '2026-01-01T00:00:00.000Z',
      lastUpdatedTime: '2026-01-01T00:00:05.000Z',
      step: { name: 'locateNode', index: 1, of: 5, message: 'Locating node' },
      steps: [],
      report: null,
      requestedBy: { kind: 'http' },
      error: "Orchestrator function 'investigate' failed: host error: boom",
    });
  });

  test('a pending investigation (no custom status yet) has no step', () => {
    const state = investigationState(NODE_ID, { runtimeStatus: 'Pending', customStatus: null, input: null });
    expect(state).toMatchObject({ step: null, steps: [], report: null, requestedBy: null, createdTime: null });
  });
});
