// HTTP starter: POST /api/investigations {"cluster": {...}, "node"?: "...", "seconds"?: 30} → 202 with status links.
// (Authorization and the full trigger set arrive with the Slack and watch issues.)
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { SnatDoctorError } from '../lib/errors.ts';
import type { InvestigationRequest } from '../lib/model.ts';
import { CAPTURE_SECONDS, parseNodeSelector, validateCaptureSeconds, validateClusterRef } from '../lib/validation.ts';
import { type InvestigationClient, startOrJoin } from '../lib/workflow/start.ts';

export type StarterClient = InvestigationClient & Pick<df.DurableClient, 'createCheckStatusResponse'>;

export async function startInvestigation(
  request: HttpRequest,
  client: StarterClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  let investigation: InvestigationRequest;
  try {
    investigation = parseStartRequest(await request.json().catch(() => undefined));
  } catch (error) {
    if (error instanceof SnatDoctorError)
      return { status: 400, jsonBody: { error: error.code, message: error.message } };
    throw error;
  }
  const { instanceId, joined } = await startOrJoin(client, investigation);
  context.log(`${joined ? 'joined' : 'started'} investigation ${instanceId}`);
  const check = client.createCheckStatusResponse(request, instanceId);
  const links = (await check.json()) as Record<string, string>;
  return {
    status: 202,
    headers: { Location: check.headers.get('Location') ?? '' },
    jsonBody: { instanceId, joined, ...links },
  };
}

export function parseStartRequest(body: unknown): InvestigationRequest {
  if (typeof body !== 'object' || body === null) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      'Send a JSON body: {"cluster": {"subscriptionId", "resourceGroup", "name"}, "node"?, "seconds"?}.',
    );
  }
  const { cluster, node, seconds } = body as Record<string, unknown>;
  if (typeof cluster !== 'object' || cluster === null) {
    throw new SnatDoctorError('BAD_ARGUMENT', '"cluster" is required: {"subscriptionId", "resourceGroup", "name"}.');
  }
  const c = cluster as Record<string, unknown>;
  const ref = validateClusterRef({
    subscriptionId: String(c.subscriptionId ?? ''),
    resourceGroup: String(c.resourceGroup ?? ''),
    name: String(c.name ?? ''),
  });
  if (node !== undefined && typeof node !== 'string')
    throw new SnatDoctorError('BAD_ARGUMENT', '"node" must be a string.');
  if (node !== undefined) parseNodeSelector(node);
  const captureSeconds = validateCaptureSeconds(seconds === undefined ? CAPTURE_SECONDS.default : Number(seconds));
  return { cluster: ref, node, captureSeconds, requestedBy: { kind: 'http' } };
}

df.app.client.http('startInvestigation', {
  route: 'investigations',
  methods: ['POST'],
  authLevel: 'function',
  handler: startInvestigation,
});
