// Allocation drift: a node whose AllocatedSnatPorts is not what the cluster's configuration implies, or has dropped
// since the watch last saw it. AKS has reset nodes' allocation to the default after scaling or reconciliation
// (Azure/AKS #1673, #3288), and an allocation left at the default halves each time the pool crosses a row of Azure's
// table (51, 101, 201 … nodes). Pure: the tick gives the nodes, the cluster's facts and what it remembers.
import { clusterArgs } from '../analysis/recommendations.ts';
import { currentPortsPerNode, ipsNeeded } from '../analysis/snatBudget.ts';
import type { ClusterFacts, ClusterRef } from '../model.ts';

export interface AllocationFinding {
  cluster: ClusterRef;
  node: string;
  /** `drop`: lower than last seen; `mismatch`: not what the configuration implies (both when both). */
  kinds: ('drop' | 'mismatch')[];
  allocatedPorts: number;
  /** What the configuration implies: `allocatedOutboundPorts`, or Azure's default for the pool size. */
  expectedPorts: number;
  previousPorts?: number;
  /** One change, one finding: the same signature on a later tick is not reported again. */
  signature: string;
  /** First seen on this tick (to be told); false while it persists. */
  new: boolean;
  message: string;
  /** The exact commands that restore the intended allocation. */
  commands: string[];
}

/**
 * The finding for one node, or undefined when its allocation is as configured and has not dropped. `previous`: the
 * allocation the watch saw last; `reported`: the signature of the finding it last reported for the node.
 */
export function allocationFinding(input: {
  cluster: ClusterRef;
  facts: ClusterFacts;
  node: string;
  allocatedPorts: number;
  previous?: number | undefined;
  reported?: string | undefined;
}): AllocationFinding | undefined {
  const { facts, allocatedPorts, previous } = input;
  const expectedPorts = currentPortsPerNode(facts);
  const kinds: AllocationFinding['kinds'] = [];
  if (previous !== undefined && allocatedPorts < previous) kinds.push('drop');
  if (allocatedPorts !== expectedPorts) kinds.push('mismatch');
  if (kinds.length === 0) return undefined;
  // The allocation and what it should be: a drop and the mismatch it leaves are one change, reported once.
  const signature = `${allocatedPorts}:${expectedPorts}`;
  const explicit = facts.allocatedOutboundPorts > 0;
  const pool = `a pool of ${facts.nodeCount} nodes${facts.outboundIpCount > 1 ? ` with ${facts.outboundIpCount} outbound IPs` : ''}`;
  const what = [
    kinds.includes('drop')
      ? `dropped from ${previous} to ${allocatedPorts} SNAT ports`
      : `has ${allocatedPorts} SNAT ports`,
    kinds.includes('mismatch')
      ? explicit
        ? `but the cluster is configured for ${expectedPorts} (allocatedOutboundPorts)`
        : `but Azure's default for ${pool} is ${expectedPorts}`
      : explicit
        ? `as configured (allocatedOutboundPorts ${expectedPorts}): the configuration was changed`
        : `as Azure's default gives ${pool} (${expectedPorts}): the pool grew past a row of the default table`,
  ].join(' ');
  // What to restore: the configured value when there is one; else the allocation the node had (or the default), made
  // explicit so that pool growth no longer shrinks it, with the outbound IPs that many ports need.
  const intended = explicit ? expectedPorts : Math.max(previous ?? 0, allocatedPorts, expectedPorts);
  const args = clusterArgs(facts);
  const commands: string[] = [];
  if (args && intended > allocatedPorts) {
    const ips = ipsNeeded(facts.nodeCount, intended);
    commands.push(
      ips > facts.outboundIpCount
        ? `az aks update ${args} --load-balancer-managed-outbound-ip-count ${ips} --load-balancer-outbound-ports ${intended}`
        : `az aks update ${args} --load-balancer-outbound-ports ${intended}`,
    );
  }
  const message =
    `Node ${input.node} ${what}.` +
    (commands.length > 0
      ? ` Restoring ${intended} ports per node: ${commands.join('; ')}.`
      : allocatedPorts > intended
        ? ' It has more than intended: nothing to restore, but the allocation is not what was configured.'
        : '');
  return {
    cluster: input.cluster,
    node: input.node,
    kinds,
    allocatedPorts,
    expectedPorts,
    ...(previous !== undefined ? { previousPorts: previous } : {}),
    signature,
    new: signature !== input.reported,
    message,
    commands,
  };
}
