// The real adapters behind the workflow's ports, for a real subscription or for the sandbox's endpoints alike: ARM and
// metrics through the Azure SDKs, Kubernetes through @kubernetes/client-node with the cluster user credentials ARM
// hands out, and the node probe through runCommand (or the probe pod directly where runCommand is disabled).
import type { ClusterRef } from '../model.ts';
import type { KubernetesApi, Ports, SlackApi } from '../ports.ts';
import type { AzureAdapters } from './azure.ts';
import { type KubernetesAdapter, type KubernetesAdapterOptions, kubernetesAdapter } from './kubernetes.ts';
import { nodeProbe } from './nodeProbe.ts';

export interface RealPortsOptions {
  azure: AzureAdapters;
  slack?: SlackApi;
  kubernetes?: KubernetesAdapterOptions;
  probeImage?: string;
  /** Aborted when the process stops: see NodeProbeOptions.signal. */
  signal?: AbortSignal;
}

export function realPorts(options: RealPortsOptions): Ports {
  const adapters = new Map<string, Promise<KubernetesAdapter>>();
  const adapterFor = (ref: ClusterRef): Promise<KubernetesAdapter> => {
    const key = `${ref.subscriptionId}/${ref.resourceGroup}/${ref.name}`.toLowerCase();
    let adapter = adapters.get(key);
    if (!adapter) {
      adapter = options.azure.kubeconfig(ref).then((config) => kubernetesAdapter(config, options.kubernetes));
      // A failed credential fetch is not cached: the next activity (or its retry) asks again.
      adapter.catch(() => adapters.delete(key));
      adapters.set(key, adapter);
    }
    return adapter;
  };
  const kubernetes = (ref: ClusterRef): KubernetesAdapter => ({
    listNodes: async () => (await adapterFor(ref)).listNodes(),
    listPodsOnNode: async (node) => (await adapterFor(ref)).listPodsOnNode(node),
    exec: async (pod, argv) => (await adapterFor(ref)).exec(pod, argv),
    runProbePod: async (node, probe) => (await adapterFor(ref)).runProbePod(node, probe),
    sweepProbePods: async (namespace) => (await adapterFor(ref)).sweepProbePods(namespace),
    deleteProbePod: async (name, namespace) => (await adapterFor(ref)).deleteProbePod(name, namespace),
  });
  return {
    clusters: options.azure.clusters,
    metrics: options.azure.metrics,
    kubernetes: (ref): KubernetesApi => kubernetes(ref),
    probe: nodeProbe({
      runCommand: options.azure,
      pods: kubernetes,
      image: options.probeImage,
      ...(options.signal ? { signal: options.signal } : {}),
    }),
    ...(options.slack ? { slack: options.slack } : {}),
  };
}
