// The Durable client surface our HTTP functions use, backed by the in-memory host: what `df.getClient(context)`
// returns inside Azure, for the CLI, `serve` and tests.
import azureFunctions, { type HttpRequest } from '@azure/functions';
import type { InMemoryDurableHost, InstanceStatus } from './durableHost.ts';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpResponse } = azureFunctions;

export class LocalDurableClient {
  readonly #host: InMemoryDurableHost;
  readonly #origin: string;

  constructor(host: InMemoryDurableHost, origin = 'http://127.0.0.1:7071') {
    this.#host = host;
    this.#origin = origin;
  }

  startNew(name: string, options: { instanceId?: string; input?: unknown } = {}): Promise<string> {
    return this.#host.startNew(name, options);
  }

  getStatus(instanceId: string): Promise<InstanceStatus | undefined> {
    return this.#host.getStatus(instanceId);
  }

  /** The same 202 + Location + management URLs shape the Durable extension returns. */
  createCheckStatusResponse(request: HttpRequest | undefined, instanceId: string): InstanceType<typeof HttpResponse> {
    const origin = request ? new URL(request.url).origin : this.#origin;
    const base = `${origin}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`;
    const body = {
      id: instanceId,
      statusQueryGetUri: base,
      sendEventPostUri: `${base}/raiseEvent/{eventName}`,
      terminatePostUri: `${base}/terminate?reason={text}`,
      purgeHistoryDeleteUri: base,
    };
    return new HttpResponse({
      status: 202,
      jsonBody: body,
      headers: { Location: base, 'Content-Type': 'application/json' },
    });
  }
}
