import { describe, expect, test } from '@jest/globals';
import type { InvestigationRequest } from '../../lib/model.ts';
import { oneAtATime, startOnce, type WatchClient } from '../../lib/watch/startOnce.ts';

const request: InvestigationRequest = {
  cluster: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'rg-prod', name: 'aks-1' },
  node: 'aks-nodepool1-1-vmss000001',
  captureSeconds: 30,
  requestedBy: { kind: 'watch' },
};
const ID = 'snat:rg-prod:aks-1:aks-nodepool1-1-vmss000001';
const NOW = new Date('2026-03-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

/**
 * Behaves like the Durable client: getStatus of an unknown instance throws an HTTP 404 error, every call yields to
 * the event loop (as a network call would), and startNew makes the instance Pending.
 */
function fakeClient(initial?: { runtimeStatus: string; lastUpdatedTime: Date }) {
  let instance = initial;
  const started: string[] = [];
  const client: WatchClient & { started: string[] } = {
    started,
    async getStatus(id) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!instance) throw new Error(`DurableClient error: HTTP 404 for ${id}`);
      return instance;
    },
    async startNew(_name, options) {
      await new Promise((resolve) => setImmediate(resolve));
      started.push(options.instanceId);
      instance = { runtimeStatus: 'Pending', lastUpdatedTime: NOW };
      return options.instanceId;
    },
  };
  return client;
}

describe('startOnce', () => {
  test.each<[string, string, { runtimeStatus: string; lastUpdatedTime: Date } | undefined]>([
    ['no investigation yet', 'started', undefined],
    ['one running', 'joined', { runtimeStatus: 'Running', lastUpdatedTime: minutesAgo(50) }],
    ['one completed 10 minutes ago', 'cooldown', { runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(10) }],
    ['one completed 29 minutes ago', 'cooldown', { runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(29) }],
    [
      'one completed exactly 30 minutes ago',
      'started',
      { runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(30) },
    ],
    ['one completed 40 minutes ago', 'started', { runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(40) }],
    // A broken run is not repeated every tick either.
    ['one failed 10 minutes ago', 'cooldown', { runtimeStatus: 'Failed', lastUpdatedTime: minutesAgo(10) }],
  ])('30-minute cooldown, %s: %s', async (_name, outcome, instance) => {
    const client = fakeClient(instance);
    const result = await startOnce(client, request, { minutes: 30, now: NOW });
    expect(result.outcome).toBe(outcome);
    expect(result.instanceId).toBe(ID);
    expect(client.started).toEqual(outcome === 'started' ? [ID] : []);
  });

  test('a cooldown says when it ends; the status as an ISO string (JSON) works too', async () => {
    const client = fakeClient({ runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(10) });
    const original = client.getStatus.bind(client);
    client.getStatus = async (id) => {
      const status = await original(id);
      return status && { ...status, lastUpdatedTime: (status.lastUpdatedTime as Date).toISOString() };
    };
    expect(await startOnce(client, request, { minutes: 30, now: NOW })).toEqual({
      instanceId: ID,
      outcome: 'cooldown',
      finishedAt: minutesAgo(10).toISOString(),
      until: new Date(NOW.getTime() + 20 * 60_000).toISOString(),
    });
  });

  test('without a cooldown (an alert, or 0 minutes) a finished investigation is started again', async () => {
    const finished = { runtimeStatus: 'Completed', lastUpdatedTime: minutesAgo(1) };
    expect((await startOnce(fakeClient(finished), request)).outcome).toBe('started');
    expect((await startOnce(fakeClient(finished), request, { minutes: 0, now: NOW })).outcome).toBe('started');
  });

  test('concurrent starts for one node (ticks, alerts) start one instance; the others join it', async () => {
    const client = fakeClient();
    const results = await Promise.all([
      startOnce(client, request, { minutes: 30, now: NOW }),
      startOnce(client, request),
      startOnce(client, { ...request, requestedBy: { kind: 'alert' } }),
    ]);
    expect(client.started).toEqual([ID]);
    expect(results.map((r) => r.outcome).sort()).toEqual(['joined', 'joined', 'started']);
  });

  test('another process started it first and the extension refused our startNew: joined, not an error', async () => {
    const client = fakeClient();
    client.startNew = async () => {
      // What host.json's overridableExistingInstanceStates: NonRunningStates does to a second start of a running id.
      client.getStatus = async () => ({ runtimeStatus: 'Running', lastUpdatedTime: NOW });
      throw new Error('An orchestration with instance id already exists and is running.');
    };
    expect(await startOnce(client, request)).toEqual({ instanceId: ID, outcome: 'joined' });
  });

  test('a start that fails for another reason is an error', async () => {
    const client = fakeClient();
    client.startNew = async () => {
      throw new Error('DurableClient error: HTTP 500');
    };
    await expect(startOnce(client, request)).rejects.toThrow(/HTTP 500/);
  });
});

describe('oneAtATime', () => {
  test('calls with one key run one after another, even when one fails; other keys do not wait', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = oneAtATime('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const second = oneAtATime('a', async () => {
      log.push('a2');
      return 2;
    });
    const other = oneAtATime('b', async () => {
      log.push('b');
      return 'b';
    });
    await other;
    expect(log).toEqual(['a1 start', 'b']);
    release();
    await expect(first).rejects.toThrow('a1 failed');
    expect(await second).toBe(2);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });
});
