// alertHook: POST /api/alerts/snat, an Azure Monitor action group's webhook (common alert schema) for metric alerts
// on a cluster's load balancer (UsedSnatPorts, SnatConnectionCount with ConnectionState = Failed, …), best split by
// BackendIPAddress so each alert names its node. A fired alert starts (or joins) the node's investigation; the
// function key protects it (the action group's webhook URL carries `?code=`). Clusters: SNAT_DOCTOR_WATCH_CLUSTERS.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { parseMetricAlert } from '../lib/alerts/commonAlertSchema.ts';
import { type AlertClustersResult, clustersFromConfig } from '../lib/alerts/resolveCluster.ts';
import {
  type AlertInvestigation,
  MAX_ALERT_LOAD_BALANCERS,
  MAX_ALERT_NODES,
  startFromAlert,
} from '../lib/alerts/startFromAlert.ts';
import { ports } from '../lib/composition.ts';
import { appConfig } from '../lib/config.ts';
import { TransientError } from '../lib/errors.ts';
import type { ClusterRef } from '../lib/model.ts';
import { BodyTooLargeError, MAX_REQUEST_BODY, readRequestJson } from '../lib/requestBody.ts';
import type { WatchClient } from '../lib/watch/startOnce.ts';

export type AlertHookClient = WatchClient & Pick<df.DurableClient, 'createCheckStatusResponse'>;

export async function alertHook(
  request: HttpRequest,
  client: AlertHookClient,
  context: InvocationContext,
  clusters: AlertClustersResult = clustersFromConfig(appConfig().alerts, () => ports().clusters),
): Promise<HttpResponseInit> {
  let payload: unknown;
  try {
    payload = await readRequestJson(request, MAX_REQUEST_BODY);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    context.warn(`alertHook: refused: ${error.message}`);
    return { status: 413, jsonBody: { error: error.code, message: error.message } };
  }
  const parsed = parseMetricAlert(payload);
  if (!parsed.ok) {
    context.warn(`alertHook: refused: ${parsed.message}`);
    return { status: 400, jsonBody: { error: 'BAD_ARGUMENT', message: parsed.message } };
  }
  const { alert } = parsed;
  if (!alert.fired) {
    // Resolved: the ports recovered. An investigation already running finishes and reports; nothing new starts.
    return { status: 202, jsonBody: { message: `Alert "${alert.rule}" resolved: nothing to do.` } };
  }
  if (!clusters.ok) {
    context.error(`alertHook is not configured:\n  ${clusters.problems.join('\n  ')}`);
    return {
      status: 500,
      jsonBody: { error: 'INTERNAL', message: `alertHook is not configured: ${clusters.problems.join(' ')}` },
    };
  }

  let outcome: Awaited<ReturnType<typeof startFromAlert>>;
  try {
    outcome = await startFromAlert(alert, {
      client,
      clusters: clusters.clusters,
      listNodes: (cluster) => ports().kubernetes(cluster).listNodes(),
    });
  } catch (error) {
    // ARM could not say which cluster the load balancer is in: a 503 makes the action group retry the webhook.
    if (!(error instanceof TransientError)) throw error;
    context.warn(`alertHook: ${error.message}`);
    return { status: 503, headers: { 'Retry-After': '60' }, jsonBody: { error: error.code, message: error.message } };
  }

  if (outcome.kind === 'unknown-cluster') {
    const configured = outcome.configured.map(clusterName).join(', ') || 'none';
    return {
      status: 404,
      jsonBody: {
        error: 'CLUSTER_NOT_FOUND',
        message:
          `No configured cluster has the node resource group of ${outcome.unknown.join(', ')}. ` +
          `Configured in SNAT_DOCTOR_WATCH_CLUSTERS: ${configured}. Add the cluster there to investigate its alerts.`,
        configured: outcome.configured,
      },
    };
  }
  if (outcome.kind === 'ambiguous') {
    return {
      status: 400,
      jsonBody: {
        error: 'BAD_ARGUMENT',
        message:
          `The alert names load balancers of ${outcome.clusters.length} clusters (${outcome.clusters.map(clusterName).join(', ')}) ` +
          'and backend IPs, and which IP is whose cannot be told: send one alert per load balancer (Azure Monitor does).',
      },
    };
  }

  const investigations = await Promise.all(outcome.investigations.map((i) => withLinks(request, client, i)));
  for (const i of investigations) {
    context.log(`alertHook: ${i.joined ? 'joined' : 'started'} investigation ${i.instanceId} for "${alert.rule}"`);
  }
  const first = investigations[0];
  // What this payload named and was not acted on: past the caps, of no configured cluster, or not readable now.
  const { capped, unknown, unresolved } = outcome;
  const left = [
    capped.backendIps.length > 0 ? `${capped.backendIps.length} backend IP(s) past the first ${MAX_ALERT_NODES}` : '',
    capped.loadBalancerIds.length > 0
      ? `${capped.loadBalancerIds.length} load balancer(s) past the first ${MAX_ALERT_LOAD_BALANCERS}`
      : '',
    unknown.length > 0 ? `${unknown.length} load balancer(s) of no configured cluster` : '',
    unresolved.length > 0 ? `${unresolved.length} load balancer(s) whose cluster could not be read` : '',
  ].filter((part) => part !== '');
  if (left.length > 0) context.warn(`alertHook: "${alert.rule}" left ${left.join(', ')}`);
  return {
    status: 202,
    ...(first ? { headers: { Location: first.statusUri } } : {}),
    jsonBody: {
      message:
        `Alert "${alert.rule}" (${alert.metric}): ${summary(investigations)}.` +
        (left.length > 0 ? ` Not acted on: ${left.join(', ')}.` : ''),
      investigations,
      ...(left.length > 0 ? { notActedOn: { capped, unknown, unresolved } } : {}),
    },
  };
}

/** The investigation with where to follow it: this app's status function and the Durable management links. */
async function withLinks(request: HttpRequest, client: AlertHookClient, investigation: AlertInvestigation) {
  const check = client.createCheckStatusResponse(request, investigation.instanceId);
  const links = (await check.json()) as Record<string, string>;
  // Colons left as they are (legal in a path, and readable): the route's {id} then arrives as the id itself.
  const path = investigation.instanceId.split(':').map(encodeURIComponent).join(':');
  const statusUri = new URL(`/api/investigations/${path}`, request.url).href;
  return { ...investigation, statusUri, ...links };
}

function summary(investigations: AlertInvestigation[]): string {
  return investigations.map((i) => `${i.joined ? 'joined' : 'started'} ${i.instanceId}`).join(', ');
}

function clusterName(cluster: ClusterRef): string {
  return `${cluster.resourceGroup}/${cluster.name} (subscription ${cluster.subscriptionId})`;
}

df.app.client.http('alertHook', {
  route: 'alerts/snat',
  methods: ['POST'],
  authLevel: 'function',
  handler: alertHook,
});
