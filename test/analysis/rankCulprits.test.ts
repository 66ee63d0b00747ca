import { describe, expect, test } from '@jest/globals';
import { compareCulprits, rankCulprits } from '../../lib/analysis/rankCulprits.ts';
import type { DestinationCount, PodConnections } from '../../lib/model.ts';

function pod(overrides: Partial<PodConnections> = {}): PodConnections {
  return {
    namespace: 'default',
    pod: 'app-0',
    hostNetwork: false,
    source: 'node-snapshot',
    publicEstablished: 0,
    privateEstablished: 0,
    timeWait: 0,
    synSent: 0,
    publicConnects: 0,
    destinations: [],
    ...overrides,
  };
}

const order = (pods: PodConnections[]) =>
  rankCulprits(pods, { captureSeconds: 30 }).map((c) => `${c.rank} ${c.namespace}/${c.pod}`);

describe('rankCulprits: the ranking rule', () => {
  test.each([
    [
      'more public ESTABLISHED first, whatever the churn',
      [pod({ pod: 'a', publicEstablished: 10, publicConnects: 900 }), pod({ pod: 'b', publicEstablished: 11 })],
      ['1 default/b', '2 default/a'],
    ],
    [
      'equal ESTABLISHED: more public connects first',
      [
        pod({ pod: 'a', publicEstablished: 5, publicConnects: 1 }),
        pod({ pod: 'b', publicEstablished: 5, publicConnects: 2 }),
      ],
      ['1 default/b', '2 default/a'],
    ],
    [
      'equal ESTABLISHED and connects: more TIME_WAIT first',
      [
        pod({ pod: 'a', publicEstablished: 5, publicConnects: 2, timeWait: 1 }),
        pod({ pod: 'b', publicEstablished: 5, publicConnects: 2, timeWait: 9 }),
      ],
      ['1 default/b', '2 default/a'],
    ],
    [
      'all equal: namespace/pod ascending, namespace first',
      [
        pod({ namespace: 'web', pod: 'a', publicEstablished: 3 }),
        pod({ namespace: 'api', pod: 'z', publicEstablished: 3 }),
        pod({ namespace: 'api', pod: 'b', publicEstablished: 3 }),
      ],
      ['1 api/b', '2 api/z', '3 web/a'],
    ],
    [
      'a pod with only trace connects (short-lived connections) is still a culprit',
      [pod({ pod: 'cron', publicConnects: 600 }), pod({ pod: 'steady', publicEstablished: 1 })],
      ['1 default/steady', '2 default/cron'],
    ],
    [
      'pods without public connections are left out, even with TIME_WAIT or private connections',
      [pod({ pod: 'private', privateEstablished: 500, timeWait: 300 }), pod({ pod: 'public', publicEstablished: 1 })],
      ['1 default/public'],
    ],
  ])('%s', (_rule, pods, expected) => {
    expect(order(pods)).toEqual(expected);
    expect(order([...pods].reverse())).toEqual(expected);
  });

  test('compareCulprits is the exported rule itself: 0 only for the same namespace/pod', () => {
    const a = pod({ pod: 'a', publicEstablished: 1 });
    expect(compareCulprits(a, { ...a })).toBe(0);
    expect(compareCulprits(a, pod({ pod: 'b', publicEstablished: 1 }))).toBeLessThan(0);
  });

  test('the input is not reordered', () => {
    const pods = [pod({ pod: 'a', publicEstablished: 1 }), pod({ pod: 'b', publicEstablished: 2 })];
    rankCulprits(pods, { captureSeconds: 30 });
    expect(pods.map((p) => p.pod)).toEqual(['a', 'b']);
  });
});

describe('rankCulprits: what each culprit carries', () => {
  const destinations: DestinationCount[] = Array.from({ length: 8 }, (_, i) => ({
    ip: `20.0.0.${i + 1}`,
    port: 443,
    connections: 80 - i,
  }));
  const checkout = pod({
    namespace: 'payments',
    pod: 'checkout-api-7d9f',
    hostNetwork: false,
    source: 'exec-proc-net-tcp',
    publicEstablished: 600,
    publicConnects: 70,
    timeWait: 120,
    destinations,
  });

  test("the pod's counts, source and the top 5 destinations by default", () => {
    const [first] = rankCulprits([checkout], { captureSeconds: 30 });
    expect(first).toEqual({
      rank: 1,
      namespace: 'payments',
      pod: 'checkout-api-7d9f',
      hostNetwork: false,
      publicEstablished: 600,
      publicConnects: 70,
      connectsPerSecond: 2.3,
      timeWait: 120,
      source: 'exec-proc-net-tcp',
      topDestinations: destinations.slice(0, 5),
    });
  });

  test('topDestinations can be asked for', () => {
    expect(rankCulprits([checkout], { captureSeconds: 30, topDestinations: 2 })[0]?.topDestinations).toEqual(
      destinations.slice(0, 2),
    );
  });

  test.each([
    [70, 30, 2.3],
    [1, 3, 0.3],
    [5, 100, 0.1],
    [4, 100, 0],
    [600, 60, 10],
    [70, 0, 0],
  ])('%d public connects in %d s → %d connects/s (one decimal)', (publicConnects, captureSeconds, perSecond) => {
    const [first] = rankCulprits([pod({ publicConnects })], { captureSeconds });
    expect(first?.connectsPerSecond).toBe(perSecond);
  });

  test.each([
    [600, 1000, 0.6],
    [600, 900, 0.67],
    [600, 500, 1], // more connections than the averaged metric: capped
    [1, 3000, 0],
  ])('%d public ESTABLISHED of %d used ports → share %d', (publicEstablished, usedPorts, share) => {
    const [first] = rankCulprits([pod({ publicEstablished })], { captureSeconds: 30, usedPorts });
    expect(first?.shareOfUsedPorts).toBe(share);
  });

  test.each([[undefined], [0]])('no share when the used ports are %s (unknown or zero)', (usedPorts) => {
    const [first] = rankCulprits([pod({ publicEstablished: 10 })], { captureSeconds: 30, usedPorts });
    expect(first).not.toHaveProperty('shareOfUsedPorts');
  });
});
