// How Azure's failures become snat-doctor's coded errors (lib/errors.ts). One pipeline policy on every client sees
// each raw response first: it bounds every request (LRO polls included) by our timeout and turns an HTTP failure into
// an AzureHttpFailure before the SDK's deserialisers run — they differ per client, and the metrics client throws a
// TypeError on an error response without a body. `toAzureError` then maps that, network failures, timeouts and
// credential failures to the vocabulary: what is worth retrying becomes a TransientError carrying the server's
// Retry-After; the rest say how to fix it.
import type { ContainerServiceClientOptionalParams } from '@azure/arm-containerservice';
import { isRestError } from '@azure/arm-containerservice';
import { SnatDoctorError, TransientError } from '../../errors.ts';
import type { ClusterRef } from '../../model.ts';
import { type PublicIpRef, publicIpNotReadNote, type VnetRef, vnetNotReadNote } from './clusterFacts.ts';

type AdditionalPolicy = NonNullable<ContainerServiceClientOptionalParams['additionalPolicies']>[number];

/** An HTTP answer of 400 or more, with what the service said. */
export class AzureHttpFailure extends Error {
  readonly status: number;
  /** The CloudError / ErrorResponse code, e.g. `AuthorizationFailed`. */
  readonly code: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, code: string | undefined, message: string, retryAfterSeconds: number | undefined) {
    super(message);
    this.name = 'AzureHttpFailure';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Our timeout ended a request the service had not answered. */
export class AzureTimeout extends Error {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number) {
    super(`no answer from ${new URL(url).host} within ${timeoutMs} ms`);
    this.name = 'AzureTimeout';
    this.timeoutMs = timeoutMs;
  }
}

export function edgePolicy(timeoutMs: number): AdditionalPolicy {
  return {
    position: 'perCall',
    policy: {
      name: 'snatDoctorEdge',
      async sendRequest(request, next) {
        request.timeout = timeoutMs;
        let response: Awaited<ReturnType<typeof next>>;
        try {
          response = await next(request);
        } catch (error) {
          // The HTTP client aborts a timed-out request; an abort the caller asked for is theirs to see.
          const aborted = error instanceof Error && error.name === 'AbortError';
          if (aborted && !request.abortSignal?.aborted) throw new AzureTimeout(request.url, timeoutMs);
          throw error;
        }
        if (response.status < 400) return response;
        const { code, message } = cloudError(response.bodyAsText);
        throw new AzureHttpFailure(
          response.status,
          code,
          message ?? `HTTP ${response.status}`,
          retryAfterSeconds(
            response.headers.get('retry-after-ms') ?? response.headers.get('x-ms-retry-after-ms'),
            response.headers.get('retry-after'),
          ),
        );
      },
    },
  };
}

function cloudError(body: string | null | undefined): { code?: string; message?: string } {
  if (!body) return {};
  try {
    const parsed = JSON.parse(body) as {
      error?: { code?: unknown; message?: unknown };
      code?: unknown;
      message?: unknown;
    };
    const error = parsed.error ?? parsed;
    return {
      code: typeof error.code === 'string' ? error.code : undefined,
      message: typeof error.message === 'string' ? error.message : undefined,
    };
  } catch {
    return { message: body.slice(0, 300) };
  }
}

/** Retry-After in whole seconds: `retry-after-ms` first, then `Retry-After` as seconds or an HTTP date. */
export function retryAfterSeconds(
  milliseconds: string | undefined | null,
  header: string | undefined | null,
  now: Date = new Date(),
): number | undefined {
  if (milliseconds && /^\d+$/.test(milliseconds.trim())) return Math.ceil(Number(milliseconds) / 1000);
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** The Azure operations snat-doctor calls, with the permission each needs and the built-in role that grants it. */
export const OPERATIONS = {
  getCluster: {
    describe: 'Reading the AKS cluster from ARM',
    action: 'Microsoft.ContainerService/managedClusters/read',
    role: 'Reader (or Azure Kubernetes Service Cluster User Role) on the cluster',
  },
  listClusterUserCredential: {
    describe: 'Getting the cluster user kubeconfig from ARM',
    action: 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action',
    role: 'Azure Kubernetes Service Cluster User Role on the cluster',
  },
  runCommand: {
    describe: 'AKS runCommand',
    action: 'Microsoft.ContainerService/managedClusters/runCommand/action',
    // The troubleshooting article suggests the Cluster User role; a custom role with exactly these actions is the
    // least privilege.
    role: 'Azure Kubernetes Service Cluster User Role on the cluster, or a custom role with runCommand/action and commandResults/read',
  },
  getVirtualNetwork: {
    describe: "Reading the node pools' VNet from ARM",
    action: 'Microsoft.Network/virtualNetworks/read',
    role: "Reader on the VNet's resource group (or the custom role in infra/roles.bicep)",
  },
  getPublicIpAddress: {
    describe: "Reading the managed NAT gateway's outbound public IP from ARM",
    action: 'Microsoft.Network/publicIPAddresses/read',
    role: "Reader on the public IP's resource group (the node resource group)",
  },
  metrics: {
    describe: 'Querying the load balancer SNAT metrics',
    action: 'Microsoft.Insights/metrics/read',
    // The batch API checks the subscription itself: "Even if users have Monitoring Reader on all the resources being
    // queried in the batch API, the request fails if the user doesn't have Monitoring Reader on the subscription
    // itself" (Azure Monitor docs, migrate-to-batch-api, "401 authorization errors").
    role: 'Monitoring Reader on the subscription itself (not only on the load balancer or node resource group)',
  },
  natGatewayMetrics: {
    describe: 'Querying the NAT gateway SNAT metrics',
    action: 'Microsoft.Insights/metrics/read',
    role: 'Monitoring Reader on the subscription itself (not only on the NAT gateway or its resource group)',
  },
} as const;
export type AzureOperation = keyof typeof OPERATIONS;

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'REQUEST_SEND_ERROR',
  // A body cut short or garbled in transit: asking again is the remedy.
  'PARSE_ERROR',
]);
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AuthenticationRequiredError']);

