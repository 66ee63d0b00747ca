// The investigation orchestrator (DESIGN §2.1). Deterministic: no I/O, no clock but `currentUtcDateTime`, no
// randomness. Each step is an activity; expected failures come back as data and the investigation goes on with
// what it has, transient faults are retried with back-off, and whatever happens a report comes out naming the step
// that failed.

import type { EntityId, OrchestrationContext, Task } from 'durable-functions';
import { ports } from '../composition.ts';
import { failure, retryAfterFrom, type StepResult } from '../errors.ts';
import type {
  ActivityName,
  CandidatePod,
  InvestigationRequest,
  NodeCapture,
  PodConnections,
  Report,
  StepName,
  StepOutcome,
  Unavailable,
} from '../model.ts';

export { ORCHESTRATOR_NAME } from './instanceId.ts';

import { nodeKey } from './instanceId.ts';
import { type AcquireResult, type ReleaseInput, registryId } from './nodeRegistry.ts';

import type { Located } from './steps/locateNode.ts';
import type { Mapped } from './steps/mapPods.ts';
import type { PodsInput } from './steps/podConnections.ts';
import { buildReport, type ReportInput } from './steps/rankAndReport.ts';
import type { StoreEvidenceInput } from './steps/storeEvidence.ts';

/** Back-off for transient faults: 2 s, 4 s (or the server's Retry-After when longer), then give up (3 attempts). */
export const RETRY_POLICY = { firstRetryIntervalInMilliseconds: 2_000, maxNumberOfAttempts: 3, backoffCoefficient: 2 };

/** Pods examined at once: bounds the exec load put on the API server and the node. */
export const POD_CONCURRENCY = 10;
/**
 * Pods per podConnections activity: a chunk's pods slide through POD_CONCURRENCY slots; between chunks the progress
 * is reported (and a pod that failed transiently is retried), so a chunk is several windows long.
 */
export const POD_CHUNK = 50;

const STEP_ORDER: StepName[] = ['locateNode', 'captureNode', 'mapPods', 'podConnections', 'rankAndReport'];

/**
 * How long an investigation may hold its node before the node's registry lets another one take it without a release
 * (a terminated instance never releases): its capture plus an hour, far beyond what examining a node's pods takes.
 */
export const HOLD_MARGIN_MS = 60 * 60_000;

/** What `customStatus` holds while an investigation runs (shown by the CLI, Slack and the Durable dashboard). */
export interface InvestigationStatus {
  step: StepName;
  index: number;
  of: number;
  message: string;
  node?: string;
  /** When the node capture is due to end, for a countdown. */
  captureEndsAt?: string;
  pods?: { done: number; total: number };
  /** Steps finished so far, in order. */
  steps: StepOutcome[];
}

