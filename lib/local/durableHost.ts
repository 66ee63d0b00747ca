// An in-memory Durable Functions host. It plays the Durable extension's side of the out-of-process protocol
// (history in, actions out) around the app's *real* registered handlers, so orchestrations run through
// durable-functions' own replay engine (`TaskOrchestrationExecutor`) with no Functions host and no storage.
//
// The one subtle rule (see shared/research/durable-functions-offline.md §0.3): task ids are the executor's
// sequence numbers, so the host delivers exactly one completion per episode and allocates ids in the order the
// executor does: a retry timer after every failure of a retried activity, then the re-run after that timer,
// then ids for newly yielded actions in flattened order. Every action takes one but `WaitForExternalEvent`:
// `callEntity` when it is yielded (`trackOpenTask`), fire-and-forget `signalEntity` when it is called
// (`recordFireAndForgetAction`), both in the order they reach `actions`.
//
// Durable entities speak the extension's out-of-process protocol (Azure/azure-functions-durable-extension, read in
// src/WebJobs.Extensions.DurableTask; `lock` is not supported):
// - An orchestrator's `callEntity`/`signalEntity` is written as `EventSent` {EventId: its task id, InstanceId:
//   `@name@key`, Name: "op", Input: a RequestMessage `{op, signal?, input?, id, parent, ...}` with a fresh `id`}, as
//   ContextImplementations/DurableOrchestrationContext.cs `CallDurableTaskFunctionAsync` sends it and DTFx's
//   `TaskOrchestrationDispatcher.ProcessSendEventDecision` (Azure/durabletask) records it. The executor re-keys the
//   open task by that `id` (TaskOrchestrationExecutor.js `processEvent`, EventSent).
// - A call's answer comes in a later episode as `EventRaised` {Name: the request `id`, Input: a ResponseMessage
//   `{result, exceptionType?}`}; `setTaskValue` turns it into the result, or into a thrown Error.
// - An entity keeps its state here and runs its queued operations one batch at a time, in arrival order, through the
//   registered handler: `{self, exists, state, batch: [{name, input, isSignal, id}]}` in (Bindings/
//   EntityTriggerAttributeBindingProvider.cs `EntityContextToString`), `{entityExists, entityState, results:
//   [{isError, result}], signals: [{target, name, input}]}` out (Listener/TaskEntityShim.cs `ExecuteOutOfProcBatch`,
//   which answers a failed operation with `exceptionType: "Error"` and sends the signals after the batch).
import { EventEmitter } from 'node:events';
import azureFunctions from '@azure/functions';
import type { RegisteredFunction } from './functionsCore.cjs';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { InvocationContext } = azureFunctions;

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed';

export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: Date;
  lastUpdatedTime: Date;
  /** The history the orchestrator was replayed from, as the extension would send it. */
  history: HistoryEvent[];
}

export interface Clock {
  now(): Date;
  /** Resolves when `at` is reached. A virtual clock jumps there at once. */
  sleepUntil(at: Date): Promise<void>;
  readonly virtual: boolean;
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  #now: number;
  constructor(start: Date = new Date('2026-01-01T00:00:00.000Z')) {
    this.#now = start.getTime();
  }
  now(): Date {
    return new Date(this.#now);
  }
  async sleepUntil(at: Date): Promise<void> {
    this.#now = Math.max(this.#now, at.getTime());
  }
}

export class RealClock implements Clock {
  readonly virtual = false;
  now(): Date {
    return new Date();
  }
  sleepUntil(at: Date): Promise<void> {
    const ms = at.getTime() - Date.now();
    return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
  }
}

export interface DurableHostOptions {
  clock?: Clock;
  /** Safety valve against an orchestration that never finishes. */
  maxEpisodes?: number;
  log?: (level: string, message: string) => void;
}

// History events as the Durable extension serialises them (DTFx, PascalCase).
export type HistoryEvent = { EventType: number; EventId: number; IsPlayed: boolean; Timestamp: string } & Record<
  string,
  unknown
>;

const EventType = {
  ExecutionStarted: 0,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
} as const;

const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
} as const;

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptions;
  fireAt?: string | Date;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: Action[];
  /** Entity actions: the target's scheduler id (`@name@key`, name lower-cased) and the operation. */
  instanceId?: string;
  operation?: string;
}

