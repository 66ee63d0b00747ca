// SNAT metrics per backend (node) IP from Azure Monitor's metrics batch API (`metrics:getBatch`): load balancers
// grouped by subscription and region, at most 50 per call, two queries per batch — the port metrics and the connection
// count have different dimensions and the batch API validates dimensions (it has no validatedimensions=false), so one
// filter cannot serve both. Calls grow with load balancers ÷ 50, never with nodes.
import type { Metric, MetricsClient, MetricsQueryResult } from '@azure/monitor-query-metrics';
import { SnatDoctorError } from '../../errors.ts';
import type { BackendSnat } from '../../model.ts';

/** Where a load balancer lives, as its cluster's facts said. */
export interface LoadBalancerSite {
  location: string;
  nodeCount?: number;
}

export interface SnatQuery {
  metricNames: string[];
  aggregation: 'average' | 'total';
  filter: string;
  /** How many series one node contributes per metric (ConnectionState splits it in two). */
  seriesPerNode: number;
}

export const SNAT_QUERIES: Record<'ports' | 'connections', SnatQuery> = {
  // Average, split by backend IP. Unfiltered, the service averages the port metrics over TCP and UDP, which halves
  // "used" on a node whose SNAT is TCP (LB diagnostics doc): filter TCP.
  ports: {
    metricNames: ['UsedSnatPorts', 'AllocatedSnatPorts'],
    aggregation: 'average',
    filter: "BackendIPAddress eq '*' and ProtocolType eq 'TCP'",
    seriesPerNode: 1,
  },
  // Total, split by backend IP and connection state: failed connections are the exhaustion signal.
  connections: {
    metricNames: ['SnatConnectionCount'],
    aggregation: 'total',
    filter: "BackendIPAddress eq '*' and ConnectionState eq '*'",
    seriesPerNode: 2,
  },
};

/** "Up to 50 unique resource IDs … same subscription, region, and resource type" per batch call. */
export const BATCH_SIZE = 50;
/**
 * Splitting by a dimension returns only `top` series per metric and resource — 10 unless raised. A Standard load
 * balancer's backend pool holds up to 1,000 VMs (where Azure's default SNAT allocation table ends), so `top` is at
 * least that many nodes' series, more when a cluster is known to be bigger.
 */
export const NODES_PER_LOAD_BALANCER = 1000;
const LOAD_BALANCERS = 'Microsoft.Network/loadBalancers';
/** Metric time grains the service accepts, by window length in minutes; other windows ask for one point ("FULL"). */
const GRAINS: Record<number, string> = {
  1: 'PT1M',
  5: 'PT5M',
  15: 'PT15M',
  30: 'PT30M',
  60: 'PT1H',
  360: 'PT6H',
  720: 'PT12H',
  1440: 'P1D',
};

export interface Batch {
  subscriptionId: string;
  location: string;
  ids: string[];
  nodeCount: number;
}

/**
 * Groups load balancer ids (or NAT gateway ids: `kind`) by subscription and region, in batches of at most 50. A site
 * the adapter has not seen comes from AKS's default node resource group name, `MC_<group>_<cluster>_<region>`.
 */
export function metricBatches(
  ids: string[],
  siteOf: (id: string) => LoadBalancerSite | undefined,
  kind = 'load balancer',
): Batch[] {
  const groups = new Map<string, { subscriptionId: string; location: string; ids: string[]; nodeCount: number }>();
  for (const id of [...new Set(ids)]) {
    const subscriptionId = /^\/subscriptions\/([^/]+)\//i.exec(id)?.[1]?.toLowerCase();
    const site = siteOf(id) ?? siteFromNodeResourceGroup(id);
    if (!subscriptionId || !site) {
      throw new SnatDoctorError(
        'NO_METRICS',
        `Cannot tell the Azure region of ${kind} ${id}: read its cluster first (the metrics batch API is regional).`,
      );
    }
    const key = `${subscriptionId}|${site.location.toLowerCase()}`;
    const group = groups.get(key) ?? { subscriptionId, location: site.location.toLowerCase(), ids: [], nodeCount: 0 };
    group.ids.push(id);
    group.nodeCount = Math.max(group.nodeCount, site.nodeCount ?? 0);
    groups.set(key, group);
  }
  return [...groups.values()].flatMap((group) =>
    Array.from({ length: Math.ceil(group.ids.length / BATCH_SIZE) }, (_, i) => ({
      ...group,
      ids: group.ids.slice(i * BATCH_SIZE, (i + 1) * BATCH_SIZE),
    })),
  );
}

