// The alert webhook, called as the Functions host would: real `HttpRequest`s carrying common-alert-schema payloads,
// the local Durable client over the in-memory host, and the sandbox's cluster (rg-payments-prod/aks-prod, whose node
// 10.224.0.5 — aks-nodepool1-31415926-vmss000001 — is out of SNAT ports).

import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { alertHook } from '../../functions/alertHook.ts';
import { type AlertClustersResult, clustersFromConfig, clustersFromFacts } from '../../lib/alerts/resolveCluster.ts';
import { MAX_ALERT_NODES } from '../../lib/alerts/startFromAlert.ts';
import { readConfig } from '../../lib/config.ts';
import { TransientError } from '../../lib/errors.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { ClusterRef, Report } from '../../lib/model.ts';
import type { ClusterApi } from '../../lib/ports.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { startOnce } from '../../lib/watch/startOnce.ts';
import { sampleSnatAlert } from '../support/sampleAlert.ts';
import { scenarioWith } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';
const NODE_2 = 'aks-nodepool1-31415926-vmss000002';
/** An id the starters make for `node` of the sandbox's cluster: its time and nonce are the start's own. */
const idOf = (node: string) =>
  expect.stringMatching(
    new RegExp(
      `^snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:\\d{8}t\\d{6}z-[0-9a-f]{6}:${node.replaceAll('.', '\\.')}$`,
    ),
  );
const RULE = 'aks-prod SNAT ports above 90%';
const NO_ARM: ClusterApi = {
  getCluster: async () => {
    throw new Error('ARM is not asked');
  },
};

interface Investigation {
  instanceId: string;
  node?: string;
  backendIp?: string;
  joined: boolean;
  statusUri: string;
  statusQueryGetUri: string;
}

/**
 * The sample alert with one field replaced, or removed (undefined): payloads as a foreign or hand-made sender might
 * send them. The path is dotted, list indices included (`data.essentials.alertTargetIDs.0`).
 */
function withField(path: string, value: unknown): () => unknown {
  return () => {
    const payload = sampleSnatAlert() as unknown as Record<string, unknown>;
    const keys = path.split('.');
    const last = keys.pop() as string;
    let at = payload;
    for (const key of keys) at = at[key] as Record<string, unknown>;
    if (value === undefined) delete at[last];
    else at[last] = value;
    return payload;
  };
}

interface SetupOptions {
  scenario?: Scenario;
  /** Instead of the app's own resolution from `env` over the sandbox's ARM. */
  clusters?: (env: Record<string, string>, cluster: ClusterRef) => AlertClustersResult;
}

async function setup(options: SetupOptions = {}) {
  const scenario = options.scenario ?? scenarioWith();
  const ports = scenarioPorts(scenario);
  const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
  const client = new LocalDurableClient(host);
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  const cluster = { subscriptionId, resourceGroup, name };
  const env = { SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([cluster]) };
  // The app's own resolution: the configured clusters, their node resource groups from (the sandbox's) ARM.
  const clusters = options.clusters?.(env, cluster) ?? clustersFromConfig(readConfig(env).alerts, () => ports.clusters);
  const post = (body: unknown) =>
    alertHook(
      new HttpRequest({
        method: 'POST',
        url: 'http://127.0.0.1:7071/api/alerts/snat?code=function-key',
        body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
        headers: { 'content-type': 'application/json' },
      }),
      client,
      new InvocationContext({ functionName: 'alertHook', logHandler: () => {} }),
      clusters,
    );
  const investigations = async (response: Awaited<ReturnType<typeof post>>) =>
    (response.jsonBody as { investigations: Investigation[] }).investigations;
  return { host, client, cluster, post, investigations };
}

