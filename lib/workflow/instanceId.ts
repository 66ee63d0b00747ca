import type { ClusterRef } from '../model.ts';
import { canonicalNode } from '../validation.ts';

/** The orchestrator's registered name. */
export const ORCHESTRATOR_NAME = 'investigate';

/**
 * One investigation per node at a time: the id is derived from cluster and node, so a second trigger for a node
 * under investigation finds the running instance and joins it. Durable instance ids may not contain / \ # ? or
 * control characters; validated names never do.
 */
export function investigationId(cluster: ClusterRef, node: string | undefined): string {
  // One spelling per node (10.224.0.5 however the asker wrote it), so no spelling runs a second probe on it.
  const key = node === undefined ? 'most-exhausted' : canonicalNode(node);
  return ['snat', cluster.resourceGroup, cluster.name, key].join(':').toLowerCase();
}
