// A NAT gateway's own SNAT metrics from Azure Monitor's metrics batch API (`metrics:getBatch`), namespace
// Microsoft.Network/natGateways: gateways grouped by subscription and region, at most 50 per call (metricBatches, as
// for load balancers — a batch is one resource type, so NAT gateways never share a call with load balancers), two
// queries per batch: `SNATConnectionCount` filtered to ConnectionState Failed, and `TotalConnectionCount` with
// `PacketDropCount`, which have no ConnectionState (the batch API validates dimensions, so one filter cannot serve
// both). Calls grow with gateways ÷ 50.
//
// The metrics (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-network-natgateways-metrics,
// learn.microsoft.com/azure/nat-gateway/nat-metrics): all are Count with time grain PT1M and Total as their
// aggregation — "Count aggregation is not recommended for any of the NAT gateway metrics … Use Total aggregation
// instead". None has a per-node (backend IP) dimension.
import type { Metric, MetricsClient, MetricsQueryResult } from '@azure/monitor-query-metrics';
import type { NatGatewaySnat } from '../../model.ts';
import type { Batch } from './backendSnat.ts';

/** The ARM resource type, which is the metrics namespace (the supported-metrics page spells it `natgateways`). */
export const NAT_GATEWAYS = 'Microsoft.Network/natGateways';

export interface NatGatewayQuery {
  metricNames: string[];
  aggregation: 'total';
  filter?: string;
}

export const NAT_GATEWAY_QUERIES: Record<'failed' | 'volume', NatGatewayQuery> = {
  // "A failed connection volume greater than zero can indicate that you reached the connection limit on your NAT
  // gateway or that you hit SNAT port exhaustion" (nat-metrics): the alert it recommends is this metric, Total,
  // with Connection State Failed.
  failed: { metricNames: ['SNATConnectionCount'], aggregation: 'total', filter: "ConnectionState eq 'Failed'" },
  // "Total SNAT connection count … the total number of active SNAT connections" and "Dropped Packets" (nat-metrics).
  volume: { metricNames: ['TotalConnectionCount', 'PacketDropCount'], aggregation: 'total' },
};

/**
 * The metrics' own time grain: per minute, so that the window's busiest minute of active connections can be told apart
 * from their sum over the window (what "Total" of a level means across longer grains is not documented: the docs only
 * call it "the total number of active SNAT connections").
 */
const INTERVAL = 'PT1M';

export async function queryNatGatewaySnat(
  clientFor: (location: string) => MetricsClient,
  batches: Batch[],
  window: { minutes: number },
  now: Date,
): Promise<NatGatewaySnat[]> {
  const endTime = now;
  const startTime = new Date(now.getTime() - window.minutes * 60_000);
  const answers = await Promise.all(
    batches.flatMap((batch) =>
      Object.values(NAT_GATEWAY_QUERIES).map((query) =>
        clientFor(batch.location).queryResources(batch.ids, query.metricNames, NAT_GATEWAYS, {
          startTime,
          endTime,
          interval: INTERVAL,
          aggregation: query.aggregation,
          ...(query.filter ? { filter: query.filter } : {}),
        }),
      ),
    ),
  );
  return readNatGatewaySnat(
    batches.flatMap((b) => b.ids),
    answers.flat(),
  );
}

/**
 * Folds the answers into one row per gateway the service has data for, in the caller's spelling of the ids: failed
 * connections and dropped packets are events, summed over the window; active connections are a level, the window's
 * highest minute.
 */
export function readNatGatewaySnat(ids: string[], results: MetricsQueryResult[]): NatGatewaySnat[] {
  const spelling = new Map(ids.map((id) => [id.toLowerCase(), id]));
  const rows = new Map<string, NatGatewaySnat>();
  for (const result of results) {
    const natGatewayId = spelling.get((result.resourceId ?? '').toLowerCase());
    if (!natGatewayId) continue;
    const key = natGatewayId.toLowerCase();
    for (const metric of result.metrics ?? []) {
      // A resource with no series at all is one the service has no data for: no row, rather than a row of zeros.
      if ((metric.timeseries ?? []).length === 0) continue;
      const row = rows.get(key) ?? { natGatewayId, failedConnections: 0, totalConnections: 0, droppedPackets: 0 };
      rows.set(key, row);
      const name = metricName(metric);
      const perMinute: number[] = [];
      for (const series of metric.timeseries ?? []) {
        const state = (series.metadatavalues ?? []).find((m) => (m.name ?? '').toLowerCase() === 'connectionstate');
        // Filtered to Failed; a series of another state (a service that splits anyway) is not a failure.
        if (name === 'snatconnectioncount' && state && !(state.value ?? '').toLowerCase().startsWith('fail')) continue;
        (series.data ?? []).forEach((point, i) => {
          perMinute[i] = (perMinute[i] ?? 0) + (point.total ?? 0);
        });
      }
      const sum = perMinute.reduce((total, v) => total + v, 0);
      if (name === 'snatconnectioncount') row.failedConnections += Math.round(sum);
      if (name === 'packetdropcount') row.droppedPackets += Math.round(sum);
      if (name === 'totalconnectioncount') {
        row.totalConnections = Math.max(row.totalConnections, Math.round(Math.max(0, ...perMinute)));
      }
    }
  }
  return [...rows.values()];
}

/** The metric's REST name, lower-cased, from its id (the SDK's `name` may be the localized one). */
function metricName(metric: Metric): string {
  const fromId = /\/metrics\/([^/]+)$/i.exec(metric.id ?? '')?.[1];
  return (fromId ?? metric.name ?? '').replace(/\s+/g, '').toLowerCase();
}
