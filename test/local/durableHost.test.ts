// The in-memory host against durable-functions' real replay engine, with small orchestrations registered through
// the real `df.app` path.
import { beforeAll, describe, expect, test } from '@jest/globals';
import * as df from 'durable-functions';
import { InMemoryDurableHost, type InstanceStatus, VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';

const T0 = new Date('2026-03-01T10:00:00.000Z');
let flakyFailures = 0;

beforeAll(() => {
  df.app.activity('hello', { handler: async (name: string) => `Hello ${name}` });
  df.app.activity('flaky', {
    handler: async (name: string) => {
      if (flakyFailures > 0) {
        flakyFailures--;
        throw new Error(`flaky ${name}`);
      }
      return `ok ${name}`;
    },
  });
  df.app.orchestration('fanOutWithRetry', function* (context) {
    context.df.setCustomStatus({ stage: 'fan-out' });
    const retry = new df.RetryOptions(1000, 3);
    const results: string[] = yield context.df.Task.all(
      ['a', 'b', 'c'].map((x) => context.df.callActivityWithRetry(x === 'b' ? 'flaky' : 'hello', retry, x)),
    );
    context.df.setCustomStatus({ stage: 'done' });
    return results;
  });
  df.app.orchestration('timerThenEvent', function* (context) {
    const start = context.df.currentUtcDateTime.getTime();
    yield context.df.createTimer(new Date(start + 60_000));
    const afterTimer = context.df.currentUtcDateTime.getTime() - start;
    const approval: { ok: boolean } = yield context.df.waitForExternalEvent('approval');
    return { afterTimer, approval };
  });
  df.app.orchestration('raceTimeout', function* (context) {
    const timeout = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3_600_000));
    const work = context.df.callActivity('hello', 'race');
    const winner = yield context.df.Task.any([work, timeout]);
    if (winner === work) timeout.cancel();
    return winner === work ? work.result : 'timed out';
  });
  df.app.orchestration('uncaughtFailure', function* (context) {
    yield context.df.callActivityWithRetry('flaky', new df.RetryOptions(500, 2), 'x');
  });
});

function host() {
  return new InMemoryDurableHost(registrations, { clock: new VirtualClock(T0) });
}

function eventTypes(status: InstanceStatus): string {
  const names: Record<number, string> = {
    4: 'Scheduled',
    5: 'Completed',
    6: 'Failed',
    10: 'TimerCreated',
    11: 'TimerFired',
    15: 'EventRaised',
  };
  return status.history
    .map((e) => names[e.EventType])
    .filter(Boolean)
    .join(' ');
}

describe('InMemoryDurableHost', () => {
  test('fans out, retries a failing activity after a back-off timer, and completes', async () => {
    flakyFailures = 1;
    const h = host();
    const id = await h.startNew('fanOutWithRetry', { instanceId: 'fan' });
    const status = await h.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual(['Hello a', 'ok b', 'Hello c']);
    expect(status.customStatus).toEqual({ stage: 'done' });
    // b (id 1) failed, a back-off timer (id 3) fired, and its re-run (id 4) completed.
    const failed = status.history.find((e) => e.EventType === 6);
    expect(failed?.TaskScheduledId).toBe(1);
    const timer = status.history.find((e) => e.EventType === 10);
    expect(timer?.EventId).toBe(3);
    expect(new Date(timer?.FireAt as string).getTime() - new Date(failed?.Timestamp as string).getTime()).toBe(1000);
    expect(status.history.filter((e) => e.EventType === 4).map((e) => e.EventId)).toEqual([0, 1, 2, 4]);
  });

  test('a retried activity that keeps failing fails the orchestration with its message', async () => {
    flakyFailures = 10;
    const h = host();
    const status = await h.waitForCompletion(await h.startNew('uncaughtFailure'));
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(/flaky x/);
    expect(eventTypes(status)).toBe(
      'Scheduled Failed TimerCreated TimerFired Scheduled Failed TimerCreated TimerFired',
    );
    flakyFailures = 0;
  });

  test('timers advance the orchestration clock, and external events resume it', async () => {
    const h = host();
    const id = await h.startNew('timerThenEvent');
    // Raised before the orchestration waits for it: the host buffers it until then.
    await h.raiseEvent(id, 'approval', { ok: true });
    const status = await h.waitForCompletion(id);
    expect(status.output).toEqual({ afterTimer: 60_000, approval: { ok: true } });
    expect(eventTypes(status)).toBe('TimerCreated TimerFired EventRaised');
  });

  test('Task.any: the activity beats a one-hour timeout, which is cancelled', async () => {
    const h = host();
    const status = await h.waitForCompletion(await h.startNew('raceTimeout'));
    expect(status.output).toBe('Hello race');
    expect(status.history.some((e) => e.EventType === 11)).toBe(false);
  });

  test('an unknown orchestrator name is refused at start', async () => {
    await expect(host().startNew('nope')).rejects.toThrow(/No orchestrationTrigger function named 'nope'/);
  });
});
