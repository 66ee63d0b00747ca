import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  defaultPortsPerNode,
  ipsNeeded,
  natGatewayBudget,
  portsForNodes,
  snatBudget,
} from '../../lib/analysis/snatBudget.ts';
import { HOLD_AFTER_CLOSE_SECONDS, snatModel } from '../../lib/analysis/snatModel.ts';
import type { BackendSnat, DestinationPressure, FlowCount } from '../../lib/model.ts';
import { clusterFacts } from '../support/facts.ts';

const facts = clusterFacts;

function backend(overrides: Partial<BackendSnat> = {}): BackendSnat {
  return {
    loadBalancerId: '/subscriptions/0/resourceGroups/mc/providers/Microsoft.Network/loadBalancers/kubernetes',
    backendIp: '10.224.0.5',
    usedPorts: 1000,
    allocatedPorts: 1024,
    failedConnections: 0,
    successfulConnections: 5000,
    ...overrides,
  };
}

function flow(overrides: Partial<FlowCount> = {}): FlowCount {
  return { ip: '20.60.1.2', port: 443, protocol: 'tcp', open: 0, timeWait: 0, connects: 0, failed: 0, ...overrides };
}

/** The node's destinations as the SNAT model gives them (most ports first), from each holder's flows. */
function destinations(holders: FlowCount[][], captureSeconds = 30): DestinationPressure[] {
  return snatModel(
    holders.map((flows, i) => ({ id: `pod ${i}`, flows })),
    captureSeconds,
  ).destinations;
}

describe("Azure's default allocation by backend pool size", () => {
  test.each([
    [0, 1024],
    [1, 1024],
    [50, 1024],
    [51, 512],
    [100, 512],
    [101, 256],
    [200, 256],
    [201, 128],
    [400, 128],
    [401, 64],
    [800, 64],
    [801, 32],
    [1000, 32],
    [1001, 32], // past the table's end: its last row
  ])('a pool of %d nodes gets %d ports each', (poolSize, ports) => {
    expect(defaultPortsPerNode(poolSize)).toBe(ports);
  });
});

describe('capacity arithmetic', () => {
  test.each([
    [3, 1, 21328, '64,000 ÷ 3 = 21,333.3, down to a multiple of 8'],
    [50, 1, 1280, 'exactly 1,280'],
    [7, 1, 9136, '9,142.9 → 9,136'],
    [100, 2, 1280, '128,000 ÷ 100'],
    [66, 1, 968, '969.7 → 968'],
    [1, 1, 64000, 'one node: all of one IP'],
    [1, 4, 64000, 'never above 64,000 per node'],
    [10, 0, 0, 'no IPs, no ports'],
  ])('portsForNodes(%d nodes, %d IPs) = %d (%s)', (nodes, ips, ports) => {
    expect(portsForNodes(nodes, ips)).toBe(ports);
  });

  test('portsForNodes is the largest multiple of 8 that fits (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 100 }), (nodes, ips) => {
        const ports = portsForNodes(nodes, ips);
        expect(ports % 8).toBe(0);
        expect(ports).toBeLessThanOrEqual(64000);
        expect(nodes * ports).toBeLessThanOrEqual(64000 * ips);
        if (ports < 64000) expect(nodes * (ports + 8)).toBeGreaterThan(64000 * ips);
      }),
    );
  });

  test.each([
    [50, 1024, 1, '51,200 ports: one IP'],
    [62, 1024, 1, '63,488'],
    [63, 1024, 2, '64,512: just over one IP'],
    [100, 1024, 2, '102,400'],
    [128, 1000, 2, "the AKS docs' example: 1,000 ports × 128 nodes on 2 IPs"],
    [112, 4000, 7, "the AKS docs' example: 4,000 ports × 112 nodes on 7 IPs"],
  ])('ipsNeeded(%d nodes, %d ports) = %d (%s)', (nodes, ports, ips) => {
    expect(ipsNeeded(nodes, ports)).toBe(ips);
  });
});

