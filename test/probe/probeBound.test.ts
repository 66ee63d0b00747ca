// The node probe's report stays under its stated bound whatever the traffic: a traffic mix made to break it (more
// namespaces than an AKS node can have, every event to a destination of its own, full-length IPv6 addresses, the
// longest process names, inbound connections from a client port each), and a memory cap small enough that the trace
// aggregation has to prune. Every cut is stated, and the exact totals still add up.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { type ProbeReport, parseProbeReport } from '../../lib/probe/probeReport.ts';
import { renderProcNetTcp, type SocketRow } from '../../lib/sandbox/procNetTcpText.ts';

const SCRIPT = fileURLToPath(new URL('../../lib/probe/node-probe.sh', import.meta.url));
const STANDINS = fileURLToPath(new URL('./bin', import.meta.url));

// The bound the script states in its header ("… : 488,400 bytes, under runCommand's 512 kB").
const STATED_BOUND = Number(
  /([\d,]+)\s*(?:#\s*)?bytes, under runCommand's 512 kB/.exec(readFileSync(SCRIPT, 'utf8'))?.[1]?.replaceAll(',', ''),
);
const NAMESPACES = 320; // AKS allows at most 250 pods on a node
const EVENTS = 300_000;
const HOST = 4026531840;
const netnsOf = (i: number) => 4026540000 + i;
const uidOf = (i: number) => `0000${String(i).padStart(4, '0')}-aaaa-4bbb-8ccc-${String(i).padStart(12, '0')}`;
// Per namespace: 40 connections to destinations of their own, 10 TIME_WAIT to one, 5 accepted on 8080, 3 connected UDP.
const OWN = 40;
const TIME_WAIT = 10;
const ACCEPTED = 5;
const UDP = 3;

describe('a traffic mix made to break the report’s bound', () => {
  let proc: string;
  let stdout: string;
  let report: ProbeReport;

  beforeAll(async () => {
    proc = await mkdtemp(join(tmpdir(), 'bound-proc-'));
    const processDir = async (pid: number, netns: number, cgroup: string, tables: ReturnType<typeof renderTables>) => {
      const dir = join(proc, String(pid));
      await mkdir(join(dir, 'ns'), { recursive: true });
      await mkdir(join(dir, 'net'), { recursive: true });
      await symlink(`net:[${netns}]`, join(dir, 'ns', 'net'));
      await writeFile(join(dir, 'cgroup'), `0::${cgroup}\n`);
      await writeFile(join(dir, 'comm'), 'pause\n');
      for (const [name, text] of Object.entries(tables)) await writeFile(join(dir, 'net', name), text);
    };
    await processDir(1, HOST, '/init.scope', renderTables([]));
    for (let i = 0; i < NAMESPACES; i++) {
      const local = `fd00:aaaa:bbbb:cccc:dddd:eeee:ffff:${i.toString(16).padStart(4, '0')}`;
      const rows: SocketRow[] = [
        { localIp: local, localPort: 8080, remoteIp: '::', remotePort: 0, state: 'LISTEN' },
        ...Array.from({ length: OWN }, (_, j) => ({
          localIp: local,
          localPort: 40000 + j,
          remoteIp: `2001:db8:ffff:eeee:dddd:${i.toString(16)}:${j.toString(16)}:1`,
          remotePort: 443,
          state: 'ESTABLISHED' as const,
        })),
        ...Array.from({ length: TIME_WAIT }, (_, j) => ({
          localIp: local,
          localPort: 50000 + j,
          remoteIp: '2001:db8:ffff:eeee:dddd:cccc:bbbb:0',
          remotePort: 443,
          state: 'TIME_WAIT' as const,
        })),
        ...Array.from({ length: ACCEPTED }, (_, j) => ({
          localIp: local,
          localPort: 8080,
          remoteIp: `2001:db8:1::${j + 1}`,
          remotePort: 30000 + j,
          state: 'ESTABLISHED' as const,
        })),
        ...Array.from({ length: UDP }, (_, j) => ({
          protocol: 'udp' as const,
          localIp: local,
          localPort: 5000 + j,
          remoteIp: `2001:db8:53::${j + 1}`,
          remotePort: 53,
          state: 'ESTABLISHED' as const,
        })),
      ];
      const slice = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidOf(i).replaceAll('-', '_')}.slice`;
      await processDir(5000 + i, netnsOf(i), `${slice}/cri-containerd-${'ab'.repeat(32)}.scope`, renderTables(rows));
    }
    stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        'sh',
        [SCRIPT, '--seconds', '8'],
        {
          env: {
            PATH: `${STANDINS}:${process.env.PATH}`,
            SNAT_PROBE_PROC: proc,
            SNAT_PROBE_TRACER: join(STANDINS, 'tcptracer'),
            SNAT_PROBE_BPFTRACE: '',
            SNAT_PROBE_CRICTL: '',
            SNAT_PROBE_MAX_KEYS: '20000',
            STANDIN_MIX: 'breaking',
            STANDIN_EVENTS: String(EVENTS),
            STANDIN_NAMESPACES: String(NAMESPACES),
          },
          maxBuffer: 8 << 20,
        },
        (error, out) => (error ? reject(error) : resolve(out)),
      );
    });
    report = parseProbeReport(stdout, { node: 'here', seconds: 8 });
  }, 120_000);

  afterAll(async () => {
    await rm(proc, { recursive: true, force: true });
  });

  test('the report stays under the bound the script states, which is under runCommand’s 512 kB', () => {
    expect(STATED_BOUND).toBeLessThan(512_000);
    console.log(`breaking mix: report ${Buffer.byteLength(stdout)} bytes (bound ${STATED_BOUND})`);
    expect(Buffer.byteLength(stdout)).toBeLessThanOrEqual(STATED_BOUND);
    expect(report.truncated).toBe(false);
    expect(report.skipped).toBe(0);
  });

  test('the trace was aggregated whole: every event in its source’s exact total', () => {
    expect(report.traceStats.events).toBe(EVENTS);
    const totals = report.capture.traceSources ?? [];
    expect(totals.reduce((sum, t) => sum + t.count, 0)).toBe(EVENTS);
    expect(new Set(totals.map((t) => t.netns)).size).toBe(NAMESPACES);
  });

  test('what the trace rows left out is stated, and kept + left out + pruned = every event', () => {
    const cut = report.capture.cuts?.find((c) => c.section === 'trace');
    expect(cut?.kept).toBe(400);
    expect(cut?.dropped).toBeGreaterThan(0);
    expect(report.traceStats.pruned).toBeGreaterThan(0); // 20,000 rows in memory were not enough: pruning happened
    const kept = report.capture.trace.reduce((sum, t) => sum + t.count, 0);
    expect(kept + (cut?.droppedCount ?? 0) + report.traceStats.pruned).toBe(EVENTS);
    expect(report.capture.unavailable.map((u) => u.what)).toEqual(expect.arrayContaining(['trace rows']));
  });

  test('inbound rows are one per listening port, never one per client port', () => {
    const inbound = report.capture.trace.filter((t) => t.type === 'accept' || t.daddr === '*');
    expect(inbound.length).toBeGreaterThan(0);
    for (const row of inbound) expect(row).toMatchObject({ daddr: '*', dport: 8080 });
    // The busiest rows are kept: inbound rows (every accept of a source in one) outrank any one destination's.
    expect(report.capture.trace[0]?.daddr).toBe('*');
  });

  test('the socket snapshot: exact totals per namespace and state, the cut stated, nothing lost between them', () => {
    const totals = report.capture.socketTotals ?? [];
    const tcp = totals.filter((t) => t.protocol === 'tcp').reduce((sum, t) => sum + t.count, 0);
    expect(tcp).toBe(NAMESPACES * (OWN + TIME_WAIT));
    expect(totals.filter((t) => t.protocol === 'udp').reduce((sum, t) => sum + t.count, 0)).toBe(NAMESPACES * UDP);
    const cut = report.capture.cuts?.find((c) => c.section === 'sockets');
    const kept = report.capture.sockets.filter((s) => s.protocol !== 'udp').reduce((sum, s) => sum + s.count, 0);
    expect(cut?.kept).toBe(500);
    expect(kept + (cut?.droppedCount ?? 0)).toBe(tcp);
    // Accepted connections are inbound, per listening port: 5 on 8080 in every namespace that fits the section.
    expect(report.capture.inbound?.every((i) => i.port === 8080 && i.count === ACCEPTED)).toBe(true);
  });

  test('namespaces and pod processes past what a node can hold are cut, and the cut is said', () => {
    const sections = (report.capture.cuts ?? []).map((c) => c.section);
    expect(sections).toEqual(expect.arrayContaining(['netns', 'pod-processes', 'sockets', 'trace']));
    const netns = report.capture.cuts?.find((c) => c.section === 'netns');
    expect((netns?.kept ?? 0) + (netns?.dropped ?? 0)).toBe(NAMESPACES + 1);
    expect(report.capture.unavailable.find((u) => u.what === 'netns rows')?.reason).toMatch(/kept 300 and left 21 out/);
  });
});

function renderTables(rows: SocketRow[]): Record<'tcp' | 'tcp6' | 'udp' | 'udp6', string> {
  return renderProcNetTcp(rows);
}
