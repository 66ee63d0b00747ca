// The node probe's report (lib/probe/node-probe.sh) → what the workflow knows about the node. The report is
// sectioned (`@@ name` lines); each section's rows are read on their own, a malformed row is counted and skipped, and
// a report cut short (runCommand caps output) still yields what it holds, saying it was cut.
//
// Joins made here:
//   netns inode → pod uid, from the pod-processes section (each process's kubepods cgroup and network namespace);
//   sandbox id → netns, from crictl (`sandboxes`) or from the containerd shim above a namespace's process (`pstree`);
//   hostNetwork pods' sockets and trace rows → pod uid, by socket inode and by PID (done on the node / here).
import ipaddr from 'ipaddr.js';
import { SnatDoctorError } from '../errors.ts';
import { emptyStats, type LineStats, skipLine, splitLines } from '../evidence/lineStats.ts';
import { decodeHexAddress, TCP_STATES } from '../evidence/procNetTcp.ts';
import { parsePstree } from '../evidence/pstree.ts';
import type {
  InboundAggregate,
  NetnsEntry,
  NodeCapture,
  ReportCut,
  SandboxEntry,
  SocketAggregate,
  SocketTotal,
  TraceAggregate,
  TraceEventType,
  TraceSourceTotal,
  Unavailable,
} from '../model.ts';

export const PROBE_FORMAT_VERSION = '1';

const TYPES = new Set<TraceEventType>(['connect', 'accept', 'close', 'failed', 'unknown']);
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SANDBOX_ID = /^[0-9a-f]{12,64}$/;
const NUMBER = /^\d+$/;

export interface ProbeReport extends LineStats {
  capture: NodeCapture;
  /**
   * What the node's own aggregation of the trace counted: events, lines it skipped, perf buffer losses, and the events
   * it pruned from its rows to stay within memory (still in the sources' totals; a kept row may then count up to
   * `pruneFloor` too few).
   */
  traceStats: { events: number; skipped: number; lost: number; pruned: number; pruneFloor: number };
  /** The report ended before `@@ end`: it was cut (runCommand keeps 512 kB) or the probe was killed. */
  truncated: boolean;
  /** Which tracer traced (meta `tracer_kind`: BCC's tcptracer or bpftrace), absent when none did or it is not said. */
  tracer?: 'bcc' | 'bpftrace';
}

