// status: GET /api/investigations/{id} → the investigation's state, its steps so far and, once it completed, its
// report, as JSON. The id is checked against what `investigationId` makes before the Durable client is asked, so
// nothing else (paths, query text, control characters) ever reaches the task hub's API.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { SnatDoctorError } from '../lib/errors.ts';
import type { InvestigationRequest, Report, StepOutcome } from '../lib/model.ts';
import { parseNodeSelector, validateClusterName, validateResourceGroup } from '../lib/validation.ts';
import { investigationId } from '../lib/workflow/instanceId.ts';
import type { InvestigationStatus } from '../lib/workflow/investigate.ts';

/** The instance as the Durable client reports it (the real `DurableOrchestrationStatus` and the local one fit). */
export interface InstanceView {
  runtimeStatus: string;
  createdTime?: Date | string | undefined;
  lastUpdatedTime?: Date | string | undefined;
  input?: unknown;
  output?: unknown;
  customStatus?: unknown;
}

export interface StatusClient {
  getStatus(instanceId: string): Promise<InstanceView | undefined>;
}

/** The custom status, with the step's name as `name` (its steps are the response's `steps`). */
export type CurrentStep = Omit<InvestigationStatus, 'step' | 'steps'> & { name: InvestigationStatus['step'] };

/** The JSON this function answers with. */
export interface InvestigationState {
  instanceId: string;
  runtimeStatus: string;
  createdTime: string | null;
  lastUpdatedTime: string | null;
  /** The step running now (the orchestrator's custom status); null once completed, or before the first step. */
  step: CurrentStep | null;
  /** Steps finished so far; all five once completed. */
  steps: StepOutcome[];
  /** The report, once completed. */
  report: Report | null;
  requestedBy: InvestigationRequest['requestedBy'] | null;
  /** Why the orchestration itself failed (a failed step is in `steps` instead). */
  error?: string;
}

export async function status(
  request: HttpRequest,
  client: StatusClient,
  _context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  try {
    checkInvestigationId(id);
  } catch (error) {
    if (error instanceof SnatDoctorError)
      return { status: 400, jsonBody: { error: error.code, message: error.message } };
    throw error;
  }
  const instance = await statusOf(client, id);
  if (!instance) return { status: 404, jsonBody: { message: `There is no investigation ${id}.` } };
  return { status: 200, jsonBody: investigationState(id, instance) };
}

const ID_SHAPE =
  'expected snat:{resource group}:{cluster}:{node name, node IP or most-exhausted}, lower-case, as the starter returns it';
// Longest id investigationId can make: 90 (group) + 63 (cluster) + 253 (node) and the separators.
const ID_MAX = 'snat:'.length + 90 + 1 + 63 + 1 + 253;

/**
 * Accepts exactly the ids `investigationId` makes: each part passes the validator the starters use, and putting
 * the parts back together gives the id again (which also refuses upper case: ids are lower-cased).
 */
export function checkInvestigationId(id: string): void {
  const refuse = (why: string) => {
    const shown = id.length > 80 ? `${JSON.stringify(id.slice(0, 80))}… (${id.length} characters)` : JSON.stringify(id);
    return new SnatDoctorError('BAD_ARGUMENT', `investigation id ${shown} is not valid: ${why}.`);
  };
  if (id.length > ID_MAX) throw refuse(`too long (${ID_SHAPE})`);
  // Group and cluster names cannot hold ":", so the node is everything after the third (an IPv6 node has more).
  const match = /^snat:([^:]+):([^:]+):(.+)$/s.exec(id);
  if (!match) throw refuse(ID_SHAPE);
  const [, resourceGroup = '', name = '', node = ''] = match;
  try {
    validateResourceGroup(resourceGroup);
    validateClusterName(name);
    parseNodeSelector(node);
  } catch (error) {
    if (error instanceof SnatDoctorError) throw refuse(`${error.message.replace(/\.$/, '')} (${ID_SHAPE})`);
    throw error;
  }
  if (investigationId({ subscriptionId: '', resourceGroup, name }, node) !== id) throw refuse(ID_SHAPE);
}

export function investigationState(instanceId: string, instance: InstanceView): InvestigationState {
  const completed = instance.runtimeStatus === 'Completed';
  const report = completed ? (instance.output as Report | null) : null;
  const current = completed ? undefined : customStatusOf(instance.customStatus);
  const request = instance.input as Partial<InvestigationRequest> | null | undefined;
  return {
    instanceId,
    runtimeStatus: instance.runtimeStatus,
    createdTime: isoTime(instance.createdTime),
    lastUpdatedTime: isoTime(instance.lastUpdatedTime),
    step: current ? currentStep(current) : null,
    steps: report?.steps ?? current?.steps ?? [],
    report: report ?? null,
    requestedBy: request?.requestedBy ?? null,
    ...(instance.runtimeStatus === 'Failed' ? { error: firstLine(instance.output) } : {}),
  };
}

function currentStep(status: InvestigationStatus): CurrentStep {
  const { step, index, of, message, node, captureEndsAt, pods } = status;
  return { name: step, index, of, message, node, captureEndsAt, pods };
}

/** The orchestrator's custom status, when it is one (it is null before the first step). */
function customStatusOf(value: unknown): InvestigationStatus | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const status = value as Partial<InvestigationStatus>;
  return typeof status.step === 'string' && Array.isArray(status.steps) ? (status as InvestigationStatus) : undefined;
}

function isoTime(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

// The extension's output for a failed orchestration carries the error and its stack: the first line is the reason.
function firstLine(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? 'unknown error');
  return text.split('\n', 1)[0] ?? '';
}

/** The real client throws "… HTTP 404 …" for an unknown instance; the in-memory one returns undefined. */
async function statusOf(client: StatusClient, instanceId: string): Promise<InstanceView | undefined> {
  try {
    return await client.getStatus(instanceId);
  } catch (error) {
    if (error instanceof Error && /HTTP 404/.test(error.message)) return undefined;
    throw error;
  }
}

df.app.client.http('status', {
  route: 'investigations/{id}',
  methods: ['GET'],
  authLevel: 'function',
  handler: status,
});
