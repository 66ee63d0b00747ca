// Which configured cluster a load balancer's resource group belongs to, from SNAT_DOCTOR_WATCH_CLUSTERS and each
// cluster's node resource group as ARM reports it (a fake ClusterApi that counts its reads).
import { describe, expect, test } from '@jest/globals';
import { clustersFromConfig, clustersFromFacts, clustersOfLoadBalancers } from '../../lib/alerts/resolveCluster.ts';
import { readConfig } from '../../lib/config.ts';
import { TransientError } from '../../lib/errors.ts';
import type { ClusterFacts, ClusterRef } from '../../lib/model.ts';
import type { ClusterApi } from '../../lib/ports.ts';

const SUB = '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c';
const OTHER_SUB = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const PAYMENTS: ClusterRef = { subscriptionId: SUB, resourceGroup: 'rg-payments-prod', name: 'aks-prod' };
const SHOP: ClusterRef = { subscriptionId: SUB, resourceGroup: 'rg-shop-prod', name: 'aks-shop' };
// A cluster created with a custom node resource group (`az aks create --node-resource-group`).
const LEDGER: ClusterRef = { subscriptionId: SUB, resourceGroup: 'rg-ledger', name: 'aks-ledger' };
const NODE_GROUPS: Record<string, string> = {
  'aks-prod': 'MC_rg-payments-prod_aks-prod_westeurope',
  'aks-shop': 'MC_rg-shop-prod_aks-shop_northeurope',
  'aks-ledger': 'ledger-nodes',
};

function fakeArm(fail: string[] = []) {
  const reads: string[] = [];
  const api: ClusterApi = {
    async getCluster(ref) {
      reads.push(ref.name);
      if (fail.includes(ref.name)) throw new TransientError(`ARM answered 503 for ${ref.name}`);
      return { ref, nodeResourceGroup: NODE_GROUPS[ref.name] } as ClusterFacts;
    },
  };
  return { api, reads };
}

function configured(clusters: ClusterRef[], arm = fakeArm()) {
  const result = clustersFromConfig(
    readConfig({ SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify(clusters) }).alerts,
    () => arm.api,
  );
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return { ...result.clusters, reads: arm.reads };
}

describe('clustersFromEnv', () => {
  test('the usual alert costs one ARM read: the cluster whose default node resource group fits is read first', async () => {
    const clusters = configured([SHOP, LEDGER, PAYMENTS]);
    // Alerts send ids lower-cased.
    expect(await clusters.resolve(SUB, 'mc_rg-payments-prod_aks-prod_westeurope')).toEqual(PAYMENTS);
    expect(clusters.reads).toEqual(['aks-prod']);
  });

  test('a custom node resource group is found by reading the other clusters of the subscription', async () => {
    const clusters = configured([SHOP, LEDGER, PAYMENTS]);
    expect(await clusters.resolve(SUB, 'ledger-nodes')).toEqual(LEDGER);
    expect(clusters.reads.sort()).toEqual(['aks-ledger', 'aks-prod', 'aks-shop']);
  });

  test('a load balancer in another subscription belongs to none, without asking ARM', async () => {
    const clusters = configured([PAYMENTS]);
    expect(await clusters.resolve(OTHER_SUB, 'MC_rg-payments-prod_aks-prod_westeurope')).toBeUndefined();
    expect(clusters.reads).toEqual([]);
  });

  test('a resource group of no configured cluster belongs to none', async () => {
    expect(await configured([PAYMENTS, SHOP]).resolve(SUB, 'MC_rg-other_aks-other_westeurope')).toBeUndefined();
  });

  test('when a cluster cannot be read and none matched, it says it cannot tell (to be retried), not "none"', async () => {
    const clusters = configured([PAYMENTS, SHOP], fakeArm(['aks-shop']));
    await expect(clusters.resolve(SUB, 'MC_rg-other_aks-other_westeurope')).rejects.toThrow(
      /Could not tell which cluster .*rg-shop-prod\/aks-shop: ARM answered 503/,
    );
  });

  test('a cluster that cannot be read does not hide the one that matches', async () => {
    const clusters = configured([PAYMENTS, SHOP], fakeArm(['aks-shop']));
    expect(await clusters.resolve(SUB, 'MC_rg-payments-prod_aks-prod_westeurope')).toEqual(PAYMENTS);
  });

  test.each<[string, Record<string, string | undefined>, RegExp]>([
    ['not set', {}, /SNAT_DOCTOR_WATCH_CLUSTERS is not set/],
    ['not JSON', { SNAT_DOCTOR_WATCH_CLUSTERS: '[{' }, /SNAT_DOCTOR_WATCH_CLUSTERS is not valid JSON/],
    [
      'a bad resource group',
      { SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([{ ...PAYMENTS, resourceGroup: '$(id)' }]) },
      /SNAT_DOCTOR_WATCH_CLUSTERS\[0\]\.resourceGroup/,
    ],
  ])('the cluster list %s is reported by name', (_name, env, problem) => {
    const result = clustersFromConfig(readConfig(env).alerts, () => fakeArm().api);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toContainEqual(expect.stringMatching(problem));
  });

  test("the watch's other settings being wrong does not switch alerts off", () => {
    const env = { SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([PAYMENTS]), SNAT_DOCTOR_INVESTIGATE_RATIO: 'lots' };
    expect(clustersFromConfig(readConfig(env).alerts, () => fakeArm().api).ok).toBe(true);
  });
});