/** Parses the probe's report. Throws PROBE_FAILED only when the probe itself reported an error (bad arguments). */
export function parseProbeReport(text: string, expected: { node: string; seconds: number }): ProbeReport {
  const stats = emptyStats();
  const sections = new Map<string, string[]>();
  const cuts: ReportCut[] = [];
  let current: string[] | undefined;
  let currentName = '';
  let sawHeader = false;
  let ended = false;
  for (const line of splitLines(text)) {
    stats.lines++;
    if (line.startsWith('@@ ')) {
      const name = line.slice(3).trim();
      if (name.startsWith('snat-doctor-probe')) sawHeader = true;
      if (name === 'end') ended = true;
      current = [];
      currentName = name.split(' ')[0] ?? name;
      sections.set(currentName, current);
      continue;
    }
    if (current && line.startsWith('#cut ')) {
      const cut = readCut(currentName, line);
      if (cut) cuts.push(cut);
      else skipLine(stats, line);
    } else if (current) current.push(line);
    else if (line.trim() !== '') skipLine(stats, line); // noise before the report (a shell's or kubectl's chatter)
  }
  const error = sections.get('error');
  if (error) throw new SnatDoctorError('PROBE_FAILED', `The node probe refused to run: ${error.join(' ').trim()}`);
  if (!sawHeader) {
    throw new SnatDoctorError(
      'PROBE_FAILED',
      `The node probe printed no report (${stats.lines} line(s) of other output${stats.skippedSamples[0] ? `, starting "${stats.skippedSamples[0]}"` : ''}).`,
    );
  }

  const meta = readMeta(sections.get('meta') ?? []);
  const hostNetns = Number(meta.get('host_netns') ?? 0);
  // `traced_seconds` came after format 1 was out; a report without it says nothing about how long the tracer ran.
  const tracedSeconds = readSeconds(meta.get('traced_seconds'));
  const rows = (name: string) => (sections.get(name) ?? []).filter((line) => line.trim() !== '');

  // PID → pod uid and netns, for processes in pod cgroups.
  const podOfPid = new Map<number, { netns: number; uid: string; containerId?: string }>();
  for (const line of rows('pod-processes')) {
    const [pid, netns, uid, containerId] = line.trim().split(/\s+/);
    if (!pid || !NUMBER.test(pid) || !netns || !NUMBER.test(netns) || !uid || !UID.test(uid)) {
      skipLine(stats, line);
      continue;
    }
    podOfPid.set(Number(pid), {
      netns: Number(netns),
      uid,
      ...(containerId && containerId !== '-' ? { containerId } : {}),
    });
  }

  const namespaces = readNamespaces(rows('netns'), rows('netns-files'), stats);
  const trace = readTrace(rows('trace'), hostNetns, podOfPid, stats);
  const sockets = [...readSockets(rows('sockets'), stats), ...readSockets(rows('udp-sockets'), stats, 'udp')];
  const inbound = readInbound(rows('inbound'), stats);
  const sandboxes = readSandboxes(rows('sandboxes'), rows('pstree'), hostNetns, podOfPid, stats);
  const unavailable = readUnavailable(rows('unavailable'), stats);
  const traceStats = readTraceStats(rows('trace'));
  const traceSources = readTraceSources(rows('trace-sources'), stats);
  const socketTotals = readSocketTotals(rows('socket-totals'), stats);
  for (const cut of cuts) unavailable.push(describeCut(cut, meta));
  if (traceStats.pruned > 0) {
    unavailable.push({
      what: 'trace rows pruned',
      reason: `${traceStats.pruned} event(s) to destinations seen too rarely were pruned on the node to bound its memory (counted in the sources' totals); a row kept may count up to ${traceStats.pruneFloor} event(s) too few`,
    });
  }
  if (!ended) {
    unavailable.push({
      what: 'probe report',
      reason: 'it was cut short before its last section (output limit or the probe was stopped); what arrived is used',
    });
  }

  const capture: NodeCapture = {
    node: meta.get('node') || expected.node,
    seconds: Number(meta.get('seconds') ?? expected.seconds) || expected.seconds,
    ...(tracedSeconds === undefined ? {} : { tracedSeconds }),
    hostNetns,
    trace,
    namespaces,
    sandboxes,
    sockets,
    ...(sections.has('inbound') ? { inbound } : {}),
    ...(sections.has('trace-sources') ? { traceSources } : {}),
    ...(sections.has('socket-totals') ? { socketTotals } : {}),
    ...(cuts.length > 0 ? { cuts } : {}),
    unavailable,
    skippedLines: stats.skipped + traceStats.skipped,
    // Sections come in a fixed order: the one after `sockets` proves the snapshot arrived whole.
    socketsComplete: sections.has('unavailable') || ended,
  };
  const kind = meta.get('tracer') === 'yes' ? meta.get('tracer_kind') : undefined;
  return {
    ...stats,
    capture,
    traceStats,
    truncated: !ended,
    ...(kind === 'bcc' || kind === 'bpftrace' ? { tracer: kind } : {}),
  };
}

function readMeta(lines: string[]): Map<string, string> {
  const meta = new Map<string, string>();
  for (const line of lines) {
    const at = line.indexOf('=');
    if (at > 0) meta.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return meta;
}

/** A non-negative number of seconds (`12`, `0.5`), or undefined for anything else. */
function readSeconds(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
}

function readTraceStats(lines: string[]): ProbeReport['traceStats'] {
  const header = lines.filter((line) => line.startsWith('#')).join(' ');
  const value = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(header)?.[1] ?? 0);
  return {
    events: value('events'),
    skipped: value('skipped'),
    lost: value('lost'),
    pruned: value('pruned'),
    pruneFloor: value('prune_floor'),
  };
}