/**
 * The one normaliser at the Azure edge. `ref` names the cluster in messages (absent for metrics); an abort the caller
 * asked for is returned unchanged.
 */
export function toAzureError(
  error: unknown,
  operation: AzureOperation,
  ref?: ClusterRef,
  context: { subscriptions?: string[] } = {},
): Error {
  if (error instanceof SnatDoctorError) return error;
  const { describe, action, role } = OPERATIONS[operation];
  const where = ref ? ` for cluster ${ref.name}` : '';
  if (error instanceof AzureTimeout) {
    return new TransientError(`${describe}${where}: ${error.message}.`, { cause: error });
  }
  if (error instanceof AzureHttpFailure) {
    return operation === 'metrics' || operation === 'natGatewayMetrics'
      ? fromMetricsHttp(error, operation, context.subscriptions ?? [])
      : fromHttp(error, operation, ref);
  }
  if (error instanceof Error && CREDENTIAL_ERRORS.has(error.name)) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe}${where}: no Azure credential could get a token (${firstLine(error.message)}). Sign in with \`az login\`, or give the app a managed identity with ${role}.`,
      { cause: error },
    );
  }
  if (isRestError(error) && NETWORK_CODES.has(String(error.code))) {
    return new TransientError(
      `${describe}${where}: the connection failed (${error.code}: ${firstLine(error.message)}).`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof Error && error.name === 'AbortError') return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SnatDoctorError('INTERNAL', `${describe}${where} failed: ${firstLine(message)}`, {
    cause: error,
    context: { action },
  });
}

function fromHttp(failure: AzureHttpFailure, operation: AzureOperation, ref: ClusterRef | undefined): Error {
  const { describe, action, role } = OPERATIONS[operation];
  const where = ref ? ` for cluster ${ref.name}` : '';
  const said = `HTTP ${failure.status}${failure.code ? ` ${failure.code}` : ''}: ${firstLine(failure.message)}`;
  const { status } = failure;
  if (status === 429 || status === 408 || status >= 500) {
    return new TransientError(`${describe}${where}: Azure answered ${said}`, {
      cause: failure,
      retryAfterSeconds: failure.retryAfterSeconds,
    });
  }
  if (status === 401) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe}${where}: Azure did not accept the credential (${said}). Sign in again (\`az login\`) or check the app's managed identity.`,
      { cause: failure },
    );
  }
  if (status === 403) {
    // ARM's AuthorizationFailed names the action it refused; fall back to the one this call needs.
    const refused = /perform action '([^']+)'/i.exec(failure.message)?.[1] ?? action;
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe}${where} was refused: the identity lacks permission for ${refused}. Grant it ${role}.`,
      { cause: failure, context: { action: refused } },
    );
  }
  if (status === 404 && ref) {
    return new SnatDoctorError(
      'CLUSTER_NOT_FOUND',
      `No AKS cluster ${ref.name} in resource group ${ref.resourceGroup} of subscription ${ref.subscriptionId} (${said}). Check the names with \`az aks list -o table\` and that the identity can see the subscription.`,
      { cause: failure },
    );
  }
  if (operation === 'runCommand' && (status === 400 || status === 409) && disablesRunCommand(failure)) {
    return runCommandDisabled(ref, failure);
  }
  return new SnatDoctorError('INTERNAL', `${describe}${where}: Azure answered ${said}`, { cause: failure });
}

/** Codes that say the token itself was refused (expired, malformed, for another audience), not the principal's roles. */
const TOKEN_REFUSED =
  /^(InvalidAuthenticationToken\w*|ExpiredAuthenticationToken|AuthenticationFailed|InvalidAudience)$/i;