describe('snatBudget', () => {
  test('no metrics for the node (NAT gateway, or the query failed): no budget', () => {
    expect(snatBudget({ facts: facts(), destinations: [] })).toBeUndefined();
  });

  test('the metrics, the default allocation for the pool, and the outbound IPs', () => {
    const budget = snatBudget({
      facts: facts({ nodeCount: 60, outboundIpCount: 2 }),
      backend: backend({ usedPorts: 480, allocatedPorts: 512, failedConnections: 17 }),
      destinations: [],
    });
    expect(budget).toEqual({
      usedPorts: 480,
      allocatedPorts: 512,
      failedConnections: 17,
      // The table's 512 for 51–100 nodes, per frontend IP, at most 1,024 (load-balancer-outbound-connections: "If a
      // second frontend IP is added, each VM will receive an additional 512 ports").
      defaultAllocation: 1024,
      outboundIpCount: 2,
      maxNodesAtAllocation: 125, // 64,000 × 2 ÷ 1,024
      byDestination: [],
    });
  });

  test('the default allocation with more frontend IPs: the table per IP, never above 1,024', () => {
    const at = (nodeCount: number, outboundIpCount: number) =>
      snatBudget({ facts: facts({ nodeCount, outboundIpCount }), backend: backend(), destinations: [] })
        ?.defaultAllocation;
    expect([at(100, 1), at(100, 2), at(100, 3), at(150, 3), at(3, 4)]).toEqual([512, 1024, 1024, 768, 1024]);
  });

  test.each([
    [{ nodeCount: 3, outboundIpCount: 1, allocatedOutboundPorts: 0 }, 62, 'default 1,024 per node, 1 IP'],
    [{ nodeCount: 3, outboundIpCount: 2, allocatedOutboundPorts: 1000 }, 128, "the AKS docs' 1,000 ports × 2 IPs"],
    [{ nodeCount: 3, outboundIpCount: 7, allocatedOutboundPorts: 4000 }, 112, "the AKS docs' 4,000 ports × 7 IPs"],
    [{ nodeCount: 120, outboundIpCount: 1, allocatedOutboundPorts: 0 }, 250, 'default 256 for a pool of 101–200'],
  ])('maxNodesAtAllocation for %j is %d (%s)', (overrides, maxNodes) => {
    expect(snatBudget({ facts: facts(overrides), backend: backend(), destinations: [] })?.maxNodesAtAllocation).toBe(
      maxNodes,
    );
  });

  test("byDestination: the model's destinations, every pod's ports on each summed, most ports first, top 10", () => {
    const pods = [
      [flow({ open: 300 }), flow({ ip: '52.1.2.3', port: 5432, open: 50 })],
      [
        flow({ open: 200 }), // the same destination as the first pod: they compete for its ports
        flow({ ip: '52.1.2.3', port: 443, open: 50 }), // same IP, other port: another destination
      ],
      Array.from({ length: 12 }, (_, i) => flow({ ip: `40.0.0.${i + 1}`, open: 10 - Math.min(i, 9) })),
    ];
    const budget = snatBudget({
      facts: facts(),
      backend: backend({ usedPorts: 900 }),
      destinations: destinations(pods),
    });
    expect(budget?.byDestination).toHaveLength(10);
    const ports = (total: number) => ({ held: total, churn: 0, failed: 0, total });
    expect(budget?.byDestination.slice(0, 4)).toEqual([
      { ip: '20.60.1.2', port: 443, protocol: 'tcp', connections: 500, ports: ports(500), share: 0.49 }, // 500 ÷ 1,024
      { ip: '52.1.2.3', port: 443, protocol: 'tcp', connections: 50, ports: ports(50), share: 0.05 },
      { ip: '52.1.2.3', port: 5432, protocol: 'tcp', connections: 50, ports: ports(50), share: 0.05 },
      { ip: '40.0.0.1', port: 443, protocol: 'tcp', connections: 10, ports: ports(10), share: 0.01 },
    ]);
  });

  test('share is ports ÷ allocated ports, churn and failures included, not connections ÷ used ports', () => {
    // 3 open, 1,800 connects in 30 s (60/s × 240 s = 14,400 churn), 24 failed: 14,427 ports on one destination.
    const [busiest] = destinations([[flow({ open: 3, connects: 1800, failed: 24 })]]);
    const budget = snatBudget({
      facts: facts(),
      backend: backend({ usedPorts: 1024, allocatedPorts: 1024 }),
      destinations: busiest ? [busiest] : [],
    });
    const churn = 60 * HOLD_AFTER_CLOSE_SECONDS;
    expect(budget?.byDestination).toEqual([
      {
        ip: '20.60.1.2',
        port: 443,
        protocol: 'tcp',
        connections: 3,
        ports: { held: 3, churn, failed: 24, total: 3 + churn + 24 },
        share: Math.round(((3 + churn + 24) / 1024) * 100) / 100,
      },
    ]);
    // Above 1: the destination needs more ports than the node is allocated (it is exhausted).
    expect(budget?.byDestination[0]?.share).toBeGreaterThan(1);
  });

  test.each([
    [1024, 512, 0.5, 'half the allocation'],
    [1024, 1024, 1, 'exactly the allocation: exhausted'],
    [0, 512, 0, 'no allocation known: share 0, not a division by zero'],
  ])('allocated %d, a destination needing %d ports → share %d (%s)', (allocatedPorts, open, share) => {
    const budget = snatBudget({
      facts: facts(),
      backend: backend({ usedPorts: 0, allocatedPorts }),
      destinations: destinations([[flow({ open })]]),
    });
    expect(budget?.byDestination[0]?.share).toBe(share);
  });

  test('used ports do not change the share (it is the destination against the allocation)', () => {
    const shares = [0, 300, 1024].map(
      (usedPorts) =>
        snatBudget({
          facts: facts(),
          backend: backend({ usedPorts }),
          destinations: destinations([[flow({ open: 256 })]]),
        })?.byDestination[0]?.share,
    );
    expect(shares).toEqual([0.25, 0.25, 0.25]);
  });

  test('UDP destinations keep their protocol and port 0 (one port per destination IP)', () => {
    const budget = snatBudget({
      facts: facts(),
      backend: backend(),
      destinations: destinations([[flow({ ip: '8.8.8.8', port: 0, protocol: 'udp', open: 4 })]]),
    });
    expect(budget?.byDestination).toEqual([
      expect.objectContaining({ ip: '8.8.8.8', port: 0, protocol: 'udp', connections: 4 }),
    ]);
  });
});