/** `#cut kept=K dropped=D dropped_count=C`: what a section left out to keep the report bounded. */
function readCut(section: string, line: string): ReportCut | undefined {
  const match = /^#cut kept=(\d+) dropped=(\d+) dropped_count=(\d+)\s*$/.exec(line);
  if (!match || !/^[a-z-]{1,20}$/.test(section)) return undefined;
  return { section, kept: Number(match[1]), dropped: Number(match[2]), droppedCount: Number(match[3]) };
}

/** A cut, as the report's readers are told of it: which rows, how many, and where their counts still are. */
function describeCut(cut: ReportCut, meta: Map<string, string>): Unavailable {
  // The node's own words reach people only as the numbers they should be.
  const number = (key: string) => {
    const value = meta.get(key);
    return value !== undefined && /^\d{1,6}$/.test(value) ? value : undefined;
  };
  const perSource = number('max_per_source');
  const limit =
    cut.section === 'trace'
      ? number('max_trace_rows')
      : cut.section === 'sockets'
        ? number('max_socket_rows')
        : undefined;
  const rule = [
    perSource && ['trace', 'sockets', 'udp-sockets'].includes(cut.section) ? `${perSource} per source` : '',
    limit ? `${limit} in all` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const counted =
    cut.section === 'trace'
      ? `${cut.droppedCount} event(s) in them are counted only in the sources' totals`
      : ['sockets', 'udp-sockets'].includes(cut.section)
        ? `${cut.droppedCount} socket(s) in them are counted only in the namespaces' totals`
        : cut.droppedCount > 0
          ? `${cut.droppedCount} counted in them`
          : 'the node had more than the report holds';
  return {
    what: `${cut.section} rows`,
    reason: `the node kept ${cut.kept} and left ${cut.dropped} out to bound the report${rule ? ` (${rule})` : ''}; ${counted}`,
  };
}

/** `NETNS SADDR TYPE COUNT`: exact totals per trace source. */
function readTraceSources(lines: string[], stats: LineStats): TraceSourceTotal[] {
  const totals: TraceSourceTotal[] = [];
  for (const line of lines) {
    const [netns, saddr, type, count, extra] = line.trim().split(/\s+/);
    const sourceIp = saddr === undefined ? undefined : unwrapMapped(saddr);
    if (
      !netns ||
      !NUMBER.test(netns) ||
      !sourceIp ||
      !TYPES.has(type as TraceEventType) ||
      !count ||
      !NUMBER.test(count) ||
      extra !== undefined
    ) {
      skipLine(stats, line);
      continue;
    }
    totals.push({ netns: Number(netns), saddr: sourceIp, type: type as TraceEventType, count: Number(count) });
  }
  return totals;
}

/** `NETNS PROTO STATE COUNT [POD_UID]`: exact socket totals per namespace, protocol and state. */
function readSocketTotals(lines: string[], stats: LineStats): SocketTotal[] {
  const totals: SocketTotal[] = [];
  for (const line of lines) {
    const [netns, protocol, st, count, uid, extra] = line.trim().split(/\s+/);
    const state = st === undefined ? undefined : TCP_STATES[st.toUpperCase()];
    if (
      !netns ||
      !NUMBER.test(netns) ||
      (protocol !== 'tcp' && protocol !== 'udp') ||
      !state ||
      !count ||
      !NUMBER.test(count) ||
      (uid !== undefined && !UID.test(uid)) ||
      extra !== undefined
    ) {
      skipLine(stats, line);
      continue;
    }
    totals.push({ netns: Number(netns), ...(uid ? { podUid: uid } : {}), protocol, state, count: Number(count) });
  }
  return totals;
}

/**
 * `COUNT TYPE SADDR DADDR DPORT NETNS PIDS COMMS [POD_UID]`, aggregated on the node. DADDR `*` marks an inbound row
 * (accepts, closes of accepted connections) keyed by the local listening port. POD_UID: the hostNetwork pod whose
 * cgroup holds the row's processes, found on the node; older probes left that to PIDS and pod-processes.
 */
function readTrace(
  lines: string[],
  hostNetns: number,
  podOfPid: Map<number, { uid: string }>,
  stats: LineStats,
): TraceAggregate[] {
  const trace: TraceAggregate[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const [count, type, saddr, daddr, dport, netns, pids = '', comms = '', owner, extra] = line.trim().split(/\s+/);
    const sourceIp = saddr === undefined ? undefined : unwrapMapped(saddr);
    const inboundRow = daddr === '*' && (type === 'accept' || type === 'close');
    const destinationIp = inboundRow ? '*' : daddr === undefined ? undefined : unwrapMapped(daddr);
    if (
      !count ||
      !NUMBER.test(count) ||
      !TYPES.has(type as TraceEventType) ||
      !sourceIp ||
      !destinationIp ||
      !dport ||
      !NUMBER.test(dport) ||
      !netns ||
      !NUMBER.test(netns) ||
      (owner !== undefined && !UID.test(owner)) ||
      extra !== undefined
    ) {
      skipLine(stats, line);
      continue;
    }
    const pidList = pids
      .split(',')
      .filter((p) => NUMBER.test(p))
      .map(Number);
    // In the host namespace, the pod (if any) is the one whose cgroup holds the process.
    const podUid =
      Number(netns) === hostNetns
        ? (owner ?? pidList.map((p) => podOfPid.get(p)?.uid).find((u) => u !== undefined))
        : undefined;
    trace.push({
      type: type as TraceEventType,
      saddr: sourceIp,
      daddr: destinationIp,
      dport: Number(dport),
      netns: Number(netns),
      ...(podUid ? { podUid } : {}),
      count: Number(count),
      pids: pidList,
      comms: comms.split(',').filter((c) => c !== ''),
    });
  }
  return trace;
}

/** `INODE PID NPROCS COMMAND` and `INODE PATH`. */
function readNamespaces(lines: string[], files: string[], stats: LineStats): NetnsEntry[] {
  const paths = new Map<number, string>();
  for (const line of files) {
    const [inode, path] = line.trim().split(/\s+/, 2);
    if (!inode || !NUMBER.test(inode) || !path) skipLine(stats, line);
    else if (inode !== '0') paths.set(Number(inode), path);
  }
  const namespaces: NetnsEntry[] = [];
  for (const line of lines) {
    const match = /^(\d+) (\d+) (\d+) (.*)$/.exec(line.trim());
    if (!match) {
      skipLine(stats, line);
      continue;
    }
    const inode = Number(match[1]);
    const path = paths.get(inode);
    namespaces.push({
      inode,
      pid: Number(match[2]),
      nprocs: Number(match[3]),
      command: match[4] ?? '',
      ...(path ? { path } : {}),
    });
  }
  return namespaces;
}

/** `NETNS STATE REMOTE_HEX:PORT COUNT [POD_UID]` */
/** Socket rows; `udp` for the connected UDP sockets' section (state 01 there is a connected socket). */
function readSockets(lines: string[], stats: LineStats, protocol: 'tcp' | 'udp' = 'tcp'): SocketAggregate[] {
  const byKey = new Map<string, SocketAggregate>();
  for (const line of lines) {
    const [netns, st, remote, count, uid] = line.trim().split(/\s+/);
    const [hex, hexPort] = (remote ?? '').split(':');
    const state = st === undefined ? undefined : TCP_STATES[st.toUpperCase()];
    const ip = hex === undefined ? undefined : decodeHexAddress(hex);
    if (
      !netns ||
      !NUMBER.test(netns) ||
      !state ||
      !ip ||
      !hexPort ||
      !/^[0-9A-Fa-f]{4}$/.test(hexPort) ||
      !count ||
      !NUMBER.test(count) ||
      (uid !== undefined && !UID.test(uid))
    ) {
      skipLine(stats, line);
      continue;
    }
    if (state === 'LISTEN') continue;
    const remotePort = Number.parseInt(hexPort, 16);
    // `::ffff:` and plain IPv4 sockets to one peer come together here, after decoding.
    const key = [netns, uid ?? '', state, ip, remotePort].join(' ');
    const existing = byKey.get(key);
    if (existing) existing.count += Number(count);
    else {
      byKey.set(key, {
        netns: Number(netns),
        ...(protocol === 'udp' ? { protocol } : {}),
        ...(uid ? { podUid: uid } : {}),
        state,
        remoteIp: ip,
        remotePort,
        count: Number(count),
      });
    }
  }
  return [...byKey.values()];
}

/**
 * Sandboxes: one per pod seen in a pod cgroup (its uid and netns; the host's for hostNetwork pods), with the sandbox
 * id from crictl (`ID PID NETNS`) or, without crictl, from the containerd shim above the namespace's process.
 */
function readSandboxes(
  crictlRows: string[],
  pstreeRows: string[],
  hostNetns: number,
  podOfPid: Map<number, { netns: number; uid: string; containerId?: string }>,
  stats: LineStats,
): SandboxEntry[] {
  const idOfNetns = new Map<number, string>();
  for (const line of crictlRows) {
    const [id, pid, netns] = line.trim().split(/\s+/);
    if (!id || !SANDBOX_ID.test(id) || !pid || !netns) {
      skipLine(stats, line);
      continue;
    }
    if (NUMBER.test(netns)) idOfNetns.set(Number(netns), id);
  }
  if (idOfNetns.size === 0 && pstreeRows.length > 0) {
    // `# netns INODE pid PID` heads each namespace's pstree; the shim above that PID carries the sandbox id.
    let netns: number | undefined;
    let chunk: string[] = [];
    const flush = () => {
      if (netns === undefined) return;
      const shim = parsePstree(chunk.join('\n')).shims[0];
      if (shim) idOfNetns.set(netns, shim.sandboxId);
    };
    for (const line of pstreeRows) {
      const head = /^# netns (\d+) pid (\d+)$/.exec(line);
      if (head) {
        flush();
        netns = Number(head[1]);
        chunk = [];
      } else chunk.push(line);
    }
    flush();
  }

  const byUid = new Map<string, SandboxEntry>();
  for (const { netns, uid, containerId } of podOfPid.values()) {
    if (byUid.has(uid)) continue;
    const hostNetwork = netns === hostNetns;
    byUid.set(uid, {
      id: (hostNetwork ? undefined : idOfNetns.get(netns)) ?? containerId ?? '',
      namespace: '',
      name: '',
      uid,
      hostNetwork,
      ...(hostNetwork ? {} : { netns }),
    });
  }
  return [...byUid.values()];
}

/** `NETNS PORT(hex) COUNT [POD_UID]`: accepted connections per namespace and listening port. */
function readInbound(lines: string[], stats: LineStats): InboundAggregate[] {
  const rows: InboundAggregate[] = [];
  for (const line of lines) {
    const [netns, hexPort, count, uid, extra] = line.trim().split(/\s+/);
    if (
      !netns ||
      !NUMBER.test(netns) ||
      !hexPort ||
      !/^[0-9A-Fa-f]{4}$/.test(hexPort) ||
      !count ||
      !NUMBER.test(count) ||
      (uid !== undefined && !UID.test(uid)) ||
      extra !== undefined
    ) {
      skipLine(stats, line);
      continue;
    }
    rows.push({
      netns: Number(netns),
      ...(uid ? { podUid: uid } : {}),
      port: Number.parseInt(hexPort, 16),
      count: Number(count),
    });
  }
  return rows;
}

function readUnavailable(lines: string[], stats: LineStats): Unavailable[] {
  const unavailable: Unavailable[] = [];
  for (const line of lines) {
    const tab = line.indexOf('\t');
    if (tab <= 0) skipLine(stats, line);
    else unavailable.push({ what: line.slice(0, tab), reason: line.slice(tab + 1).trim() });
  }
  return unavailable;
}

/** `::ffff:10.1.2.3` → `10.1.2.3`; anything that is not an address → undefined. */
function unwrapMapped(address: string): string | undefined {
  const plain = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(plain);
  if (mapped?.[1] && ipaddr.IPv4.isValidFourPartDecimal(mapped[1])) return mapped[1];
  if (ipaddr.IPv4.isValidFourPartDecimal(plain)) return plain;
  return ipaddr.IPv6.isValid(plain) ? ipaddr.IPv6.parse(plain).toRFC5952String() : undefined;
}
