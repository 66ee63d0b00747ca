// Realistic nodes the old ranking got wrong (issue 10), investigated end to end on the sandbox: each proves the SNAT
// model's answer and its numbers. The scenarios are in test/fixtures/scenarios/; `snat-doctor diagnose --sandbox FILE`
// shows any of them as a person sees it.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { HOLD_AFTER_CLOSE_SECONDS } from '../../lib/analysis/snatModel.ts';
import type { Report } from '../../lib/model.ts';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { renderProbeReport } from '../../lib/sandbox/nodeProbe.ts';
import { parseScenario, type Scenario } from '../../lib/sandbox/scenario.ts';
import { investigateOn } from '../support/runtime.ts';

function scenario(name: string, edit?: (text: string) => string): Scenario {
  const path = new URL(`../fixtures/scenarios/${name}.yaml`, import.meta.url);
  const text = readFileSync(path, 'utf8');
  return parseScenario(edit ? edit(text) : text, `${name}.yaml`);
}

async function report(name: string, edit?: (text: string) => string): Promise<Report> {
  return (await investigateOn(scenario(name, edit))).report;
}

const advice = (r: Report) => r.recommendations.filter((x) => x.kind === 'fix-culprit');

describe('churn against idle connections', () => {
  test('the pod opening 60 connections/s ranks first, with its destination and nearly all the pressure', async () => {
    const r = await report('churn-vs-idle');
    const [first, second] = r.culprits;
    expect(first?.pod).toBe('quote-fetcher-6c9d7b8f5-q2w7e');
    expect(second?.pod).toBe('indexer-5b8c9d7f6-k3m9p');
    expect(first?.connectsPerSecond).toBe(60);
    // 60/s × the hold time after close, against 3,600 TIME_WAIT × hold ÷ 60 s: the same closes, the larger counts.
    expect(first?.ports).toEqual({
      held: 3,
      churn: 60 * HOLD_AFTER_CLOSE_SECONDS,
      failed: 0,
      total: 3 + 60 * HOLD_AFTER_CLOSE_SECONDS,
    });
    expect(first?.topDestinations[0]).toMatchObject({ ip: '20.60.1.20', port: 443, connections: 3, timeWait: 3600 });
    expect(first?.shareOfUsedPorts).toBeGreaterThan(0.95);
    expect(second?.ports).toEqual({ held: 140, churn: 0, failed: 0, total: 140 });
    expect(r.budget?.byDestination[0]).toMatchObject({ ip: '20.60.1.20', port: 443 });
    expect(r.budget?.byDestination[0]?.share).toBeGreaterThan(1); // more than the node's 1,024 ports: exhausted
    const [fix] = advice(r);
    expect(fix?.title).toContain('quote-fetcher-6c9d7b8f5-q2w7e');
    expect(fix?.title).toContain('20.60.1.20:443');
    expect(fix?.detail).toContain('new connection per request');
  });

  test('without a trace (no tcptracer on the node) the churner is still found, by its public TIME_WAIT', async () => {
    const r = await report('churn-vs-idle', (t) =>
      t.replace('ip: 10.224.0.7\n', 'ip: 10.224.0.7\n    probe: { tcptracer: false }\n'),
    );
    expect(r.unavailable.map((u) => u.what)).toContain('tcptracer');
    const [first] = r.culprits;
    expect(first?.pod).toBe('quote-fetcher-6c9d7b8f5-q2w7e');
    expect(first?.publicConnects).toBe(0);
    expect(first?.ports.churn).toBe((3600 * HOLD_AFTER_CLOSE_SECONDS) / 60);
    expect(first?.topDestinations[0]).toMatchObject({ ip: '20.60.1.20', port: 443 });
    expect(r.budget?.byDestination[0]).toMatchObject({ ip: '20.60.1.20', port: 443 });
  });
});

describe('TIME_WAIT to private destinations', () => {
  test('900 in-cluster TIME_WAIT do not outrank 700 public ones; only the public churner is advised', async () => {
    const r = await report('private-time-wait');
    expect(r.culprits.map((c) => c.pod)).toEqual(['invoice-sync-84c6d9f7b-p8r2t']);
    expect(r.culprits[0]?.timeWait).toBe(700);
    const fixes = advice(r);
    expect(fixes).toHaveLength(1);
    expect(fixes[0]?.title).toContain('invoice-sync');
    expect(fixes[0]?.detail).toContain('new connection per request');
    expect(JSON.stringify(r.recommendations)).not.toContain('order-router');
  });
});

