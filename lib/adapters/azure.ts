// The real Azure adapters behind the ports: ARM for the ManagedCluster's facts, its user kubeconfig and runCommand
// (@azure/arm-containerservice), Azure Monitor's metrics batch API for the load balancer's SNAT metrics
// (@azure/monitor-query-metrics). This file and lib/adapters/azure/ are the only ones importing the Azure SDKs.
//
// Every client is built the same way: the SDK's own retries are off (maxRetries 0) so that the orchestrator's retries,
// with their back-off and the server's Retry-After, are the only ones — SDK retries underneath would multiply the
// attempts and hide the Retry-After; each request is bounded by `timeoutMs`; failures are mapped once, at this edge
// (azure/azureFailures.ts); and a private CA (the sandbox's) is trusted through the clients' TLS options, never by
// turning certificate checks off.
//
// The node pools' VNets and a managed NAT gateway's outbound public IPs (Microsoft.Network) are read with plain GETs
// through the ContainerServiceClient's own pipeline rather than @azure/arm-network: that SDK is a large package for one read of two fields, while the
// pipeline already carries everything a call here needs — the ARM token, our timeout and failure mapping, no SDK
// retries, the sandbox's CA. @azure/core-rest-pipeline (already installed under the SDKs) supplies the request object.
import { ContainerServiceClient, type ManagedCluster, type RunCommandResult } from '@azure/arm-containerservice';
import { createDefaultHttpClient, createPipelineRequest } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { MetricsClient } from '@azure/monitor-query-metrics';
import { SnatDoctorError, TransientError } from '../errors.ts';
import type { ClusterRef } from '../model.ts';
import type { ClusterApi, MetricsApi } from '../ports.ts';
import { validateClusterRef } from '../validation.ts';
import { type AzureOperation, edgePolicy, publicIpNotRead, toAzureError, vnetNotRead } from './azure/azureFailures.ts';
import { type LoadBalancerSite, metricBatches, queryBackendSnat } from './azure/backendSnat.ts';
import {
  clusterFacts,
  natGatewayPublicIpsOf,
  type PublicIpReading,
  type PublicIpRef,
  publicIpNatGateway,
  type VnetReading,
  type VnetRef,
  vnetIdsOf,
  vnetSpaces,
} from './azure/clusterFacts.ts';
import { AKS_SERVER_APP_SCOPE, withEntraTokens } from './azure/clusterKubeconfig.ts';
import { queryNatGatewaySnat } from './azure/natGatewaySnat.ts';
import { commandOutcome, zipContext } from './azure/runCommand.ts';
import type { RunCommandClient } from './nodeProbe.ts';

/**
 * The ManagedCluster API version, pinned: the oldest stable version the installed SDK (25.5.0) declares. Its own
 * default (2026-06-01 in 25.5.0) moves with every release, and a new version reaches some regions and clouds late.
 */
export const ARM_API_VERSION = '2025-10-01';
/**
 * The Microsoft.Network API version for GET virtualNetworks: a stable version from
 * Azure/azure-rest-api-specs specification/network/resource-manager/Microsoft.Network/Network/stable/2025-07-01/
 * virtualNetwork.json (operation VirtualNetworks_Get; response example examples/VirtualNetworkGet.json, peering
 * fields in examples/VirtualNetworkPeeringGet.json). Not the newest (2026-01-01): new versions reach some regions and
 * clouds late, and the fields read (addressSpace, virtualNetworkPeerings' peeringState and remoteAddressSpace) are in
 * every version since long before.
 */
export const NETWORK_API_VERSION = '2025-07-01';
/**
 * GET publicIPAddresses (a managed NAT gateway's outbound IPs, for their `natGateway`) uses the same Microsoft.Network
 * version: the operation's example at that version is Azure/azure-rest-api-specs
 * specification/network/resource-manager/Microsoft.Network/Network/stable/2025-07-01/examples/PublicIpAddressGet.json,
 * and the 2025-07-01 swagger (…/stable/2025-07-01/virtualNetwork.json) gives PublicIPAddressPropertiesFormat its
 * `natGateway` and SubnetPropertiesFormat its `natGateway`.
 */