interface RetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
}

interface OrchestratorState {
  isDone: boolean;
  actions: Action[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

type Settlement = { ok: true; result: unknown } | { ok: false; reason: string; details: string };

interface ActivityRun {
  kind: 'activity';
  id: number;
  name: string;
  input: unknown;
  settled?: Settlement;
  done: Promise<void>;
  retry?: { options: RetryOptions; attempt: number };
}

interface TimerRun {
  kind: 'timer';
  id: number;
  fireAt: Date;
  /** A retry back-off timer belongs to the activity it will re-run. */
  retryOf?: ActivityRun;
  canceled?: boolean;
}

/** An orchestrator's `callEntity`, waiting for the entity's ResponseMessage (JSON). */
interface EntityCallRun {
  kind: 'entityCall';
  id: number;
  requestId: string;
  response?: string;
  done: Promise<void>;
}

/** What durable-functions identifies an entity by (`df.EntityId`); the name is case-insensitive, the key is not. */
export interface EntityIdLike {
  name: string;
  key: string;
}

/** An operation request, as the extension's RequestMessage carries it to the entity. */
interface EntityRequest {
  id: string;
  op: string;
  /** JSON text, or null for none. */
  input: string | null;
  signal: boolean;
  /** A call's caller gets the ResponseMessage (JSON) here. */
  reply?: (response: string) => void;
}

interface EntityRecord {
  name: string;
  key: string;
  exists: boolean;
  /** JSON text, as the entity function returns it. */
  state: string | null;
  queue: EntityRequest[];
  /** Set while batches run: one at a time, which is what makes an entity a lock. */
  running?: Promise<void>;
}

/** What the entity function returns (durable-functions' EntityState, the extension's OutOfProcResult). */
interface EntityBatchResult {
  entityExists: boolean;
  entityState?: string | null;
  results: { isError: boolean; result?: string | null }[];
  signals?: { target: EntityIdLike; name: string; input?: string | null }[];
}

interface Instance {
  name: string;
  instanceId: string;
  executionId: string;
  input: unknown;
  history: HistoryEvent[];
  runtimeStatus: RuntimeStatus;
  output: unknown;
  customStatus: unknown;
  createdTime: Date;
  lastUpdatedTime: Date;
  /** The actions scheduled so far, in flattened order: every replay must yield this prefix again. */
  scheduled: string[];
  /** The task id given to each scheduled action (timers need theirs to be cancelled). */
  scheduledIds: (number | undefined)[];
  nextId: number;
  activities: Map<number, ActivityRun>;
  timers: Map<number, TimerRun>;
  entityCalls: Map<number, EntityCallRun>;
  waitingFor: Set<string>;
  buffered: { name: string; data: unknown }[];
  wake?: () => void;
  episodes: number;
  completion: Promise<void>;
  resolveCompletion: () => void;
}

/** Raised when a status changes; the CLI shows progress from it. */
export interface StatusEvent {
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  customStatus: unknown;
}

export class InMemoryDurableHost {
  readonly events = new EventEmitter<{ status: [StatusEvent] }>();
  readonly #registrations: Map<string, RegisteredFunction>;
  readonly #instances = new Map<string, Instance>();
  /** By scheduler id, `@name@key`. */
  readonly #entities = new Map<string, EntityRecord>();
  readonly #clock: Clock;
  readonly #maxEpisodes: number;
  readonly #log: (level: string, message: string) => void;

  constructor(registrations: Map<string, RegisteredFunction>, options: DurableHostOptions = {}) {
    this.#registrations = registrations;
    this.#clock = options.clock ?? new VirtualClock();
    this.#maxEpisodes = options.maxEpisodes ?? 10_000;
    this.#log = options.log ?? (() => {});
  }

  /** Starts an orchestration. Like the real client, an existing instance with the same id is replaced. */
  async startNew(name: string, options: { instanceId?: string; input?: unknown } = {}): Promise<string> {
    this.#registration(name, 'orchestrationTrigger');
    const instanceId = options.instanceId ?? crypto.randomUUID().replaceAll('-', '');
    const now = this.#clock.now();
    let resolveCompletion!: () => void;
    const completion = new Promise<void>((resolve) => {
      resolveCompletion = resolve;
    });
    const input = options.input === undefined ? undefined : JSON.parse(JSON.stringify(options.input));
    const executionId = crypto.randomUUID().replaceAll('-', '');
    const instance: Instance = {
      name,
      instanceId,
      executionId,
      input,
      history: [
        event(EventType.OrchestratorStarted, now),
        event(EventType.ExecutionStarted, now, {
          Name: name,
          Version: '',
          Input: input === undefined ? null : JSON.stringify(input),
          OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
          ParentInstance: null,
          Tags: null,
        }),
      ],
      runtimeStatus: 'Pending',
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      scheduled: [],
      scheduledIds: [],
      nextId: 0,
      activities: new Map(),
      timers: new Map(),
      entityCalls: new Map(),
      waitingFor: new Set(),
      buffered: [],
      episodes: 0,
      completion,
      resolveCompletion,
    };
    this.#instances.set(instanceId, instance);
    this.#emit(instance);
    // Run on the next turn, as the real host would after startNew returns.
    setImmediate(() => {
      this.#drive(instance).catch((error: unknown) => this.#fail(instance, `host error: ${messageOf(error)}`));
    });
    return instanceId;
  }

  async getStatus(instanceId: string): Promise<InstanceStatus | undefined> {
    const instance = this.#instances.get(instanceId);
    return instance && snapshot(instance);
  }

  async listInstances(): Promise<InstanceStatus[]> {
    return [...this.#instances.values()].map(snapshot);
  }

  async waitForCompletion(instanceId: string): Promise<InstanceStatus> {
    const instance = this.#instances.get(instanceId);
    if (!instance) throw new Error(`No orchestration instance '${instanceId}'.`);
    await instance.completion;
    return snapshot(instance);
  }

  async raiseEvent(instanceId: string, name: string, data: unknown): Promise<void> {
    const instance = this.#instances.get(instanceId);
    if (!instance) throw new Error(`No orchestration instance '${instanceId}'.`);
    instance.buffered.push({ name, data: data === undefined ? undefined : JSON.parse(JSON.stringify(data)) });
    instance.wake?.();
  }

  /** Like the real client's: the entity's state as last saved (queued operations are not waited for). */
  async readEntityState<T>(entityId: EntityIdLike): Promise<{ entityExists: boolean; entityState?: T }> {
    const entity = this.#entities.get(schedulerId(entityId));
    if (!entity?.exists) return { entityExists: false };
    return { entityExists: true, entityState: entity.state === null ? undefined : (JSON.parse(entity.state) as T) };
  }

  /** Queues a one-way operation; resolves once it is queued, as the real client's does on the extension's 202. */
  async signalEntity(entityId: EntityIdLike, operationName: string, input?: unknown): Promise<void> {
    this.#enqueue(entityId, { id: crypto.randomUUID(), op: operationName, input: encode(input), signal: true });
  }

  /** Resolves when the entity has no operation queued or running (for tests: signals are fire-and-forget). */
  async entityIdle(entityId: EntityIdLike): Promise<void> {
    const entity = this.#entities.get(schedulerId(entityId));
    while (entity?.running) await entity.running;
  }

  #registration(name: string, triggerType: string): RegisteredFunction {
    const registration = this.#registrations.get(name);
    const types = registration ? Object.values(registration.metadata.bindings).map((b) => b.type) : [];
    if (!registration || !types.includes(triggerType)) {
      throw new Error(`No ${triggerType} function named '${name}' is registered.`);
    }
    return registration;
  }

  /** Entity names are case-insensitive in Durable: the extension lower-cases them in every EntityId. */
  #entityRegistration(name: string): RegisteredFunction {
    for (const registration of this.#registrations.values()) {
      const types = Object.values(registration.metadata.bindings).map((b) => b.type);
      if (registration.metadata.name.toLowerCase() === name.toLowerCase() && types.includes('entityTrigger')) {
        return registration;
      }
    }
    throw new Error(`No entityTrigger function named '${name}' is registered.`);
  }

  async #drive(instance: Instance): Promise<void> {
    instance.runtimeStatus = 'Running';
    for (;;) {
      if (++instance.episodes > this.#maxEpisodes) {
        return this.#fail(instance, `orchestration did not finish within ${this.#maxEpisodes} episodes`);
      }
      const state = await this.#replay(instance);
      if (state.kind === 'failed') return this.#fail(instance, state.message);
      instance.customStatus = state.state.customStatus ?? null;
      instance.lastUpdatedTime = this.#clock.now();

      const actions = flatten(state.state.actions);
      const signatures = actions.map(signature);
      const replayed = signatures.slice(0, instance.scheduled.length);
      const divergence = replayed.findIndex((s, i) => s !== instance.scheduled[i]);
      if (divergence >= 0 || replayed.length < instance.scheduled.length) {
        const at = divergence >= 0 ? divergence : replayed.length;
        return this.#fail(
          instance,
          `Non-deterministic orchestration: on replay, action #${at} was ${replayed[at] ?? 'missing'} ` +
            `but history has ${instance.scheduled[at]}. Orchestrator code must not depend on time, randomness or I/O.`,
        );
      }
      if (state.state.isDone) {
        instance.history.push(event(EventType.OrchestratorCompleted, this.#clock.now()));
        instance.output = state.state.output ?? null;
        instance.runtimeStatus = 'Completed';
        this.#emit(instance);
        instance.resolveCompletion();
        return;
      }
      this.#emit(instance);
      actions.forEach((action, i) => {
        const timer = instance.timers.get(instance.scheduledIds[i] ?? -1);
        if (timer && action.isCanceled) timer.canceled = true;
      });
      for (const action of actions.slice(instance.scheduled.length)) {
        instance.scheduledIds.push(this.#schedule(instance, action));
      }
      instance.scheduled = signatures;
      instance.history.push(event(EventType.OrchestratorCompleted, this.#clock.now()));

      const delivered = await this.#nextDelivery(instance);
      if (!delivered)
        return this.#fail(instance, 'orchestration is waiting on nothing: no task, timer or event pending');
    }
  }

  async #replay(
    instance: Instance,
  ): Promise<{ kind: 'ok'; state: OrchestratorState } | { kind: 'failed'; message: string }> {
    const registration = this.#registration(instance.name, 'orchestrationTrigger');
    for (const e of instance.history) e.IsPlayed = true;
    const trigger = JSON.parse(
      JSON.stringify({
        history: instance.history,
        input: instance.input,
        instanceId: instance.instanceId,
        isReplaying: instance.episodes > 1,
        parentInstanceId: null,
        upperSchemaVersion: 1,
        upperSchemaVersionNew: 3,
        longRunningTimerIntervalDuration: '3.00:00:00',
        maximumShortTimerDuration: '6.00:00:00',
        defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      }),
    );
    // The last OrchestratorStarted and what follows it are new to this episode.
    const lastStart = instance.history.findLastIndex((e) => e.EventType === EventType.OrchestratorStarted);
    for (let i = lastStart; i < trigger.history.length; i++) trigger.history[i].IsPlayed = false;
    const context = new InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: instance.name,
      logHandler: (level, ...args) => this.#log(level, args.map(String).join(' ')),
    });
    try {
      const state = (await registration.handler(trigger, context)) as OrchestratorState;
      return { kind: 'ok', state };
    } catch (error) {
      return { kind: 'failed', message: orchestrationFailureMessage(error) };
    }
  }

  #schedule(instance: Instance, action: Action): number | undefined {
    const now = this.#clock.now();
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = instance.nextId++;
        const name = action.functionName ?? '';
        const input = decodeInput(action.input);
        instance.history.push(
          event(EventType.TaskScheduled, now, { EventId: id, Name: name, Version: '', Input: encode(input) }),
        );
        const run = this.#startActivity(instance, id, name, input);
        if (action.actionType === ActionType.CallActivityWithRetry && action.retryOptions) {
          run.retry = { options: action.retryOptions, attempt: 1 };
        }
        return id;
      }
      case ActionType.CreateTimer: {
        const id = instance.nextId++;
        const fireAt = new Date(action.fireAt ?? now);
        instance.history.push(event(EventType.TimerCreated, now, { EventId: id, FireAt: fireAt.toISOString() }));
        instance.timers.set(id, { kind: 'timer', id, fireAt, canceled: action.isCanceled === true });
        return id;
      }
      case ActionType.WaitForExternalEvent:
        instance.waitingFor.add(action.externalEventName ?? '');
        return undefined;
      case ActionType.CallEntity:
      case ActionType.SignalEntity: {
        const target = entityIdOf(action.instanceId ?? '');
        this.#entityRegistration(target.name);
        const id = instance.nextId++;
        const signal = action.actionType === ActionType.SignalEntity;
        const request: EntityRequest = {
          id: crypto.randomUUID(),
          op: action.operation ?? '',
          input: encode(action.input),
          signal,
        };
        // The extension's RequestMessage, with its JSON names (`signal` and `input` left out when unset).
        const message = {
          op: request.op,
          ...(signal ? { signal: true } : {}),
          ...(request.input === null ? {} : { input: request.input }),
          id: request.id,
          parent: instance.instanceId,
          parentExecution: instance.executionId,
          Timestamp: now.toISOString(),
        };
        instance.history.push(
          event(EventType.EventSent, now, {
            EventId: id,
            InstanceId: schedulerId(target),
            Name: 'op',
            Input: JSON.stringify(message),
          }),
        );
        if (!signal) {
          let settle!: () => void;
          const call: EntityCallRun = {
            kind: 'entityCall',
            id,
            requestId: request.id,
            done: new Promise((resolve) => {
              settle = resolve;
            }),
          };
          request.reply = (response) => {
            call.response = response;
            settle();
            instance.wake?.();
          };
          instance.entityCalls.set(id, call);
        }
        this.#enqueue(target, request);
        return id;
      }
      default:
        throw new Error(`action type ${action.actionType} is not supported by the in-memory Durable host`);
    }
  }

  #startActivity(instance: Instance, id: number, name: string, input: unknown, previous?: ActivityRun): ActivityRun {
    const registration = this.#registration(name, 'activityTrigger');
    const context = new InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: name,
      logHandler: (level, ...args) => this.#log(level, args.map(String).join(' ')),
      options: { trigger: { type: 'activityTrigger', name: 'input' } },
    });
    const run: ActivityRun = { kind: 'activity', id, name, input, done: Promise.resolve() };
    if (previous?.retry) run.retry = previous.retry;
    run.done = (async () => {
      try {
        const result = await registration.handler(JSON.parse(encode(input) ?? 'null'), context);
        run.settled = { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
      } catch (error) {
        run.settled = {
          ok: false,
          reason: `Activity function '${name}' failed: ${messageOf(error)}`,
          details: error instanceof Error ? (error.stack ?? error.message) : String(error),
        };
      }
      instance.wake?.();
    })();
    instance.activities.set(id, run);
    return run;
  }

  /** Waits for the next thing that happens to the orchestration and appends it to the history. */
  async #nextDelivery(instance: Instance): Promise<boolean> {
    for (;;) {
      const settled = [...instance.activities.values(), ...instance.entityCalls.values()]
        .filter((run) => (run.kind === 'activity' ? run.settled : run.response) !== undefined)
        .sort((a, b) => a.id - b.id)[0];
      if (settled?.kind === 'activity') {
        this.#deliverActivity(instance, settled);
        return true;
      }
      if (settled?.kind === 'entityCall') {
        this.#deliverEntityResponse(instance, settled);
        return true;
      }
      const eventIndex = instance.buffered.findIndex((e) => instance.waitingFor.has(e.name));
      if (eventIndex >= 0) {
        const [raised] = instance.buffered.splice(eventIndex, 1);
        if (!raised) continue;
        instance.waitingFor.delete(raised.name);
        instance.history.push(event(EventType.OrchestratorStarted, this.#clock.now()));
        instance.history.push(
          event(EventType.EventRaised, this.#clock.now(), { Name: raised.name, Input: encode(raised.data) }),
        );
        return true;
      }
      const timer = [...instance.timers.values()]
        .filter((t) => !t.canceled)
        .sort((a, b) => a.fireAt.getTime() - b.fireAt.getTime() || a.id - b.id)[0];
      const running = [...instance.activities.values(), ...instance.entityCalls.values()].map((run) => run.done);
      if (!timer && running.length === 0 && instance.waitingFor.size === 0) return false;

      // Activities and entity operations finish "instantly" on a virtual clock, so they always beat timers there.
      if (running.length > 0 && (this.#clock.virtual || !timer)) {
        await Promise.race([...running, this.#wakeup(instance)]);
        continue;
      }
      if (timer && (this.#clock.virtual || timer.fireAt <= this.#clock.now())) {
        await this.#clock.sleepUntil(timer.fireAt);
        this.#deliverTimer(instance, timer);
        return true;
      }
      const waits: Promise<unknown>[] = [...running, this.#wakeup(instance)];
      if (timer) waits.push(this.#clock.sleepUntil(timer.fireAt));
      await Promise.race(waits);
    }
  }

  #wakeup(instance: Instance): Promise<void> {
    return new Promise((resolve) => {
      instance.wake = () => {
        instance.wake = undefined;
        resolve();
      };
    });
  }

  #deliverActivity(instance: Instance, run: ActivityRun): void {
    instance.activities.delete(run.id);
    const now = this.#clock.now();
    const settled = run.settled as Settlement;
    instance.history.push(event(EventType.OrchestratorStarted, now));
    if (settled.ok) {
      instance.history.push(
        event(EventType.TaskCompleted, now, { TaskScheduledId: run.id, Result: encode(settled.result) }),
      );
      return;
    }
    instance.history.push(
      event(EventType.TaskFailed, now, { TaskScheduledId: run.id, Reason: settled.reason, Details: settled.details }),
    );
    if (run.retry) {
      // The executor tracks a back-off timer after every failure of a retried task, the last one included.
      const timerId = instance.nextId++;
      const { options, attempt } = run.retry;
      const delay = Math.min(
        options.firstRetryIntervalInMilliseconds * (options.backoffCoefficient ?? 1) ** (attempt - 1),
        options.maxRetryIntervalInMilliseconds ?? Number.POSITIVE_INFINITY,
      );
      const fireAt = new Date(now.getTime() + delay);
      run.retry = { options, attempt: attempt + 1 };
      instance.history.push(event(EventType.TimerCreated, now, { EventId: timerId, FireAt: fireAt.toISOString() }));
      instance.timers.set(timerId, { kind: 'timer', id: timerId, fireAt, retryOf: run });
    }
  }

  /** The entity's answer is an event named by the request id (EntityMessageEventNames.ResponseMessageEventName). */
  #deliverEntityResponse(instance: Instance, call: EntityCallRun): void {
    instance.entityCalls.delete(call.id);
    const now = this.#clock.now();
    instance.history.push(event(EventType.OrchestratorStarted, now));
    instance.history.push(event(EventType.EventRaised, now, { Name: call.requestId, Input: call.response ?? null }));
  }

  #enqueue(target: EntityIdLike, request: EntityRequest): void {
    this.#entityRegistration(target.name);
    const id = schedulerId(target);
    let entity = this.#entities.get(id);
    if (!entity) {
      entity = { name: target.name.toLowerCase(), key: target.key, exists: false, state: null, queue: [] };
      this.#entities.set(id, entity);
    }
    entity.queue.push(request);
    entity.running ??= this.#runEntity(entity);
  }

  async #runEntity(entity: EntityRecord): Promise<void> {
    // Begin once the sender (an orchestrator episode, a client call) is done sending, as a queue would.
    await Promise.resolve();
    try {
      while (entity.queue.length > 0) await this.#runBatch(entity, entity.queue.splice(0));
    } finally {
      entity.running = undefined;
    }
  }

  async #runBatch(entity: EntityRecord, batch: EntityRequest[]): Promise<void> {
    const id = schedulerId(entity);
    const trigger = {
      self: { name: entity.name, key: entity.key },
      exists: entity.exists,
      state: entity.state,
      batch: batch.map((r) => ({ name: r.op, input: r.input, isSignal: r.signal, id: r.id })),
    };
    let result: EntityBatchResult;
    try {
      const registration = this.#entityRegistration(entity.name);
      const context = new InvocationContext({
        invocationId: crypto.randomUUID(),
        functionName: registration.metadata.name,
        logHandler: (level, ...args) => this.#log(level, args.map(String).join(' ')),
        options: { trigger: { type: 'entityTrigger', name: 'context' } },
      });
      const returned = await registration.handler(JSON.parse(JSON.stringify(trigger)), context);
      result = JSON.parse(JSON.stringify(returned ?? null)) as EntityBatchResult;
      if (!result || !Array.isArray(result.results)) throw new Error('the entity function returned no EntityState');
    } catch (error) {
      // durable-functions catches each operation's error itself; this is the function failing as a whole, which
      // the host reports as every operation of the batch failing, with the state left as it was.
      result = {
        entityExists: entity.exists,
        entityState: entity.state,
        results: batch.map(() => ({
          isError: true,
          result: JSON.stringify(`entity ${id} failed: ${messageOf(error)}`),
        })),
      };
    }
    entity.exists = result.entityExists;
    entity.state = result.entityExists ? (result.entityState ?? null) : null;
    batch.forEach((request, i) => {
      const outcome = result.results[i] ?? { isError: false };
      if (outcome.isError) this.#log('error', `entity ${id} operation '${request.op}' failed: ${outcome.result}`);
      request.reply?.(
        JSON.stringify(
          outcome.isError
            ? { result: outcome.result ?? null, exceptionType: 'Error' }
            : { result: outcome.result ?? null },
        ),
      );
    });
    for (const signal of result.signals ?? []) {
      try {
        this.#enqueue(signal.target, {
          id: crypto.randomUUID(),
          op: signal.name,
          input: signal.input ?? null,
          signal: true,
        });
      } catch (error) {
        this.#log('error', `entity ${id} signalled '${signal.name}' on an entity that cannot run: ${messageOf(error)}`);
      }
    }
  }

  #deliverTimer(instance: Instance, timer: TimerRun): void {
    instance.timers.delete(timer.id);
    const now = this.#clock.now();
    instance.history.push(event(EventType.OrchestratorStarted, now));
    instance.history.push(event(EventType.TimerFired, now, { TimerId: timer.id, FireAt: timer.fireAt.toISOString() }));
    const failed = timer.retryOf;
    if (failed?.retry && failed.retry.attempt <= failed.retry.options.maxNumberOfAttempts) {
      const id = instance.nextId++;
      instance.history.push(
        event(EventType.TaskScheduled, now, {
          EventId: id,
          Name: failed.name,
          Version: '',
          Input: encode(failed.input),
        }),
      );
      this.#startActivity(instance, id, failed.name, failed.input, failed);
    }
  }

  #fail(instance: Instance, message: string): void {
    instance.runtimeStatus = 'Failed';
    instance.output = message;
    instance.lastUpdatedTime = this.#clock.now();
    this.#log('error', `orchestration ${instance.instanceId} failed: ${message}`);
    this.#emit(instance);
    instance.resolveCompletion();
  }

  #emit(instance: Instance): void {
    this.events.emit('status', {
      instanceId: instance.instanceId,
      runtimeStatus: instance.runtimeStatus,
      customStatus: instance.customStatus,
    });
  }
}

