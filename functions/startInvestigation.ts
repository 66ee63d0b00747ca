// HTTP starter: POST /api/investigations {"cluster": {...}, "node"?: "...", "seconds"?: 30} → 202 with status links.
// The caller holds the function key (authLevel 'function'); the cluster must be one the app is set up for
// (lib/appClusters.ts), or the answer is 403 and nothing starts.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { appClusters, isAmong } from '../lib/appClusters.ts';
import { SnatDoctorError } from '../lib/errors.ts';
import type { ClusterRef, InvestigationRequest } from '../lib/model.ts';
import { BodyTooLargeError, MAX_REQUEST_BODY, readRequestJson } from '../lib/requestBody.ts';
import {
  captureSecondsFromJson,
  clusterRefFromJson,
  describeJsonValue,
  isJsonObject,
  nodeFromJson,
  onlyFields,
} from '../lib/validation.ts';
import { startOnce } from '../lib/watch/startOnce.ts';
import type { InvestigationClient } from '../lib/workflow/start.ts';

export type StarterClient = InvestigationClient & Pick<df.DurableClient, 'createCheckStatusResponse'>;

export async function startInvestigation(
  request: HttpRequest,
  client: StarterClient,
  context: InvocationContext,
  allowed: readonly ClusterRef[] = appClusters(),
): Promise<HttpResponseInit> {
  let investigation: InvestigationRequest;
  try {
    investigation = parseStartRequest(await readRequestJson(request, MAX_REQUEST_BODY));
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      return { status: 413, jsonBody: { error: error.code, message: error.message } };
    if (error instanceof SnatDoctorError)
      return { status: 400, jsonBody: { error: error.code, message: error.message } };
    throw error;
  }
  const { cluster } = investigation;
  if (!isAmong(allowed, cluster)) {
    return {
      status: 403,
      jsonBody: {
        error: 'CLUSTER_NOT_ALLOWED',
        message: `Cluster ${cluster.resourceGroup}/${cluster.name} is not one this app is set up for: add it to SNAT_DOCTOR_WATCH_CLUSTERS or SNAT_DOCTOR_SLACK_ACCESS.`,
      },
    };
  }
  // startOnce: requests racing each other in this process (and the watch, an alert, Slack) start one investigation.
  const { instanceId, outcome } = await startOnce(client, investigation);
  const joined = outcome !== 'started';
  context.log(`${joined ? 'joined' : 'started'} investigation ${instanceId}`);
  const check = client.createCheckStatusResponse(request, instanceId);
  const links = (await check.json()) as Record<string, string>;
  return {
    status: 202,
    headers: { Location: check.headers.get('Location') ?? '' },
    jsonBody: { instanceId, joined, ...links },
  };
}

/**
 * The body, every field type-checked before it is validated (validation.ts says what each accepts): a JSON object
 * with exactly `cluster`, and optionally `node` and `seconds`.
 */
export function parseStartRequest(body: unknown): InvestigationRequest {
  const shape = '{"cluster": {"subscriptionId", "resourceGroup", "name"}, "node"?, "seconds"?}';
  if (!isJsonObject(body)) {
    const got = body === undefined ? 'a body that is empty or not JSON' : describeJsonValue(body);
    throw new SnatDoctorError('BAD_ARGUMENT', `Send a JSON body: ${shape} (got ${got}).`);
  }
  onlyFields(body, ['cluster', 'node', 'seconds'], 'The body');
  const cluster = clusterRefFromJson(body.cluster);
  const node = nodeFromJson(body.node);
  const captureSeconds = captureSecondsFromJson(body.seconds);
  return { cluster, ...(node !== undefined ? { node } : {}), captureSeconds, requestedBy: { kind: 'http' } };
}

df.app.client.http('startInvestigation', {
  route: 'investigations',
  methods: ['POST'],
  authLevel: 'function',
  handler: startInvestigation,
});
