// The SNAT port model (lib/analysis/snatModel.ts): ports per flow row, per destination and per holder, weighted toward
// the destinations nearest exhaustion; IPv4 and IPv6 apart; UDP by destination IP.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  familyOf,
  flowDemand,
  HOLD_AFTER_CLOSE_SECONDS,
  LINUX_TIME_WAIT_SECONDS,
  snatModel,
} from '../../lib/analysis/snatModel.ts';
import { flow } from '../support/podConnections.ts';

describe('flowDemand: the ports one flow row needs at once', () => {
  test.each([
    ['open connections hold one port each', flow({ open: 140 }), 30, { held: 140, churn: 0, failed: 0, total: 140 }],
    [
      'traced connects keep ports for the hold time after they close: 60/s × 240 s',
      flow({ connects: 1800 }),
      30,
      { held: 0, churn: 60 * HOLD_AFTER_CLOSE_SECONDS, failed: 0, total: 60 * HOLD_AFTER_CLOSE_SECONDS },
    ],
    [
      'without a trace, TIME_WAIT (the last 60 s of closes) scaled to the hold time',
      flow({ timeWait: 600 }),
      30,
      {
        held: 0,
        churn: (600 * HOLD_AFTER_CLOSE_SECONDS) / LINUX_TIME_WAIT_SECONDS,
        failed: 0,
        total: (600 * HOLD_AFTER_CLOSE_SECONDS) / LINUX_TIME_WAIT_SECONDS,
      },
    ],
    [
      'trace and TIME_WAIT measure the same closes: the larger counts, not their sum',
      flow({ connects: 300, timeWait: 600 }),
      30,
      { held: 0, churn: 2400, failed: 0, total: 2400 },
    ],
    [
      'failed connects are counted as they are',
      flow({ failed: 42, open: 2 }),
      30,
      { held: 2, churn: 0, failed: 42, total: 44 },
    ],
    [
      'no capture length: no rate, TIME_WAIT still counts',
      flow({ connects: 90, timeWait: 6 }),
      0,
      { held: 0, churn: 24, failed: 0, total: 24 },
    ],
    [
      'UDP holds a port per open flow; no TIME_WAIT',
      flow({ protocol: 'udp', port: 0, open: 3 }),
      30,
      { held: 3, churn: 0, failed: 0, total: 3 },
    ],
  ])('%s', (_what, row, seconds, expected) => {
    expect(flowDemand(row, seconds)).toEqual(expected);
  });
});

describe('snatModel: destinations and holders', () => {
  test('the same destination from several holders is one destination with their ports summed', () => {
    const model = snatModel(
      [
        { id: 'a', flows: [flow({ open: 100 })] },
        { id: 'b', flows: [flow({ open: 50 }), flow({ ip: '52.1.1.1', open: 10 })] },
      ],
      30,
    );
    expect(model.destinations.map((d) => [d.ip, d.connections, d.ports.total])).toEqual([
      ['20.50.2.10', 150, 150],
      ['52.1.1.1', 10, 10],
    ]);
    expect(model.peak).toEqual({ ipv4: 150, ipv6: 0 });
  });

  test('ports on a destination far from exhaustion weigh less than ports on the busiest one', () => {
    // a: 100 ports, all on the hot destination (150 ports in all). b: 100 ports spread over 10 cold destinations.
    const cold = Array.from({ length: 10 }, (_, i) => flow({ ip: `52.1.1.${i + 1}`, open: 10 }));
    const model = snatModel(
      [
        { id: 'a', flows: [flow({ open: 100 })] },
        { id: 'b', flows: [flow({ open: 50 }), ...cold] },
      ],
      30,
    );
    const a = model.holders.get('a');
    const b = model.holders.get('b');
    expect(a?.ports.total).toBe(100);
    expect(b?.ports.total).toBe(150);
    expect(a?.pressure).toBeCloseTo(100, 1); // 100 × 150/150
    expect(b?.pressure).toBeCloseTo(50 + (10 * 10 * 10) / 150, 1);
    expect((a?.pressure ?? 0) > (b?.pressure ?? 0)).toBe(true);
    expect((a?.share ?? 0) + (b?.share ?? 0)).toBeCloseTo(1, 6);
  });

  test('a holder lists its destinations by what they weigh, most first', () => {
    const model = snatModel(
      [
        { id: 'a', flows: [flow({ ip: '52.1.1.1', open: 30 }), flow({ open: 20 })] },
        { id: 'b', flows: [flow({ open: 500 })] },
      ],
      30,
    );
    expect(model.holders.get('a')?.destinations.map((d) => d.ip)).toEqual(['20.50.2.10', '52.1.1.1']);
  });

  test('IPv6 destinations are their own family: their ports never add to an IPv4 destination', () => {
    const model = snatModel([{ id: 'a', flows: [flow({ open: 100 }), flow({ ip: '2603:1030::10', open: 40 })] }], 30);
    expect(model.peak).toEqual({ ipv4: 100, ipv6: 40 });
    expect(model.destinations).toHaveLength(2);
  });

  test('UDP to one IP on different ports is one destination (one port per destination IP)', () => {
    const model = snatModel(
      [
        { id: 'a', flows: [flow({ protocol: 'udp', port: 0, ip: '8.8.8.8', open: 1 })] },
        { id: 'b', flows: [flow({ protocol: 'udp', port: 0, ip: '8.8.8.8', open: 2 })] },
      ],
      30,
    );
    expect(model.destinations).toEqual([
      expect.objectContaining({ ip: '8.8.8.8', port: 0, protocol: 'udp', connections: 3 }),
    ]);
  });

  test.each([
    ['20.50.2.10', 'ipv4'],
    ['::ffff:20.50.2.10', 'ipv4'],
    ['2603:1030::10', 'ipv6'],
  ])('%s is %s', (ip, family) => {
    expect(familyOf(ip)).toBe(family);
  });

  test('shares add up to 1 over everyone with ports, and each is in [0, 1]', () => {
    const row = fc.record({
      ip: fc.constantFrom('20.50.2.10', '20.50.2.11', '52.1.1.1', '2603:1030::10'),
      port: fc.constantFrom(80, 443),
      protocol: fc.constant('tcp' as const),
      open: fc.nat(2000),
      timeWait: fc.nat(2000),
      connects: fc.nat(5000),
      failed: fc.nat(100),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(row, { maxLength: 5 }), { minLength: 1, maxLength: 8 }),
        fc.nat(300),
        (holders, seconds) => {
          const model = snatModel(
            holders.map((flows, i) => ({ id: `h${i}`, flows })),
            seconds,
          );
          const shares = [...model.holders.values()].map((h) => h.share);
          for (const s of shares) expect(s >= 0 && s <= 1 + 1e-9).toBe(true);
          const total = shares.reduce((a, b) => a + b, 0);
          const anyPorts = model.destinations.some((d) => d.ports.total > 0);
          expect(anyPorts ? Math.abs(total - 1) < 1e-6 : total === 0).toBe(true);
          // Each destination's ports are the sum of its holders' ports there.
          const byHolders = [...model.holders.values()]
            .flatMap((h) => h.destinations)
            .reduce((s, d) => s + d.ports.total, 0);
          expect(byHolders).toBe(model.destinations.reduce((s, d) => s + d.ports.total, 0));
        },
      ),
    );
  });
});