export const PUBLIC_IP_API_VERSION = NETWORK_API_VERSION;
/** The metrics batch API's only stable version. */
export const METRICS_API_VERSION = '2024-02-01';
/** The metrics batch API's token audience (the scope is this and `/.default`). */
export const METRICS_AUDIENCE = 'https://metrics.monitor.azure.com';

/** `/subscriptions/{id}/…` → the id, lower-cased; the whole id when it names none. */
function subscriptionOf(resourceId: string): string {
  return (/^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? resourceId).toLowerCase();
}

export interface AzureAdapterOptions {
  credential: TokenCredential;
  /** The subscription most calls are for; a cluster in another subscription gets a client of its own. */
  subscriptionId: string;
  /** ARM's endpoint; default `https://management.azure.com`. */
  armEndpoint?: string;
  /** The metrics batch endpoint of a region; default `https://{location}.metrics.monitor.azure.com`. */
  metricsEndpoint?: (location: string) => string;
  /** A PEM CA certificate to trust instead of the public CAs (the sandbox's self-signed one). */
  tlsCa?: string;
  /** How long one HTTP request may go unanswered; default 30 s. */
  timeoutMs?: number;
  /** How often a running runCommand is polled; default 5 s, as `az aks command invoke` does. */
  pollIntervalMs?: number;
  now?: () => Date;
}

export interface AzureAdapters extends RunCommandClient {
  clusters: ClusterApi;
  metrics: MetricsApi;
  /** The cluster user kubeconfig; for an Entra ID cluster, with a bearer token for the AKS server app in its user. */
  kubeconfig(ref: ClusterRef): Promise<string>;
}

/** The production credential: environment, workload identity, managed identity, then the developer's `az login`. */
export function defaultCredential(): TokenCredential {
  return new DefaultAzureCredential();
}

