// What one alert payload may set going (issue 14, "alert amplification"): a payload naming 300 backend IPs started 300
// investigations, one naming 300 load balancers cost 1,200 ARM reads, and one unreadable configured cluster turned
// alerts for the other clusters into 503s.
import { describe, expect, test } from '@jest/globals';
import type { MetricAlert } from '../../lib/alerts/commonAlertSchema.ts';
import { type AlertClusters, clustersFromFacts } from '../../lib/alerts/resolveCluster.ts';
import { MAX_ALERT_LOAD_BALANCERS, MAX_ALERT_NODES, startFromAlert } from '../../lib/alerts/startFromAlert.ts';
import { TransientError } from '../../lib/errors.ts';
import type { ClusterRef } from '../../lib/model.ts';
import type { WatchClient } from '../../lib/watch/startOnce.ts';

const SUB = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const PAYMENTS: ClusterRef = { subscriptionId: SUB, resourceGroup: 'rg-payments-prod', name: 'aks-prod' };
const SHOP: ClusterRef = { subscriptionId: SUB, resourceGroup: 'rg-shop-prod', name: 'aks-shop' };
const lb = (group: string) =>
  `/subscriptions/${SUB}/resourcegroups/${group}/providers/microsoft.network/loadbalancers/kubernetes`;
const PAYMENTS_LB = lb('mc_rg-payments-prod_aks-prod_westeurope');
const SHOP_LB = lb('mc_rg-shop-prod_aks-shop_northeurope');
const CLUSTERS = clustersFromFacts([
  { ref: PAYMENTS, nodeResourceGroup: 'MC_rg-payments-prod_aks-prod_westeurope' },
  { ref: SHOP, nodeResourceGroup: 'MC_rg-shop-prod_aks-shop_northeurope' },
]);

/** A Durable client that records what was started (every start is new: nothing runs; no node has a registry). */
function recordingClient(): WatchClient & { started: string[]; signals: string[] } {
  const started: string[] = [];
  const signals: string[] = [];
  return {
    started,
    signals,
    getStatus: async (id) => (started.includes(id) ? { runtimeStatus: 'Running' } : undefined),
    startNew: async (_name, { instanceId }) => {
      started.push(instanceId);
      return instanceId;
    },
    readEntityState: async () => ({ entityExists: false }),
    signalEntity: async (entityId, op) => {
      signals.push(`${op} ${entityId.key}`);
    },
  };
}

function alert(loadBalancerIds: string[], backendIps: string[] = []): MetricAlert {
  return { fired: true, loadBalancerIds, backendIps, metric: 'SnatConnectionCount', rule: 'SNAT ports above 90%' };
}

const options = (client: WatchClient, clusters: AlertClusters = CLUSTERS) => ({
  client,
  clusters,
  listNodes: async () => [],
});

describe('one payload', () => {
  test(`naming 300 backend IPs starts ${MAX_ALERT_NODES} investigations and says which IPs it left`, async () => {
    const ips = Array.from({ length: 300 }, (_, i) => `10.224.${1 + (i >> 8)}.${i & 255}`);
    const client = recordingClient();
    const outcome = await startFromAlert(alert([PAYMENTS_LB], ips), options(client));
    expect(client.started).toHaveLength(MAX_ALERT_NODES);
    expect(outcome).toMatchObject({ kind: 'started', capped: { backendIps: ips.slice(MAX_ALERT_NODES) } });
  });

  test('naming one load balancer many times, in any case, is one investigation', async () => {
    const client = recordingClient();
    const outcome = await startFromAlert(alert([PAYMENTS_LB, PAYMENTS_LB.toUpperCase(), PAYMENTS_LB]), options(client));
    expect(client.started).toHaveLength(1);
    expect(outcome).toMatchObject({ kind: 'started', capped: { loadBalancerIds: [], backendIps: [] }, unknown: [] });
  });

  test(`naming more than ${MAX_ALERT_LOAD_BALANCERS} load balancers resolves the first ${MAX_ALERT_LOAD_BALANCERS}`, async () => {
    const others = Array.from({ length: 8 }, (_, i) => lb(`mc_rg-other_aks-${i}_westeurope`));
    const ids = [PAYMENTS_LB, ...others];
    const client = recordingClient();
    const outcome = await startFromAlert(alert(ids), options(client));
    expect(outcome).toMatchObject({
      kind: 'started',
      unknown: ids.slice(1, MAX_ALERT_LOAD_BALANCERS),
      capped: { loadBalancerIds: ids.slice(MAX_ALERT_LOAD_BALANCERS) },
    });
    expect(client.started).toHaveLength(1);
  });
});

describe('a configured cluster ARM will not read', () => {
  const shopUnreadable: AlertClusters = {
    configured: [PAYMENTS, SHOP],
    resolve: async (subscriptionId, group) => {
      if (group.includes('shop')) throw new TransientError('reading rg-shop-prod/aks-shop: ARM answered 503');
      return CLUSTERS.resolve(subscriptionId, group);
    },
  };

  test("does not keep another cluster's alert from being investigated", async () => {
    const client = recordingClient();
    const outcome = await startFromAlert(alert([SHOP_LB, PAYMENTS_LB]), options(client, shopUnreadable));
    expect(client.started).toHaveLength(1);
    expect(outcome).toMatchObject({
      kind: 'started',
      investigations: [{ cluster: PAYMENTS }],
      unresolved: [{ loadBalancerId: SHOP_LB, reason: 'reading rg-shop-prod/aks-shop: ARM answered 503' }],
    });
  });

  test('is worth a retry when its load balancer is all the alert names', async () => {
    const client = recordingClient();
    await expect(startFromAlert(alert([SHOP_LB]), options(client, shopUnreadable))).rejects.toThrow(TransientError);
    expect(client.started).toEqual([]);
  });
});
