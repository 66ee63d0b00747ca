// Durable entities in the in-memory host: entities, orchestrations and client calls registered through the real
// `df.app` path and run by durable-functions' own Entity and replay engine.
import { beforeAll, describe, expect, test } from '@jest/globals';
import * as df from 'durable-functions';
import { InMemoryDurableHost, type InstanceStatus, VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { LocalDurableClient } from '../../lib/local/localClient.ts';

const T0 = new Date('2026-03-01T10:00:00.000Z');

// What the slow counter saw: how many of its operations ran at once, and in which order they ran.
let active = 0;
let maxActive = 0;
let order: string[] = [];
// Read by `replaysDifferently` on every replay: changing it between episodes makes the orchestrator non-deterministic.
let operationOnReplay = 'add';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(() => {
  // Registered with capitals: entity names are case-insensitive in Durable.
  df.app.entity<number>('Counter', (context) => {
    const value = context.df.getState(() => 0) ?? 0;
    switch (context.df.operationName) {
      case 'add': {
        const next = value + (context.df.getInput<number>() ?? 0);
        context.df.setState(next);
        context.df.return(next);
        return;
      }
      case 'get':
        context.df.return(value);
        return;
      case 'fail':
        throw new Error('the counter refuses');
      default:
        throw new Error(`unknown operation ${context.df.operationName}`);
    }
  });
  // A read-modify-write across an await: interleaved operations would overlap and lose increments.
  df.app.entity<number>('slowCounter', async (context) => {
    active++;
    maxActive = Math.max(maxActive, active);
    const value = context.df.getState(() => 0) ?? 0;
    await delay(1);
    context.df.setState(value + 1);
    order.push(context.df.getInput<string>() ?? '?');
    active--;
  });
  // Forwards its input to a counter: a signal sent by an entity.
  df.app.entity('relay', (context) => {
    const { key, amount } = context.df.getInput<{ key: string; amount: number }>() ?? { key: '', amount: 0 };
    context.df.signalEntity(new df.EntityId('counter', key), 'add', amount);
  });
  df.app.activity('describe', { handler: async (text: string) => `described ${text}` });

  df.app.orchestration('callCounter', function* (context) {
    const { key, amount } = context.df.getInput<{ key: string; amount: number }>();
    return yield context.df.callEntity(new df.EntityId('Counter', key), 'add', amount);
  });
  df.app.orchestration('entityActivityEntity', function* (context) {
    const counter = new df.EntityId('Counter', context.df.getInput<string>());
    const first: number = yield context.df.callEntity(counter, 'add', 2);
    const described: string = yield context.df.callActivity('describe', `count ${first}`);
    const last: number = yield context.df.callEntity(counter, 'add', 3);
    return { first, described, last };
  });
  df.app.orchestration('catchEntityFailure', function* (context) {
    const counter = new df.EntityId('Counter', context.df.getInput<string>());
    let caught: { isError: boolean; message: string } | undefined;
    try {
      yield context.df.callEntity(counter, 'fail');
    } catch (error) {
      caught = { isError: error instanceof Error, message: (error as Error).message };
    }
    const after: number = yield context.df.callEntity(counter, 'get');
    return { caught, after };
  });
  df.app.orchestration('incrementThrice', function* (context) {
    const { key, who } = context.df.getInput<{ key: string; who: string }>();
    for (let i = 0; i < 3; i++)
      yield context.df.callEntity(new df.EntityId('slowCounter', key), 'increment', `${who}-${i}`);
  });
  df.app.orchestration('signalAndRelay', function* (context) {
    const { key, relayedKey } = context.df.getInput<{ key: string; relayedKey: string }>();
    context.df.signalEntity(new df.EntityId('Counter', key), 'add', 5);
    context.df.signalEntity(new df.EntityId('relay', key), 'forward', { key: relayedKey, amount: 7 });
    return yield context.df.callActivity('describe', 'after the signals');
  });
  df.app.orchestration('replaysDifferently', function* (context) {
    const counter = new df.EntityId('Counter', context.df.getInput<string>());
    yield context.df.callEntity(counter, operationOnReplay, 1);
    operationOnReplay = 'get';
    yield context.df.callActivity('describe', 'between');
  });
});

function host() {
  return new InMemoryDurableHost(registrations, { clock: new VirtualClock(T0) });
}

/** The history in short: event type, then the id that ties it to its task (`EventRaised` by request id). */
function timeline(status: InstanceStatus): string[] {
  const names: Record<number, string> = {
    0: 'ExecutionStarted',
    4: 'TaskScheduled',
    5: 'TaskCompleted',
    12: 'OrchestratorStarted',
    13: 'OrchestratorCompleted',
    14: 'EventSent',
    15: 'EventRaised',
  };
  const requestIds = status.history
    .filter((e) => e.EventType === 14)
    .map((e) => (JSON.parse(e.Input as string) as { id: string }).id);
  return status.history.map((e) => {
    const name = names[e.EventType] ?? `type ${e.EventType}`;
    if (e.EventType === 14 || e.EventType === 4) return `${name} ${e.EventId}`;
    if (e.EventType === 5) return `${name} ${e.TaskScheduledId}`;
    if (e.EventType === 15) return `${name} request#${requestIds.indexOf(e.Name as string)}`;
    return name;
  });
}

function sentRequests(status: InstanceStatus) {
  return status.history
    .filter((e) => e.EventType === 14)
    .map((e) => ({
      eventId: e.EventId,
      instanceId: e.InstanceId,
      name: e.Name,
      message: JSON.parse(e.Input as string) as Record<string, unknown>,
    }));
}

describe('InMemoryDurableHost: Durable entities', () => {
  test('an orchestration calling an entity gets the operation’s return value', async () => {
    const h = host();
    const status = await h.waitForCompletion(await h.startNew('callCounter', { input: { key: 'ret', amount: 4 } }));
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe(4);
  });

  test('state persists across calls and readEntityState reads it; an entity never touched does not exist', async () => {
    const h = host();
    const client = new LocalDurableClient(h);
    for (const amount of [4, 6]) {
      const status = await h.waitForCompletion(await h.startNew('callCounter', { input: { key: 'node-A', amount } }));
      expect(status.output).toBe(amount === 4 ? 4 : 10);
    }
    expect(await client.readEntityState<number>(new df.EntityId('Counter', 'node-A'))).toEqual({
      entityExists: true,
      entityState: 10,
    });
    // The name is case-insensitive, the key is not.
    expect(await h.readEntityState({ name: 'COUNTER', key: 'node-A' })).toEqual({
      entityExists: true,
      entityState: 10,
    });
    expect(await client.readEntityState(new df.EntityId('counter', 'NODE-A'))).toEqual({ entityExists: false });
    expect(await client.readEntityState(new df.EntityId('Counter', 'never-touched'))).toEqual({ entityExists: false });
  });

  test('operations on one entity from several orchestrations and client signals run one at a time, in arrival order', async () => {
    active = 0;
    maxActive = 0;
    order = [];
    const h = host();
    const client = new LocalDurableClient(h);
    const lock = new df.EntityId('slowCounter', 'node-B');
    const ids = await Promise.all(
      ['o1', 'o2', 'o3', 'o4'].map((who) => h.startNew('incrementThrice', { input: { key: 'node-B', who } })),
    );
    for (let i = 0; i < 6; i++) {
      await client.signalEntity(lock, 'increment', `client-${i}`);
      await delay(1);
    }
    const statuses = await Promise.all(ids.map((id) => h.waitForCompletion(id)));
    await h.entityIdle(lock);

    expect(statuses.map((s) => s.runtimeStatus)).toEqual(['Completed', 'Completed', 'Completed', 'Completed']);
    expect(maxActive).toBe(1);
    expect(await client.readEntityState<number>(lock)).toEqual({ entityExists: true, entityState: 18 });
    for (const who of ['client', 'o1', 'o2', 'o3', 'o4']) {
      const count = who === 'client' ? 6 : 3;
      expect(order.filter((o) => o.startsWith(`${who}-`))).toEqual(
        Array.from({ length: count }, (_, i) => `${who}-${i}`),
      );
    }
    // Arrivals did interleave (the orchestrations did not simply run after the signals, or before them).
    expect(order.indexOf('client-5')).toBeGreaterThan(order.indexOf('o1-0'));
  });

  test('an entity operation that throws is a catchable Error in the orchestrator, and the entity carries on', async () => {
    const h = host();
    await h.waitForCompletion(await h.startNew('callCounter', { input: { key: 'node-C', amount: 1 } }));
    const status = await h.waitForCompletion(await h.startNew('catchEntityFailure', { input: 'node-C' }));
    expect(status.runtimeStatus).toBe('Completed');
    // durable-functions 3.5.0 sends `JSON.stringify(error)` for a thrown Error, i.e. "{}": its message does not
    // survive, and the orchestrator's Error says "[object Object]" (Entity.js, TaskOrchestrationExecutor.setTaskValue).
    expect(status.output).toEqual({ caught: { isError: true, message: '[object Object]' }, after: 1 });
    const failure = status.history.find((e) => e.EventType === 15);
    expect(JSON.parse(failure?.Input as string)).toEqual({ result: '{}', exceptionType: 'Error' });
  });

  test('entity call, activity, entity call: replays deterministically, with EventSent and EventRaised where the extension writes them', async () => {
    const h = host();
    const id = await h.startNew('entityActivityEntity', { input: 'node-D' });
    const status = await h.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ first: 2, described: 'described count 2', last: 5 });
    // Each entity call takes a task id (0 and 2): the EventSent of the episode that scheduled it carries it, and the
    // answer comes in a later episode as EventRaised named by the request id.
    expect(timeline(status)).toEqual([
      'OrchestratorStarted',
      'ExecutionStarted',
      'EventSent 0',
      'OrchestratorCompleted',
      'OrchestratorStarted',
      'EventRaised request#0',
      'TaskScheduled 1',
      'OrchestratorCompleted',
      'OrchestratorStarted',
      'TaskCompleted 1',
      'EventSent 2',
      'OrchestratorCompleted',
      'OrchestratorStarted',
      'EventRaised request#1',
      'OrchestratorCompleted',
    ]);
    const [first] = sentRequests(status);
    expect(first).toMatchObject({ eventId: 0, instanceId: '@counter@node-D', name: 'op' });
    expect(first?.message).toMatchObject({ op: 'add', input: '2', parent: id });
    expect(first?.message.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(first?.message).not.toHaveProperty('signal');
  });

  test('the non-determinism check covers entity calls', async () => {
    operationOnReplay = 'add';
    const h = host();
    const status = await h.waitForCompletion(await h.startNew('replaysDifferently', { input: 'node-E' }));
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(
      /Non-deterministic orchestration: on replay, action #0 was callEntity\(@counter@node-E, get, 1\) but history has callEntity\(@counter@node-E, add, 1\)/,
    );
  });

  test('signals from an orchestrator and from an entity arrive; an orchestrator’s signal takes a task id', async () => {
    const h = host();
    const client = new LocalDurableClient(h);
    const status = await h.waitForCompletion(
      await h.startNew('signalAndRelay', { input: { key: 'node-F', relayedKey: 'node-G' } }),
    );
    expect(status.output).toBe('described after the signals');
    await h.entityIdle({ name: 'Counter', key: 'node-F' });
    await h.entityIdle({ name: 'relay', key: 'node-F' });
    await h.entityIdle({ name: 'Counter', key: 'node-G' });
    expect(await client.readEntityState(new df.EntityId('Counter', 'node-F'))).toEqual({
      entityExists: true,
      entityState: 5,
    });
    expect(await client.readEntityState(new df.EntityId('Counter', 'node-G'))).toEqual({
      entityExists: true,
      entityState: 7,
    });
    // The relay itself never set state.
    expect(await client.readEntityState(new df.EntityId('relay', 'node-F'))).toEqual({ entityExists: false });
    const sent = sentRequests(status);
    expect(sent.map((s) => [s.eventId, s.instanceId, s.message.op, s.message.signal])).toEqual([
      [0, '@counter@node-F', 'add', true],
      [1, '@relay@node-F', 'forward', true],
    ]);
    expect(status.history.find((e) => e.EventType === 4)?.EventId).toBe(2);
    expect(status.history.some((e) => e.EventType === 15)).toBe(false);
  });

  test('a client signal to an entity that is not registered is refused', async () => {
    await expect(host().signalEntity({ name: 'nope', key: 'x' }, 'add')).rejects.toThrow(
      /No entityTrigger function named 'nope'/,
    );
  });
});
