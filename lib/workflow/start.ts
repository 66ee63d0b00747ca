// The one start path every trigger uses (CLI, HTTP, Slack, alert, watch): start the node's investigation, or join
// it when one is already running. `startNew` silently replaces a running instance with the same id, hence the check.
// The app's own private ranges (SNAT_DOCTOR_PRIVATE_RANGES) join every request here, whichever trigger made it.
import { appConfig } from '../config.ts';
import type { InvestigationRequest, PrivateRange } from '../model.ts';
import { mergePrivateRanges } from '../privateRanges.ts';
import { investigationId, ORCHESTRATOR_NAME } from './instanceId.ts';

/** The slice of the Durable client the start path needs (the real `DurableClient` satisfies it). */
export interface InvestigationClient {
  getStatus(instanceId: string): Promise<{ runtimeStatus: string } | undefined>;
  startNew(name: string, options: { instanceId: string; input: unknown }): Promise<string>;
}

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

/**
 * `settingRanges`: the app setting's ranges (source `setting`), added to the request's own; the CLI, which is not the
 * app, passes none (its `--private-range` ranges are in the request).
 */
export async function startOrJoin(
  client: InvestigationClient,
  request: InvestigationRequest,
  settingRanges: PrivateRange[] = appPrivateRanges(),
): Promise<{ instanceId: string; joined: boolean }> {
  const instanceId = investigationId(request.cluster, request.node);
  const existing = await statusOf(client, instanceId);
  if (existing && ACTIVE.has(existing.runtimeStatus)) return { instanceId, joined: true };
  await client.startNew(ORCHESTRATOR_NAME, { instanceId, input: withRanges(request, settingRanges) });
  return { instanceId, joined: false };
}

/** The app setting's ranges; none when it has a problem (logged with the others at start: lib/config.ts). */
export function appPrivateRanges(): PrivateRange[] {
  const { ranges } = appConfig();
  return ranges.ok ? ranges.settings.privateRanges : [];
}

function withRanges(request: InvestigationRequest, added: PrivateRange[]): InvestigationRequest {
  const privateRanges = mergePrivateRanges(request.privateRanges, added);
  return privateRanges.length > 0 ? { ...request, privateRanges } : request;
}

/** The real client throws "… replied with HTTP 404 …" for an unknown instance; the in-memory one returns undefined. */
export async function statusOf<Status>(
  client: { getStatus(instanceId: string): Promise<Status | undefined> },
  instanceId: string,
): Promise<Status | undefined> {
  try {
    return await client.getStatus(instanceId);
  } catch (error) {
    if (error instanceof Error && /HTTP 404/.test(error.message)) return undefined;
    throw error;
  }
}
