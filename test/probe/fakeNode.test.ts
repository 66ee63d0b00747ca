// The real node probe (lib/probe/node-probe.sh) on a fake Kubernetes node built on this machine's real kernel
// (test/probe/fakeNode.ts): pods in their own network namespaces and kubepods cgroups under stand-in containerd shims,
// a hostNetwork pod, servers on TEST-NET-3 behind a bridge, and workloads with known connections. What the probe
// reports is checked against `ss` in each namespace and against the connects the workloads made.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { NodeCapture, SocketAggregate } from '../../lib/model.ts';
import { parseProbeReport } from '../../lib/probe/probeReport.ts';
import { FakeNode, type FakePod, fakeNodeSupport, waitFor } from './fakeNode.ts';

const SCRIPT = fileURLToPath(new URL('../../lib/probe/node-probe.sh', import.meta.url));
// bpftrace compiles and attaches before it traces anything: 1.8 s on this machine idle, 3-5 s under this test's own
// load, over 10 s with three runs of it at once on two CPUs. A capture in which it did not trace, with time to spare
// for pod c's connects, is run again, longer; the last one's length is what it took.
const CAPTURES = [10, 30];
/** Pod c's connects take milliseconds: the tracer must be live this long before its capture ends to start them. */
const MARGIN_MS = 2000;

// The "internet" (TEST-NET-3): a server that keeps connections open, one that churn connects to, and a host with
// nothing listening on the failure port (81) nor the sentinel port (82), so connects there are refused (RST).
const HELD = { host: '203.0.113.10', port: 443 };
const CHURN = { host: '203.0.113.11', port: 80 };
const CLOSED = { host: '203.0.113.12', port: 81, sentinelPort: 82 };
const DNS = { host: '203.0.113.10', port: 53 };
const SERVER_POD_IP = '198.51.100.4';
const SERVER_POD_PORT = 8080;

const HELD_BY_A = 6; // pod a: long-lived connections to HELD
const UDP_BY_A = 2; // pod a: connected UDP sockets to DNS (and one bound, unconnected)
const FAILED_BY_C = 5; // pod c: refused connects to CLOSED, all inside the traced window
const HELD_BY_S = 2; // pod s (a server): its own outbound connections to HELD
const INBOUND_TO_S = 4; // connections from the servers' namespace to pod s
const HELD_BY_H = 3; // the hostNetwork pod: connections to the host link's server

const support = fakeNodeSupport();
if (!support.ok) console.warn(`skipping the fake node probe test: ${support.reason}`);
const bpftraceSkip = support.ok && !support.bpftrace ? 'bpftrace is not installed (Debian package bpftrace)' : '';
if (bpftraceSkip) console.warn(`skipping the fake node's trace test: ${bpftraceSkip}`);

// ── ss, read independently of the product's parsers ──────────────────────────────────────────────────────────────────

const SS_STATES: Record<string, string> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  UNCONN: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

interface SsRow {
  state: string;
  localPort: number;
  peer: string; // ip:port, IPv4-mapped addresses unwrapped
  users: string;
}

function endpoint(text: string): { ip: string; port: number } {
  const at = text.lastIndexOf(':');
  const ip = text
    .slice(0, at)
    .replace(/^\[|\]$/g, '')
    .replace(/^::ffff:(?=\d+\.)/i, '')
    .replace(/%.*$/, '');
  const port = text.slice(at + 1);
  return { ip, port: port === '*' ? 0 : Number(port) };
}

function parseSs(text: string): SsRow[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [state = '', , , local = '', peer = '', ...users] = line.trim().split(/\s+/);
      const remote = endpoint(peer);
      return {
        state: SS_STATES[state] ?? state,
        localPort: endpoint(local).port,
        peer: `${remote.ip}:${remote.port}`,
        users: users.join(' '),
      };
    });
}

interface Counts {
  tcp: Record<string, number>; // "STATE ip:port" → sockets, LISTEN and inbound left out (as the probe does)
  udp: Record<string, number>; // connected UDP sockets by peer
  inbound: Record<number, number>; // accepted connections by listening port
}

function bump<K extends string | number>(map: Record<K, number>, key: K, by = 1) {
  map[key] = (map[key] ?? 0) + by;
}