describe('hostNetwork pods when only exec is possible', () => {
  test("the node's table counts once, as the host network, with the hostNetwork pods listed", async () => {
    const r = await report('hostnetwork-exec');
    expect(r.steps.find((s) => s.name === 'captureNode')?.status).toBe('failed');
    const host = r.culprits.find((c) => c.pod === 'host network');
    expect(host?.publicEstablished).toBe(603);
    expect(host?.hostNetworkPods).toHaveLength(8);
    expect(host?.topDestinations[0]).toMatchObject({ ip: '20.50.80.10', connections: 600 });
    expect(r.culprits.filter((c) => c.namespace === 'kube-system')).toEqual([]);
    // Every socket once: the pods' connections add up to what the node holds (603 + the cart's 20).
    expect(r.culprits.reduce((sum, c) => sum + c.publicEstablished, 0)).toBe(623);
    expect(r.budget?.byDestination[0]).toMatchObject({ ip: '20.50.80.10', connections: 600 });
    const fixes = advice(r);
    expect(fixes[0]?.title).toContain("node's own connections");
    expect(fixes.map((f) => f.title).join(' ')).not.toMatch(/kube-proxy|azure-cns|cloud-node-manager/);
  });
});

describe('replicas of one workload', () => {
  test('eight replicas outrank the single biggest pod as a workload, and get one piece of advice', async () => {
    const r = await report('replicas');
    expect(r.culprits[0]?.pod).toBe('image-resizer-batch');
    const [top, next] = r.workloads;
    expect(top).toMatchObject({ kind: 'Deployment', namespace: 'catalog', publicEstablished: 856 });
    expect(top?.pods).toHaveLength(8);
    expect(top?.shareOfUsedPorts).toBe(0.84);
    expect(next).toMatchObject({ kind: 'Pod', name: 'image-resizer-batch', publicEstablished: 160 });
    const fixes = advice(r);
    expect(fixes[0]?.title).toMatch(/^Fix connection handling in Deployment catalog\//);
    expect(fixes.filter((f) => f.title.includes('catalog-api'))).toHaveLength(1);
  });
});

describe('IPv4 and IPv6', () => {
  test('the most exhausted node is found by either family: an IPv6 backend at 98 % beats an IPv4 one at 60 %', async () => {
    const r = await report('dual-stack', (t) =>
      t
        .replace(
          'snatIpv6: { usedPorts: 700, failedConnections: 3 }',
          'snatIpv6: { usedPorts: 1000, failedConnections: 3 }',
        )
        .replace('snat: { usedPorts: 500 }', 'snat: { usedPorts: 100 }')
        .concat('  - name: aks-nodepool1-27182818-vmss00000c\n    ip: 10.224.0.40\n    snat: { usedPorts: 620 }\n'),
    );
    expect(r.node?.name).toBe('aks-nodepool1-27182818-vmss000006');
    expect(r.steps[0]?.detail).toContain('IPv6 (fd00:10:224::a): 1000/1024 used, 3 failed');
  });

  test('IPv6 connections are not added to the IPv4 budget: each family has its own', async () => {
    const r = await report('dual-stack');
    expect(r.node?.ipv6).toBe('fd00:10:224::a');
    expect(r.budget).toMatchObject({ usedPorts: 500, allocatedPorts: 1024, failedConnections: 0 });
    expect(r.budget?.byDestination.map((d) => [d.ip, d.connections])).toEqual([['20.50.2.10', 500]]);
    expect(r.ipv6Budget).toMatchObject({ usedPorts: 700, allocatedPorts: 1024, failedConnections: 3 });
    expect(r.ipv6Budget?.byDestination.map((d) => [d.ip, d.connections])).toEqual([['2603:1030:20c:3::3a', 700]]);
    expect(r.culprits[0]?.topDestinations.map((d) => d.ip)).toEqual(['2603:1030:20c:3::3a', '20.50.2.10']);
  });
});

describe("the node's own processes", () => {
  test('sockets outside any pod are counted once, as the host network, next to the hostNetwork pod and the app', async () => {
    const r = await report('host-processes');
    const rows = r.culprits.map((c) => [c.pod, c.publicEstablished]);
    expect(rows).toEqual([
      ['host network', 302],
      ['cart-6d9b8c7f5-x2x9k', 200],
      ['fluent-bit-q8d2m', 40],
    ]);
    const host = r.culprits[0];
    expect(host?.workload).toEqual({ kind: 'Node', name: 'aks-system-14142135-vmss000004' });
    expect(host?.hostNetworkPods).toBeUndefined();
    // The storage endpoint is shared by the agent and the cart pod: its ports add up once each.
    expect(r.budget?.byDestination[0]).toMatchObject({ ip: '20.150.90.4', connections: 500 });
    const [fix] = advice(r);
    expect(fix?.detail).toContain('Processes on the node outside any pod');
    expect(r.workloads.map((w) => w.kind)).toEqual(['Node', 'Deployment', 'DaemonSet']);
  });
});

describe('what the cluster reaches without SNAT', () => {
  test('a VNet using a public block, and its peered hub, are read from ARM and left out, each listed', async () => {
    const r = await report('byo-vnet');
    expect(r.culprits.map((c) => c.pod)).toEqual(['fx-rates-5f6d7c8b9-w2e4r']);
    expect(r.privateRanges).toEqual(
      expect.arrayContaining([
        { cidr: '30.10.0.0/16', source: 'vnet', name: 'vnet-bank-spoke' },
        { cidr: '30.20.0.0/16', source: 'peered-vnet', name: 'vnet-bank-hub' },
      ]),
    );
    expect(JSON.stringify(r.recommendations)).not.toContain('pgbouncer');
  });

  test('a range the asker adds (an on-premises network over ExpressRoute) is left out too, and listed', async () => {
    const s = scenario('byo-vnet');
    const { report: r } = await investigateOn(s, { privateRanges: [{ cidr: '192.0.2.0/24', source: 'flag' }] });
    expect(r.privateRanges).toContainEqual({ cidr: '192.0.2.0/24', source: 'flag' });
    expect(r.culprits[0]?.topDestinations.map((d) => d.ip)).toEqual(['20.50.2.10']);
  });

  test('when the VNet cannot be read the report says so, and its traffic is counted as public', async () => {
    const r = await report('byo-vnet', (t) =>
      t.replace('nodes:\n', 'faults:\n  - { target: arm.getVirtualNetwork, error: forbidden }\nnodes:\n'),
    );
    expect(r.steps.find((s) => s.name === 'locateNode')?.detail).toContain('Microsoft.Network/virtualNetworks/read');
    expect(r.privateRanges.map((p) => p.source)).not.toContain('vnet');
    expect(r.culprits.map((c) => c.pod)).toContain('pgbouncer-7c8d9b6f5-t5y7u');
  });
});

describe('UDP', () => {
  test.each([
    ['from the node probe', (t: string) => t],
    [
      'by exec when the probe cannot run',
      (t: string) => t.replace('nodes:\n', 'faults:\n  - { target: probe.capture, error: failed }\nnodes:\n'),
    ],
  ])(
    'connected UDP sockets are a port per destination IP, %s, and the advice says what to do about DNS',
    async (_how, edit) => {
      const r = await report('udp-dns', edit);
      const [scraper] = r.culprits;
      expect(scraper?.pod).toBe('scraper-6b7c8d9f5-z9x8c');
      expect(scraper?.topDestinations.map((d) => [d.ip, d.port, d.protocol, d.ports.total])).toEqual([
        ['8.8.8.8', 0, 'udp', 300],
        ['8.8.4.4', 0, 'udp', 120],
        ['20.50.2.10', 443, 'tcp', 40],
      ]);
      const [fix] = advice(r);
      expect(fix?.title).toContain('8.8.8.8 (UDP)');
      expect(fix?.detail).toContain('DNS');
    },
  );
});

describe('a connection group with no socket open', () => {
  test('connects only (count 0): no empty socket row, and the destination is there by its churn', async () => {
    const edit = (t: string) =>
      t.replace(
        '- { to: "52.178.17.3:443", count: 140 }',
        '- { to: "52.178.17.3:443", count: 0, connectsPerSecond: 2 }',
      );
    const s = scenario('churn-vs-idle', edit);
    const report = renderProbeReport(s.nodes[0] as Scenario['nodes'][number], 30);
    const parsed = parseProbeReport(report, { node: s.nodes[0]?.name ?? '', seconds: 30 });
    expect(parsed.capture.sockets.filter((x) => x.count === 0)).toEqual([]);
    const r = (await investigateOn(s)).report;
    const indexer = r.culprits.find((c) => c.pod === 'indexer-5b8c9d7f6-k3m9p');
    expect(indexer?.topDestinations).toEqual([
      expect.objectContaining({
        ip: '52.178.17.3',
        connections: 0,
        connectsPerSecond: 2,
        ports: expect.objectContaining({ churn: 480 }),
      }),
    ]);
  });
});

describe('a busy node with a bit of everything', () => {
  test('the churning gateway is the workload to fix, not the connector with the most connections', async () => {
    const r = await report('busy-node');
    expect(r.workloads.map((w) => `${w.kind} ${w.namespace}/${w.name} ${w.pods.length}`)).toEqual([
      'Deployment edge/api-gateway 7', // six replicas and the terminating one
      'StatefulSet data/kafka-connect 3',
      'Node /aks-user-20230101-vmss00000a 1',
      'DaemonSet monitoring/node-exporter 1',
    ]);
    const [gateway, kafka] = r.workloads;
    expect(gateway?.ports).toEqual({ held: 210, churn: 720, failed: 0, total: 930 });
    expect(kafka?.publicEstablished).toBe(600);
    expect((gateway?.shareOfUsedPorts ?? 0) > 0.8).toBe(true);
    // The database proxy (VNet and peered hub) and the BFF (in-cluster TIME_WAIT) use no SNAT port.
    const names = JSON.stringify([r.culprits, r.recommendations]);
    expect(names).not.toContain('orders-db-proxy');
    expect(names).not.toContain('bff');
    expect(r.steps.find((s) => s.name === 'mapPods')?.detail).toContain('1 pending, 1 terminating');
    const fixes = advice(r);
    expect(fixes[0]?.title).toMatch(/^Fix connection handling in Deployment edge\/api-gateway \(7 pods on this node\)/);
    expect(fixes[0]?.detail).toContain('new connection per request');
    expect(fixes[0]?.detail).not.toContain('keeps many connections open');
  });
});

describe('NAT gateway', () => {
  test("a closed flow's port is held for NAT gateway's 65 s, not the load balancer's 240 s", async () => {
    const natGateway = scenario('churn-vs-idle', (t) =>
      t.replace('location: westeurope\n', 'location: westeurope\n  outboundType: managedNATGateway\n'),
    );
    // No per-node SNAT metric behind a NAT gateway, so the node is named.
    const { report: r } = await investigateOn(natGateway, { node: 'aks-nodepool1-27182818-vmss000003' });
    expect(r.budget).toBeUndefined();
    expect(r.culprits[0]?.pod).toBe('quote-fetcher-6c9d7b8f5-q2w7e');
    expect(r.culprits[0]?.ports).toEqual({ held: 3, churn: 60 * 65, failed: 0, total: 3 + 60 * 65 });
    expect(advice(r)[0]?.detail).toContain('keeps its SNAT port for about 65 s');
  });
});

describe('CLOSE_WAIT', () => {
  test('3,000 leaked CLOSE_WAIT sockets hold no port; the pod with 400 open connections ranks first', async () => {
    const r = await report('close-wait-leak');
    expect(r.culprits.map((c) => [c.pod, c.ports.total])).toEqual([
      ['crawler-7d8e9f0a1-d3e4f', 400],
      ['soap-bridge-5c6d7e8f9-a1b2c', 20],
    ]);
  });
});

describe('inbound connections', () => {
  test.each([
    ['from the node probe', (t: string) => t],
    [
      'by exec when the probe cannot run',
      (t: string) => t.replace('nodes:\n', 'faults:\n  - { target: probe.capture, error: failed }\nnodes:\n'),
    ],
  ])('3,000 clients on an ingress take no SNAT port, %s; its own outbound calls do', async (_how, edit) => {
    const r = await report('ingress', edit);
    expect(r.culprits.map((c) => [c.pod, c.publicEstablished])).toEqual([
      ['checkout-7f8c9d6b5-r5t6y', 300],
      ['ingress-nginx-controller-5d7c8b9f6-q1w2e', 40],
    ]);
    expect(JSON.stringify(r.budget?.byDestination)).not.toContain('198.51.100');
  });
});

describe('failed connects (bpftrace)', () => {
  test('a node with bpftrace and no BCC: failed connects reach the pod, its ports by cause, and the advice', async () => {
    const r = await report('failing-connects');
    expect(r.unavailable.filter((u) => u.what === 'tcptracer')).toEqual([]);
    const retrier = r.culprits.find((c) => c.pod === 'price-retrier-5c6d7e8f9-e3f4g');
    expect(retrier?.ports).toEqual({ held: 20, churn: 48, failed: 1200, total: 1268 }); // 40/s × 30 s failed
    const holder = r.culprits.find((c) => c.pod === 'inventory-sync-6d7e8f9a0-b1c2d');
    expect(holder?.ports).toEqual({ held: 900, churn: 0, failed: 0, total: 900 });
    // Both are advised: the one holding the ports, and the one whose connects fail (and retry) against them.
    expect(
      advice(r)
        .map((a) => a.title.match(/Deployment sync\/[a-z-]+/)?.[0])
        .sort(),
    ).toEqual(['Deployment sync/inventory-sync', 'Deployment sync/price-retrier']);
    const fix = advice(r).find((a) => a.title.includes('price-retrier'));
    expect(fix?.detail).toContain('1,200 failed connect(s)');
    expect(fix?.detail).toContain('already failing');
  });

  test('the same node with BCC: failed connects are not seen (tcptracer reports only established ones)', async () => {
    const r = await report('failing-connects', (t) => t.replace('tcptracer: false, bpftrace: true', 'tcptracer: true'));
    expect(r.culprits.every((c) => c.ports.failed === 0)).toBe(true);
  });
});
