// The ports in Azure (the Functions app, and the CLI's real-cluster mode): the real adapters per subscription, with a
// managed identity or DefaultAzureCredential. The SDKs load on first use, not when the app starts (cold start).
import type { TokenCredential } from '@azure/core-auth';
import type { BackendSnat, ClusterFacts, ClusterRef, NatGatewaySnat, NodeInfo } from '../model.ts';
import type { EvidenceStore, ExecResult, KubernetesApi, Ports, SlackApi } from '../ports.ts';
import type { AzureAdapterOptions } from './azure.ts';
import type { KubernetesAdapterOptions } from './kubernetes.ts';

export interface AzurePortsOptions {
  /** Default: DefaultAzureCredential (a managed identity in Azure). */
  credential?: TokenCredential;
  probeImage?: string;
  /** Endpoints, CA, timeouts: for the sandbox and tests; Azure's public cloud when absent. */
  endpoints?: Omit<AzureAdapterOptions, 'credential' | 'subscriptionId'>;
  kubernetes?: KubernetesAdapterOptions;
  /** The Slack bot token (SLACK_BOT_TOKEN); without it investigations are not posted to Slack. */
  slackToken?: string;
  /** Where evidence blobs go (SNAT_DOCTOR_EVIDENCE_CONTAINER_URL), written with the same credential. */
  evidenceContainerUrl?: string;
  /** Aborted when the process stops (the CLI on SIGINT or SIGTERM): see NodeProbeOptions.signal. */
  signal?: AbortSignal;
}

export function azurePorts(options: AzurePortsOptions = {}): Ports {
  const bySubscription = new Map<string, Promise<Ports>>();
  const forSubscription = (subscriptionId: string): Promise<Ports> => {
    const key = subscriptionId.toLowerCase();
    let ports = bySubscription.get(key);
    if (!ports) {
      ports = (async () => {
        const { createAzureAdapters, defaultCredential } = await import('./azure.ts');
        const { realPorts } = await import('./ports.ts');
        const credential = options.credential ?? defaultCredential();
        return realPorts({
          azure: createAzureAdapters({ ...options.endpoints, credential, subscriptionId }),
          kubernetes: options.kubernetes,
          probeImage: options.probeImage,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      })();
      bySubscription.set(key, ports);
    }
    return ports;
  };
  return {
    clusters: { getCluster: async (ref) => (await forSubscription(ref.subscriptionId)).clusters.getCluster(ref) },
    metrics: {
      async backendSnat(loadBalancerIds, window): Promise<BackendSnat[]> {
        // Grouped by subscription: each subscription's adapter batches its own load balancers.
        return bySubscriptionOf(loadBalancerIds, async (subscription, ids) =>
          (await forSubscription(subscription)).metrics.backendSnat(ids, window),
        );
      },
      async natGatewaySnat(natGatewayIds, window): Promise<NatGatewaySnat[]> {
        return bySubscriptionOf(natGatewayIds, async (subscription, ids) =>
          (await forSubscription(subscription)).metrics.natGatewaySnat(ids, window),
        );
      },
    },
    kubernetes(ref: ClusterRef): KubernetesApi {
      const k8s = async () => (await forSubscription(ref.subscriptionId)).kubernetes(ref);
      return {
        listNodes: async () => (await k8s()).listNodes(),
        listPodsOnNode: async (node) => (await k8s()).listPodsOnNode(node),
        exec: async (pod, argv): Promise<ExecResult> => (await k8s()).exec(pod, argv),
      };
    },
    probe: {
      capture: async (facts: ClusterFacts, node: NodeInfo, capture) =>
        (await forSubscription(facts.ref.subscriptionId)).probe.capture(facts, node, capture),
    },
    ...(options.slackToken ? { slack: lazySlack(options.slackToken) } : {}),
    ...(options.evidenceContainerUrl
      ? { evidence: lazyEvidence(options.evidenceContainerUrl, options.credential) }
      : {}),
  };
}

/** Resource ids grouped by their subscription, each group asked for at once, the answers together. */
async function bySubscriptionOf<T>(
  resourceIds: string[],
  ask: (subscription: string, ids: string[]) => Promise<T[]>,
): Promise<T[]> {
  const groups = new Map<string, string[]>();
  for (const id of resourceIds) {
    const subscription = /^\/subscriptions\/([^/]+)\//i.exec(id)?.[1] ?? '';
    groups.set(subscription, [...(groups.get(subscription) ?? []), id]);
  }
  return (await Promise.all([...groups].map(([subscription, ids]) => ask(subscription, ids)))).flat();
}

function lazySlack(token: string): SlackApi {
  let port: Promise<SlackApi> | undefined;
  return {
    async post(channel, message, key, thread) {
      port ??= import('./slack.ts').then(({ createSlackPoster, slackPort }) => slackPort(createSlackPoster({ token })));
      return (await port).post(channel, message, key, thread);
    },
  };
}

function lazyEvidence(containerUrl: string, credential: TokenCredential | undefined): EvidenceStore {
  let store: Promise<EvidenceStore> | undefined;
  const get = () => {
    store ??= Promise.all([import('./evidenceStore.ts'), import('./azure.ts')]).then(
      ([{ createEvidenceStore }, azure]) =>
        createEvidenceStore({ containerUrl, credential: credential ?? azure.defaultCredential() }),
    );
    return store;
  };
  return {
    save: async (instanceId, evidence) => (await get()).save(instanceId, evidence),
    load: async (instanceId) => (await get()).load(instanceId),
  };
}
