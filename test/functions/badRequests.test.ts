// Bad requests to the Functions app's HTTP functions, as an attacker sends them: each is a 4xx whose message says
// how to fix it, never a 500, and nothing starts. Every body is read with a bound (413 past it). Regression tests for
// issue 14: the starter took "seconds" as "0x1e", [30] or " 10 " (Number() of them), answered 500 to a cluster name
// {"toString": …} (String() of it threw) and read bodies of any size; serve's side is test/cli/serveBadInput.test.ts.

import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { alertHook } from '../../functions/alertHook.ts';
import { slack } from '../../functions/slack.ts';
import { startInvestigation } from '../../functions/startInvestigation.ts';
import { status } from '../../functions/status.ts';
import { clustersFromConfig } from '../../lib/alerts/resolveCluster.ts';
import { readConfig } from '../../lib/config.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import { BodyTooLargeError, MAX_REQUEST_BODY, readRequestBytes } from '../../lib/requestBody.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { signedRequest, slackEnv } from '../slack/support.ts';
import { sampleSnatAlert } from '../support/sampleAlert.ts';
import { scenarioWith } from '../support/scenarios.ts';

async function setup() {
  const scenario = scenarioWith();
  const ports = scenarioPorts(scenario);
  const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
  const client = new LocalDurableClient(host);
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  const cluster = { subscriptionId, resourceGroup, name };
  const context = (functionName: string) => new InvocationContext({ functionName, logHandler: () => {} });
  const request = (path: string, body: string | undefined, headers: Record<string, string> = {}) =>
    new HttpRequest({
      method: 'POST',
      url: `http://127.0.0.1:7071${path}`,
      ...(body !== undefined ? { body: { string: body } } : {}),
      headers: { 'content-type': 'application/json', ...headers },
    });
  const start = (body: unknown, headers: Record<string, string> = {}) =>
    startInvestigation(
      request('/api/investigations', typeof body === 'string' ? body : JSON.stringify(body), headers),
      client,
      context('startInvestigation'),
      [cluster],
    );
  const alerts = clustersFromConfig(
    readConfig({ SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([cluster]) }).alerts,
    () => ports.clusters,
  );
  const alert = (body: string, headers: Record<string, string> = {}) =>
    alertHook(request('/api/alerts/snat', body, headers), client, context('alertHook'), alerts);
  return { host, client, cluster, start, alert, context };
}

type Cluster = { subscriptionId: string; resourceGroup: string; name: string };
const message = (response: { jsonBody?: unknown }) => (response.jsonBody as { message: string }).message;