export function* investigate(context: OrchestrationContext): Generator<Task, Report, unknown> {
  const request = context.df.getInput<InvestigationRequest>();
  const startedAt = context.df.currentUtcDateTime.toISOString();

  const steps: StepOutcome[] = [];
  const unavailable: Unavailable[] = [];
  // An investigation asked for from Slack reports there: a message in the channel, progress in its thread.
  const channel = request.requestedBy.kind === 'slack' ? request.requestedBy.where : undefined;
  let thread: string | undefined;
  /** The node's registry while this investigation holds the node. */
  let holding: EntityId | undefined;
  /** The investigation this one joined, when its node was taken. */
  let joinedTo: { instanceId: string; since: string } | undefined;

  /** Sets the custom status (CLI, dashboard) and, for Slack, updates the progress reply in the thread. */
  function* status(step: StepName, message: string, extra: Partial<InvestigationStatus> = {}): Generator<Task, void> {
    const current = {
      step,
      index: STEP_ORDER.indexOf(step) + 1,
      of: STEP_ORDER.length,
      message,
      steps: [...steps],
      ...extra,
    } satisfies InvestigationStatus;
    context.df.setCustomStatus(current);
    if (channel && thread) {
      const at = context.df.currentUtcDateTime.toISOString();
      yield* call('notifySlack', {
        kind: 'progress',
        channel,
        instanceId: context.df.instanceId,
        thread,
        status: current,
        at,
      });
    }
  }

  /** Waits before attempt `attempt + 1`: the back-off, or longer when the server asked for it (Retry-After). */
  function* backOff(attempt: number, retryAfterSeconds = 0): Generator<Task, void, unknown> {
    const backoff = RETRY_POLICY.firstRetryIntervalInMilliseconds * RETRY_POLICY.backoffCoefficient ** (attempt - 1);
    const now = context.df.currentUtcDateTime.getTime();
    yield context.df.createTimer(new Date(now + Math.max(backoff, retryAfterSeconds * 1000)));
  }

  function* call<T>(name: ActivityName, input: unknown): Generator<Task, StepResult<T>, unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (yield context.df.callActivity(name, input)) as StepResult<T>;
      } catch (error) {
        if (attempt >= RETRY_POLICY.maxNumberOfAttempts) {
          return failure('TRANSIENT', `still failing after ${attempt} attempts: ${firstLine(error)}`);
        }
        yield* backOff(attempt, retryAfterFrom(error instanceof Error ? error.message : String(error)));
      }
    }
  }

  if (channel) {
    // The channel message first: its thread is where progress goes. Slack is best effort: a failure here is not
    // the investigation's.
    const posted = yield* call<{ ts: string }>('notifySlack', {
      kind: 'report',
      channel,
      instanceId: context.df.instanceId,
      request,
      node: request.node,
    });
    if (posted.ok) thread = posted.value.ts;
  }

  // 1. Which node, and how exhausted.
  yield* status('locateNode', request.node ? `Locating node ${request.node}` : 'Finding the most exhausted node');
  const located = yield* call<Located>('locateNode', {
    cluster: request.cluster,
    node: request.node,
    privateRanges: request.privateRanges,
  });
  if (!located.ok) {
    steps.push({ name: 'locateNode', status: 'failed', detail: located.message });
    for (const name of STEP_ORDER.slice(1, -1)) {
      steps.push({ name, status: 'skipped', detail: 'no node to investigate' });
    }
    return yield* report(undefined, []);
  }
  const { node } = located.value;
  steps.push({ name: 'locateNode', status: 'succeeded', detail: describeNode(located.value) });

  // The node itself: one investigation at a time runs anything on it, whatever asked and on whichever instance of
  // the app (nodeRegistry.ts). Taken only now that the node is known by its name, so that a request by name, one by
  // IP and one for the most exhausted node are one node.
  const taken = yield* takeNode(node.name);
  if (!taken.ok) {
    const why = `the node's registry could not be read (${taken.message}): nothing was run on ${node.name}, so that no second probe can run there`;
    steps.push({ name: 'captureNode', status: 'failed', detail: why });
    for (const name of STEP_ORDER.slice(2, -1))
      steps.push({ name, status: 'skipped', detail: 'nothing was run on the node' });
    return yield* report(located.value, []);
  }
  if (!taken.result.granted) {
    const { holder } = taken.result;
    joinedTo = holder;
    const why = `${node.name} is already being investigated by ${holder.instanceId} (since ${holder.since}); this request joined it${channel ? ' and its report will be posted in this channel too' : ''}`;
    for (const name of STEP_ORDER.slice(1, -1)) steps.push({ name, status: 'skipped', detail: why });
    return yield* report(located.value, []);
  }
  try {
    return yield* examine(located.value);
  } finally {
    // Only when `examine` threw (a fault of this code): its report released the node before posting it.
    if (holding) yield* letGo('abandoned: the investigation failed before its report');
  }

  function* examine(found: Located): Generator<Task, Report, unknown> {
    const { node, facts } = found;
    // 2. One probe run on the node.
    let capture: NodeCapture | undefined;
    if (node.os === 'windows') {
      steps.push({
        name: 'captureNode',
        status: 'skipped',
        detail: 'Windows node: no node probe; pods are examined one by one',
      });
    } else {
      const endsAt = new Date(context.df.currentUtcDateTime.getTime() + request.captureSeconds * 1000);
      yield* status('captureNode', `Capturing connections on ${node.name} for ${request.captureSeconds} s`, {
        node: node.name,
        captureEndsAt: endsAt.toISOString(),
      });
      const captured = yield* call<NodeCapture>('captureNode', { facts, node, seconds: request.captureSeconds });
      if (captured.ok) {
        capture = captured.value;
        unavailable.push(...capture.unavailable);
        steps.push({ name: 'captureNode', status: 'succeeded', detail: describeCapture(capture) });
      } else {
        steps.push({ name: 'captureNode', status: 'failed', detail: captured.message });
      }
    }

    // 3. Network namespaces and sandboxes → pods.
    yield* status('mapPods', `Mapping network namespaces to pods on ${node.name}`, { node: node.name });
    const mapped = yield* call<Mapped>('mapPods', { cluster: request.cluster, node, capture });
    if (!mapped.ok) {
      steps.push({ name: 'mapPods', status: 'failed', detail: mapped.message });
      steps.push({ name: 'podConnections', status: 'skipped', detail: 'no pod list to examine' });
      return yield* report(found, [], capture);
    }
    const { pods, finished, host } = mapped.value;
    steps.push({ name: 'mapPods', status: 'succeeded', detail: describePods(pods, finished, node.name) });

    // 4. Each pod's connections: POD_CHUNK pods per activity, which examines them POD_CONCURRENCY at a time through a
    // sliding window (steps/podConnections.ts). A pod that hit a transient fault is tried again after the chunk (after
    // its back-off, or its Retry-After), up to the attempt limit.
    const results: PodConnections[] = [];
    const podFailures: string[] = [];
    for (let start = 0; start < pods.length; start += POD_CHUNK) {
      yield* status('podConnections', `Counting connections of ${pods.length} pods`, {
        node: node.name,
        pods: { done: start, total: pods.length },
      });
      let round = pods.slice(start, start + POD_CHUNK);
      for (let attempt = 1; round.length > 0; attempt++) {
        const examined = yield* call<StepResult<PodConnections>[]>('podConnections', {
          cluster: request.cluster,
          pods: round,
          privateRanges: facts.privateRanges.map((r) => r.cidr),
          concurrency: POD_CONCURRENCY,
        } satisfies PodsInput);
        // The activity returns each pod's outcome, transient faults included; if it failed as a whole, every pod did.
        const outcomes = examined.ok ? examined.value : round.map((): StepResult<PodConnections> => examined);
        const retry: CandidatePod[] = [];
        const waits: number[] = [];
        outcomes.forEach((result, i) => {
          const pod = round[i] as CandidatePod;
          if (result.ok) results.push(result.value);
          else if (result.code === 'TRANSIENT' && attempt < RETRY_POLICY.maxNumberOfAttempts) {
            retry.push(pod);
            waits.push(result.retryAfterSeconds ?? 0);
          } else {
            const after = result.code === 'TRANSIENT' ? `still failing after ${attempt} attempts: ` : '';
            podFailures.push(`${pod.namespace}/${pod.name}: ${after}${result.message}`);
          }
        });
        if (retry.length > 0) yield* backOff(attempt, Math.max(...waits));
        round = retry;
      }
    }
    steps.push(podStepOutcome(pods.length, results, podFailures));

    return yield* report(found, results, capture, host);
  }

  /** Asks the node's registry for the node. */
  function* takeNode(
    name: string,
  ): Generator<Task, { ok: true; result: AcquireResult } | { ok: false; message: string }, unknown> {
    const entity = registryId(nodeKey(request.cluster, name));
    const at = context.df.currentUtcDateTime;
    try {
      const result = (yield context.df.callEntity(entity, 'acquire', {
        instanceId: context.df.instanceId,
        at: at.toISOString(),
        until: new Date(at.getTime() + request.captureSeconds * 1000 + HOLD_MARGIN_MS).toISOString(),
        ...(channel ? { channel } : {}),
      })) as AcquireResult;
      if (result.granted) holding = entity;
      return { ok: true, result };
    } catch (error) {
      return { ok: false, message: firstLine(error) };
    }
  }

  /** Gives the node back; answers the channels of the requests that joined this investigation. */
  function* letGo(outcome: string): Generator<Task, string[], unknown> {
    const entity = holding;
    holding = undefined;
    if (!entity) return [];
    const input: ReleaseInput = {
      instanceId: context.df.instanceId,
      at: context.df.currentUtcDateTime.toISOString(),
      outcome,
    };
    try {
      return ((yield context.df.callEntity(entity, 'release', input)) as string[] | null) ?? [];
    } catch {
      // The holder's `until` frees the node anyway; the joiners' channels are what is lost.
      return [];
    }
  }

  // 5. Rank and report. Always runs: with whatever the steps above gathered.
  function* report(
    found: Located | undefined,
    podResults: PodConnections[],
    nodeCapture?: NodeCapture,
    host?: Mapped['host'],
  ): Generator<Task, Report, unknown> {
    yield* status('rankAndReport', 'Ranking pods and writing the report', { node: found?.node.name });
    const input: ReportInput = {
      instanceId: context.df.instanceId,
      request,
      startedAt,
      located: found,
      pods: podResults,
      ...(host ? { host } : {}),
      ...(nodeCapture?.tracedSeconds !== undefined ? { tracedSeconds: nodeCapture.tracedSeconds } : {}),
      steps: [...steps, { name: 'rankAndReport', status: 'succeeded' }],
      unavailable,
    };
    const written = yield* call<Report>('rankAndReport', input);
    // The ranking is pure, so the orchestrator can still produce the report itself.
    let final = written.ok
      ? written.value
      : buildReport(
          { ...input, steps: [...steps, { name: 'rankAndReport', status: 'failed', detail: written.message }] },
          context.df.currentUtcDateTime.toISOString(),
        );
    if (joinedTo) final = { ...final, joined: joinedTo };
    // The evidence blob, before Slack so that the report posted there says where it is. Best effort, like Slack: a
    // failure is named in the report and changes nothing else. Whether a store is configured is fixed configuration
    // (the composition root's), not I/O: every replay sees the same answer unless the app's settings change while
    // this instance is in flight.
    if (ports().evidence && !joinedTo) {
      const stored = yield* call<{ url: string }>('storeEvidence', {
        instanceId: context.df.instanceId,
        request,
        report: final,
        located: found && {
          facts: found.facts,
          backend: found.backend,
          nodes: found.nodes,
          ...(found.gateways ? { gateways: found.gateways } : {}),
          ...(found.survey ? { survey: found.survey } : {}),
        },
        capture: nodeCapture,
        pods: podResults,
      } satisfies StoreEvidenceInput);
      final = stored.ok
        ? { ...final, evidence: { url: stored.value.url } }
        : { ...final, unavailable: [...final.unavailable, { what: 'evidence store', reason: stored.message }] };
    }
    // The node is let go before Slack is told: a re-run asked for on reading the report finds it free.
    const joiners = yield* letGo('completed');
    // Its own channel, then those of the requests that joined it (each gets the report as a message of its own).
    for (const where of [...(channel ? [channel] : []), ...joiners.filter((c) => c !== channel)]) {
      yield* call('notifySlack', {
        kind: 'report',
        channel: where,
        instanceId: context.df.instanceId,
        request,
        report: final,
      });
    }
    return final;
  }
}

