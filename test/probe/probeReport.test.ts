// The probe report parser on the sandbox node's reports (the script's format, from the scenario), on reports cut
// short, and on noise.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { renderProbeReport } from '../../lib/sandbox/nodeProbe.ts';
import { HOST_NETNS } from '../../lib/sandbox/scenario.ts';
import { scenarioWith } from '../support/scenarios.ts';

const EXHAUSTED = 1;

function nodeWith(probe: { tcptracer: boolean; crictl: boolean } = { tcptracer: true, crictl: true }) {
  const scenario = scenarioWith((doc) => {
    const nodes = doc.nodes as Record<string, unknown>[];
    (nodes[EXHAUSTED] as Record<string, unknown>).probe = probe;
  });
  return scenario.nodes[EXHAUSTED]!;
}

describe('a complete report', () => {
  const node = nodeWith();
  const report = parseProbeReport(renderProbeReport(node, 30), { node: node.name, seconds: 30 });

  test('reads every section without skipping a line', () => {
    expect(report.skipped).toBe(0);
    expect(report.truncated).toBe(false);
    expect(report.capture).toMatchObject({
      node: node.name,
      seconds: 30,
      hostNetns: HOST_NETNS,
      unavailable: [],
      socketsComplete: true,
    });
  });

  test('one sandbox per pod, with its uid, its netns, and the sandbox id crictl reported', () => {
    expect(report.capture.sandboxes).toHaveLength(node.pods.length);
    for (const pod of node.pods) {
      expect(report.capture.sandboxes).toContainEqual(
        expect.objectContaining({
          uid: pod.uid,
          hostNetwork: pod.hostNetwork,
          ...(pod.hostNetwork ? {} : { id: pod.sandboxId, netns: pod.netns }),
        }),
      );
    }
  });

  test('the trace of a hostNetwork pod and its sockets are attributed to it by uid', () => {
    const konnectivity = node.pods.find((p) => p.name.startsWith('konnectivity-agent'))!;
    expect(report.capture.sockets).toContainEqual(
      expect.objectContaining({ netns: HOST_NETNS, podUid: konnectivity.uid, remoteIp: '20.61.100.20', count: 2 }),
    );
  });

  test('the socket counts add up to the scenario connections', () => {
    const scenarioTotal = node.pods.flatMap((p) => p.connections).reduce((n, c) => n + c.count, 0);
    expect(report.capture.sockets.reduce((n, s) => n + s.count, 0)).toBe(scenarioTotal);
  });

  test('network namespace paths come from the netns files', () => {
    const withPath = report.capture.namespaces.filter((n) => n.path?.startsWith('/run/netns/cni-'));
    expect(withPath).toHaveLength(node.pods.filter((p) => !p.hostNetwork).length);
  });
});

describe('process names', () => {
  test('a COMM with spaces comes through as the real probe writes it (test/probe/nodeProbeScript.test.ts: ".NET_TP_Worker")', () => {
    const scenario = scenarioWith((doc) => {
      const nodes = doc.nodes as { pods: Record<string, unknown>[]; hostProcesses?: unknown[] }[];
      const pod = nodes[EXHAUSTED]?.pods[0] as Record<string, unknown>;
      pod.containers = [{ name: 'checkout', command: '.NET TP Worker' }];
      (nodes[EXHAUSTED] as Record<string, unknown>).hostProcesses = [
        { command: 'backup agent', connections: [{ to: '20.150.90.4:443', count: 1, connectsPerSecond: 1 }] },
      ];
    });
    const node = scenario.nodes[EXHAUSTED]!;
    const { capture, skipped } = parseProbeReport(renderProbeReport(node, 30), { node: node.name, seconds: 30 });
    expect(skipped).toBe(0);
    expect(capture.trace).toContainEqual(expect.objectContaining({ daddr: '20.50.2.10', comms: ['.NET_TP_Worker'] }));
    expect(capture.trace).toContainEqual(
      expect.objectContaining({ daddr: '20.150.90.4', netns: HOST_NETNS, comms: ['backup_agent'] }),
    );
    // The node's own process: its socket is in the host namespace, owned by no pod.
    expect(capture.sockets).toContainEqual(
      expect.objectContaining({ netns: HOST_NETNS, remoteIp: '20.150.90.4', count: 1 }),
    );
    expect(capture.sockets.find((x) => x.remoteIp === '20.150.90.4')).not.toHaveProperty('podUid');
  });
});