function siteFromNodeResourceGroup(id: string): LoadBalancerSite | undefined {
  const location = /\/resourceGroups\/MC_[^/]+_([a-z0-9]+)\/providers\//i.exec(id)?.[1];
  return location ? { location } : undefined;
}

export function topFor(query: SnatQuery, nodeCount: number): number {
  return query.seriesPerNode * Math.max(NODES_PER_LOAD_BALANCER, nodeCount);
}

export async function queryBackendSnat(
  clientFor: (location: string) => MetricsClient,
  batches: Batch[],
  window: { minutes: number },
  now: Date,
): Promise<BackendSnat[]> {
  const endTime = now;
  const startTime = new Date(now.getTime() - window.minutes * 60_000);
  const interval = GRAINS[window.minutes] ?? 'FULL';
  const answers = await Promise.all(
    batches.flatMap((batch) =>
      Object.values(SNAT_QUERIES).map((query) =>
        clientFor(batch.location).queryResources(batch.ids, query.metricNames, LOAD_BALANCERS, {
          startTime,
          endTime,
          interval,
          aggregation: query.aggregation,
          filter: query.filter,
          top: topFor(query, batch.nodeCount),
        }),
      ),
    ),
  );
  return readBackendSnat(
    batches.flatMap((b) => b.ids),
    answers.flat(),
  );
}

/** Folds the answers into one row per load balancer and backend IP, in the caller's spelling of the ids. */
export function readBackendSnat(ids: string[], results: MetricsQueryResult[]): BackendSnat[] {
  const spelling = new Map(ids.map((id) => [id.toLowerCase(), id]));
  const rows = new Map<string, BackendSnat>();
  for (const result of results) {
    const loadBalancerId = spelling.get((result.resourceId ?? '').toLowerCase());
    if (!loadBalancerId) continue;
    for (const metric of result.metrics ?? []) {
      const name = metricName(metric);
      for (const series of metric.timeseries ?? []) {
        const dimensions = new Map(
          (series.metadatavalues ?? []).map((m) => [(m.name ?? '').toLowerCase(), m.value ?? '']),
        );
        const backendIp = dimensions.get('backendipaddress');
        if (!backendIp) continue;
        const key = `${loadBalancerId.toLowerCase()}|${backendIp}`;
        const row = rows.get(key) ?? {
          loadBalancerId,
          backendIp,
          usedPorts: 0,
          allocatedPorts: 0,
          failedConnections: 0,
          successfulConnections: 0,
        };
        rows.set(key, row);
        const points = series.data ?? [];
        // Ports are a level: the window's worst minute. Connections are events: their sum over the window.
        const highest = Math.max(0, ...points.map((p) => p.average ?? 0));
        const sum = points.reduce((total, p) => total + (p.total ?? 0), 0);
        if (name === 'usedsnatports') row.usedPorts = Math.max(row.usedPorts, Math.round(highest));
        if (name === 'allocatedsnatports') row.allocatedPorts = Math.max(row.allocatedPorts, Math.round(highest));
        if (name === 'snatconnectioncount') {
          const state = (dimensions.get('connectionstate') ?? '').toLowerCase();
          if (state.startsWith('fail')) row.failedConnections += sum;
          else if (state.startsWith('succ')) row.successfulConnections += sum;
        }
      }
    }
  }
  return [...rows.values()];
}

/**
 * The metric's REST name, lower-cased. The SDK gives `name` as the *localized* value when there is one ("Used SNAT
 * Ports"), so the id's last segment (`…/providers/Microsoft.Insights/metrics/UsedSnatPorts`) is the reliable key.
 */
function metricName(metric: Metric): string {
  const fromId = /\/metrics\/([^/]+)$/i.exec(metric.id ?? '')?.[1];
  return (fromId ?? metric.name ?? '').replace(/\s+/g, '').toLowerCase();
}
