import { describe, expect, test } from '@jest/globals';
import {
  acquire,
  CHANNELS_KEPT,
  emptyRegistry,
  HISTORY_KEPT,
  type NodeRegistry,
  release,
  subscribe,
} from '../../lib/workflow/nodeRegistry.ts';

const T0 = '2026-03-01T12:00:00.000Z';
const T1 = '2026-03-01T12:05:00.000Z';
const LATER = '2026-03-01T14:00:00.000Z';
const UNTIL = '2026-03-01T13:00:00.000Z';

function held(by = 'a'): NodeRegistry {
  return acquire(emptyRegistry(), { instanceId: by, at: T0, until: UNTIL, channel: 'C1' }).state;
}

describe('node registry', () => {
  test('a free node is granted; the holder is recorded with when it took it and its deadline', () => {
    const { state, result } = acquire(emptyRegistry(), { instanceId: 'a', at: T0, until: UNTIL });
    expect(result).toEqual({ granted: true });
    expect(state.running).toEqual({ instanceId: 'a', since: T0, until: UNTIL, channels: [] });
  });

  test("a taken node is refused with its holder, and the asker's channel is added to the holder's, once", () => {
    const first = acquire(held(), { instanceId: 'b', at: T1, until: UNTIL, channel: 'C2' });
    expect(first.result).toEqual({ granted: false, holder: { instanceId: 'a', since: T0 } });
    const again = acquire(first.state, { instanceId: 'c', at: T1, until: UNTIL, channel: 'C2' });
    expect(again.state.running?.channels).toEqual(['C2']);
  });

  test('the holder asking again (a replayed call) is granted; nothing changes', () => {
    const state = held();
    expect(acquire(state, { instanceId: 'a', at: T1, until: UNTIL })).toEqual({ state, result: { granted: true } });
  });

  test('a holder past its deadline loses the node to the next asker and is kept as abandoned', () => {
    const { state, result } = acquire(held(), { instanceId: 'b', at: LATER, until: '2026-03-01T15:00:00.000Z' });
    expect(result).toEqual({ granted: true });
    expect(state.running?.instanceId).toBe('b');
    expect(state.history).toEqual([
      { instanceId: 'a', startedAt: T0, finishedAt: LATER, outcome: `abandoned: still holding the node at ${UNTIL}` },
    ]);
  });

  test('release by the holder frees the node, keeps the run first in the history and answers the joiners', () => {
    const joined = acquire(held(), { instanceId: 'b', at: T1, until: UNTIL, channel: 'C2' }).state;
    const { state, channels } = release(joined, { instanceId: 'a', at: T1, outcome: 'completed' });
    expect(channels).toEqual(['C2']);
    expect(state).toEqual({
      history: [{ instanceId: 'a', startedAt: T0, finishedAt: T1, outcome: 'completed' }],
    });
    expect(acquire(state, { instanceId: 'b', at: T1, until: UNTIL }).result).toEqual({ granted: true });
  });

  test('release by anyone else changes nothing', () => {
    const state = held();
    expect(release(state, { instanceId: 'b', at: T1, outcome: 'completed' })).toEqual({ state, channels: [] });
  });

  test(`the history keeps the last ${HISTORY_KEPT} runs, newest first`, () => {
    let state = emptyRegistry();
    for (let i = 0; i < HISTORY_KEPT + 5; i++) {
      state = acquire(state, { instanceId: `run-${i}`, at: T0, until: UNTIL }).state;
      state = release(state, { instanceId: `run-${i}`, at: T1, outcome: 'completed' }).state;
    }
    expect(state.history).toHaveLength(HISTORY_KEPT);
    expect(state.history[0]?.instanceId).toBe(`run-${HISTORY_KEPT + 4}`);
    expect(state.history.at(-1)?.instanceId).toBe('run-5');
  });

  test(`subscribe adds a channel to the running holder only, at most ${CHANNELS_KEPT}`, () => {
    let state = held();
    expect(subscribe(state, { instanceId: 'other', channel: 'C9' })).toBe(state);
    for (let i = 0; i < CHANNELS_KEPT + 3; i++) state = subscribe(state, { instanceId: 'a', channel: `C${i}` });
    expect(state.running?.channels).toHaveLength(CHANNELS_KEPT);
    expect(subscribe(emptyRegistry(), { instanceId: 'a', channel: 'C1' })).toEqual(emptyRegistry());
  });
});