/**
 * The metrics batch API's failures, as the Azure Monitor docs give them (migrate-to-batch-api, "Troubleshooting"):
 * 401 is a caller without Monitoring Reader on the subscription itself, 403 a subscription whose Microsoft.Insights
 * resource provider is not registered, 529 the metrics backend throttling ("implement an exponential backoff retry
 * scheme": a TransientError, which the workflow retries with backoff).
 */
function fromMetricsHttp(
  failure: AzureHttpFailure,
  operation: 'metrics' | 'natGatewayMetrics',
  subscriptions: string[],
): Error {
  const { describe, action } = OPERATIONS[operation];
  const said = `HTTP ${failure.status}${failure.code ? ` ${failure.code}` : ''}: ${firstLine(failure.message)}`;
  const resources = operation === 'metrics' ? 'load balancers' : 'NAT gateways';
  const where = subscriptions.length > 0 ? subscriptions.join(', ') : `the ${resources}' subscription`;
  const { status } = failure;
  if (status === 529) {
    return new TransientError(
      `${describe}: the metrics backend is throttling requests (${said}); retry with backoff.`,
      {
        cause: failure,
        retryAfterSeconds: failure.retryAfterSeconds,
      },
    );
  }
  if (status === 429 || status === 408 || status >= 500) {
    return new TransientError(`${describe}: Azure Monitor answered ${said}`, {
      cause: failure,
      retryAfterSeconds: failure.retryAfterSeconds,
    });
  }
  if (status === 401 && failure.code !== undefined && TOKEN_REFUSED.test(failure.code)) {
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe}: Azure Monitor did not accept the token (${said}). Sign in again (\`az login\`) or check the app's managed identity.`,
      { cause: failure },
    );
  }
  if (status === 401) {
    const grant = subscriptions
      .map(
        (s) =>
          `\`az role assignment create --assignee <the app's principal id> --role "Monitoring Reader" --scope /subscriptions/${s}\``,
      )
      .join(' and ');
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe} was refused (${said}): the identity needs Monitoring Reader on subscription ${where} itself — the batch metrics API is a subscription-level API, and the role on the ${operation === 'metrics' ? 'load balancer or the node resource group' : 'NAT gateway or its resource group'} is not enough. ${grant ? `Grant it on the subscription: ${grant}.` : 'Grant it on the subscription.'}`,
      { cause: failure, context: { action } },
    );
  }
  if (status === 403) {
    const register = (subscriptions.length > 0 ? subscriptions : ['<subscription>'])
      .map((s) => `\`az provider register --namespace Microsoft.Insights --subscription ${s}\``)
      .join(' and ');
    return new SnatDoctorError(
      'FORBIDDEN',
      `${describe} was refused (${said}): the Microsoft.Insights resource provider is not registered for subscription ${where}. Register it: ${register}.`,
      { cause: failure, context: { action: 'Microsoft.Insights/register/action' } },
    );
  }
  return new SnatDoctorError('NO_METRICS', `${describe}: Azure Monitor answered ${said}`, { cause: failure });
}

/**
 * A VNet read that failed for good (403, 404, any other answer that retrying will not change) as the note the facts
 * carry (clusterFacts.ts words it); undefined for a failure worth retrying, or not an HTTP answer, which
 * `toAzureError` maps. A VNet that cannot be read never fails the investigation: its ranges are only unknown.
 */
export function vnetNotRead(error: unknown, vnet: VnetRef): string | undefined {
  if (!(error instanceof AzureHttpFailure)) return undefined;
  const { status } = error;
  if (status === 429 || status === 408 || status >= 500 || status === 401) return undefined;
  return vnetNotReadNote(vnet, { status, code: error.code, message: firstLine(error.message) });
}

/** As {@link vnetNotRead}, for a managed NAT gateway's outbound public IP: the note, or undefined to retry. */
export function publicIpNotRead(error: unknown, ip: PublicIpRef): string | undefined {
  if (!(error instanceof AzureHttpFailure)) return undefined;
  const { status } = error;
  if (status === 429 || status === 408 || status >= 500 || status === 401) return undefined;
  return publicIpNotReadNote(ip, { status, code: error.code, message: firstLine(error.message) });
}

function disablesRunCommand(failure: AzureHttpFailure): boolean {
  return failure.code === 'OperationNotAllowed' || /run ?command.*disabled|disableRunCommand/i.test(failure.message);
}

export function runCommandDisabled(ref: ClusterRef | undefined, cause?: unknown): SnatDoctorError {
  const name = ref?.name ?? 'the cluster';
  const update = ref
    ? `az aks update -g ${ref.resourceGroup} -n ${ref.name} --enable-run-command`
    : 'az aks update --enable-run-command';
  return new SnatDoctorError(
    'RUN_COMMAND_DISABLED',
    `runCommand is disabled on ${name} (apiServerAccessProfile.disableRunCommand). Either enable it (\`${update}\`), or give snat-doctor the cluster user credentials so it runs the probe pod through the Kubernetes API instead.`,
    { cause },
  );
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 400);
}
