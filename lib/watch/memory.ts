// What the watch remembers between ticks, per cluster: each node's last allocation and the allocation finding last
// reported for it (drift is told once per change), its recent standings (the trend), and the last investigation the
// watch started on it (a high but flat node is not investigated again every cooldown).
//
// Where it is kept: in the Functions app, a Durable entity per cluster (`watchmemory`, functions/snatWatch.ts), so
// in the task hub the app already has (the Durable Task Scheduler, or Azure Storage): no new resource, it survives
// restarts and scale-out, and its one writer is the snatWatch timer, which the host runs on one instance at a time.
// For the CLI, a JSON file (`watch --state`, lib/cli/watch.ts).
import type { ClusterRef } from '../model.ts';
import type { Sample } from './trend.ts';

export interface NodeMemory {
  /** AllocatedSnatPorts as last seen. */
  allocatedPorts?: number;
  /** The signature of the allocation finding last reported for the node (drift.ts); absent once it is gone. */
  reported?: string;
  /** Recent standings, oldest first (trend.ts keeps SAMPLES_KEPT). */
  samples: Sample[];
  /** The last investigation the watch started or joined on the node, and the node's used ports then. */
  investigated?: { at: string; usedPorts: number };
}

export interface ClusterMemory {
  /** By node name. Nodes no longer listed are forgotten. */
  nodes: Record<string, NodeMemory>;
  /** NAT gateways (ids, lower-case) whose failing was told and that were still failing at the last tick. */
  gatewaysFailing?: string[];
}

export interface WatchMemory {
  load(cluster: ClusterRef): Promise<ClusterMemory>;
  save(cluster: ClusterRef, memory: ClusterMemory): Promise<void>;
}

export function emptyMemory(): ClusterMemory {
  return { nodes: {} };
}

/** A memory read back from storage, checked field by field: what does not fit is dropped, never trusted. */
export function memoryFrom(value: unknown): ClusterMemory {
  const nodes: Record<string, NodeMemory> = {};
  const raw = isRecord(value) && isRecord(value.nodes) ? value.nodes : {};
  for (const [name, node] of Object.entries(raw)) {
    if (!isRecord(node) || !/^[a-z0-9.-]{1,253}$/.test(name)) continue;
    const samples = Array.isArray(node.samples)
      ? node.samples.filter(
          (s): s is Sample =>
            isRecord(s) &&
            typeof s.at === 'string' &&
            Number.isFinite(Date.parse(s.at)) &&
            isCount(s.usedPorts) &&
            isCount(s.allocatedPorts),
        )
      : [];
    const memory: NodeMemory = {
      samples: samples.map((s) => ({ at: s.at, usedPorts: s.usedPorts, allocatedPorts: s.allocatedPorts })),
    };
    if (isCount(node.allocatedPorts)) memory.allocatedPorts = node.allocatedPorts;
    if (typeof node.reported === 'string' && node.reported.length <= 40) memory.reported = node.reported;
    const investigated = node.investigated;
    if (isRecord(investigated) && typeof investigated.at === 'string' && isCount(investigated.usedPorts)) {
      memory.investigated = { at: investigated.at, usedPorts: investigated.usedPorts };
    }
    nodes[name] = memory;
  }
  const failing =
    isRecord(value) && Array.isArray(value.gatewaysFailing)
      ? value.gatewaysFailing.filter((id): id is string => typeof id === 'string' && id.length <= 400).slice(0, 100)
      : [];
  return failing.length > 0 ? { nodes, gatewaysFailing: failing } : { nodes };
}

/** A memory that lasts as long as the object: one process, no storage (tests, and the CLI's --state none). */
export function inMemoryWatchMemory(): WatchMemory & { snapshot(cluster: ClusterRef): ClusterMemory } {
  const byCluster = new Map<string, ClusterMemory>();
  return {
    async load(cluster) {
      return structuredClone(byCluster.get(clusterKey(cluster)) ?? emptyMemory());
    },
    async save(cluster, memory) {
      byCluster.set(clusterKey(cluster), structuredClone(memory));
    },
    snapshot(cluster) {
      return structuredClone(byCluster.get(clusterKey(cluster)) ?? emptyMemory());
    },
  };
}

export function clusterKey(cluster: ClusterRef): string {
  return [cluster.subscriptionId, cluster.resourceGroup, cluster.name].join(':').toLowerCase();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 1_000_000;
}