describe('POST /api/investigations: every field is type-checked before it is validated', () => {
  test.each<[string, unknown]>([
    ['a hex string', '0x1e'],
    ['an array', [30]],
    ['a padded string', ' 10 '],
    ['a string of digits', '30'],
    ['a boolean', true],
    ['null', null],
    ['a fraction', 12.5],
    ['an object', { valueOf: 30 }],
  ])('seconds given as %s is a 400 saying it must be a whole number from 5 to 300', async (_kind, seconds) => {
    const { host, cluster, start } = await setup();
    const response = await start({ cluster, seconds });
    expect(response.status).toBe(400);
    expect(message(response)).toMatch(/^"seconds" must be a whole number from 5 to 300 written as a JSON number/);
    expect(await host.listInstances()).toEqual([]);
  });

  test.each<[string, (cluster: Cluster) => unknown, RegExp]>([
    [
      'a cluster name with its own toString (was a 500)',
      (c) => ({ cluster: { ...c, name: { toString: 'x' } } }),
      /^"cluster\.name" must be a string, not an object: use 1-63 letters/,
    ],
    [
      'a cluster name in an array (String() made it pass)',
      (c) => ({ cluster: { ...c, name: [c.name] } }),
      /^"cluster\.name" must be a string, not an array/,
    ],
    [
      'a resource group as a number',
      (c) => ({ cluster: { ...c, resourceGroup: 42 } }),
      /^"cluster\.resourceGroup" must be a string, not 42: use 1-90 letters/,
    ],
    [
      'a subscription id as null',
      (c) => ({ cluster: { ...c, subscriptionId: null } }),
      /^"cluster\.subscriptionId" must be a string, not null: expected a GUID/,
    ],
    [
      'a missing subscription id',
      (c) => ({ cluster: { resourceGroup: c.resourceGroup, name: c.name } }),
      /^"cluster\.subscriptionId" is required: a string \(expected a GUID/,
    ],
    ['the cluster as a string', () => ({ cluster: 'aks-prod' }), /^"cluster" must be an object .*, not the string/],
    ['the cluster as an array', (c) => ({ cluster: [c] }), /^"cluster" must be an object .*, not an array/],
    [
      'the node as an object',
      (c) => ({ cluster: c, node: { toString: 'x' } }),
      /^"node" must be a string, not an object: give a node name/,
    ],
    ['the node as null', (c) => ({ cluster: c, node: null }), /^"node" must be a string, not null/],
    [
      'a misspelt field (was silently ignored)',
      (c) => ({ cluster: c, secnds: 10 }),
      /^The body has unknown field "secnds": it takes "cluster", "node", "seconds"/,
    ],
    [
      'an unknown cluster field',
      (c) => ({ cluster: { ...c, location: 'westeurope' } }),
      /^"cluster" has unknown field "location"/,
    ],
    ['an array body', (c) => [{ cluster: c }], /^Send a JSON body: .* \(got an array\)/],
    ['a null body', () => null, /^Send a JSON body: .* \(got null\)/],
    ['a body that is not JSON', () => '{"cluster":', /^Send a JSON body: .* \(got a body that is empty or not JSON\)/],
  ])('%s is a 400 naming the field and what it takes', async (_name, body, expected) => {
    const { host, cluster, start } = await setup();
    const response = await start(body(cluster));
    expect(response.status).toBe(400);
    expect(message(response)).toMatch(expected);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a JSON integer in range, however it is spelt in JSON, is accepted', async () => {
    const { host, cluster, start } = await setup();
    const response = await start(`{"cluster": ${JSON.stringify(cluster)}, "seconds": 1e1}`);
    expect(response.status).toBe(202);
    const { instanceId } = response.jsonBody as { instanceId: string };
    expect((await host.getStatus(instanceId))?.input).toMatchObject({ captureSeconds: 10 });
  });
});

describe('bodies over 1 MB are a 413 and are not read past the bound', () => {
  const oversized = 'x'.repeat(MAX_REQUEST_BODY + 1);

  test('the starter answers 413 to a body over 1 MB (was read whole)', async () => {
    const { host, cluster, start } = await setup();
    const response = await start(`{"cluster": ${JSON.stringify(cluster)}, "pad": "${oversized}"}`);
    expect(response.status).toBe(413);
    expect(message(response)).toMatch(/larger than 1 MB, the most this endpoint reads: send a smaller body/);
    expect(await host.listInstances()).toEqual([]);
  });

  test('the starter answers 413 to a declared Content-Length over 1 MB without reading the body', async () => {
    const { host, cluster, start } = await setup();
    const response = await start({ cluster }, { 'content-length': String(MAX_REQUEST_BODY + 1) });
    expect(response.status).toBe(413);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a body of exactly 1 MB is read (and judged on its content)', async () => {
    const { cluster, start } = await setup();
    const body = JSON.stringify({ cluster, seconds: 10 });
    const response = await start(body.padEnd(MAX_REQUEST_BODY, ' '));
    expect(response.status).toBe(202);
  });

  test('the alert webhook answers 413 to a body over 1 MB', async () => {
    const { host, alert } = await setup();
    const payload = JSON.stringify(sampleSnatAlert());
    const response = await alert(payload.padEnd(MAX_REQUEST_BODY + 1, ' '));
    expect(response.status).toBe(413);
    expect(message(response)).toMatch(/larger than 1 MB/);
    expect(await host.listInstances()).toEqual([]);
    // The same payload under the bound still starts its investigation.
    expect((await alert(payload)).status).toBe(202);
  });

  test('the Slack endpoint answers 413 to a body over 1 MB before checking its signature', async () => {
    const { host, client, context } = await setup();
    const config = readConfig(slackEnv()).slack;
    const response = await slack(signedRequest(`text=${oversized}`), client, context('slack'), config);
    expect(response.status).toBe(413);
    expect(response.body).toMatch(/larger than 1 MB/);
    expect(await host.listInstances()).toEqual([]);
  });

  test('an endless body stream is read to the bound and no further, then cancelled', async () => {
    const chunk = new Uint8Array(64 * 1024);
    let pulled = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(chunk);
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(readRequestBytes({ headers: new Headers(), body }, MAX_REQUEST_BODY)).rejects.toThrow(
      BodyTooLargeError,
    );
    expect(cancelled).toBe(true);
    // 16 chunks fill the bound, the 17th passes it; the stream may have queued one more ahead (its high-water mark).
    expect(pulled).toBeLessThanOrEqual(MAX_REQUEST_BODY / chunk.length + 2);
  });
});

describe('GET /api/investigations/{id}', () => {
  const STAMP = '20260101t000000z-0a1b2c';
  test.each([
    ['%ZZ'],
    [`snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:${STAMP}:%E0%A4%A`],
    [`snat%3A3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c%3Arg-payments-prod%3Aaks-prod%3A${STAMP}%3Amost-exhausted`],
  ])(
    'an id still holding percent-escapes (%s) is a 400, never decoded here (the host decodes the route)',
    async (id) => {
      const { client, cluster, context } = await setup();
      const request = new HttpRequest({
        method: 'GET',
        url: 'http://127.0.0.1:7071/api/investigations/x',
        params: { id },
      });
      const response = await status(request, client, context('status'), [cluster]);
      expect(response.status).toBe(400);
      expect(message(response)).toMatch(
        /^investigation id .* is not valid: .*expected snat:\{subscription\}:\{resource group\}:\{cluster\}:/,
      );
    },
  );
});
