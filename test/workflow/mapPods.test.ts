// How mapPods ties what the node saw to the Kubernetes pods: by sandbox (uid, then name) and its netns, hostNetwork
// pods by the uid of the owning process, traces without a NETNS column by source address.
import { describe, expect, test } from '@jest/globals';
import type { NodeCapture, PodInfo, TraceAggregate } from '../../lib/model.ts';
import { joinPods } from '../../lib/workflow/steps/mapPods.ts';

const HOST = 4026531840;

function pod(overrides: Partial<PodInfo> & Pick<PodInfo, 'name'>): PodInfo {
  return {
    namespace: 'shop',
    uid: `uid-${overrides.name}`,
    ip: '10.244.1.10',
    hostNetwork: false,
    os: 'linux',
    containers: [{ name: 'app', image: 'app:1' }],
    ...overrides,
  };
}

function connect(overrides: Partial<TraceAggregate>): TraceAggregate {
  return {
    type: 'connect',
    saddr: '10.244.1.10',
    daddr: '20.50.2.10',
    dport: 443,
    netns: 0,
    count: 10,
    pids: [],
    comms: [],
    ...overrides,
  };
}

function capture(overrides: Partial<NodeCapture>): NodeCapture {
  return {
    node: 'n1',
    seconds: 30,
    hostNetns: HOST,
    trace: [],
    namespaces: [],
    sandboxes: [],
    sockets: [],
    unavailable: [],
    skippedLines: 0,
    socketsComplete: true,
    ...overrides,
  };
}

describe('joinPods', () => {
  const cart = pod({ name: 'cart', ip: '10.244.1.10' });
  const proxy = pod({ name: 'proxy', ip: '10.224.0.5', hostNetwork: true, namespace: 'kube-system' });
  const sandboxes = [
    { id: 'a'.repeat(64), namespace: '', name: '', uid: cart.uid, hostNetwork: false, netns: 4026532300 },
    { id: 'b'.repeat(64), namespace: '', name: '', uid: proxy.uid, hostNetwork: true },
  ];

  test('a pod gets the sockets and trace of its sandbox namespace, and needs no exec', () => {
    const { pods } = joinPods(
      [cart],
      capture({
        sandboxes,
        trace: [connect({ netns: 4026532300 }), connect({ netns: 4026532999 })],
        sockets: [{ netns: 4026532300, state: 'ESTABLISHED', remoteIp: '20.50.2.10', remotePort: 443, count: 7 }],
      }),
    );
    expect(pods[0]).toMatchObject({ netns: 4026532300, snapshotCovered: true, sandboxId: 'a'.repeat(64) });
    expect(pods[0]?.trace).toHaveLength(1);
    expect(pods[0]?.sockets[0]?.count).toBe(7);
  });

  test('a hostNetwork pod gets only the host-namespace rows its processes own', () => {
    const { pods, unattributed } = joinPods(
      [proxy],
      capture({
        sandboxes,
        sockets: [
          { netns: HOST, podUid: proxy.uid, state: 'ESTABLISHED', remoteIp: '20.61.100.20', remotePort: 443, count: 2 },
          { netns: HOST, state: 'ESTABLISHED', remoteIp: '52.1.2.3', remotePort: 443, count: 5 },
        ],
      }),
    );
    expect(pods[0]?.sockets.map((s) => s.remoteIp)).toEqual(['20.61.100.20']);
    expect(unattributed).toEqual([{ netns: HOST, sockets: 5, connects: 0 }]);
  });

  test('a trace without the NETNS column is joined by source address', () => {
    const { pods, unattributed } = joinPods(
      [cart],
      capture({
        sandboxes,
        trace: [connect({ netns: 0, saddr: '10.244.1.10' }), connect({ netns: 0, saddr: '10.9.9.9' })],
      }),
    );
    expect(pods[0]?.trace.map((t) => t.saddr)).toEqual(['10.244.1.10']);
    expect(unattributed).toEqual([{ netns: 0, sockets: 0, connects: 10 }]);
  });

  test('a snapshot cut off before its end covers no pod: they are examined by exec', () => {
    const { pods } = joinPods([cart], capture({ sandboxes, socketsComplete: false }));
    expect(pods[0]?.snapshotCovered).toBe(false);
  });

  test('without a capture every pod is left for exec', () => {
    const { pods } = joinPods([cart, proxy]);
    expect(pods.map((p) => p.snapshotCovered)).toEqual([false, false]);
  });
});
