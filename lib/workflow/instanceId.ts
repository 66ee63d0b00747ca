import type { ClusterRef } from '../model.ts';

/** The orchestrator's registered name. */
export const ORCHESTRATOR_NAME = 'investigate';

/**
 * One investigation per node at a time: the id is derived from cluster and node, so a second trigger for a node
 * under investigation finds the running instance and joins it. Durable instance ids may not contain / \ # ? or
 * control characters; validated names never do.
 */
export function investigationId(cluster: ClusterRef, node: string | undefined): string {
  return ['snat', cluster.resourceGroup, cluster.name, node ?? 'most-exhausted'].join(':').toLowerCase();
}
