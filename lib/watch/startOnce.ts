// One investigation per node, however many triggers fire at once. `startOrJoin` reads the instance's status and then
// starts it; two callers in one process (two overlapping watch ticks, a tick and an alert) can both read "none" before
// either starts, and `startNew` silently replaces a running instance. So in this process every start of an instance
// id waits for the previous one to finish (a keyed lock). Across processes (the app scaled out) the Durable
// extension is the lock: host.json's `overridableExistingInstanceStates: NonRunningStates` makes a second `startNew`
// of a running id fail, which is read back here as joining it.
import type { InvestigationRequest } from '../model.ts';
import { investigationId } from '../workflow/instanceId.ts';
import { type InvestigationClient, startOrJoin, statusOf } from '../workflow/start.ts';

/** The Durable client as the watch needs it: the status also says when the instance last changed. */
export interface WatchClient extends InvestigationClient {
  getStatus(
    instanceId: string,
  ): Promise<{ runtimeStatus: string; lastUpdatedTime?: Date | string | undefined } | undefined>;
}

export type StartOnceResult =
  | { instanceId: string; outcome: 'started' | 'joined' }
  /** The node's last investigation finished recently: not started again before `until`. */
  | { instanceId: string; outcome: 'cooldown'; finishedAt: string; until: string };

export interface Cooldown {
  minutes: number;
  now: Date;
}

// Terminal states: the instance's own status is the cooldown's state, so the cooldown needs no storage of its own.
// A failed or terminated investigation cools down too: re-running a broken one every tick would only repeat it.
const FINISHED = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

/** Starts the node's investigation, joins the running one, or holds off while the last one is within the cooldown. */
export function startOnce(
  client: WatchClient,
  request: InvestigationRequest,
  cooldown?: Cooldown,
): Promise<StartOnceResult> {
  const instanceId = investigationId(request.cluster, request.node);
  return oneAtATime(instanceId, async (): Promise<StartOnceResult> => {
    if (cooldown && cooldown.minutes > 0) {
      const last = await statusOf(client, instanceId);
      const finishedAt = last && FINISHED.has(last.runtimeStatus) ? timeOf(last.lastUpdatedTime) : undefined;
      const until = finishedAt && new Date(finishedAt.getTime() + cooldown.minutes * 60_000);
      if (finishedAt && until && until > cooldown.now) {
        return { instanceId, outcome: 'cooldown', finishedAt: finishedAt.toISOString(), until: until.toISOString() };
      }
    }
    try {
      const { joined } = await startOrJoin(client, request);
      return { instanceId, outcome: joined ? 'joined' : 'started' };
    } catch (error) {
      // Another process started it between our status read and our startNew, and the extension refused ours.
      const now = await statusOf(client, instanceId).catch(() => undefined);
      if (now && ACTIVE.has(now.runtimeStatus)) return { instanceId, outcome: 'joined' };
      throw error;
    }
  });
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier call with the same key has settled; different keys do not wait for each other. */
export function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  // What is queued never rejects (see `settled`), so `work` runs whatever the previous call's outcome.
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(work);
  const settled = run.then(
    () => {},
    () => {},
  );
  queues.set(key, settled);
  // Forget the key once nothing is queued behind this call, so the map does not grow with every node ever seen.
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return run;
}

function timeOf(value: Date | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