/** What the probe should say of a namespace, from `ss -Htan` and `ss -Huan` there. */
function countSs(tcpRows: SsRow[], udpRows: SsRow[]): Counts {
  const counts: Counts = { tcp: {}, udp: {}, inbound: {} };
  const listening = new Set(tcpRows.filter((r) => r.state === 'LISTEN').map((r) => r.localPort));
  for (const row of tcpRows) {
    if (row.state === 'LISTEN') continue;
    if (listening.has(row.localPort)) bump(counts.inbound, row.localPort);
    else bump(counts.tcp, `${row.state} ${row.peer}`);
  }
  for (const row of udpRows) if (row.state === 'ESTABLISHED') bump(counts.udp, `ESTABLISHED ${row.peer}`);
  return counts;
}

/** What the probe did say of a namespace (and, in the host's, of one pod). */
function countReport(capture: NodeCapture, netns: number, podUid?: string): Counts {
  const counts: Counts = { tcp: {}, udp: {}, inbound: {} };
  const mine = (s: { netns: number; podUid?: string }) => s.netns === netns && s.podUid === podUid;
  for (const s of capture.sockets.filter(mine)) {
    bump(s.protocol === 'udp' ? counts.udp : counts.tcp, `${s.state} ${s.remoteIp}:${s.remotePort}`, s.count);
  }
  for (const i of (capture.inbound ?? []).filter(mine)) bump(counts.inbound, i.port, i.count);
  return counts;
}

const onlyPeer = (counts: Record<string, number>, peer: string, keep: boolean) =>
  Object.fromEntries(Object.entries(counts).filter(([key]) => key.endsWith(` ${peer}`) === keep));

// ── The probe, run for real ──────────────────────────────────────────────────────────────────────────────────────────

interface ProbeRun {
  code: number;
  stdout: string;
  stderr: string;
}

function startProbe(
  node: FakeNode,
  seconds: number,
  bpftrace: string,
): { child: ChildProcess; done: Promise<ProbeRun> } {
  const child = spawn('sh', [SCRIPT, '--seconds', String(seconds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      // No crictl (sandboxes are then mapped with pstree), no BCC, and bpftrace only when the test can run it.
      SNAT_PROBE_CRICTL: '/nonexistent/crictl',
      SNAT_PROBE_TRACER: '/nonexistent/tcptracer',
      SNAT_PROBE_BPFTRACE: bpftrace,
    },
  });
  node.track(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const done = new Promise<ProbeRun>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })),
  );
  return { child, done };
}

/** The bpftrace process the probe traces with (sh → timeout → bpftrace), once it is running; not its `bpftrace -V`. */
function probeBpftrace(probePid: number): number | undefined {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      comm.set(Number(entry), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const QUERIES = new Set(['-V', '--version', '--info', '-l', '-h', '--help']);
  for (const [pid, name] of comm) {
    if (name !== 'bpftrace') continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1);
      if (args.some((arg) => QUERIES.has(arg))) continue;
    } catch {
      continue;
    }
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === probePid) return pid;
  }
  return undefined;
}

/** When a process's capture ends: its start (seconds since boot, in clock ticks in /proc/PID/stat) + `seconds`. */
function captureEnd(pid: number, seconds: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    // USER_HZ is 100 on every Linux architecture that matters here.
    return Date.now() + (ticks / 100 + seconds - uptime) * 1000;
  } catch {
    return undefined;
  }
}

/**
 * bpftrace traces once it waits in its event loop (epoll): it attaches every probe before it enters that loop, and
 * before it does it compiles, loads and attaches (running, or waiting on other things).
 */
function bpftraceTracing(pid: number): boolean {
  for (const file of ['wchan', 'stack']) {
    try {
      if (/ep_poll|epoll/.test(readFileSync(`/proc/${pid}/${file}`, 'utf8'))) return true;
    } catch {
      // not readable here, or exited
    }
  }
  return false;
}