describe('POST /api/alerts/snat', () => {
  test('is registered on alerts/snat for POST, behind a function key, with a Durable client', async () => {
    await setup();
    const bindings = Object.values(registrations.get('alertHook')?.metadata.bindings ?? {});
    expect(bindings).toContainEqual(
      expect.objectContaining({ type: 'httpTrigger', route: 'alerts/snat', methods: ['POST'], authLevel: 'function' }),
    );
    expect(bindings).toContainEqual(expect.objectContaining({ type: 'durableClient' }));
  });

  test('a fired alert starts the investigation of its node, asked for by the alert rule', async () => {
    const { host, post, investigations } = await setup();
    const response = await post(sampleSnatAlert());

    expect(response.status).toBe(202);
    const [started, ...more] = await investigations(response);
    expect(more).toEqual([]);
    // The backend IP is asked for by the node's name, as the watch asks, so both find one node's investigation.
    expect(started).toMatchObject({ instanceId: idOf(NODE), node: NODE, backendIp: '10.224.0.5', joined: false });
    const instanceId = started?.instanceId ?? '';
    expect(started?.statusUri).toBe(`http://127.0.0.1:7071/api/investigations/${instanceId}`);
    expect(started?.statusQueryGetUri).toContain(encodeURIComponent(instanceId));
    expect(new Headers(response.headers as Record<string, string>).get('Location')).toBe(started?.statusUri);
    expect((await host.listInstances()).map((i) => i.instanceId)).toEqual([instanceId]);

    const done = await host.waitForCompletion(instanceId);
    const report = done.output as Report;
    expect(report.requestedBy).toEqual({ kind: 'alert', who: RULE });
    expect(report.node).toMatchObject({ name: NODE, ip: '10.224.0.5' });
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  });

  test('the same alert twice starts one investigation: the second joins it', async () => {
    const { host, post, investigations } = await setup();
    const first = await investigations(await post(sampleSnatAlert()));
    const second = await investigations(await post(sampleSnatAlert()));
    expect(second).toMatchObject([{ instanceId: first[0]?.instanceId, joined: true }]);
    expect((await host.listInstances()).length).toBe(1);
  });

  test('the same alert delivered twice at once starts one investigation', async () => {
    const { host, post, investigations } = await setup();
    const responses = await Promise.all([post(sampleSnatAlert()), post(sampleSnatAlert())]);
    expect(responses.map((r) => r.status)).toEqual([202, 202]);
    const ids = (await Promise.all(responses.map(investigations))).map((started) => started[0]?.instanceId);
    expect((await host.listInstances()).map((i) => i.instanceId)).toEqual([idOf(NODE)]);
    expect(ids).toEqual([ids[0], ids[0]]);
  });

  test('an alert for a node the watch is already investigating joins that investigation', async () => {
    const { host, client, cluster, post, investigations } = await setup();
    const watch = await startOnce(client, { cluster, node: NODE, captureSeconds: 30, requestedBy: { kind: 'watch' } });
    expect(watch.outcome).toBe('started');
    expect(await investigations(await post(sampleSnatAlert()))).toMatchObject([
      { instanceId: watch.instanceId, joined: true },
    ]);
    expect((await host.listInstances()).length).toBe(1);
  });

  test('an alert not split by BackendIPAddress investigates the most exhausted node', async () => {
    const { host, post, investigations } = await setup();
    const [started] = await investigations(await post(sampleSnatAlert({ backendIps: [] })));
    expect(started).toMatchObject({ instanceId: idOf('most-exhausted'), joined: false });
    expect(started).not.toHaveProperty('node');
    const report = (await host.waitForCompletion(started!.instanceId)).output as Report;
    expect(report.node?.ip).toBe('10.224.0.5');
  });

  test('when the nodes cannot be listed, the node is asked for by its IP and still investigated', async () => {
    const scenario = scenarioWith((doc) => {
      doc.faults = [{ target: 'kubernetes.listNodes', error: 'forbidden', times: 1 }];
    });
    const { host, post, investigations } = await setup({ scenario });
    const [started] = await investigations(await post(sampleSnatAlert()));
    expect(started).toMatchObject({ instanceId: idOf('10.224.0.5'), node: '10.224.0.5' });
    const report = (await host.waitForCompletion(started!.instanceId)).output as Report;
    expect(report.node?.name).toBe(NODE);
  });

  test('one alert naming two nodes starts both investigations', async () => {
    const { host, post, investigations } = await setup();
    const started = await investigations(await post(sampleSnatAlert({ backendIps: ['10.224.0.5', '10.224.0.6'] })));
    expect(started.map((i) => i.instanceId)).toEqual([idOf(NODE), idOf(NODE_2)]);
    expect((await host.listInstances()).length).toBe(2);
  });

  test('one alert naming 300 backend IPs starts 10 investigations and says it left the rest (it started 300)', async () => {
    const { host, post, investigations } = await setup();
    const ips = Array.from({ length: 300 }, (_, i) => `10.224.${1 + (i >> 8)}.${i & 255}`);
    const response = await post(sampleSnatAlert({ backendIps: ips }));
    expect(response.status).toBe(202);
    expect(await investigations(response)).toHaveLength(MAX_ALERT_NODES);
    expect((await host.listInstances()).length).toBe(MAX_ALERT_NODES);
    const body = response.jsonBody as { message: string; notActedOn: { capped: { backendIps: string[] } } };
    expect(body.message).toMatch(/Not acted on: 290 backend IP\(s\) past the first 10\./);
    expect(body.notActedOn.capped.backendIps).toEqual(ips.slice(MAX_ALERT_NODES));
  });

  test('a resolved alert starts nothing', async () => {
    const { host, post } = await setup();
    const response = await post(sampleSnatAlert({ monitorCondition: 'Resolved' }));
    expect(response.status).toBe(202);
    expect(response.jsonBody).toEqual({ message: `Alert "${RULE}" resolved: nothing to do.` });
    expect(await host.listInstances()).toEqual([]);
  });

  const VM_ID =
    '/subscriptions/3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c/resourcegroups/mc_rg-payments-prod_aks-prod_westeurope/providers/microsoft.compute/virtualmachinescalesets/aks-nodepool1-31415926-vmss';
  const LB_ID = (group: string, name = 'kubernetes', subscription = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c') =>
    `/subscriptions/${subscription}/resourcegroups/${group}/providers/microsoft.network/loadbalancers/${name}`;
  const CRITERION = 'data.alertContext.condition.allOf.0';
  const TARGETS = 'data.essentials.alertTargetIDs';

  test.each<[string, () => unknown, RegExp]>([
    ['a body that is not JSON', () => 'alert!', /Send the common alert schema: a JSON object/],
    ['a JSON array', () => [sampleSnatAlert()], /Send the common alert schema/],
    [
      'the older metric alert schema',
      withField('schemaId', 'AzureMonitorMetricAlert'),
      /schemaId is "AzureMonitorMetricAlert": expected "azureMonitorCommonAlertSchema" \(turn on "Enable the common alert schema"/,
    ],
    ['no schemaId', withField('schemaId', undefined), /schemaId is missing/],
    ['no essentials', withField('data.essentials', undefined), /data\.essentials is missing: expected an object/],
    [
      'a log search alert',
      withField('data.essentials.signalType', 'Log'),
      /data\.essentials\.signalType is "Log": this hook takes metric alerts/,
    ],
    ['an activity log alert', withField('data.essentials.signalType', 'Activity Log'), /signalType is "Activity Log"/],
    [
      'an unknown monitor condition',
      withField('data.essentials.monitorCondition', 'Acknowledged'),
      /monitorCondition is "Acknowledged": expected "Fired" or "Resolved"/,
    ],
    [
      'no alert rule name',
      withField('data.essentials.alertRule', ' '),
      /alertRule is " ": expected the alert rule's name/,
    ],
    [
      'a rule name with a newline',
      withField('data.essentials.alertRule', 'snat\n<!channel>'),
      /alertRule is "snat\\n<!channel>".*no control characters/,
    ],
    [
      'a very long rule name',
      withField('data.essentials.alertRule', 'r'.repeat(5000)),
      /alertRule is "r+… \(5002 characters\)/,
    ],
    [
      'no alert targets',
      withField(TARGETS, []),
      /alertTargetIDs is \[\]: expected a list of the alerted load balancers/,
    ],
    ['targets that are not a list', withField(TARGETS, LB_ID('mc_x')), /alertTargetIDs is "\/subscriptions/],
    [
      'a target that is not a string',
      withField(TARGETS, [42]),
      /alertTargetIDs\[0\] is not a load balancer resource id: 42 \(not a string/,
    ],
    [
      'an alert on the node pool instead of the load balancer',
      withField(TARGETS, [VM_ID]),
      /data\.essentials\.alertTargetIDs\[0\] is not a load balancer resource id: "\/subscriptions\/.*not the id of a Microsoft\.Network\/loadBalancers resource; expected \/subscriptions\/\{guid\}/,
    ],
    [
      'a path climbing out of the load balancer',
      withField(TARGETS, [`${LB_ID('mc_x')}/../../../x`]),
      /alertTargetIDs\[0\] is not a load balancer resource id/,
    ],
    [
      'a subscription that is not a GUID',
      withField(TARGETS, [LB_ID('mc_x', 'kubernetes', 'prod')]),
      /alertTargetIDs\[0\] .*the subscription "prod" is not a GUID/,
    ],
    [
      'shell text in the resource group',
      withField(TARGETS, [LB_ID('mc_$(id)')]),
      /the resource group "mc_\$\(id\)" is not valid/,
    ],
    [
      'a load balancer name ending in a period',
      withField(TARGETS, [LB_ID('mc_x', 'kubernetes.')]),
      /the load balancer name "kubernetes\." is not valid/,
    ],
    [
      'the second target wrong',
      withField(TARGETS, [LB_ID('mc_rg-payments-prod_aks-prod_westeurope'), VM_ID]),
      /alertTargetIDs\[1\] is not a load balancer resource id/,
    ],
    [
      'no alert context',
      withField('data.alertContext', undefined),
      /data\.alertContext is missing: expected an object/,
    ],
    [
      'an availability test condition',
      withField('data.alertContext.conditionType', 'WebtestLocationAvailabilityCriteria'),
      /conditionType is "WebtestLocationAvailabilityCriteria": expected a metric alert's/,
    ],
    [
      'a log query condition',
      withField('data.alertContext.conditionType', 'LogQueryCriteria'),
      /conditionType is "LogQueryCriteria"/,
    ],
    [
      'no criteria',
      withField('data.alertContext.condition.allOf', []),
      /data\.alertContext\.condition\.allOf is \[\]: expected the rule's criteria/,
    ],
    [
      'a metric that says nothing about SNAT',
      withField(`${CRITERION}.metricName`, 'DipAvailability'),
      /allOf\[0\]\.metricName is "DipAvailability": expected a load balancer SNAT metric \(UsedSnatPorts, AllocatedSnatPorts, SnatConnectionCount\)/,
    ],
    [
      'the display name instead of the metric',
      withField(`${CRITERION}.metricName`, 'Used SNAT Ports'),
      /metricName is "Used SNAT Ports"/,
    ],
    [
      'another resource type’s namespace',
      withField(`${CRITERION}.metricNamespace`, 'Microsoft.Network/natGateways'),
      /allOf\[0\]\.metricNamespace is "Microsoft\.Network\/natGateways": expected "Microsoft\.Network\/loadBalancers"/,
    ],
    [
      'dimensions that are not a list',
      withField(`${CRITERION}.dimensions`, 'BackendIPAddress=10.224.0.5'),
      /allOf\[0\]\.dimensions is "BackendIPAddress=10\.224\.0\.5": expected a list/,
    ],
    [
      'a dimension without a name',
      withField(`${CRITERION}.dimensions.0.name`, undefined),
      /dimensions\[0\]\.name is missing/,
    ],
    [
      'a node name as the backend IP',
      withField(`${CRITERION}.dimensions.0.value`, NODE),
      /allOf\[0\]\.dimensions\[0\]\.value is "aks-nodepool1-31415926-vmss000001": a BackendIPAddress is a node's private IP address/,
    ],
    [
      'shell text after the backend IP',
      withField(`${CRITERION}.dimensions.0.value`, '10.224.0.5; rm -rf /'),
      /dimensions\[0\]\.value is "10\.224\.0\.5; rm -rf \/"/,
    ],
    [
      'an IP with a port',
      withField(`${CRITERION}.dimensions.0.value`, '10.224.0.5:443'),
      /dimensions\[0\]\.value is "10\.224\.0\.5:443"/,
    ],
    [
      'a hexadecimal IPv4 form',
      withField(`${CRITERION}.dimensions.0.value`, '0xa.0xe0.0.5'),
      /dimensions\[0\]\.value is "0xa\.0xe0\.0\.5"/,
    ],
    [
      'an IP as a number',
      withField(`${CRITERION}.dimensions.0.value`, 182190085),
      /dimensions\[0\]\.value is 182190085/,
    ],
  ])('refuses %s with 400, saying why, and starts nothing', async (_name, body, reason) => {
    const { host, post } = await setup();
    const response = await post(body());
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({ error: 'BAD_ARGUMENT', message: expect.stringMatching(reason) });
    expect(await host.listInstances()).toEqual([]);
  });

  test('a load balancer of no configured cluster gets 404 naming what is configured, and starts nothing', async () => {
    const { host, post } = await setup();
    const response = await post(sampleSnatAlert({ nodeResourceGroup: 'MC_rg-shop-prod_aks-shop_northeurope' }));
    expect(response.status).toBe(404);
    const body = response.jsonBody as { error: string; message: string; configured: unknown[] };
    expect(body.error).toBe('CLUSTER_NOT_FOUND');
    expect(body.message).toMatch(
      /No configured cluster has the node resource group of \/subscriptions\/.*\/resourcegroups\/mc_rg-shop-prod_aks-shop_northeurope\/.*Configured in SNAT_DOCTOR_WATCH_CLUSTERS: rg-payments-prod\/aks-prod \(subscription 3f2b6c4e-/,
    );
    expect(body.configured).toEqual([
      { subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c', resourceGroup: 'rg-payments-prod', name: 'aks-prod' },
    ]);
    expect(await host.listInstances()).toEqual([]);
  });

  test('load balancers of two clusters with backend IPs are refused: whose IP is whose cannot be told', async () => {
    const { host, post } = await setup({
      clusters: (_env, cluster) => ({
        ok: true,
        clusters: clustersFromFacts([
          { ref: cluster, nodeResourceGroup: 'MC_rg-payments-prod_aks-prod_westeurope' },
          {
            ref: { subscriptionId: cluster.subscriptionId, resourceGroup: 'rg-payments-dr', name: 'aks-dr' },
            nodeResourceGroup: 'MC_rg-payments-dr_aks-dr_northeurope',
          },
        ]),
      }),
    });
    const payload = sampleSnatAlert();
    payload.data.essentials.alertTargetIDs.push(LB_ID('mc_rg-payments-dr_aks-dr_northeurope'));
    const response = await post(payload);
    expect(response.status).toBe(400);
    expect((response.jsonBody as { message: string }).message).toMatch(
      /load balancers of 2 clusters .*send one alert per load balancer/,
    );
    expect(await host.listInstances()).toEqual([]);
  });

  test('when ARM cannot say whose load balancer it is, 503 asks the action group to retry, and nothing starts', async () => {
    const { host, post } = await setup({
      clusters: (env) =>
        clustersFromConfig(readConfig(env).alerts, () => ({
          getCluster: async () => {
            throw new TransientError('ARM answered 503 Service Unavailable');
          },
        })),
    });
    const response = await post(sampleSnatAlert());
    expect(response.status).toBe(503);
    expect(response.headers).toMatchObject({ 'Retry-After': '60' });
    expect((response.jsonBody as { message: string }).message).toMatch(/rg-payments-prod\/aks-prod: ARM answered 503/);
    expect(await host.listInstances()).toEqual([]);
  });

  test('without SNAT_DOCTOR_WATCH_CLUSTERS a fired alert gets 500 naming the setting, and nothing starts', async () => {
    const { host, post } = await setup({ clusters: () => clustersFromConfig(readConfig({}).alerts, () => NO_ARM) });
    const response = await post(sampleSnatAlert());
    expect(response.status).toBe(500);
    expect((response.jsonBody as { message: string }).message).toMatch(/SNAT_DOCTOR_WATCH_CLUSTERS is not set/);
    expect(await host.listInstances()).toEqual([]);
  });
});