describe('what the node lacked', () => {
  test('without crictl, the shim above each namespace (pstree) gives the sandbox ids', () => {
    const node = nodeWith({ tcptracer: true, crictl: false });
    const { capture, skipped } = parseProbeReport(renderProbeReport(node, 30), { node: node.name, seconds: 30 });
    expect(skipped).toBe(0);
    const checkout = node.pods.find((p) => p.name.startsWith('checkout-api'))!;
    expect(capture.sandboxes).toContainEqual(
      expect.objectContaining({ id: checkout.sandboxId, netns: checkout.netns, uid: checkout.uid }),
    );
    expect(capture.unavailable.map((u) => u.what)).toEqual(['crictl']);
  });

  test('without tcptracer, no trace and the reason', () => {
    const node = nodeWith({ tcptracer: false, crictl: true });
    const { capture } = parseProbeReport(renderProbeReport(node, 30), { node: node.name, seconds: 30 });
    expect(capture.trace).toEqual([]);
    expect(capture.unavailable[0]).toMatchObject({ what: 'tcptracer', reason: expect.stringMatching(/not installed/) });
  });
});

describe('how long the tracer traced (meta traced_seconds)', () => {
  const node = nodeWith();
  const full = renderProbeReport(node, 30);
  test.each([
    ['a tracer that ran the whole capture', 'traced_seconds=30', 30],
    ['a tracer that died after half a second and never traced', 'traced_seconds=0', 0],
    ['a tracer that traced 12.5 s of 30', 'traced_seconds=12.5', 12.5],
    ['a report from before the key existed (format 1 all the same): unknown, not 0', '', undefined],
    ['a value that is not a number of seconds: unknown', 'traced_seconds=soon', undefined],
  ])('%s', (_name, line, expected) => {
    const text = full.replace(/^traced_seconds=.*\n/m, '').replace('@@ meta\n', `@@ meta\n${line ? `${line}\n` : ''}`);
    const { capture, skipped } = parseProbeReport(text, { node: node.name, seconds: 30 });
    expect(capture.tracedSeconds).toBe(expected);
    expect(capture.seconds).toBe(30);
    expect(skipped).toBe(0);
  });
});