describe('the budget of a NAT gateway cluster (issue 15): per destination endpoint, for the whole gateway', () => {
  const gateway = (id: string, failed: number, total: number, dropped: number) => ({
    natGatewayId: `/subscriptions/0/resourceGroups/mc/providers/Microsoft.Network/natGateways/${id}`,
    failedConnections: failed,
    totalConnections: total,
    droppedPackets: dropped,
  });

  test("each endpoint's ports against 50,000 per public IP; the gateway's 64,512 ports per IP", () => {
    const budget = natGatewayBudget({
      facts: { outboundIpCount: 2 },
      // 20.60.1.2:443: 30,000 open + churn; 20.60.9.9:443 a little.
      destinations: destinations([[flow({ open: 30_000 })], [flow({ ip: '20.60.9.9', open: 10 })]]),
    });
    expect(budget).toMatchObject({ publicIpCount: 2, ports: 129_024, perEndpointCap: 100_000 });
    expect(budget.byDestination.map((d) => [d.ip, d.ports.total, d.share])).toEqual([
      ['20.60.1.2', 30_000, 0.3],
      ['20.60.9.9', 10, 0.0001],
    ]);
    expect(budget.gateway).toBeUndefined();
    expect(budget.hotEndpoint).toBeUndefined();
  });

  test('public IPs AKS does not give count as 1, and never more than the 16 a gateway takes', () => {
    const unknown = natGatewayBudget({ facts: { outboundIpCount: 0 }, destinations: [] });
    expect(unknown).toMatchObject({ publicIpCount: 0, ports: 64_512, perEndpointCap: 50_000 });
    const many = natGatewayBudget({ facts: { outboundIpCount: 40 }, destinations: [] });
    expect(many).toMatchObject({ ports: 64_512 * 16, perEndpointCap: 50_000 * 16 });
  });

  test("the gateways' own metrics are summed; the survey's hot endpoint is measured against the same cap", () => {
    const budget = natGatewayBudget({
      facts: { outboundIpCount: 1 },
      destinations: [],
      gateways: [gateway('a', 120, 1000, 40), gateway('b', 5, 85, 0)],
      survey: {
        destination: { ip: '20.50.2.10', port: 443, connections: 758 },
        nodes: [{ name: 'n1', connections: 758 }],
        pods: [{ node: 'n1', namespace: 'shop', pod: 'cart', connections: 758 }],
        nodesSurveyed: 1,
        podsRead: 1,
        podsUnread: 0,
        unreadSamples: [],
        podsLeft: 0,
        hostNetworkPods: 0,
      },
    });
    expect(budget.gateway).toEqual({ gateways: 2, failedConnections: 125, totalConnections: 1085, droppedPackets: 40 });
    expect(budget.hotEndpoint).toEqual({ ip: '20.50.2.10', port: 443, connections: 758, share: 0.0152 });
  });

  test('an empty gateway list (read, nothing reported) is zeros, not "not read"', () => {
    const budget = natGatewayBudget({ facts: { outboundIpCount: 1 }, destinations: [], gateways: [] });
    expect(budget.gateway).toEqual({ gateways: 0, failedConnections: 0, totalConnections: 0, droppedPackets: 0 });
  });
});
