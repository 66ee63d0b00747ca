import { describe, expect, test } from '@jest/globals';
import type { EntityId } from 'durable-functions';
import type { InvestigationRequest } from '../../lib/model.ts';
import { oneAtATime, startOnce, type WatchClient } from '../../lib/watch/startOnce.ts';
import { checkInvestigationId, nodeKey } from '../../lib/workflow/instanceId.ts';
import type { NodeRegistry } from '../../lib/workflow/nodeRegistry.ts';

const request: InvestigationRequest = {
  cluster: { subscriptionId: '00000000-0000-0000-0000-000000000000', resourceGroup: 'rg-prod', name: 'aks-1' },
  node: 'aks-nodepool1-1-vmss000001',
  captureSeconds: 30,
  requestedBy: { kind: 'watch' },
};
const KEY = nodeKey(request.cluster, request.node);
const HOLDER =
  'snat:00000000-0000-0000-0000-000000000000:rg-prod:aks-1:20260301t100000z-aaaaaa:aks-nodepool1-1-vmss000001';
const NOW = new Date('2026-03-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

interface Instance {
  runtimeStatus: string;
  input?: unknown;
  lastUpdatedTime?: Date;
}

/**
 * Behaves like the Durable client: getStatus of an unknown instance throws an HTTP 404 error, every call yields to
 * the event loop (as a network call would), startNew makes the instance Pending, the registry is what `registries`
 * holds, and signals are recorded.
 */
function fakeClient(instances: Record<string, Instance> = {}, registries: Record<string, NodeRegistry> = {}) {
  const started: string[] = [];
  const signals: { key: string; op: string | undefined; input: unknown }[] = [];
  const registryReads: string[] = [];
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const client: WatchClient & { started: string[]; signals: typeof signals; registryReads: string[] } = {
    started,
    signals,
    registryReads,
    async getStatus(id) {
      await tick();
      const instance = instances[id];
      if (!instance) throw new Error(`DurableClient error: HTTP 404 for ${id}`);
      return instance;
    },
    async startNew(_name, options) {
      await tick();
      started.push(options.instanceId);
      instances[options.instanceId] = { runtimeStatus: 'Pending', input: options.input, lastUpdatedTime: NOW };
      return options.instanceId;
    },
    async readEntityState<T>(entityId: EntityId) {
      await tick();
      registryReads.push(entityId.key);
      const state = registries[entityId.key];
      return state ? { entityExists: true, entityState: state as T } : { entityExists: false };
    },
    async signalEntity(entityId: EntityId, op?: string, input?: unknown) {
      signals.push({ key: entityId.key, op, input });
    },
  };
  return client;
}

const finished = (at: Date, outcome = 'completed'): NodeRegistry => ({
  history: [{ instanceId: HOLDER, startedAt: minutesAgo(60).toISOString(), finishedAt: at.toISOString(), outcome }],
});
const running: NodeRegistry = {
  running: { instanceId: HOLDER, since: minutesAgo(1).toISOString(), until: NOW.toISOString(), channels: [] },
  history: [],
};

describe('startOnce', () => {
  test('a node never investigated: a new investigation under an id of its own', async () => {
    const client = fakeClient();
    const result = await startOnce(client, request, { cooldown: { minutes: 30, now: NOW } });
    expect(result.outcome).toBe('started');
    expect(client.started).toEqual([result.instanceId]);
    expect(checkInvestigationId(result.instanceId)).toBe(result.instanceId);
  });

  test.each<[string, NodeRegistry, string]>([
    ['completed 10 minutes ago', finished(minutesAgo(10)), 'cooldown'],
    ['completed 29 minutes ago', finished(minutesAgo(29)), 'cooldown'],
    ['completed exactly 30 minutes ago', finished(minutesAgo(30)), 'started'],
    ['completed 40 minutes ago', finished(minutesAgo(40)), 'started'],
    // A broken run is not repeated every tick either.
    ['abandoned 10 minutes ago', finished(minutesAgo(10), 'abandoned: failed'), 'cooldown'],
  ])("30-minute cooldown, the node's last investigation %s: %s", async (_name, registry, outcome) => {
    const client = fakeClient({}, { [KEY]: registry });
    const result = await startOnce(client, request, { cooldown: { minutes: 30, now: NOW } });
    expect(result.outcome).toBe(outcome);
    expect(client.started).toHaveLength(outcome === 'started' ? 1 : 0);
    if (outcome === 'cooldown') {
      expect(result).toEqual({
        instanceId: HOLDER,
        outcome: 'cooldown',
        finishedAt: registry.history[0]?.finishedAt,
        until: new Date(new Date(registry.history[0]?.finishedAt ?? 0).getTime() + 30 * 60_000).toISOString(),
      });
    }
  });

  test('without a cooldown (an alert, Slack, HTTP) a node investigated a minute ago is investigated again', async () => {
    const client = fakeClient({}, { [KEY]: finished(minutesAgo(1)) });
    expect((await startOnce(client, request)).outcome).toBe('started');
  });

  test("the node's registry names a running investigation: joined, nothing started (another app instance's)", async () => {
    const client = fakeClient({ [HOLDER]: { runtimeStatus: 'Running' } }, { [KEY]: running });
    expect(await startOnce(client, request)).toEqual({ instanceId: HOLDER, outcome: 'joined' });
    expect(client.started).toEqual([]);
  });

  test("a Slack request joining it subscribes its channel, so the holder's report is posted there too", async () => {
    const client = fakeClient({ [HOLDER]: { runtimeStatus: 'Running' } }, { [KEY]: running });
    const slack: InvestigationRequest = { ...request, requestedBy: { kind: 'slack', who: 'U1', where: 'C2' } };
    expect((await startOnce(client, slack)).outcome).toBe('joined');
    expect(client.signals).toEqual([{ key: KEY, op: 'subscribe', input: { instanceId: HOLDER, channel: 'C2' } }]);
  });

  test('a holder that ended without letting the node go (terminated) is forgotten and a new one starts', async () => {
    const client = fakeClient({ [HOLDER]: { runtimeStatus: 'Terminated' } }, { [KEY]: running });
    expect((await startOnce(client, request)).outcome).toBe('started');
    expect(client.signals).toEqual([
      {
        key: KEY,
        op: 'forget',
        input: {
          instanceId: HOLDER,
          at: expect.any(String),
          outcome: 'abandoned: terminated without releasing the node',
        },
      },
    ]);
  });

  // Issue 14, item 2: 20 concurrent requests in one process started 20 investigations.
  test('20 concurrent starts for one node spelling start one instance; the others join it', async () => {
    const client = fakeClient();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        startOnce(client, { ...request, node: i % 2 ? request.node : '10.224.0.5' }),
      ),
    );
    // One per spelling here; the investigation by IP finds the node taken by the one by name once it has located it.
    expect(client.started).toHaveLength(2);
    expect(results.filter((r) => r.outcome === 'joined')).toHaveLength(18);
  });

  // Found by the attack run on `serve`: the memory of what this process started was kept per client object, and a
  // Durable client is made per request (df.getClient), so 20 concurrent requests by IP started 20 instances.
  test('a client made per request (as df.getClient makes one per invocation) still joins what this process started', async () => {
    const instances: Record<string, Instance> = {};
    const byIp = { ...request, node: '10.224.0.7' };
    const results = await Promise.all(Array.from({ length: 5 }, () => startOnce(fakeClient(instances), byIp)));
    expect(results.filter((r) => r.outcome === 'started')).toHaveLength(1);
    expect(new Set(results.map((r) => r.instanceId)).size).toBe(1);
  });

  test('a node asked for by IP is not looked up in a registry (registries are kept by node name)', async () => {
    const client = fakeClient();
    await startOnce(client, { ...request, node: '10.224.0.5' });
    await startOnce(client, { ...request, node: undefined });
    expect(client.registryReads).toEqual([]);
  });

  test("a Slack request from another channel than the running start's starts its own (it joins after locating)", async () => {
    const client = fakeClient();
    const from = (where: string): InvestigationRequest => ({
      ...request,
      node: '10.224.0.5',
      requestedBy: { kind: 'slack', who: 'U1', where },
    });
    const first = await startOnce(client, from('C1'));
    expect(await startOnce(client, from('C1'))).toEqual({ instanceId: first.instanceId, outcome: 'joined' });
    expect((await startOnce(client, from('C2'))).outcome).toBe('started');
  });

  test('a start or a registry read that fails is an error, not a join', async () => {
    const failing = fakeClient();
    failing.startNew = async () => {
      throw new Error('DurableClient error: HTTP 500');
    };
    await expect(startOnce(failing, request)).rejects.toThrow(/HTTP 500/);
    const unreadable = fakeClient();
    unreadable.readEntityState = async () => {
      throw new Error('DurableClient error: HTTP 503');
    };
    await expect(startOnce(unreadable, request)).rejects.toThrow(/HTTP 503/);
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

describe('oneAtATime and a start that never ends', () => {
  // Noted in issue 14's work: a startNew that never answered kept its node's key, so no later start of the node in
  // this process ever ran.
  test('a call that hangs holds the next one of its key for waitMs only', async () => {
    const hung = oneAtATime('hung-node', () => new Promise<never>(() => {}), 5);
    void hung;
    expect(await oneAtATime('hung-node', async () => 'ran', 5)).toBe('ran');
  });
});
