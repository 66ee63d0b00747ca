import { describe, expect, test } from '@jest/globals';
import { snatClassifier } from '../../lib/analysis/snatDestination.ts';
import { compareIps, summarizeConnections } from '../../lib/analysis/summarizeConnections.ts';
import type { Protocol, SocketAggregate, TcpState, TraceAggregate } from '../../lib/model.ts';

const isSnat = snatClassifier(['10.244.0.0/16']);

function sockets(
  state: TcpState,
  remoteIp: string,
  remotePort: number,
  count: number,
  netns = 1,
  protocol?: Protocol,
): SocketAggregate {
  return { netns, state, remoteIp, remotePort, count, ...(protocol ? { protocol } : {}) };
}

const udp = (state: TcpState, remoteIp: string, remotePort: number, count: number) =>
  sockets(state, remoteIp, remotePort, count, 1, 'udp');

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

  test('TIME_WAIT and SYN_SENT count public destinations only; private TIME_WAIT is counted apart', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('TIME_WAIT', '20.60.1.2', 443, 30),
        sockets('TIME_WAIT', '10.244.3.9', 8080, 12), // another pod: churn, but no SNAT port
        sockets('SYN_SENT', '20.60.1.2', 443, 3),
        sockets('SYN_SENT', '10.0.0.4', 443, 1), // VNet: not SNAT'd
        sockets('CLOSE_WAIT', '20.60.1.2', 443, 9),
        sockets('FIN_WAIT2', '20.60.1.2', 443, 9),
      ],
      trace: [],
      isSnat,
    });
    expect(summary).toEqual({
      publicEstablished: 0,
      privateEstablished: 0,
      timeWait: 30,
      privateTimeWait: 12,
      synSent: 3,
      publicConnects: 0,
      // SYN_SENT and the closing states this side started hold the flow's port as ESTABLISHED does: 3 + 9 open.
      // CLOSE_WAIT does not: the peer's FIN started the release timer (a leaked CLOSE_WAIT outlives its port).
      flows: [{ ip: '20.60.1.2', port: 443, protocol: 'tcp', open: 12, timeWait: 30, connects: 0, failed: 0 }],
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

  test('flows: by ip:port, merged across aggregates, in address order (IPv4 before IPv6), then port; not truncated', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '20.60.1.2', 443, 10, 1),
        sockets('ESTABLISHED', '20.60.1.2', 443, 15, 2), // same destination from a second namespace
        sockets('ESTABLISHED', '20.60.1.2', 80, 4),
        sockets('ESTABLISHED', '9.9.9.9', 443, 4), // 9 < 20 numerically
        sockets('ESTABLISHED', '2001:db8::1', 443, 4), // IPv6 after IPv4
        sockets('ESTABLISHED', '10.0.0.4', 443, 50), // not public
        ...Array.from({ length: 10 }, (_, i) => sockets('ESTABLISHED', `40.0.0.${i + 1}`, 443, 1)),
      ],
      trace: [],
      isSnat,
    });
    expect(summary.flows.map((f) => `${f.ip}:${f.port} ${f.open}`)).toEqual([
      '9.9.9.9:443 4',
      '20.60.1.2:80 4',
      '20.60.1.2:443 25',
      ...Array.from({ length: 10 }, (_, i) => `40.0.0.${i + 1}:443 1`),
      '2001:db8::1:443 4',
    ]);
    expect(summary.publicEstablished).toBe(summary.flows.reduce((n, f) => n + f.open, 0));
  });

  test('nothing in, zeros out', () => {
    expect(summarizeConnections({ sockets: [], trace: [], isSnat })).toEqual({
      publicEstablished: 0,
      privateEstablished: 0,
      timeWait: 0,
      privateTimeWait: 0,
      synSent: 0,
      publicConnects: 0,
      flows: [],
    });
  });
});

