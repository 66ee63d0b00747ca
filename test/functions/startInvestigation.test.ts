// The HTTP starter, called with real `HttpRequest` objects and the local Durable client.

import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { startInvestigation } from '../../functions/startInvestigation.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { checkInvestigationId } from '../../lib/workflow/instanceId.ts';
import { scenarioWith } from '../support/scenarios.ts';

async function setup() {
  const scenario = scenarioWith();
  const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock: new VirtualClock() });
  const client = new LocalDurableClient(host);
  const cluster = {
    subscriptionId: scenario.cluster.subscriptionId,
    resourceGroup: scenario.cluster.resourceGroup,
    name: scenario.cluster.name,
  };
  const post = (body: unknown) =>
    startInvestigation(
      new HttpRequest({
        method: 'POST',
        url: 'http://127.0.0.1:7071/api/investigations',
        body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
        headers: { 'content-type': 'application/json' },
      }),
      client,
      new InvocationContext({ functionName: 'startInvestigation', logHandler: () => {} }),
      // The clusters the app is set up for, given here rather than read from this process's environment.
      [cluster],
    );
  return { host, cluster, post };
}

describe('POST /api/investigations', () => {
  test('starts an investigation and answers 202 with the status links', async () => {
    const { host, cluster, post } = await setup();
    const response = await post({ cluster, node: '10.224.0.5', seconds: 10 });
    expect(response.status).toBe(202);
    const body = response.jsonBody as { instanceId: string; joined: boolean; statusQueryGetUri: string };
    expect(body.joined).toBe(false);
    expect(checkInvestigationId(body.instanceId)).toBe(body.instanceId);
    expect(body.instanceId).toMatch(
      new RegExp(
        `^snat:${cluster.subscriptionId}:rg-payments-prod:aks-prod:\\d{8}t\\d{6}z-[0-9a-f]{6}:10\\.224\\.0\\.5$`,
      ),
    );
    expect(body.statusQueryGetUri).toContain(encodeURIComponent(body.instanceId));
    const done = await host.waitForCompletion(body.instanceId);
    expect(done.runtimeStatus).toBe('Completed');
  });

  test('a second request for a node under investigation joins it instead of starting another', async () => {
    const { host, cluster, post } = await setup();
    const first = (await post({ cluster, node: '10.224.0.5' })).jsonBody as { instanceId: string };
    const second = (await post({ cluster, node: '10.224.0.5' })).jsonBody as { instanceId: string; joined: boolean };
    expect(second).toMatchObject({ instanceId: first.instanceId, joined: true });
    expect((await host.listInstances()).map((i) => i.instanceId)).toEqual([first.instanceId]);
  });

  // Issue 14: the HTTP and Slack paths checked and then started without a lock, so 20 concurrent requests in one
  // process started 20 investigations (20 probe pods).
  test('20 concurrent requests for one node start one investigation; the others join it', async () => {
    const { host, cluster, post } = await setup();
    const responses = await Promise.all(Array.from({ length: 20 }, () => post({ cluster, node: '10.224.0.5' })));
    const bodies = responses.map((r) => r.jsonBody as { instanceId: string; joined: boolean });
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(new Set(bodies.map((b) => b.instanceId)).size).toBe(1);
    expect(bodies.filter((b) => !b.joined)).toHaveLength(1);
    expect(bodies.filter((b) => b.joined)).toHaveLength(19);
    expect((await host.listInstances()).map((i) => i.instanceId)).toEqual([bodies[0]?.instanceId]);
  });

  test('spellings of one node are one investigation', async () => {
    const { host, cluster, post } = await setup();
    const ids: string[] = [];
    for (const node of ['10.224.0.5', '::ffff:10.224.0.5', '::ffff:ae0:5']) {
      ids.push(((await post({ cluster, node })).jsonBody as { instanceId: string }).instanceId);
    }
    expect(new Set(ids).size).toBe(1);
    expect((await host.listInstances()).length).toBe(1);
  });

  type Cluster = { subscriptionId: string; resourceGroup: string; name: string };
  test.each<[string, (cluster: Cluster) => unknown, RegExp]>([
    ['no JSON body', () => 'not json', /JSON body/],
    ['no cluster', () => ({ node: '10.224.0.5' }), /"cluster" is required/],
    ['a bad subscription id', (c) => ({ cluster: { ...c, subscriptionId: 'x' } }), /subscription id/],
    ['shell text in the node', (c) => ({ cluster: c, node: 'a;rm -rf /' }), /node "a;rm -rf \/" is not valid/],
    ['command substitution in the cluster name', (c) => ({ cluster: { ...c, name: '$(id)' } }), /cluster name/],
    ['backticks in the resource group', (c) => ({ cluster: { ...c, resourceGroup: '`id`' } }), /resource group/],
    ['a newline in the node', (c) => ({ cluster: c, node: 'node1\nnode2' }), /node/],
    ['a very long node name', (c) => ({ cluster: c, node: 'a'.repeat(5000) }), /5000 characters/],
    ['too many seconds', (c) => ({ cluster: c, seconds: 100000 }), /capture seconds/],
  ])('rejects %s with 400 and a message saying what is accepted', async (_name, body, message) => {
    const { host, cluster, post } = await setup();
    const response = await post(body(cluster));
    expect(response.status).toBe(400);
    expect((response.jsonBody as { message: string }).message).toMatch(message);
    expect(await host.listInstances()).toEqual([]);
  });
});