function podStepOutcome(total: number, results: PodConnections[], failures: string[]): StepOutcome {
  const examined = results.length;
  // A pod whose table came back cut short was examined, but its counts may be low: the step says so.
  const cut = results.filter((r) => r.incomplete).map((r) => `${r.namespace}/${r.pod}`);
  const cutNote =
    cut.length === 0
      ? ''
      : `; ${cut.length === 1 ? "1 pod's socket table" : `${cut.length} pods' socket tables`} came back cut short, so ${cut.length === 1 ? 'its' : 'their'} counts may be low: ${cut.slice(0, 5).join(', ')}${cut.length > 5 ? ` and ${cut.length - 5} more` : ''}`;
  if (failures.length === 0)
    return {
      name: 'podConnections',
      status: 'succeeded',
      detail: `${examined} pod${examined === 1 ? '' : 's'} examined${cutNote}`,
    };
  const listed = failures.slice(0, 5).join('; ') + (failures.length > 5 ? `; and ${failures.length - 5} more` : '');
  return {
    name: 'podConnections',
    status: examined === 0 ? 'failed' : 'succeeded',
    detail: `${failures.length} of ${total} pods could not be examined: ${listed}${cutNote}`,
  };
}

function describePods(pods: CandidatePod[], finished: string[], node: string): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const pending = pods.filter((p) => p.phase === 'Pending').length;
  const terminating = pods.filter((p) => p.terminating).length;
  const notes = [
    pending > 0 ? `${pending} pending` : '',
    terminating > 0 ? `${terminating} terminating` : '',
    finished.length > 0 ? `${plural(finished.length, 'finished pod')} left out` : '',
  ].filter(Boolean);
  return `${plural(pods.length, 'pod')} on ${node}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}

function describeNode(located: Located): string {
  const { node, backend, backendIpv6 } = located;
  const metrics = backend
    ? `${backend.usedPorts}/${backend.allocatedPorts} SNAT ports used, ${backend.failedConnections} failed connections`
    : 'no SNAT metrics for this node';
  const ipv6 = backendIpv6
    ? `; IPv6 (${node.ipv6}): ${backendIpv6.usedPorts}/${backendIpv6.allocatedPorts} used, ${backendIpv6.failedConnections} failed`
    : '';
  return [`${node.name} (${node.ip}): ${metrics}${ipv6}`, ...located.notes].map((s) => s.replace(/\.$/, '')).join('. ');
}

function describeCapture(capture: NodeCapture): string {
  // The exact totals where the probe gave them: its rows may leave the long tail out (node-probe.sh, #cut).
  const events = (type: string) =>
    (capture.traceSources ?? capture.trace).filter((t) => t.type === type).reduce((sum, t) => sum + t.count, 0);
  const connects = events('connect');
  const failed = events('failed');
  const sockets = (capture.socketTotals ?? capture.sockets).reduce((sum, s) => sum + s.count, 0);
  const traced =
    capture.tracedSeconds !== undefined && capture.tracedSeconds > 0 && capture.tracedSeconds < capture.seconds
      ? ` in the ${capture.tracedSeconds} s the tracer ran`
      : '';
  const parts = [
    `${capture.seconds} s capture: ${connects} connects${failed > 0 ? ` and ${failed} failed connects` : ''} traced${traced}`,
    `${sockets} sockets in ${capture.namespaces.length} network namespace${capture.namespaces.length === 1 ? '' : 's'}`,
  ];
  if (capture.unavailable.length > 0) parts.push(`unavailable: ${capture.unavailable.map((u) => u.what).join(', ')}`);
  const swept = capture.sweptProbePods?.length ?? 0;
  if (swept > 0) parts.push(`deleted ${swept} probe pod${swept === 1 ? '' : 's'} an interrupted run had left`);
  return parts.join(', ');
}

/** A Durable task failure reads `<reason> \n <details>`; the reason is what a person needs. */
function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? text).trim();
}
