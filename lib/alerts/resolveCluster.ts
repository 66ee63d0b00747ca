// Which configured cluster an alerted load balancer belongs to. AKS puts the cluster's `kubernetes` load balancer in
// the cluster's node resource group, so the load balancer's resource group names the cluster — once we know every
// configured cluster's node resource group, which only ARM knows for sure (it may be custom, and long names are cut).
// The lookup is a function, so tests (and a future cache) can stand in for ARM.
import type { AlertSettings, Section } from '../config.ts';
import { TransientError } from '../errors.ts';
import type { ClusterFacts, ClusterRef } from '../model.ts';
import type { ClusterApi } from '../ports.ts';
import { parseLoadBalancerId } from './commonAlertSchema.ts';

/**
 * The configured cluster whose node resource group this is, or undefined. Throws a TransientError when it cannot
 * tell (a cluster could not be read), so the caller answers "try again" rather than "not ours".
 */
export type ClusterResolver = (subscriptionId: string, nodeResourceGroup: string) => Promise<ClusterRef | undefined>;

export interface AlertClusters {
  /** The clusters alerts may start investigations on: what a 404 lists. */
  configured: ClusterRef[];
  resolve: ClusterResolver;
}

export type AlertClustersResult = { ok: true; clusters: AlertClusters } | { ok: false; problems: string[] };

/** Clusters whose facts are already known (tests; a caller that read them anyway). */
export function clustersFromFacts(facts: Pick<ClusterFacts, 'ref' | 'nodeResourceGroup'>[]): AlertClusters {
  return {
    configured: facts.map((f) => f.ref),
    resolve: async (subscriptionId, nodeResourceGroup) =>
      facts.find((f) => same(f.ref.subscriptionId, subscriptionId) && same(f.nodeResourceGroup, nodeResourceGroup))
        ?.ref,
  };
}

/**
 * The clusters in SNAT_DOCTOR_WATCH_CLUSTERS (the alerts section of lib/config.ts) — the same list the watch uses, so
 * an alert can investigate exactly the clusters the app is set up for — with each cluster's node resource group read
 * from ARM when an alert needs it. `clusterApi` is called only then, so building this reads no credentials.
 */
export function clustersFromConfig(
  settings: Section<AlertSettings>,
  clusterApi: () => ClusterApi,
): AlertClustersResult {
  if (!settings.ok) return settings;
  const configured = settings.settings.clusters;
  // Each configured cluster is read from ARM once however many load balancers the alert names.
  const reads = new Map<string, Promise<ClusterFacts>>();
  const api: ClusterApi = {
    getCluster(ref) {
      const key = `${ref.subscriptionId}/${ref.resourceGroup}/${ref.name}`.toLowerCase();
      let read = reads.get(key);
      if (!read) {
        read = clusterApi().getCluster(ref);
        reads.set(key, read);
      }
      return read;
    },
  };
  return {
    ok: true,
    clusters: { configured, resolve: (sub, group) => findByNodeResourceGroup(configured, sub, group, api) },
  };
}

async function findByNodeResourceGroup(
  configured: ClusterRef[],
  subscriptionId: string,
  nodeResourceGroup: string,
  api: ClusterApi,
): Promise<ClusterRef | undefined> {
  const candidates = configured.filter((c) => same(c.subscriptionId, subscriptionId));
  // AKS names the node resource group MC_{group}_{cluster}_{location} unless told otherwise: clusters whose default
  // name fits are read first, so the usual alert costs one ARM read. A custom (or truncated) name means reading the
  // rest.
  const likely = candidates.filter((c) =>
    nodeResourceGroup.toLowerCase().startsWith(`mc_${c.resourceGroup}_${c.name}_`.toLowerCase()),
  );
  const others = candidates.filter((c) => !likely.includes(c));
  const unreadable: string[] = [];
  for (const group of [likely, others]) {
    const reads = await Promise.allSettled(group.map((ref) => api.getCluster(ref)));
    for (const [i, read] of reads.entries()) {
      const ref = group[i] as ClusterRef;
      if (read.status === 'rejected') unreadable.push(`${ref.resourceGroup}/${ref.name}: ${messageOf(read.reason)}`);
      else if (same(read.value.nodeResourceGroup, nodeResourceGroup)) return ref;
    }
  }
  if (unreadable.length > 0) {
    throw new TransientError(
      `Could not tell which cluster has the node resource group ${nodeResourceGroup}: reading ${unreadable.join('; ')}`,
    );
  }
  return undefined;
}

export interface LoadBalancerClusters {
  /** The distinct configured clusters the load balancers belong to. */
  clusters: ClusterRef[];
  /** Load balancers of no configured cluster. */
  unknown: string[];
  /** Load balancers whose cluster could not be told (a configured cluster could not be read), and why. */
  unresolved: { loadBalancerId: string; reason: string }[];
}

/**
 * The distinct configured clusters of the alerted load balancers. Each load balancer is resolved on its own: one that
 * cannot be (a cluster ARM would not read) is set aside with its reason, and does not keep the others' clusters from
 * being investigated.
 */
export async function clustersOfLoadBalancers(
  loadBalancerIds: string[],
  clusters: AlertClusters,
): Promise<LoadBalancerClusters> {
  const result: LoadBalancerClusters = { clusters: [], unknown: [], unresolved: [] };
  for (const id of loadBalancerIds) {
    const lb = parseLoadBalancerId(id);
    let cluster: ClusterRef | undefined;
    try {
      cluster = lb && (await clusters.resolve(lb.subscriptionId, lb.resourceGroup));
    } catch (error) {
      if (!(error instanceof TransientError)) throw error;
      result.unresolved.push({ loadBalancerId: id, reason: error.message });
      continue;
    }
    if (!cluster) result.unknown.push(id);
    else if (!result.clusters.some((c) => sameCluster(c, cluster))) result.clusters.push(cluster);
  }
  return result;
}

// Subscription ids, resource group names and cluster names are case-insensitive in Azure, and alerts lower-case them.
function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function sameCluster(a: ClusterRef, b: ClusterRef): boolean {
  return same(a.subscriptionId, b.subscriptionId) && same(a.resourceGroup, b.resourceGroup) && same(a.name, b.name);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
