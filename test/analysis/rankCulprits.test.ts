// How pods and workloads are ranked: by what they add to the destinations nearest exhaustion (the SNAT model), each
// socket counted once, replicas ranked together as their workload.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { compareCulprits, HOST_NETWORK, rankCulprits } from '../../lib/analysis/rankCulprits.ts';
import { HOLD_AFTER_CLOSE_SECONDS } from '../../lib/analysis/snatModel.ts';
import type { PodConnections } from '../../lib/model.ts';
import { flow, hostNetworkTables, podWithFlows } from '../support/podConnections.ts';

const pod = podWithFlows;

const order = (pods: PodConnections[], captureSeconds = 30) =>
  rankCulprits(pods, { captureSeconds }).culprits.map((c) => `${c.rank} ${c.namespace}/${c.pod}`);

describe('rankCulprits: the ranking comes from the SNAT model', () => {
  test.each([
    [
      'churn beats idle connections: 60 new connections/s to one IP:443 hold ~14,400 ports, 140 idle ones hold 140',
      [
        pod('idle-pool', [flow({ ip: '52.178.17.3', open: 140 })]),
        pod('churner', [flow({ open: 3, connects: 1800, timeWait: 3600 })]),
      ],
      ['1 default/churner', '2 default/idle-pool'],
    ],
    [
      'without a trace a churner still ranks, by its public TIME_WAIT',
      [pod('idle-pool', [flow({ ip: '52.178.17.3', open: 140 })]), pod('churner', [flow({ timeWait: 700 })])],
      ['1 default/churner', '2 default/idle-pool'],
    ],
    [
      'private TIME_WAIT never counts: only public flows make a culprit',
      [
        pod('in-cluster', [], { privateTimeWait: 900, privateEstablished: 500 }),
        pod('public', [flow({ timeWait: 700 })]),
      ],
      ['1 default/public'],
    ],
    [
      'ports on the busiest destination weigh more than as many spread over cold ones',
      [
        pod(
          'spread',
          Array.from({ length: 10 }, (_, i) => flow({ ip: `52.1.1.${i + 1}`, open: 30 })),
        ),
        pod('focused', [flow({ open: 200 })]),
      ],
      ['1 default/focused', '2 default/spread'],
    ],
    [
      'failed connects are pressure too',
      [pod('a', [flow({ open: 5 })]), pod('b', [flow({ open: 5, failed: 20 })])],
      ['1 default/b', '2 default/a'],
    ],
    [
      'all equal: namespace/pod ascending',
      [
        pod('a', [flow({ open: 3 })], { namespace: 'web' }),
        pod('z', [flow({ open: 3 })], { namespace: 'api' }),
        pod('b', [flow({ open: 3 })], { namespace: 'api' }),
      ],
      ['1 api/b', '2 api/z', '3 web/a'],
    ],
  ])('%s', (_rule, pods, expected) => {
    expect(order(pods)).toEqual(expected);
    expect(order([...pods].reverse())).toEqual(expected);
  });

  test('a churner gets its destination, its ports by cause, and nearly all of the share', () => {
    const { culprits } = rankCulprits(
      [pod('idle-pool', [flow({ ip: '52.178.17.3', open: 140 })]), pod('churner', [flow({ open: 3, connects: 1800 })])],
      { captureSeconds: 30 },
    );
    const [first] = culprits;
    expect(first?.pod).toBe('churner');
    expect(first?.ports).toEqual({
      held: 3,
      churn: 60 * HOLD_AFTER_CLOSE_SECONDS,
      failed: 0,
      total: 3 + 60 * HOLD_AFTER_CLOSE_SECONDS,
    });
    expect(first?.connectsPerSecond).toBe(60);
    expect(first?.topDestinations[0]).toMatchObject({ ip: '20.50.2.10', port: 443, connectsPerSecond: 60 });
    expect(first?.shareOfUsedPorts).toBeGreaterThan(0.99);
  });

  test('compareCulprits: 0 only for the same namespace/pod', () => {
    const row = { pressure: 1, ports: { held: 1, churn: 0, failed: 0, total: 1 }, namespace: 'a', pod: 'p' };
    expect(compareCulprits(row, { ...row })).toBe(0);
    expect(compareCulprits(row, { ...row, pod: 'q' })).toBeLessThan(0);
  });

  test('the input is not reordered, and topDestinations can be asked for', () => {
    const pods = [pod('a', [flow({ open: 1 })]), pod('b', [flow({ open: 2 }), flow({ ip: '52.1.1.1', open: 1 })])];
    const { culprits } = rankCulprits(pods, { captureSeconds: 30, topDestinations: 1 });
    expect(pods.map((p) => p.pod)).toEqual(['a', 'b']);
    expect(culprits[0]?.topDestinations).toHaveLength(1);
  });
});