export function createAzureAdapters(options: AzureAdapterOptions): AzureAdapters {
  const { credential } = options;
  const now = options.now ?? (() => new Date());
  const metricsEndpoint = options.metricsEndpoint ?? ((location) => `https://${location}.metrics.monitor.azure.com`);
  const clientOptions = {
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [edgePolicy(options.timeoutMs ?? 30_000)],
    ...(options.tlsCa ? { tlsOptions: { ca: options.tlsCa } } : {}),
  };

  const armClients = new Map<string, ContainerServiceClient>();
  const arm = (subscriptionId: string): ContainerServiceClient => {
    let client = armClients.get(subscriptionId);
    if (!client) {
      client = new ContainerServiceClient(credential, subscriptionId, {
        ...clientOptions,
        apiVersion: ARM_API_VERSION,
        ...(options.armEndpoint ? { endpoint: options.armEndpoint } : {}),
      });
      armClients.set(subscriptionId, client);
    }
    return client;
  };
  arm(options.subscriptionId);

  const metricsClients = new Map<string, MetricsClient>();
  const metricsClient = (location: string): MetricsClient => {
    let client = metricsClients.get(location);
    if (!client) {
      // The token's audience is the one the metrics batch REST spec declares (its security scope,
      // https://metrics.monitor.azure.com/.default), as the Java SDK's MetricsAudience.AZURE_PUBLIC_CLOUD and this
      // SDK's own generated client (api/metricsContext.js) use; @azure/monitor-query-metrics 1.0.0's MetricsClient
      // would override it with ARM's. Whether the service takes an ARM token too is not settled (infra/README.md).
      client = new MetricsClient(metricsEndpoint(location), credential, {
        ...clientOptions,
        apiVersion: METRICS_API_VERSION,
        // As `credentials.scopes`: the SDK turns an `audience` into a scope without `/.default`.
        credentials: { scopes: [`${METRICS_AUDIENCE}/.default`] },
      });
      metricsClients.set(location, client);
    }
    return client;
  };

  const armEndpoint = (options.armEndpoint ?? 'https://management.azure.com').replace(/\/+$/, '');
  const httpClient = createDefaultHttpClient();

  /** One VNet the pools use: its spaces, a note when it cannot be read for good; a transient failure is thrown. */
  const readVnet = async (ref: ClusterRef, vnet: VnetRef): Promise<VnetReading> => {
    const e = encodeURIComponent;
    const url =
      `${armEndpoint}/subscriptions/${e(vnet.subscriptionId)}/resourceGroups/${e(vnet.resourceGroup)}` +
      `/providers/Microsoft.Network/virtualNetworks/${e(vnet.name)}?api-version=${NETWORK_API_VERSION}`;
    try {
      const request = createPipelineRequest({ url, method: 'GET' });
      // The pipeline's edge policy has turned any answer of 400 or more into an AzureHttpFailure by now.
      const response = await arm(ref.subscriptionId).pipeline.sendRequest(httpClient, request);
      return { ok: true, ...vnetSpaces(vnet, JSON.parse(response.bodyAsText ?? '{}')) };
    } catch (error) {
      const note = vnetNotRead(error, vnet);
      if (note !== undefined) return { ok: false, id: vnet.id, note };
      if (error instanceof SyntaxError) {
        // A body cut short in transit: asking again is the remedy, as for the SDK clients' PARSE_ERROR.
        throw new TransientError(`Reading VNet ${vnet.name} for cluster ${ref.name}: its JSON was cut short.`, {
          cause: error,
        });
      }
      throw toAzureError(error, 'getVirtualNetwork', ref);
    }
  };

  /** A managed NAT gateway's outbound IP: the gateway it names, a note when it cannot be read; transient: thrown. */
  const readPublicIp = async (ref: ClusterRef, ip: PublicIpRef): Promise<PublicIpReading> => {
    const e = encodeURIComponent;
    const url =
      `${armEndpoint}/subscriptions/${e(ip.subscriptionId)}/resourceGroups/${e(ip.resourceGroup)}` +
      `/providers/Microsoft.Network/publicIPAddresses/${e(ip.name)}?api-version=${PUBLIC_IP_API_VERSION}`;
    try {
      const request = createPipelineRequest({ url, method: 'GET' });
      const response = await arm(ref.subscriptionId).pipeline.sendRequest(httpClient, request);
      const natGatewayId = publicIpNatGateway(JSON.parse(response.bodyAsText ?? '{}'));
      return { ok: true, id: ip.id, ...(natGatewayId ? { natGatewayId } : {}) };
    } catch (error) {
      const note = publicIpNotRead(error, ip);
      if (note !== undefined) return { ok: false, id: ip.id, note };
      if (error instanceof SyntaxError) {
        throw new TransientError(`Reading public IP ${ip.name} for cluster ${ref.name}: its JSON was cut short.`, {
          cause: error,
        });
      }
      throw toAzureError(error, 'getPublicIpAddress', ref);
    }
  };

  // The metrics batch API is regional and the port does not pass regions: each cluster read says where its load
  // balancers and NAT gateways are (and how many nodes they serve, for `top`). A NAT gateway is in the region of the
  // subnets it serves, which are the cluster's.
  const sites = new Map<string, LoadBalancerSite>();

  const tokenFor = async (scope: string, operation: AzureOperation, ref: ClusterRef): Promise<string> => {
    let token: Awaited<ReturnType<TokenCredential['getToken']>>;
    try {
      token = await credential.getToken(scope);
    } catch (error) {
      throw toAzureError(error, operation, ref);
    }
    if (!token) {
      throw new SnatDoctorError(
        'FORBIDDEN',
        `No Entra ID token for ${scope}, which cluster ${ref.name} (Entra ID-managed) requires: sign in with \`az login\` or check the managed identity.`,
      );
    }
    return token.token;
  };

  return {
    clusters: {
      async getCluster(given) {
        const ref = validateClusterRef(given);
        let cluster: ManagedCluster;
        try {
          cluster = await arm(ref.subscriptionId).managedClusters.get(ref.resourceGroup, ref.name);
        } catch (error) {
          throw toAzureError(error, 'getCluster', ref);
        }
        // A bring-your-own VNet's address space (and its peerings') is only on the VirtualNetwork resource.
        // A managed NAT gateway is found through its outbound IPs (a user-assigned one on the VNet's subnets).
        const [vnets, publicIps] = await Promise.all([
          Promise.all(vnetIdsOf(cluster).map((vnet) => readVnet(ref, vnet))),
          Promise.all(natGatewayPublicIpsOf(cluster).map((ip) => readPublicIp(ref, ip))),
        ]);
        const facts = clusterFacts(ref, cluster, vnets, publicIps);
        for (const id of [...facts.loadBalancerIds, ...facts.natGatewayIds]) {
          sites.set(id.toLowerCase(), { location: facts.location, nodeCount: facts.nodeCount });
        }
        return facts;
      },
    },

    metrics: {
      async backendSnat(loadBalancerIds, window) {
        if (loadBalancerIds.length === 0) return [];
        const batches = metricBatches(loadBalancerIds, (id) => sites.get(id.toLowerCase()));
        try {
          return await queryBackendSnat(metricsClient, batches, window, now());
        } catch (error) {
          throw toAzureError(error, 'metrics', undefined, {
            subscriptions: [...new Set(loadBalancerIds.map((id) => subscriptionOf(id)))],
          });
        }
      },
      async natGatewaySnat(natGatewayIds, window) {
        if (natGatewayIds.length === 0) return [];
        try {
          const batches = metricBatches(natGatewayIds, (id) => sites.get(id.toLowerCase()), 'NAT gateway');
          return await queryNatGatewaySnat(metricsClient, batches, window, now());
        } catch (error) {
          throw toAzureError(error, 'natGatewayMetrics', undefined, {
            subscriptions: [...new Set(natGatewayIds.map((id) => subscriptionOf(id)))],
          });
        }
      },
    },

    async kubeconfig(given) {
      const ref = validateClusterRef(given);
      let kubeconfigs: { name?: string; value?: Uint8Array }[];
      try {
        const result = await arm(ref.subscriptionId).managedClusters.listClusterUserCredentials(
          ref.resourceGroup,
          ref.name,
        );
        kubeconfigs = result.kubeconfigs ?? [];
      } catch (error) {
        throw toAzureError(error, 'listClusterUserCredential', ref);
      }
      const entry = kubeconfigs.find((k) => k.name === 'clusterUser') ?? kubeconfigs[0];
      if (!entry?.value) {
        throw new SnatDoctorError('INTERNAL', `ARM returned no user kubeconfig for cluster ${ref.name}.`);
      }
      return withEntraTokens(Buffer.from(entry.value).toString('utf8'), (scope) =>
        tokenFor(scope, 'listClusterUserCredential', ref),
      );
    },

    async runCommand(given, { command, contextFiles, aadManaged }, signal) {
      const ref = validateClusterRef(given);
      // As `az aks command invoke` does: on an Entra ID cluster the command runs as the caller, with a token for the
      // AKS server app.
      const clusterToken = aadManaged ? await tokenFor(AKS_SERVER_APP_SCOPE, 'runCommand', ref) : undefined;
      let result: RunCommandResult;
      try {
        const poller = arm(ref.subscriptionId).managedClusters.runCommand(
          ref.resourceGroup,
          ref.name,
          { command, context: zipContext(contextFiles), ...(clusterToken ? { clusterToken } : {}) },
          { updateIntervalInMs: options.pollIntervalMs ?? 5_000, ...(signal ? { abortSignal: signal } : {}) },
        );
        result = await poller.pollUntilDone(signal ? { abortSignal: signal } : undefined);
      } catch (error) {
        throw toAzureError(error, 'runCommand', ref);
      }
      return commandOutcome(result, ref);
    },
  };
}
