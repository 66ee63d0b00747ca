import { describe, expect, test } from '@jest/globals';
import type { ClusterFacts } from '../../lib/model.ts';
import { allocationFinding } from '../../lib/watch/drift.ts';
import { memoryFrom } from '../../lib/watch/memory.ts';
import { trendOf } from '../../lib/watch/trend.ts';
import { clusterFacts } from '../support/facts.ts';

const ref = { subscriptionId: '11111111-1111-1111-1111-111111111111', resourceGroup: 'rg-shop', name: 'aks-shop' };
const facts = (over: Partial<ClusterFacts>) =>
  clusterFacts({ ref, nodeResourceGroup: 'MC_rg-shop_aks-shop_westeurope', ...over });

describe('allocationFinding', () => {
  test('the default allocation halved by pool growth (51 nodes): told, and pinned back with the outbound IPs it needs', () => {
    const finding = allocationFinding({
      cluster: ref,
      facts: facts({ nodeCount: 51 }),
      node: 'n1',
      allocatedPorts: 512,
      previous: 1024,
    });
    expect(finding?.kinds).toEqual(['drop']);
    expect(finding?.message).toContain(
      "as Azure's default gives a pool of 51 nodes (512): the pool grew past a row of the default table",
    );
    // 51 nodes × 1,024 ports need 52,224 ports: one IP (64,000) still holds them.
    expect(finding?.commands).toEqual([
      'az aks update --resource-group rg-shop --name aks-shop --load-balancer-outbound-ports 1024',
    ]);
    const bigger = allocationFinding({
      cluster: ref,
      facts: facts({ nodeCount: 101 }),
      node: 'n1',
      allocatedPorts: 256,
      previous: 1024,
    });
    expect(bigger?.commands).toEqual([
      'az aks update --resource-group rg-shop --name aks-shop --load-balancer-managed-outbound-ip-count 2 --load-balancer-outbound-ports 1024',
    ]);
  });

  test('as configured and not dropped: nothing; more than configured: a mismatch with nothing to restore', () => {
    expect(
      allocationFinding({
        cluster: ref,
        facts: facts({ allocatedOutboundPorts: 4000 }),
        node: 'n1',
        allocatedPorts: 4000,
        previous: 4000,
      }),
    ).toBeUndefined();
    const more = allocationFinding({
      cluster: ref,
      facts: facts({ allocatedOutboundPorts: 4000 }),
      node: 'n1',
      allocatedPorts: 8000,
    });
    expect(more).toMatchObject({ kinds: ['mismatch'], commands: [] });
    expect(more?.message).toContain('nothing to restore');
  });

  test('the same change is the same signature: reported once', () => {
    const first = allocationFinding({
      cluster: ref,
      facts: facts({ allocatedOutboundPorts: 4000 }),
      node: 'n1',
      allocatedPorts: 1024,
      previous: 4000,
    });
    const next = allocationFinding({
      cluster: ref,
      facts: facts({ allocatedOutboundPorts: 4000 }),
      node: 'n1',
      allocatedPorts: 1024,
      previous: 1024,
      reported: first?.signature,
    });
    expect(first?.new).toBe(true);
    expect(next?.new).toBe(false);
  });
});

describe('trendOf', () => {
  const now = new Date('2026-01-01T01:00:00Z');
  const sample = (minutesAgo: number, usedPorts: number, allocatedPorts = 1000) => ({
    at: new Date(now.getTime() - minutesAgo * 60_000).toISOString(),
    usedPorts,
    allocatedPorts,
  });

  test('a steady rise: its slope, and when the line reaches the allocation', () => {
    expect(trendOf([sample(10, 500), sample(5, 600), sample(0, 700)], now)).toEqual({
      portsPerMinute: 20,
      samples: 3,
      spanMinutes: 10,
      exhaustsInMinutes: 15,
    });
  });

  test('too few samples, too short a span, or samples older than the window: no trend', () => {
    expect(trendOf([sample(5, 600), sample(0, 700)], now)).toBeUndefined();
    expect(trendOf([sample(1, 600), sample(0.5, 650), sample(0, 700)], now)).toBeUndefined();
    expect(trendOf([sample(200, 100), sample(100, 300), sample(0, 700)], now)).toBeUndefined();
  });

  test('a fall has a negative slope and no exhaustion time', () => {
    const trend = trendOf([sample(10, 700), sample(5, 650), sample(0, 600)], now);
    expect(trend?.portsPerMinute).toBe(-10);
    expect(trend?.exhaustsInMinutes).toBeUndefined();
  });
});

describe('memoryFrom', () => {
  test('keeps what fits and drops what does not (a stored memory is input like any other)', () => {
    const memory = memoryFrom({
      nodes: {
        'aks-n1': {
          allocatedPorts: 1024,
          samples: [
            { at: '2026-01-01T00:00:00Z', usedPorts: 5, allocatedPorts: 1024 },
            { at: 'x', usedPorts: 1, allocatedPorts: 1 },
          ],
        },
        'bad name!': { allocatedPorts: 1 },
        'aks-n2': { allocatedPorts: -1, samples: 'no', reported: 'x'.repeat(100) },
      },
    });
    expect(memory).toEqual({
      nodes: {
        'aks-n1': {
          allocatedPorts: 1024,
          samples: [{ at: '2026-01-01T00:00:00Z', usedPorts: 5, allocatedPorts: 1024 }],
        },
        'aks-n2': { samples: [] },
      },
    });
    expect(memoryFrom('not an object')).toEqual({ nodes: {} });
  });
});