(support.ok ? describe : describe.skip)('the node probe on a fake Kubernetes node (real kernel, needs root)', () => {
  let node: FakeNode;
  let a: FakePod;
  let b: FakePod;
  let c: FakePod;
  let s: FakePod;
  let h: FakePod;
  let run: ProbeRun;
  let capture: NodeCapture;
  /** The ground truth, right after the probe: per pod, what ss counts. */
  const after = new Map<string, Counts>();
  let churnTimeWaitBefore = 0;
  let churnAttempts = 0;
  /** bpftrace was seen in its event loop before pod c's counted connects, and still was once they were done. */
  let tracingBeforeFailures = false;
  let tracingAfterFailures = false;
  /** How long bpftrace took to trace, from the last probe's start, and the captures it missed (printed). */
  let attachMs = 0;
  const lateCaptures: number[] = [];
  /** The last capture's length. */
  let seconds = CAPTURES[0]!;

  const ssCounts = async (pod: FakePod) => {
    const tcp = parseSs(await node.ss(pod.netnsName, ['-Htan']));
    const udp = parseSs(await node.ss(pod.netnsName, ['-Huan']));
    return countSs(tcp, udp);
  };
  /** The hostNetwork pod's sockets: the host namespace's, those its process holds (`ss -p`). */
  const hostPodCounts = async (pod: FakePod) => {
    const owned = (rows: SsRow[]) => rows.filter((r) => r.users.includes(`pid=${pod.workload.pid},`));
    const tcp = owned(parseSs(await node.ss(undefined, ['-Htanp'])));
    const udp = owned(parseSs(await node.ss(undefined, ['-Huanp'])));
    return countSs(tcp, udp);
  };

  beforeAll(async () => {
    if (!support.ok) return;
    if (support.bpftrace && !existsSync('/sys/kernel/tracing/events/sock/inet_sock_set_state')) {
      await new Promise<void>((resolve) =>
        execFile('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], () => resolve()),
      );
    }
    node = await FakeNode.build(support.cgroup, (link) => ({
      serverIps: [HELD.host, CHURN.host, CLOSED.host],
      servers: {
        listen: [
          { host: '0.0.0.0', port: HELD.port }, // HELD.host, and the host link's end
          { host: CHURN.host, port: CHURN.port },
        ],
        udpBind: [DNS],
      },
      pods: [
        {
          name: 'a',
          ip: '198.51.100.1',
          workload: {
            hold: [{ ...HELD, count: HELD_BY_A }],
            udpConnect: [{ ...DNS, count: UDP_BY_A }],
            udpBind: [{ host: '0.0.0.0', port: 0 }],
          },
        },
        { name: 'b', ip: '198.51.100.2', workload: { churn: { ...CHURN, pauseMs: 20 } } },
        {
          name: 'c',
          ip: '198.51.100.3',
          workload: {
            fail: {
              host: CLOSED.host,
              port: CLOSED.port,
              attempts: FAILED_BY_C,
              sentinelPort: CLOSED.sentinelPort,
              pauseMs: 50,
            },
          },
        },
        {
          name: 's',
          ip: SERVER_POD_IP,
          qos: 'guaranteed',
          workload: {
            listen: [{ host: SERVER_POD_IP, port: SERVER_POD_PORT }],
            hold: [{ ...HELD, count: HELD_BY_S }],
          },
        },
        {
          name: 'h',
          hostNetwork: true,
          qos: 'burstable',
          workload: { hold: [{ host: link.serverIp, port: HELD.port, count: HELD_BY_H }] },
        },
      ],
      clients: { hold: [{ host: SERVER_POD_IP, port: SERVER_POD_PORT, count: INBOUND_TO_S }] },
    }));
    [a, b, c, s, h] = ['a', 'b', 'c', 's', 'h'].map((name) => node.pod(name)) as [
      FakePod,
      FakePod,
      FakePod,
      FakePod,
      FakePod,
    ];

    // Steady state, as ss sees it, before the probe runs (ss's own processes are gone by then).
    const established = (counts: Counts, peer: string) => counts.tcp[`ESTABLISHED ${peer}`] ?? 0;
    const held = `${HELD.host}:${HELD.port}`;
    await waitFor('the held connections in ss', async () => {
      const [ca, cs, ch] = [await ssCounts(a), await ssCounts(s), await hostPodCounts(h)];
      return established(ca, held) === HELD_BY_A &&
        established(cs, held) === HELD_BY_S &&
        cs.inbound[SERVER_POD_PORT] === INBOUND_TO_S &&
        established(ch, `${node.hostLink.serverIp}:${HELD.port}`) === HELD_BY_H
        ? true
        : undefined;
    });
    // Churn starts before the probe, so that TIME_WAIT sockets are there when it snapshots, and runs through it.
    node.control(b.workload, 'go');
    await waitFor('some churn', () => ((node.status(b.workload)?.churn.connected ?? 0) >= 20 ? true : undefined));
    churnTimeWaitBefore = (await ssCounts(b)).tcp[`TIME_WAIT ${CHURN.host}:${CHURN.port}`] ?? 0;

    // Pod c's counted connects start once bpftrace traces (it is in its event loop, with MARGIN_MS of its capture to
    // go) and pod c has made two more sentinel connects, which the trace must then show: the proof, read afterwards,
    // that the tracer was live before the counted connects. That it still was after them is checked too.
    for (const [attempt, length] of CAPTURES.entries()) {
      seconds = length;
      const probe = startProbe(node, seconds, support.bpftrace ?? '');
      const started = Date.now();
      let ended = false;
      void probe.done.then(() => {
        ended = true;
      });
      let bpftrace: number | undefined;
      if (support.bpftrace) {
        const live = await waitFor(
          'bpftrace to trace',
          () => {
            if (ended) return false;
            bpftrace = probeBpftrace(probe.child.pid!);
            const end = bpftrace === undefined ? undefined : captureEnd(bpftrace, seconds);
            if (bpftrace === undefined || end === undefined) return undefined;
            if (end - Date.now() < MARGIN_MS) return false;
            return bpftraceTracing(bpftrace) ? true : undefined;
          },
          (seconds + 60) * 1000,
        );
        attachMs = Date.now() - started;
        if (!live && attempt < CAPTURES.length - 1) {
          lateCaptures.push(seconds);
          await probe.done;
          churnTimeWaitBefore = (await ssCounts(b)).tcp[`TIME_WAIT ${CHURN.host}:${CHURN.port}`] ?? 0;
          continue;
        }
        tracingBeforeFailures = live;
        const sentinels = node.status(c.workload)?.fail.sentinels ?? 0;
        await waitFor('two more sentinels', () =>
          ended || (node.status(c.workload)?.fail.sentinels ?? 0) >= sentinels + 2 ? true : undefined,
        );
      }
      if (tracingBeforeFailures || !support.bpftrace) node.control(c.workload, 'go');
      await waitFor('pod c to fail its connects', () =>
        node.status(c.workload)?.fail.done || ended ? true : undefined,
      );
      tracingAfterFailures =
        !ended && bpftrace !== undefined && node.status(c.workload)?.fail.done === true && bpftraceTracing(bpftrace);
      run = await probe.done;
      break;
    }

    // The ground truth, right after.
    for (const pod of [a, b, c, s]) after.set(pod.name, await ssCounts(pod));
    after.set(h.name, await hostPodCounts(h));
    node.control(b.workload, 'stop');
    churnAttempts = await waitFor('churn to stop', () => {
      const status = node.status(b.workload);
      return status?.churn.stopped ? status.churn.attempts : undefined;
    });
    capture = parseProbeReport(run.stdout, { node: 'fake', seconds }).capture;
    if (process.env.SND_FAKENODE_REPORT) writeFileSync(process.env.SND_FAKENODE_REPORT, run.stdout);
    printComparison();
  }, 300_000);

  afterAll(() => {
    node?.teardown();
  });

  function printComparison() {
    const late = lateCaptures.length ? ` (it did not in time in a capture of ${lateCaptures.join(', ')} s)` : '';
    const lines = [
      `probe exit ${run.code}; ${capture.tracedSeconds ?? '?'} s of ${seconds} s traced` +
        (support.ok && support.bpftrace ? `; bpftrace traced ${attachMs} ms after the probe started${late}` : ''),
    ];
    for (const pod of [a, b, c, s, h]) {
      const truth = after.get(pod.name)!;
      const said = countReport(capture, pod.netns, pod.hostNetwork ? pod.uid : undefined);
      lines.push(
        `pod ${pod.name} (netns ${pod.netns}${pod.hostNetwork ? ', hostNetwork' : ''})`,
        `  ss    tcp ${JSON.stringify(truth.tcp)} udp ${JSON.stringify(truth.udp)} inbound ${JSON.stringify(truth.inbound)}`,
        `  probe tcp ${JSON.stringify(said.tcp)} udp ${JSON.stringify(said.udp)} inbound ${JSON.stringify(said.inbound)}`,
      );
    }
    lines.push(`pod b TIME_WAIT to churn server: ss before ${churnTimeWaitBefore}; churn attempts ${churnAttempts}`);
    const sum = (type: string, netns: number, port: number) =>
      capture.trace
        .filter((t) => t.type === type && t.netns === netns && t.dport === port)
        .reduce((n, t) => n + t.count, 0);
    lines.push(
      `trace: pod c failed to :${CLOSED.port} ${sum('failed', c.netns, CLOSED.port)} (made ${node.status(c.workload)?.fail.attempts}), ` +
        `sentinels :${CLOSED.sentinelPort} ${sum('failed', c.netns, CLOSED.sentinelPort)}; ` +
        `pod b connects ${sum('connect', b.netns, CHURN.port)}`,
    );
    console.log(lines.join('\n'));
  }

  test('the probe ran to the end and its report parses whole', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = parseProbeReport(run.stdout, { node: 'fake', seconds });
    expect(report.truncated).toBe(false);
    expect(report.skipped).toBe(0);
    expect(capture.hostNetns).toBe(node.hostNetns);
  });

  test('every pod namespace is listed with its /run/netns path, its pause process and both of its processes', () => {
    for (const pod of [a, b, c, s]) {
      expect(capture.namespaces).toContainEqual({
        inode: pod.netns,
        path: pod.netnsPath,
        pid: Math.min(pod.pausePid, pod.workload.pid),
        nprocs: 2,
        command: pod.pausePid < pod.workload.pid ? 'pause' : 'node',
      });
    }
  });

  test("every pod is a sandbox: its uid, its namespace, and the shim's -id (from pstree)", () => {
    for (const pod of [a, b, c, s]) {
      expect(capture.sandboxes).toContainEqual(
        expect.objectContaining({ uid: pod.uid, netns: pod.netns, hostNetwork: false, id: pod.sandboxId }),
      );
    }
    const host = capture.sandboxes.find((sandbox) => sandbox.uid === h.uid);
    expect(host).toEqual(expect.objectContaining({ uid: h.uid, hostNetwork: true }));
    expect(host?.netns).toBeUndefined();
    // pstree is not read for the host's namespace: a hostNetwork pod's id is one of its containers', from its cgroups.
    expect([h.sandboxId, h.workload.containerId]).toContain(host?.id);
    expect(capture.sandboxes.filter((sandbox) => [a, b, c, s, h].some((pod) => pod.uid === sandbox.uid))).toHaveLength(
      5,
    );
  });

  test.each([
    ['a', 'long-lived connections and connected UDP sockets'],
    ['c', 'only failed connects: no socket stays'],
    ['s', 'a server: its accepted connections are inbound, its own are outbound'],
  ])('pod %s (%s): the socket counts are what ss counts in its namespace', (name) => {
    const pod = node.pod(name);
    const truth = after.get(name)!;
    const said = countReport(capture, pod.netns);
    // Pod c's sentinel may be in flight when the probe snapshots (a SYN_SENT of a few microseconds): only that.
    const closed = `${CLOSED.host}:${CLOSED.sentinelPort}`;
    expect(onlyPeer(said.tcp, closed, false)).toEqual(onlyPeer(truth.tcp, closed, false));
    expect(Object.keys(onlyPeer(said.tcp, closed, true)).every((k) => k.startsWith('SYN_SENT '))).toBe(true);
    expect(said.udp).toEqual(truth.udp);
    expect(said.inbound).toEqual(truth.inbound);
  });

  test('the ground truth is the workloads’ own: what each pod opened, ss counts', () => {
    const held = `ESTABLISHED ${HELD.host}:${HELD.port}`;
    expect(after.get('a')).toEqual({
      tcp: { [held]: HELD_BY_A },
      udp: { [`ESTABLISHED ${DNS.host}:${DNS.port}`]: UDP_BY_A },
      inbound: {},
    });
    expect(onlyPeer(after.get('c')!.tcp, `${CLOSED.host}:${CLOSED.sentinelPort}`, false)).toEqual({});
    expect(after.get('s')).toEqual({
      tcp: { [held]: HELD_BY_S },
      udp: {},
      inbound: { [SERVER_POD_PORT]: INBOUND_TO_S },
    });
    expect(after.get('h')).toEqual({
      tcp: { [`ESTABLISHED ${node.hostLink.serverIp}:${HELD.port}`]: HELD_BY_H },
      udp: {},
      inbound: {},
    });
  });

  test("pod b (churn): TIME_WAIT to the churn server between ss's counts before and after the probe", () => {
    const churn = `${CHURN.host}:${CHURN.port}`;
    const said = countReport(capture, b.netns);
    const timeWait = said.tcp[`TIME_WAIT ${churn}`] ?? 0;
    // Churn goes on while the probe reads the table, whose kernel iterator may then see a socket twice or not at all:
    // a little slack either side.
    expect(timeWait).toBeGreaterThanOrEqual(Math.max(1, churnTimeWaitBefore - 2));
    expect(timeWait).toBeLessThanOrEqual((after.get('b')!.tcp[`TIME_WAIT ${churn}`] ?? 0) + 2);
    // Nothing else: churn has one connection at a time in another state (if any, at the snapshot).
    expect(onlyPeer(said.tcp, churn, false)).toEqual({});
    const inFlight = Object.entries(onlyPeer(said.tcp, churn, true)).filter(([k]) => !k.startsWith('TIME_WAIT '));
    expect(inFlight.reduce((n, [, count]) => n + count, 0)).toBeLessThanOrEqual(2);
    expect(said.udp).toEqual({});
    expect(said.inbound).toEqual({});
  });

  test("the hostNetwork pod's sockets, in the host's namespace, are attributed to its uid and are what ss counts", () => {
    const said = countReport(capture, node.hostNetns, h.uid);
    if (JSON.stringify(said) !== JSON.stringify(after.get('h'))) {
      // What the probe printed of this pod, to tell a misread from a miscount.
      console.log(
        run.stdout
          .split('\n')
          .filter((line) => line.includes(h.uid) || line.startsWith('@@'))
          .join('\n'),
      );
    }
    expect(said).toEqual(after.get('h'));
    // None of them is left unattributed.
    const toLink = (x: SocketAggregate) => x.netns === node.hostNetns && x.remoteIp === node.hostLink.serverIp;
    expect(capture.sockets.filter(toLink).every((x) => x.podUid === h.uid)).toBe(true);
  });

  (bpftraceSkip ? test.skip : test)(
    'bpftrace: every failed connect of pod c in its namespace, and pod b’s connects in its',
    () => {
      expect(run.stdout).toMatch(/^tracer_kind=bpftrace$/m);
      expect(capture.unavailable.filter((u) => u.what === 'tcptracer')).toEqual([]);
      expect({ tracingBeforeFailures, tracingAfterFailures }).toEqual({
        tracingBeforeFailures: true, // else bpftrace did not trace within the longest capture (see the time printed)
        tracingAfterFailures: true,
      });
      expect(node.status(c.workload)?.fail).toEqual(
        expect.objectContaining({ attempts: FAILED_BY_C, refused: FAILED_BY_C, done: true }),
      );
      // Only this run's namespaces: the trace is the whole machine's (another run's fake node included).
      const mine = new Set([a, b, c, s].map((pod) => pod.netns));
      const rows = (type: string, port: number) =>
        capture.trace.filter((t) => t.type === type && t.dport === port && mine.has(t.netns));

      // A sentinel that came before the counted connects was traced: the tracer was live before them.
      const sentinels = rows('failed', CLOSED.sentinelPort).filter((t) => t.netns === c.netns);
      expect(sentinels.reduce((n, t) => n + t.count, 0)).toBeGreaterThan(0);
      const failed = rows('failed', CLOSED.port);
      expect(failed.map(({ netns, saddr, daddr, count, pids }) => ({ netns, saddr, daddr, count, pids }))).toEqual([
        { netns: c.netns, saddr: c.ip, daddr: CLOSED.host, count: FAILED_BY_C, pids: [c.workload.pid] },
      ]);
      expect(rows('connect', CLOSED.port)).toEqual([]);

      const connects = rows('connect', CHURN.port).filter((t) => t.daddr === CHURN.host);
      expect(connects.map(({ netns, saddr, pids }) => ({ netns, saddr, pids }))).toEqual([
        { netns: b.netns, saddr: b.ip, pids: [b.workload.pid] },
      ]);
      expect(connects[0]?.count).toBeGreaterThan(0);
      expect(connects[0]?.count).toBeLessThanOrEqual(churnAttempts);
      expect(capture.trace.filter((t) => t.type === 'failed' && t.netns === b.netns)).toEqual([]);
    },
  );
});