describe("summarizeConnections: flows, every kind of pressure on each SNAT'd destination", () => {
  test('open states, TIME_WAIT, traced connects and failures land on one row per ip:port', () => {
    const { flows } = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '20.60.1.2', 443, 10, 1),
        sockets('ESTABLISHED', '20.60.1.2', 443, 5, 2), // a second namespace: same row
        sockets('SYN_SENT', '20.60.1.2', 443, 2),
        sockets('FIN_WAIT1', '20.60.1.2', 443, 1),
        sockets('LAST_ACK', '20.60.1.2', 443, 1),
        sockets('CLOSING', '20.60.1.2', 443, 1),
        sockets('TIME_WAIT', '20.60.1.2', 443, 40),
        sockets('TIME_WAIT', '20.60.1.2', 80, 7), // other port: other row
      ],
      trace: [
        trace({ count: 600 }),
        trace({ type: 'failed', count: 12 }),
        trace({ type: 'accept', count: 50 }), // inbound: no SNAT port
        trace({ type: 'close', count: 50 }),
        trace({ type: 'unknown', count: 50 }),
        trace({ daddr: '52.1.2.3', dport: 5432, count: 4 }), // traced only: still a row
      ],
      isSnat,
    });
    expect(flows).toEqual([
      { ip: '20.60.1.2', port: 80, protocol: 'tcp', open: 0, timeWait: 7, connects: 0, failed: 0 },
      { ip: '20.60.1.2', port: 443, protocol: 'tcp', open: 20, timeWait: 40, connects: 600, failed: 12 },
      { ip: '52.1.2.3', port: 5432, protocol: 'tcp', open: 0, timeWait: 0, connects: 4, failed: 0 },
    ]);
  });

  test('server-side states (LISTEN, SYN_RECV, NEW_SYN_RECV) and CLOSE hold no SNAT port: no row', () => {
    const { flows } = summarizeConnections({
      sockets: [
        sockets('LISTEN', '20.60.1.2', 443, 1),
        sockets('SYN_RECV', '20.60.1.2', 443, 3),
        sockets('NEW_SYN_RECV', '20.60.1.2', 443, 3),
        sockets('CLOSE', '20.60.1.2', 443, 3),
      ],
      trace: [],
      isSnat,
    });
    expect(flows).toEqual([]);
  });

  test('failed connects count as failures, not as connects', () => {
    const summary = summarizeConnections({ sockets: [], trace: [trace({ type: 'failed', count: 9 })], isSnat });
    expect(summary.publicConnects).toBe(0);
    expect(summary.flows).toEqual([
      { ip: '20.60.1.2', port: 443, protocol: 'tcp', open: 0, timeWait: 0, connects: 0, failed: 9 },
    ]);
  });

  test('private destinations are never flows: sockets, TIME_WAIT, connects and failures to them are left out', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '10.244.3.9', 8080, 50),
        sockets('TIME_WAIT', '10.244.3.9', 8080, 900),
        sockets('SYN_SENT', '10.0.0.4', 443, 2),
        sockets('TIME_WAIT', '168.63.129.16', 80, 4),
        udp('ESTABLISHED', '10.0.0.10', 53, 3),
      ],
      trace: [trace({ daddr: '10.244.3.9', dport: 8080, count: 500 }), trace({ type: 'failed', daddr: '10.0.0.4' })],
      isSnat,
    });
    expect(summary.flows).toEqual([]);
    expect(summary).toMatchObject({ privateEstablished: 50, privateTimeWait: 904, timeWait: 0, synSent: 0 });
  });

  test('connected UDP is keyed by destination IP alone (port 0); unconnected UDP names no destination', () => {
    const summary = summarizeConnections({
      sockets: [
        udp('ESTABLISHED', '8.8.8.8', 53, 2),
        udp('ESTABLISHED', '8.8.8.8', 5353, 1), // same IP, other port: the same UDP flow
        udp('ESTABLISHED', '1.1.1.1', 53, 1),
        udp('CLOSE', '9.9.9.9', 53, 5), // not connected
        sockets('ESTABLISHED', '8.8.8.8', 53, 4), // TCP to the same IP:port: its own row
      ],
      trace: [],
      isSnat,
    });
    expect(summary.flows).toEqual([
      { ip: '1.1.1.1', port: 0, protocol: 'udp', open: 1, timeWait: 0, connects: 0, failed: 0 },
      { ip: '8.8.8.8', port: 0, protocol: 'udp', open: 3, timeWait: 0, connects: 0, failed: 0 },
      { ip: '8.8.8.8', port: 53, protocol: 'tcp', open: 4, timeWait: 0, connects: 0, failed: 0 },
    ]);
    // UDP is not TCP ESTABLISHED: the runbook's count stays TCP.
    expect(summary.publicEstablished).toBe(4);
  });

  test('flows agree with the counts: open ESTABLISHED ≥ publicEstablished, TIME_WAIT = timeWait, connects = publicConnects', () => {
    const summary = summarizeConnections({
      sockets: [
        sockets('ESTABLISHED', '20.60.1.2', 443, 40),
        sockets('ESTABLISHED', '2603:1030::5', 443, 3),
        sockets('TIME_WAIT', '20.60.1.2', 443, 30),
        sockets('TIME_WAIT', '52.1.2.3', 5432, 5),
        sockets('TIME_WAIT', '10.244.3.9', 8080, 12),
        sockets('SYN_SENT', '20.60.1.2', 443, 2),
      ],
      trace: [trace({ count: 25 }), trace({ daddr: '10.244.9.9', count: 25 })],
      isSnat,
    });
    const sum = (key: 'open' | 'timeWait' | 'connects') => summary.flows.reduce((n, f) => n + f[key], 0);
    expect(sum('open')).toBe(summary.publicEstablished + summary.synSent);
    expect(sum('timeWait')).toBe(summary.timeWait);
    expect(sum('connects')).toBe(summary.publicConnects);
    expect(summary.flows.map((f) => f.ip)).toEqual(['20.60.1.2', '52.1.2.3', '2603:1030::5']); // IPv4 first, by address
  });
});

describe('compareIps', () => {
  test('numeric order, IPv4 before IPv6 before anything else, for more addresses than its key cache holds', () => {
    // 70,000 addresses: past the 65,536 parsed keys it keeps, so the cache is cleared on the way and must not matter.
    const v4 = Array.from({ length: 70_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const others = ['::1', '2001:db8::10', '2001:db8::9', 'not-an-ip'];
    const shuffled = [...v4, ...others].map((ip, i) => ({ ip, r: (i * 7919) % 70_004 })).sort((a, b) => a.r - b.r);
    const sorted = shuffled.map((x) => x.ip).sort(compareIps);
    expect(sorted.slice(0, v4.length)).toEqual(v4);
    expect(sorted.slice(v4.length)).toEqual(['::1', '2001:db8::9', '2001:db8::10', 'not-an-ip']);
    expect(sorted.slice().sort(compareIps)).toEqual(sorted);
  });
});
