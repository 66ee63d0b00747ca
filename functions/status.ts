// status: GET /api/investigations/{id} → the investigation's state, its steps so far and, once it completed, its
// report, as JSON. The id is checked against what `newInvestigationId` makes before the Durable client is asked, so
// nothing else (paths, query text, control characters) ever reaches the task hub's API; an investigation of a cluster
// the app is not set up for (lib/appClusters.ts) reads as not found.
//
// nodeInvestigations: GET /api/investigations?subscriptionId=&resourceGroup=&cluster=&node= → the node's registry
// (lib/workflow/nodeRegistry.ts): the investigation running on it and the last ones, newest first.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { appClusters, isAmong } from '../lib/appClusters.ts';
import { SnatDoctorError } from '../lib/errors.ts';
import type { ClusterRef, InvestigationRequest, Report, StepOutcome } from '../lib/model.ts';
import { parseNodeSelector, validateClusterRef } from '../lib/validation.ts';
import { checkInvestigationId, nodeKey } from '../lib/workflow/instanceId.ts';
import type { InvestigationStatus } from '../lib/workflow/investigate.ts';
import type { NodeRegistry } from '../lib/workflow/nodeRegistry.ts';
import { readRegistry } from '../lib/workflow/start.ts';

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
  getStatus(instanceId: string, options?: { showInput?: boolean }): Promise<InstanceView | undefined>;
  readEntityState<T>(entityId: df.EntityId): Promise<{ entityExists: boolean; entityState?: T | undefined }>;
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
  allowed: readonly ClusterRef[] = appClusters(),
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
  // Who may read it is decided by the cluster it ran on, not by what its id says; a refusal reads as not found.
  const cluster = (instance?.input as Partial<InvestigationRequest> | null | undefined)?.cluster;
  if (!instance || !cluster || !isAmong(allowed, cluster)) {
    return {
      status: 404,
      jsonBody: { message: `There is no investigation ${id} of a cluster this app is set up for.` },
    };
  }
  return { status: 200, jsonBody: investigationState(id, instance) };
}

/** The JSON nodeInvestigations answers with. */
export interface NodeInvestigations extends NodeRegistry {
  cluster: ClusterRef;
  node: string;
}

export async function nodeInvestigations(
  request: HttpRequest,
  client: StatusClient,
  _context: InvocationContext,
  allowed: readonly ClusterRef[] = appClusters(),
): Promise<HttpResponseInit> {
  const query = request.query;
  const shape = 'give ?subscriptionId=…&resourceGroup=…&cluster=…&node=<node name>';
  let cluster: ClusterRef;
  let node: string;
  try {
    const unknown = [...query.keys()].filter(
      (k) => !['subscriptionId', 'resourceGroup', 'cluster', 'node', 'code'].includes(k),
    );
    if (unknown.length > 0)
      throw new SnatDoctorError(
        'BAD_ARGUMENT',
        `Unknown query parameter ${JSON.stringify(unknown[0]?.slice(0, 40))}: ${shape}.`,
      );
    const [subscriptionId, resourceGroup, name, asked] = ['subscriptionId', 'resourceGroup', 'cluster', 'node'].map(
      (k) => query.get(k),
    );
    if (!subscriptionId || !resourceGroup || !name || !asked)
      throw new SnatDoctorError('BAD_ARGUMENT', `Missing a parameter: ${shape}.`);
    cluster = validateClusterRef({ subscriptionId, resourceGroup, name });
    const selector = parseNodeSelector(asked);
    if (selector.kind !== 'name') {
      throw new SnatDoctorError(
        'BAD_ARGUMENT',
        `node ${JSON.stringify(asked)} is an IP: a node's investigations are kept by its name.`,
      );
    }
    node = selector.name;
  } catch (error) {
    if (error instanceof SnatDoctorError)
      return { status: 400, jsonBody: { error: error.code, message: error.message } };
    throw error;
  }
  if (!isAmong(allowed, cluster)) {
    return {
      status: 404,
      jsonBody: { message: `Cluster ${cluster.resourceGroup}/${cluster.name} is not one this app is set up for.` },
    };
  }
  const registry = await readRegistry(client, nodeKey(cluster, node));
  return { status: 200, jsonBody: { cluster, node, ...registry } satisfies NodeInvestigations };
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
    return await client.getStatus(instanceId, { showInput: true });
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

df.app.client.http('nodeInvestigations', {
  route: 'investigations',
  methods: ['GET'],
  authLevel: 'function',
  handler: nodeInvestigations,
});
