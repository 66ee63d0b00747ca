// One investigation per node, however many triggers fire at once, and the one start path of every trigger (CLI,
// HTTP, Slack, alert, watch). Three guards, from the cheapest:
//
// 1. In this process, starts for one node spelling wait for each other (a keyed lock), and a spelling whose last
//    start here is still running joins it: 20 requests racing each other start one instance.
// 2. Across the app's instances, the node's registry entity (lib/workflow/nodeRegistry.ts) says which investigation
//    holds the node: a request by node name joins it without starting anything, and the watch's cooldown reads the
//    node's last investigation there.
// 3. The investigation itself takes the node from its registry before it runs anything on it, once it knows the
//    node by name (a request by IP, or for the most exhausted node, is resolved first). If the node is taken, it
//    runs nothing and reports whom it joined. That guard has no race; the two above only save a start.
import type { InvestigationRequest, PrivateRange } from '../model.ts';
import { parseNodeSelector } from '../validation.ts';
import { nodeKey } from '../workflow/instanceId.ts';
import { registryId } from '../workflow/nodeRegistry.ts';
import {
  appPrivateRanges,
  type InvestigationClient,
  readRegistry,
  startNewInvestigation,
  statusOf,
} from '../workflow/start.ts';

/** The Durable client as the start path needs it (the real `DurableClient` and the local one satisfy it). */
export type WatchClient = InvestigationClient;

export type StartOnceResult =
  | { instanceId: string; outcome: 'started' | 'joined' }
  /** The node's last investigation finished recently: not started again before `until`. */
  | { instanceId: string; outcome: 'cooldown'; finishedAt: string; until: string };

export interface Cooldown {
  minutes: number;
  now: Date;
}

export interface StartOptions {
  cooldown?: Cooldown;
  /** The app setting's private ranges, added to the request's; the CLI passes none. */
  settingRanges?: PrivateRange[];
}

// Terminal states: a failed or terminated investigation cools down too: re-running a broken one every tick would
// only repeat it.
const FINISHED = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

/** The last instance this process started per node spelling (guard 1); the oldest are forgotten past this many. */
const STARTED_KEPT = 1_000;
// Keyed by task hub and node spelling: a Durable client is made per invocation (df.getClient), so it cannot key it.
// Ids are unique, so an id remembered from another host in this process (tests) is simply not found there.
const startedHere = new Map<string, string>();

/** Starts the node's investigation, joins the running one, or holds off while the last one is within the cooldown. */
export function startOnce(
  client: WatchClient,
  request: InvestigationRequest,
  options: StartOptions | Cooldown = {},
): Promise<StartOnceResult> {
  const { cooldown, settingRanges } = 'minutes' in options ? { cooldown: options, settingRanges: undefined } : options;
  const key = nodeKey(request.cluster, request.node);
  const channel = request.requestedBy.kind === 'slack' ? request.requestedBy.where : undefined;
  return oneAtATime(key, async (): Promise<StartOnceResult> => {
    const now = cooldown?.now ?? new Date();
    const holdOff = (finishedAt: Date | undefined): StartOnceResult | undefined => {
      const until = finishedAt && cooldown && new Date(finishedAt.getTime() + cooldown.minutes * 60_000);
      if (!finishedAt || !until || until <= now) return undefined;
      return { instanceId: '', outcome: 'cooldown', finishedAt: finishedAt.toISOString(), until: until.toISOString() };
    };

    // 1. This process's last start for this spelling.
    const hubKey = `${(client as { taskHubName?: unknown }).taskHubName ?? ''}|${key}`;
    const mine = startedHere.get(hubKey);
    const last = mine === undefined ? undefined : await statusOf(client, mine);
    if (mine && last && ACTIVE.has(last.runtimeStatus) && sameChannel(last.input, channel)) {
      return { instanceId: mine, outcome: 'joined' };
    }
    if (mine && last && FINISHED.has(last.runtimeStatus)) {
      const cooling = holdOff(timeOf(last.lastUpdatedTime));
      if (cooling) return { ...cooling, instanceId: mine };
    }

    // 2. The node's registry, for a node asked for by name (the key a registry has).
    if (request.node !== undefined && parseNodeSelector(request.node).kind === 'name') {
      const registry = await readRegistry(client, key);
      const { running } = registry;
      if (running) {
        const holder = await statusOf(client, running.instanceId);
        if (holder && ACTIVE.has(holder.runtimeStatus)) {
          // Its report comes to this channel too when it finishes.
          if (channel)
            await client.signalEntity(registryId(key), 'subscribe', { instanceId: running.instanceId, channel });
          return { instanceId: running.instanceId, outcome: 'joined' };
        }
        // It ended without letting the node go (terminated, or purged): the node is free.
        await client.signalEntity(registryId(key), 'forget', {
          instanceId: running.instanceId,
          at: now.toISOString(),
          outcome: `abandoned: ${holder ? holder.runtimeStatus.toLowerCase() : 'gone'} without releasing the node`,
        });
      }
      const [latest] = registry.history;
      const cooling = latest && holdOff(timeOf(latest.finishedAt));
      if (latest && cooling) return { ...cooling, instanceId: latest.instanceId };
    }

    // 3. A new investigation; it takes the node itself, or joins whoever has it.
    const instanceId = await startNewInvestigation(client, request, settingRanges ?? appPrivateRanges(), now);
    startedHere.delete(hubKey);
    startedHere.set(hubKey, instanceId);
    if (startedHere.size > STARTED_KEPT) startedHere.delete(startedHere.keys().next().value as string);
    return { instanceId, outcome: 'started' };
  });
}

/**
 * A Slack request joins at the start only an investigation that posts to its channel; from elsewhere it starts its
 * own, which joins after locating the node and has the holder's report posted to its channel (nodeRegistry.ts).
 */
function sameChannel(input: unknown, channel: string | undefined): boolean {
  if (channel === undefined) return true;
  const requestedBy = (input as Partial<InvestigationRequest> | undefined)?.requestedBy;
  return requestedBy?.kind === 'slack' && requestedBy.where === channel;
}

const queues = new Map<string, Promise<unknown>>();

/**
 * How long a start waits for an earlier one of the same key: a start that hangs (a Durable client call that never
 * answers) must not keep its node from ever being started again in this process. The node's registry, not this
 * queue, is what keeps two probes off one node, so going ahead after it is safe.
 */
export const QUEUE_WAIT_MS = 60_000;

/**
 * Runs `work` after every earlier call with the same key has settled, or after `waitMs` of waiting for them; different
 * keys do not wait for each other.
 */
export function oneAtATime<T>(key: string, work: () => Promise<T>, waitMs = QUEUE_WAIT_MS): Promise<T> {
  // What is queued never rejects (see `settled`), so `work` runs whatever the previous call's outcome.
  const previous = queues.get(key);
  const turn = previous
    ? Promise.race([previous, new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref())])
    : Promise.resolve();
  const run = turn.then(work);
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
