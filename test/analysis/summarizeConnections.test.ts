import { describe, expect, test } from '@jest/globals';
import { snatClassifier } from '../../lib/analysis/snatDestination.ts';
import { summarizeConnections } from '../../lib/analysis/summarizeConnections.ts';
import type { SocketAggregate, TcpState, TraceAggregate } from '../../lib/model.ts';

const isSnat = snatClassifier(['10.244.0.0/16']);

function sockets(state: TcpState, remoteIp: string, remotePort: number, count: number, netns = 1): SocketAggregate {
  return { netns, state, remoteIp, remotePort, count };
}

function trace(overrides: Partial<TraceAggregate> = {}): TraceAggregate {
  return {
    type: 'connect',
    saddr: '10.244.1.7',
    daddr: '20.60.1.2',
    dport: 443,
    netns: 1,
    count: 1,
    pids: [4242],
    comms: ['node'],
    ...overrides,
  };
}

describe('summarizeConnections', () => {
  test('ESTABLISHED is split by destination: public ones count against SNAT, private and cluster ones do not', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '20.60.1.2', 443, 40),
        sockets('ESTABLISHED', '::ffff:52.1.2.3', 5432, 2),
        sockets('ESTABLISHED', '10.0.0.4', 443, 7), // VNet
        sockets('ESTABLISHED', '10.244.3.9', 8080, 5), // another pod
        sockets('ESTABLISHED', '168.63.129.16', 80, 1), // Azure platform
      ],
      trace: [],
      isSnat,
    });
    expect(summary).toMatchObject({ publicEstablished: 42, privateEstablished: 13, timeWait: 0, synSent: 0 });
  });

  test('TIME_WAIT and SYN_SENT are state counts, whatever the destination; other states are ignored', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('TIME_WAIT', '20.60.1.2', 443, 30),
        sockets('TIME_WAIT', '10.244.3.9', 8080, 12),
        sockets('SYN_SENT', '20.60.1.2', 443, 3),
        sockets('SYN_SENT', '10.0.0.4', 443, 1),
        sockets('CLOSE_WAIT', '20.60.1.2', 443, 9),
        sockets('FIN_WAIT2', '20.60.1.2', 443, 9),
      ],
      trace: [],
      isSnat,
    });
    expect(summary).toEqual({
      publicEstablished: 0,
      privateEstablished: 0,
      timeWait: 42,
      synSent: 4,
      publicConnects: 0,
      destinations: [],
    });
  });

  test.each([
    ['connects to a public destination count', [trace({ count: 25 })], 25],
    ['connects to the cluster do not', [trace({ daddr: '10.244.9.9', count: 25 })], 0],
    ['accepts and closes do not', [trace({ type: 'accept', count: 5 }), trace({ type: 'close', count: 5 })], 0],
    ['several aggregates add up', [trace({ count: 3 }), trace({ daddr: '52.1.2.3', dport: 5432, count: 4 })], 7],
  ])('trace: %s', (_what, events, expected) => {
    expect(summarizeConnections({ sockets: [], trace: events, isSnat }).publicConnects).toBe(expected);
  });

  test('destinations: public ESTABLISHED by ip:port, merged across aggregates, most first, then ip, then port; not truncated', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '20.60.1.2', 443, 10, 1),
        sockets('ESTABLISHED', '20.60.1.2', 443, 15, 2), // same destination from a second namespace
        sockets('ESTABLISHED', '20.60.1.2', 80, 4),
        sockets('ESTABLISHED', '9.9.9.9', 443, 4), // ties with 20.60.1.2:80: 9 < 20 numerically
        sockets('ESTABLISHED', '2001:db8::1', 443, 4), // IPv6 after IPv4 at equal count
        sockets('ESTABLISHED', '20.60.1.2', 8443, 4),
        sockets('TIME_WAIT', '52.9.9.9', 443, 100), // not a destination: not ESTABLISHED
        sockets('ESTABLISHED', '10.0.0.4', 443, 50), // not public
        ...Array.from({ length: 10 }, (_, i) => sockets('ESTABLISHED', `40.0.0.${i + 1}`, 443, 1)),
      ],
      trace: [],
      isSnat,
    });
    expect(summary.destinations.slice(0, 5)).toEqual([
      { ip: '20.60.1.2', port: 443, connections: 25 },
      { ip: '9.9.9.9', port: 443, connections: 4 },
      { ip: '20.60.1.2', port: 80, connections: 4 },
      { ip: '20.60.1.2', port: 8443, connections: 4 },
      { ip: '2001:db8::1', port: 443, connections: 4 },
    ]);
    expect(summary.destinations).toHaveLength(15);
    expect(summary.destinations.slice(5).map((d) => d.ip)).toEqual(
      Array.from({ length: 10 }, (_, i) => `40.0.0.${i + 1}`),
    );
    expect(summary.publicEstablished).toBe(summary.destinations.reduce((n, d) => n + d.connections, 0));
  });

  test('nothing in, zeros out', () => {
    expect(summarizeConnections({ sockets: [], trace: [], isSnat })).toEqual({
      publicEstablished: 0,
      privateEstablished: 0,
      timeWait: 0,
      synSent: 0,
      publicConnects: 0,
      destinations: [],
    });
  });
});
