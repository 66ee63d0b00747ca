// One probe per node, whatever asks and on whichever instance of the app: each node has a Durable entity, its
// registry, and an investigation must hold it before it runs anything on the node. Durable runs the operations
// of one entity serially, one at a time, whichever instance of the app sends them (learn.microsoft.com/azure/
// azure-functions/durable/durable-functions-entities, "General concepts": "to prevent conflicts"), so `acquire` is an
// exclusive lock with no race: the first investigation to ask gets the node, the others are told which one has it
// and join it.
//
// The registry is also the node's history: the running investigation, and the last ones that ran, newest first. A
// starter reads it (readEntityState) to join without starting anything, the watch to hold off during a cooldown,
// and `/snat status` and the HTTP API to list a node's investigations.
//
// A holder that never releases (an instance terminated, or an app crash the orchestrator never came back from) is
// let go once its `until` has passed: an investigation cannot run longer than its capture and its pod examinations
// take, and `until` is set well beyond that.

import type { EntityContext } from 'durable-functions';
import * as df from 'durable-functions';

export const REGISTRY_ENTITY = 'nodeinvestigations';
/** Past investigations kept per node. */
export const HISTORY_KEPT = 20;
/** Slack channels a running investigation will also post its report to (joiners'); more are not added. */
export const CHANNELS_KEPT = 20;

export interface Holder {
  instanceId: string;
  since: string;
  /** After this, the node is free again even if the holder never released it. */
  until: string;
  /** Slack channels of requests that joined this investigation: its report is posted there too. */
  channels: string[];
}

export interface PastInvestigation {
  instanceId: string;
  startedAt: string;
  finishedAt: string;
  /** How it ended: `completed`, or why the node was let go without a report (`abandoned: …`). */
  outcome: string;
}

export interface NodeRegistry {
  running?: Holder;
  /** Newest first, at most HISTORY_KEPT. */
  history: PastInvestigation[];
}

export interface AcquireInput {
  instanceId: string;
  at: string;
  until: string;
  /** The asker's Slack channel: when the node is taken, the holder's report is posted there too. */
  channel?: string;
}

export type AcquireResult = { granted: true } | { granted: false; holder: { instanceId: string; since: string } };

export interface ReleaseInput {
  instanceId: string;
  at: string;
  outcome: string;
}

export function registryId(key: string): df.EntityId {
  return new df.EntityId(REGISTRY_ENTITY, key);
}

export function emptyRegistry(): NodeRegistry {
  return { history: [] };
}

/** The node to `instanceId` if it is free (or its holder is past `until`); else who holds it, the asker subscribed. */
export function acquire(state: NodeRegistry, input: AcquireInput): { state: NodeRegistry; result: AcquireResult } {
  const { running } = state;
  if (running && running.instanceId === input.instanceId) return { state, result: { granted: true } };
  let history = state.history;
  if (running) {
    if (running.until > input.at) {
      const channels =
        input.channel && !running.channels.includes(input.channel) && running.channels.length < CHANNELS_KEPT
          ? [...running.channels, input.channel]
          : running.channels;
      return {
        state: { ...state, running: { ...running, channels } },
        result: { granted: false, holder: { instanceId: running.instanceId, since: running.since } },
      };
    }
    history = remember(history, running, input.at, `abandoned: still holding the node at ${running.until}`);
  }
  const holder: Holder = { instanceId: input.instanceId, since: input.at, until: input.until, channels: [] };
  return { state: { running: holder, history }, result: { granted: true } };
}

/** Lets the node go if `instanceId` holds it; answers the joiners' channels, to post the report to. */
export function release(state: NodeRegistry, input: ReleaseInput): { state: NodeRegistry; channels: string[] } {
  const { running } = state;
  if (!running || running.instanceId !== input.instanceId) return { state, channels: [] };
  return {
    state: { history: remember(state.history, running, input.at, input.outcome) },
    channels: running.channels,
  };
}

/** A joiner's channel, sent by a starter that joined `instanceId` without starting anything. */
export function subscribe(state: NodeRegistry, input: { instanceId: string; channel: string }): NodeRegistry {
  const { running } = state;
  if (!running || running.instanceId !== input.instanceId) return state;
  if (running.channels.includes(input.channel) || running.channels.length >= CHANNELS_KEPT) return state;
  return { ...state, running: { ...running, channels: [...running.channels, input.channel] } };
}

function remember(history: PastInvestigation[], run: Holder, at: string, outcome: string): PastInvestigation[] {
  return [{ instanceId: run.instanceId, startedAt: run.since, finishedAt: at, outcome }, ...history].slice(
    0,
    HISTORY_KEPT,
  );
}

/** The entity function: each operation is one of the pure functions above on the entity's state. */
export function nodeRegistryEntity(context: EntityContext<NodeRegistry>): void {
  const state = context.df.getState(emptyRegistry) ?? emptyRegistry();
  switch (context.df.operationName) {
    case 'acquire': {
      const done = acquire(state, context.df.getInput<AcquireInput>() as AcquireInput);
      context.df.setState(done.state);
      context.df.return(done.result);
      return;
    }
    case 'release': {
      const done = release(state, context.df.getInput<ReleaseInput>() as ReleaseInput);
      context.df.setState(done.state);
      context.df.return(done.channels);
      return;
    }
    case 'subscribe':
      context.df.setState(subscribe(state, context.df.getInput<{ instanceId: string; channel: string }>() as never));
      return;
    case 'forget': {
      // A starter found the holder finished (failed or terminated) without letting go: it is released now.
      const input = context.df.getInput<ReleaseInput>() as ReleaseInput;
      context.df.setState(release(state, input).state);
      return;
    }
    default:
      throw new Error(`nodeinvestigations has no operation ${JSON.stringify(context.df.operationName)}`);
  }
}