function snapshot(instance: Instance): InstanceStatus {
  return {
    name: instance.name,
    instanceId: instance.instanceId,
    runtimeStatus: instance.runtimeStatus,
    input: instance.input,
    output: instance.output,
    customStatus: instance.customStatus,
    createdTime: instance.createdTime,
    lastUpdatedTime: instance.lastUpdatedTime,
    history: structuredClone(instance.history),
  };
}

function event(type: number, at: Date, fields: Record<string, unknown> = {}): HistoryEvent {
  return { EventId: -1, IsPlayed: false, ...fields, EventType: type, Timestamp: at.toISOString() };
}

/** The entity's instance id in Durable: `@name@key`, the name lower-cased (durable-functions' EntityId). */
function schedulerId(entityId: EntityIdLike): string {
  return `@${entityId.name.toLowerCase()}@${entityId.key}`;
}

function entityIdOf(schedulerIdText: string): EntityIdLike {
  const at = schedulerIdText.indexOf('@', 1);
  return { name: schedulerIdText.slice(1, at), key: schedulerIdText.slice(at + 1) };
}

/** V2+ schemas nest `Task.all`/`Task.any` as compound actions; the executor numbers their children in order. */
function flatten(groups: Action[][]): Action[] {
  const out: Action[] = [];
  const visit = (action: Action) => {
    if (action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) {
      for (const child of action.compoundActions ?? []) visit(child);
    } else {
      out.push(action);
    }
  };
  for (const group of groups) for (const action of group) visit(action);
  return out;
}