describe('clustersOfLoadBalancers', () => {
  const clusters = clustersFromFacts([
    { ref: PAYMENTS, nodeResourceGroup: NODE_GROUPS['aks-prod']! },
    { ref: SHOP, nodeResourceGroup: NODE_GROUPS['aks-shop']! },
  ]);
  const lb = (group: string, name = 'kubernetes') =>
    `/subscriptions/${SUB}/resourcegroups/${group}/providers/microsoft.network/loadbalancers/${name}`;

  test("a cluster's public and internal load balancers are one cluster", async () => {
    const ids = [
      lb('mc_rg-payments-prod_aks-prod_westeurope'),
      lb('mc_rg-payments-prod_aks-prod_westeurope', 'kubernetes-internal'),
    ];
    expect(await clustersOfLoadBalancers(ids, clusters)).toEqual({ clusters: [PAYMENTS], unknown: [], unresolved: [] });
  });

  test('load balancers of two clusters are two clusters', async () => {
    const ids = [lb('MC_rg-payments-prod_aks-prod_westeurope'), lb('MC_rg-shop-prod_aks-shop_northeurope')];
    expect(await clustersOfLoadBalancers(ids, clusters)).toEqual({
      clusters: [PAYMENTS, SHOP],
      unknown: [],
      unresolved: [],
    });
  });

  test('any load balancer of no configured cluster is named, and the others still resolve', async () => {
    const ids = [lb('MC_rg-payments-prod_aks-prod_westeurope'), lb('MC_rg-other_aks-other_westeurope')];
    expect(await clustersOfLoadBalancers(ids, clusters)).toEqual({
      clusters: [PAYMENTS],
      unknown: [ids[1]],
      unresolved: [],
    });
  });

  test('a load balancer whose cluster cannot be read is set aside with why; the others still resolve', async () => {
    const flaky: typeof clusters = {
      configured: [PAYMENTS, SHOP],
      resolve: async (subscriptionId, group) => {
        if (group.toLowerCase().includes('shop')) throw new TransientError('reading rg-shop-prod/aks-shop: 503');
        return clusters.resolve(subscriptionId, group);
      },
    };
    const ids = [lb('MC_rg-shop-prod_aks-shop_northeurope'), lb('MC_rg-payments-prod_aks-prod_westeurope')];
    expect(await clustersOfLoadBalancers(ids, flaky)).toEqual({
      clusters: [PAYMENTS],
      unknown: [],
      unresolved: [{ loadBalancerId: ids[0], reason: 'reading rg-shop-prod/aks-shop: 503' }],
    });
  });
});

describe('clustersFromConfig', () => {
  test('reads each configured cluster from ARM once, however many load balancers an alert names', async () => {
    const clusters = configured([PAYMENTS, SHOP]);
    const ids = Array.from(
      { length: 300 },
      (_, i) =>
        `/subscriptions/${SUB}/resourcegroups/mc_rg-other_aks-${i}_westeurope/providers/microsoft.network/loadbalancers/kubernetes`,
    );
    const found = await clustersOfLoadBalancers(ids, clusters);
    expect(found.unknown).toHaveLength(300);
    expect(clusters.reads.sort()).toEqual(['aks-prod', 'aks-shop']);
  });
});
