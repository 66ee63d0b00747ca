// The Durable client surface our HTTP functions use, backed by the in-memory host: what `df.getClient(context)`
// returns inside Azure, for the CLI, `serve` and tests.
import azureFunctions, { type HttpRequest } from '@azure/functions';
import type * as df from 'durable-functions';
import type { InMemoryDurableHost, InstanceStatus } from './durableHost.ts';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpResponse } = azureFunctions;

export class LocalDurableClient {
  readonly #host: InMemoryDurableHost;
  readonly #origin: string;
  readonly #key: string | undefined;

  /** `key`: what the links carry as `?code=`, as the extension's carry its system key (`serve` asks for one). */
  constructor(host: InMemoryDurableHost, origin = 'http://127.0.0.1:7071', key?: string) {
    this.#host = host;
    this.#origin = origin;
    this.#key = key;
  }

  startNew(name: string, options: { instanceId?: string; input?: unknown } = {}): Promise<string> {
    return this.#host.startNew(name, options);
  }

  getStatus(instanceId: string): Promise<InstanceStatus | undefined> {
    return this.#host.getStatus(instanceId);
  }

  /** As `DurableClient.readEntityState`; there is one task hub here, so `options` changes nothing. */
  readEntityState<T>(entityId: df.EntityId, _options?: df.TaskHubOptions): Promise<df.EntityStateResponse<T>> {
    return this.#host.readEntityState<T>(entityId);
  }

  /** As `DurableClient.signalEntity`: resolves once the operation is queued (the extension's 202). */
  signalEntity(
    entityId: df.EntityId,
    operationName = '',
    operationContent?: unknown,
    _options?: df.TaskHubOptions,
  ): Promise<void> {
    return this.#host.signalEntity(entityId, operationName, operationContent);
  }

  /** The same 202 + Location + management URLs shape the Durable extension returns. */
  createCheckStatusResponse(request: HttpRequest | undefined, instanceId: string): InstanceType<typeof HttpResponse> {
    const origin = request ? new URL(request.url).origin : this.#origin;
    const base = `${origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`;
    const code = this.#key === undefined ? '' : `code=${encodeURIComponent(this.#key)}`;
    const status = code ? `${base}?${code}` : base;
    const body = {
      id: instanceId,
      statusQueryGetUri: status,
      sendEventPostUri: `${base}/raiseEvent/{eventName}${code ? `?${code}` : ''}`,
      terminatePostUri: `${base}/terminate?reason={text}${code ? `&${code}` : ''}`,
      purgeHistoryDeleteUri: status,
    };
    return new HttpResponse({
      status: 202,
      jsonBody: body,
      headers: { Location: status, 'Content-Type': 'application/json' },
    });
  }
}