describe('damaged reports', () => {
  const node = nodeWith();
  const full = renderProbeReport(node, 30);

  test('a report cut short keeps what arrived and says it was cut', () => {
    const cut = full.slice(0, full.indexOf('@@ sockets') + 200);
    const report = parseProbeReport(cut, { node: node.name, seconds: 30 });
    expect(report.truncated).toBe(true);
    expect(report.capture.sandboxes.length).toBe(node.pods.length);
    expect(report.capture.sockets.length).toBeGreaterThan(0);
    expect(report.capture.unavailable).toContainEqual(expect.objectContaining({ what: 'probe report' }));
    expect(report.capture.socketsComplete).toBe(false);
  });

  test('malformed rows are counted and skipped', () => {
    const damaged = full
      .replace('@@ sockets\n', '@@ sockets\nnot a socket row\n4026532207 ZZ 0100007F:0050 1\n')
      .replace('@@ trace\n', '@@ trace\n12 connect 10.0.0.999 20.50.2.10 443 4026532207 1 x\n');
    const report = parseProbeReport(damaged, { node: node.name, seconds: 30 });
    expect(report.skipped).toBe(3);
    expect(report.skippedSamples).toContain('not a socket row');
  });

  test('a probe that refused its arguments is a PROBE_FAILED error naming why', () => {
    expect(() =>
      parseProbeReport('@@ error\n--seconds wants a whole number from 1 to 300\n@@ end\n', { node: 'n', seconds: 5 }),
    ).toThrow(/The node probe refused to run: --seconds wants a whole number/);
  });

  test('output that is not a report at all says what it started with', () => {
    expect(() =>
      parseProbeReport('error: unable to upgrade connection: container not found\n', { node: 'n', seconds: 5 }),
    ).toThrow(/printed no report \(1 line\(s\) of other output, starting "error: unable to upgrade connection/);
  });

  test('never throws on a real report cut anywhere or with any line replaced by noise (property)', () => {
    const lines = full.split('\n');
    fc.assert(
      fc.property(
        fc.nat(full.length),
        // Line 0 is the report's header: without it the text is not a report (tested above).
        fc.array(fc.tuple(fc.integer({ min: 1, max: lines.length - 1 }), fc.string()), { maxLength: 8 }),
        (cutAt, noise) => {
          const edited = [...lines];
          for (const [at, text] of noise) edited[at] = text.replace(/^@@/, '');
          const text = edited.join('\n').slice(0, Math.max(cutAt, full.indexOf('@@ meta')));
          const report = parseProbeReport(text, { node: node.name, seconds: 30 });
          expect(report.lines).toBe(text.split('\n').filter((_, i, all) => i < all.length - 1 || all[i] !== '').length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a bounded report (what the node kept, what it left out, and the exact totals)', () => {
  const UID = '6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const text = [
    '@@ snat-doctor-probe 1',
    '@@ meta',
    'node=aks-node-1',
    'seconds=30',
    'traced_seconds=30',
    'host_netns=4026531840',
    'max_trace_rows=400',
    'max_socket_rows=500',
    'max_per_source=25',
    '@@ trace',
    '# events=1200 skipped=0 lost=0 pruned=100 prune_floor=2',
    '700 connect 10.244.1.4 20.50.2.10 443 4026532207 3101 java',
    '90 failed 10.244.1.4 20.50.2.11 443 4026532207 3101 java',
    '50 accept 10.244.1.4 * 8080 4026532207 3101 java',
    '40 connect 10.224.0.5 20.61.100.20 443 4026531840 3200 proxy-agent 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e',
    '5 connect 10.244.1.4 * 443 4026532207 3101 java',
    '#cut kept=4 dropped=120 dropped_count=220',
    '@@ trace-sources',
    '4026532207 10.244.1.4 connect 1000',
    '4026532207 10.244.1.4 failed 90',
    '4026532207 10.244.1.4 accept 50',
    '4026531840 10.224.0.5 connect 60',
    '4026532207 not-an-ip connect 3',
    '@@ sockets',
    '4026532207 01 0A023214:01BB 12',
    '#cut kept=1 dropped=30 dropped_count=31',
    '@@ socket-totals',
    '4026532207 tcp 01 43',
    `4026531840 tcp 06 7 ${UID}`,
    '4026532207 sctp 01 1',
    '@@ unavailable',
    '@@ end',
  ].join('\n');
  const report = parseProbeReport(text, { node: 'aks-node-1', seconds: 30 });

  test('inbound rows (DADDR *) keep their listening port; a * on an outbound type is malformed and skipped', () => {
    expect(report.capture.trace).toContainEqual(
      expect.objectContaining({ type: 'accept', daddr: '*', dport: 8080, count: 50 }),
    );
    expect(report.capture.trace.some((t) => t.type === 'connect' && t.daddr === '*')).toBe(false);
    expect(report.skippedSamples).toContain('5 connect 10.244.1.4 * 443 4026532207 3101 java');
  });

  test("a host-namespace row's pod, named on the node, is taken as given", () => {
    expect(report.capture.trace).toContainEqual(
      expect.objectContaining({ saddr: '10.224.0.5', podUid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e' }),
    );
  });

  test('exact totals per trace source and per namespace and state are read, malformed rows skipped', () => {
    expect(report.capture.traceSources).toEqual([
      { netns: 4026532207, saddr: '10.244.1.4', type: 'connect', count: 1000 },
      { netns: 4026532207, saddr: '10.244.1.4', type: 'failed', count: 90 },
      { netns: 4026532207, saddr: '10.244.1.4', type: 'accept', count: 50 },
      { netns: 4026531840, saddr: '10.224.0.5', type: 'connect', count: 60 },
    ]);
    expect(report.capture.socketTotals).toEqual([
      { netns: 4026532207, protocol: 'tcp', state: 'ESTABLISHED', count: 43 },
      { netns: 4026531840, podUid: UID, protocol: 'tcp', state: 'TIME_WAIT', count: 7 },
    ]);
    expect(report.skipped).toBe(3);
  });

  test('every cut is kept, and said in unavailable with where its counts still are', () => {
    expect(report.capture.cuts).toEqual([
      { section: 'trace', kept: 4, dropped: 120, droppedCount: 220 },
      { section: 'sockets', kept: 1, dropped: 30, droppedCount: 31 },
    ]);
    expect(report.traceStats).toEqual({ events: 1200, skipped: 0, lost: 0, pruned: 100, pruneFloor: 2 });
    const reasons = Object.fromEntries(report.capture.unavailable.map((u) => [u.what, u.reason]));
    expect(reasons['trace rows']).toMatch(/kept 4 and left 120 out .*25 per source, 400 in all.*220 event/);
    expect(reasons['sockets rows']).toMatch(/kept 1 and left 30 out .*500 in all.*31 socket/);
  });
});
