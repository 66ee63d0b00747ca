// Starting an investigation, and reading a node's registry (nodeRegistry.ts) through the Durable client. Every
// trigger (CLI, HTTP, Slack, alert, watch) starts through `startOnce` (lib/watch/startOnce.ts), which decides between
// joining, holding off and starting; this file is what it does the starting and reading with. The app's own private
// ranges (SNAT_DOCTOR_PRIVATE_RANGES) join every request here, whichever trigger made it.
import type { EntityId } from 'durable-functions';
import { appConfig } from '../config.ts';
import type { InvestigationRequest, PrivateRange } from '../model.ts';
import { mergePrivateRanges } from '../privateRanges.ts';
import { newInvestigationId, ORCHESTRATOR_NAME, randomNonce } from './instanceId.ts';
import { emptyRegistry, type NodeRegistry, registryId } from './nodeRegistry.ts';

/** The slice of the Durable client the start path needs (the real `DurableClient` satisfies it). */
export interface InvestigationClient {
  getStatus(
    instanceId: string,
    options?: { showInput?: boolean },
  ): Promise<{ runtimeStatus: string; input?: unknown; lastUpdatedTime?: Date | string | undefined } | undefined>;
  startNew(name: string, options: { instanceId: string; input: unknown }): Promise<string>;
  readEntityState<T>(entityId: EntityId): Promise<{ entityExists: boolean; entityState?: T | undefined }>;
  signalEntity(entityId: EntityId, operationName?: string, operationContent?: unknown): Promise<void>;
}

/**
 * Starts a new investigation under an id of its own (instanceId.ts): never replaces another. `settingRanges`: the
 * app setting's ranges (source `setting`), added to the request's own; the CLI, which is not the app, passes none
 * (its `--private-range` ranges are in the request).
 */
export async function startNewInvestigation(
  client: Pick<InvestigationClient, 'startNew'>,
  request: InvestigationRequest,
  settingRanges: PrivateRange[] = appPrivateRanges(),
  at: Date = new Date(),
): Promise<string> {
  const instanceId = newInvestigationId(request.cluster, request.node, at, randomNonce());
  await client.startNew(ORCHESTRATOR_NAME, { instanceId, input: withRanges(request, settingRanges) });
  return instanceId;
}

/** The node's registry as its entity holds it; an empty one for a node never investigated. */
export async function readRegistry(
  client: Pick<InvestigationClient, 'readEntityState'>,
  key: string,
): Promise<NodeRegistry> {
  const response = await client.readEntityState<NodeRegistry>(registryId(key));
  const state = response.entityExists ? response.entityState : undefined;
  return state && Array.isArray(state.history) ? state : emptyRegistry();
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
  client: { getStatus(instanceId: string, options?: { showInput?: boolean }): Promise<Status | undefined> },
  instanceId: string,
): Promise<Status | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: true });
  } catch (error) {
    if (error instanceof Error && /HTTP 404/.test(error.message)) return undefined;
    throw error;
  }
}
