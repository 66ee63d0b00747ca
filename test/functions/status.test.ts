// The status function, called as the Functions host would (a real `HttpRequest` with the route's `id`), over the
// in-memory Durable host running investigations on the sandbox.
import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { type InvestigationState, investigationState, type StatusClient, status } from '../../functions/status.ts';
import { type StatusEvent, VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { InvestigationRequest, Report } from '../../lib/model.ts';
import type { Ports } from '../../lib/ports.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { startOrJoin } from '../../lib/workflow/start.ts';
import { scenarioWith } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const NODE_ID = `snat:rg-payments-prod:aks-prod:${NODE}`;

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
  // Counts what reaches the Durable client, to prove a refused id never does.
  const asked: string[] = [];
  const local = new LocalDurableClient(host);
  const client: StatusClient = {
    getStatus: (id) => {
      asked.push(id);
      return local.getStatus(id);
    },
  };
  const request: InvestigationRequest = {
    cluster: {
      subscriptionId: scenario.cluster.subscriptionId,
      resourceGroup: scenario.cluster.resourceGroup,
      name: scenario.cluster.name,
    },
    node: NODE,
    captureSeconds: 30,
    requestedBy: { kind: 'alert', who: 'aks-prod SNAT ports above 90%' },
  };
  const get = (id: string) =>
    status(
      new HttpRequest({
        method: 'GET',
        url: `http://127.0.0.1:7071/api/investigations/${encodeURIComponent(id)}`,
        params: { id },
      }),
      client,
      new InvocationContext({ functionName: 'status', logHandler: () => {} }),
    );
  return { host, request, get, asked, release: held.release };
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
    const { instanceId } = await startOrJoin(host, request);
    await capturing;

    const response = await get(instanceId);
    expect(response.status).toBe(200);
    const body = response.jsonBody as InvestigationState;
    expect(body).toMatchObject({
      instanceId: NODE_ID,
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
    const { instanceId } = await startOrJoin(host, request);
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
    ['the most exhausted node', 'snat:rg-payments-prod:aks-prod:most-exhausted'],
    ['a node IP', 'snat:rg-payments-prod:aks-prod:10.224.0.9'],
    ['a node IPv6 address', 'snat:rg-payments-prod:aks-prod:fd00::9'],
    ['a resource group with a period and an underscore', 'snat:mc_rg.payments:aks-prod:most-exhausted'],
  ])('an unknown id naming %s is looked up and gets 404', async (_name, id) => {
    const { get, asked } = await setup();
    const response = await get(id);
    expect(response.status).toBe(404);
    expect(response.jsonBody).toEqual({ message: `There is no investigation ${id}.` });
    expect(asked).toEqual([id]);
  });

  test.each([
    ['no id', ''],
    ['a path', '../../admin/host/keys'],
    ['not an investigation id', 'abc123def456'],
    ['upper case (ids are lower-cased)', 'SNAT:RG-PAYMENTS-PROD:AKS-PROD:MOST-EXHAUSTED'],
    ['a missing node', 'snat:rg-payments-prod:aks-prod'],
    ['an empty node', 'snat:rg-payments-prod:aks-prod:'],
    ['a shell command in the node', 'snat:rg-payments-prod:aks-prod:vmss000001;rm -rf /'],
    ['command substitution in the cluster', 'snat:rg-payments-prod:$(id):most-exhausted'],
    ['parentheses in the resource group', 'snat:rg(prod):aks-prod:most-exhausted'],
    ['a quote', "snat:rg-payments-prod:aks-prod:x' or '1'='1"],
    ['a newline', 'snat:rg-payments-prod:aks-prod:most-exhausted\nsnat:other'],
    ['an encoded slash', 'snat:rg-payments-prod:aks-prod:a%2F..%2Fb'],
    ['a slash', 'snat:rg-payments-prod:aks-prod:10.224.0.5/../../x'],
    ['an extra part', `${NODE_ID}:extra`],
    ['a wildcard', 'snat:*:*:*'],
    ['a very long node', `snat:rg-payments-prod:aks-prod:${'a'.repeat(5000)}`],
  ])('refuses %s with 400 before asking the Durable client', async (_name, id) => {
    const { get, asked } = await setup();
    const response = await get(id);
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({
      error: 'BAD_ARGUMENT',
      message: expect.stringMatching(
        /^investigation id .* is not valid: .*expected snat:\{resource group\}:\{cluster\}/s,
      ),
    });
    expect(asked).toEqual([]);
  });

  test('says which part of the id is wrong', async () => {
    const { get } = await setup();
    const response = await get('snat:rg-payments-prod:$(id):most-exhausted');
    expect((response.jsonBody as { message: string }).message).toMatch(/cluster name "\$\(id\)" is not valid/);
  });

  test('the real Durable client’s 404 (it throws) is a 404 too', async () => {
    const client: StatusClient = {
      getStatus: async (id) => {
        throw new Error(`DurableClient error: Durable Functions extension replied with HTTP 404 response. ${id}`);
      },
    };
    const response = await status(
      new HttpRequest({ method: 'GET', url: 'http://127.0.0.1:7071/api/x', params: { id: NODE_ID } }),
      client,
      new InvocationContext({ functionName: 'status', logHandler: () => {} }),
    );
    expect(response.status).toBe(404);
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