describe('rankCulprits: workloads', () => {
  const deployment = { kind: 'Deployment', name: 'api' } as const;
  test('eight replicas holding 86 % of the hot destination outrank a single pod with 16 %; they are one workload', () => {
    const replicas = Array.from({ length: 8 }, (_, i) =>
      pod(`api-7d9f8b6c5d-${i}`, [flow({ open: 107 })], { workload: deployment }),
    );
    const single = pod('batch', [flow({ open: 160 })], { workload: { kind: 'Job', name: 'batch' } });
    const { culprits, workloads } = rankCulprits([single, ...replicas], { captureSeconds: 30 });
    expect(culprits[0]?.pod).toBe('batch'); // per pod, the single one is the biggest…
    expect(workloads.map((w) => `${w.rank} ${w.kind} ${w.name} ${w.pods.length}`)).toEqual([
      '1 Deployment api 8', // …but the Deployment is what to fix
      '2 Job batch 1',
    ]);
    expect(workloads[0]?.ports.total).toBe(856);
    expect(workloads[0]?.topDestinations[0]).toMatchObject({ ip: '20.50.2.10', connections: 856 });
    expect(workloads[0]?.shareOfUsedPorts).toBe(0.84);
  });

  test('a pod without a controller is its own workload', () => {
    const { workloads } = rankCulprits([pod('debug', [flow({ open: 2 })])], { captureSeconds: 30 });
    expect(workloads[0]).toMatchObject({ kind: 'Pod', name: 'debug', pods: ['debug'] });
  });
});

describe('rankCulprits: one count per socket', () => {
  const hostNetworkPods = hostNetworkTables();

  test("tables read by exec into hostNetwork pods are the node's: one host-network row, the pods listed", () => {
    const app = pod('app', [flow({ open: 10 })]);
    const { culprits, workloads } = rankCulprits([...hostNetworkPods, app], { captureSeconds: 30, nodeName: 'n1' });
    expect(culprits.map((c) => c.pod)).toEqual([HOST_NETWORK, 'app']);
    const [host] = culprits;
    expect(host?.publicEstablished).toBe(603);
    expect(host?.hostNetworkPods).toEqual(hostNetworkPods.map((p) => `kube-system/${p.pod}`).sort());
    expect(host?.workload).toEqual({ kind: 'Node', name: 'n1' });
    expect(host?.topDestinations[0]?.connections).toBe(600); // not 4 × 600
    expect(workloads.filter((w) => w.kind === 'DaemonSet')).toEqual([]);
  });

  test("the probe's own host row counts the node's sockets outside pods next to the pods", () => {
    const host = pod('host', [flow({ ip: '52.1.1.1', open: 12 })]);
    const { culprits } = rankCulprits([pod('app', [flow({ open: 10 })])], { captureSeconds: 30, host });
    expect(culprits.map((c) => [c.pod, c.ports.total])).toEqual([
      ['host network', 12],
      ['app', 10],
    ]);
  });

  test('property: the culprits never hold more than the node does (every socket counted once)', () => {
    const rows = fc.array(
      fc.record({ ip: fc.constantFrom('20.50.2.10', '52.1.1.1'), open: fc.nat(700), timeWait: fc.nat(50) }),
      { maxLength: 3 },
    );
    fc.assert(
      fc.property(rows, fc.array(rows, { maxLength: 4 }), fc.nat(6), (table, others, copies) => {
        const nodeFlows = table.map((r) => flow(r));
        const exec = Array.from({ length: copies }, (_, i) =>
          pod(`hn-${i}`, nodeFlows, { hostNetwork: true, hostTable: true }),
        );
        const pods = others.map((r, i) =>
          pod(
            `p-${i}`,
            r.map((x) => flow(x)),
          ),
        );
        const held = [...(copies > 0 ? [nodeFlows] : []), ...pods.map((p) => p.flows)]
          .flat()
          .reduce((s, f) => s + f.open, 0);
        const { culprits } = rankCulprits([...exec, ...pods], { captureSeconds: 30 });
        expect(culprits.reduce((s, c) => s + c.publicEstablished, 0)).toBeLessThanOrEqual(held);
        expect(culprits.reduce((s, c) => s + (c.shareOfUsedPorts ?? 0), 0)).toBeLessThanOrEqual(
          1.0 + 0.01 * culprits.length,
        );
      }),
    );
  });
});