function signature(action: Action): string {
  switch (action.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
      return `${action.actionType === ActionType.CallActivity ? 'callActivity' : 'callActivityWithRetry'}(${action.functionName}, ${encode(decodeInput(action.input))})`;
    case ActionType.CreateTimer:
      return `createTimer(${new Date(action.fireAt ?? 0).toISOString()})`;
    case ActionType.WaitForExternalEvent:
      return `waitForExternalEvent(${action.externalEventName})`;
    case ActionType.CallEntity:
      return `callEntity(${action.instanceId}, ${action.operation}, ${encode(action.input)})`;
    case ActionType.SignalEntity:
      return `signalEntity(${action.instanceId}, ${action.operation}, ${encode(action.input)})`;
    default:
      return `action(${action.actionType})`;
  }
}

/** durable-functions JSON-encodes string inputs (only strings) before putting them in an action. */
function decodeInput(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input);
  } catch {
    return input;
  }
}

function encode(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `OrchestrationFailureError` carries the orchestrator state after `$OutOfProcData$:`; its `error` is the message. */
function orchestrationFailureMessage(error: unknown): string {
  const text = messageOf(error);
  const marker = text.indexOf('$OutOfProcData$:');
  if (marker < 0) return text;
  try {
    const state = JSON.parse(text.slice(marker + '$OutOfProcData$:'.length)) as OrchestratorState;
    return state.error ?? text;
  } catch {
    return text;
  }
}
