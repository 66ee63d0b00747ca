// One pod's connections, reduced to what the SNAT model (snatModel.ts) and the report need. Pure: the podConnections
// step feeds it whichever source it had (node snapshot or exec), plus the trace's events for the pod.
import ipaddr from 'ipaddr.js';
import type { FlowCount, Protocol, SocketAggregate, TcpState, TraceAggregate } from '../model.ts';

export interface ConnectionSummary {
  /** ESTABLISHED sockets to SNAT'd destinations: each one holds a SNAT port right now. */
  publicEstablished: number;
  /** ESTABLISHED sockets to destinations that are not SNAT'd (cluster, VNet, private ranges). */
  privateEstablished: number;
  /** TIME_WAIT sockets to SNAT'd destinations. */
  timeWait: number;
  /** TIME_WAIT sockets to destinations that are not SNAT'd: churn, but none of SNAT's business. */
  privateTimeWait: number;
  /** SYN_SENT sockets to SNAT'd destinations: connects waiting for an answer (or for a port). */
  synSent: number;
  /** Connects to SNAT'd destinations seen by the trace during the capture. */
  publicConnects: number;
  /** Every SNAT'd destination with any pressure on it (open, TIME_WAIT, traced connects or failures). */
  flows: FlowCount[];
}

/**
 * States in which a TCP flow holds its SNAT port: the connection is open or being opened (SYN_SENT), or it is closing
 * and the release timer the first FIN started has not run out: "When either a server or client sends a FINACK, a SNAT
 * port will be released after 240 seconds" (README, "How the culprit is chosen"). FIN_WAIT1/2, LAST_ACK and CLOSING
 * last seconds, well inside that. CLOSE_WAIT is left out: the peer's FIN started the timer, and a socket the
 * application never closes stays in CLOSE_WAIT long after the load balancer has released its port (leaked CLOSE_WAIT
 * sockets are an application bug, not SNAT use). TIME_WAIT is counted apart (the port is held after the close, see
 * snatModel.ts). SYN_RECV and LISTEN are the server side of inbound connections, which take no SNAT port.
 */
const OPEN_STATES = new Set<TcpState>(['ESTABLISHED', 'SYN_SENT', 'FIN_WAIT1', 'FIN_WAIT2', 'LAST_ACK', 'CLOSING']);

/**
 * Counts a pod's connections. Every socket and trace event to a SNAT'd destination lands in that destination's flow
 * row, so the model sees open connections, recent closes (TIME_WAIT), connect churn and failures alike. UDP flows are
 * keyed by the destination IP alone: the load balancer gives UDP one port per destination IP, whatever the port.
 */
export function summarizeConnections(input: {
  sockets: SocketAggregate[];
  trace: TraceAggregate[];
  isSnat: (ip: string) => boolean;
}): ConnectionSummary {
  let publicEstablished = 0;
  let privateEstablished = 0;
  let timeWait = 0;
  let privateTimeWait = 0;
  let synSent = 0;
  let publicConnects = 0;
  const flows = new Map<string, FlowCount>();
  const flow = (ip: string, port: number, protocol: Protocol): FlowCount => {
    const keyPort = protocol === 'udp' ? 0 : port;
    const key = `${protocol} ${ip} ${keyPort}`;
    let row = flows.get(key);
    if (!row) {
      row = { ip, port: keyPort, protocol, open: 0, timeWait: 0, connects: 0, failed: 0 };
      flows.set(key, row);
    }
    return row;
  };

  for (const socket of input.sockets) {
    if (socket.count <= 0) continue; // an empty row names no destination
    const snat = input.isSnat(socket.remoteIp);
    const protocol = socket.protocol ?? 'tcp';
    if (protocol === 'udp') {
      // A connected UDP socket: the kernel shows it as ESTABLISHED. Unconnected ones name no destination.
      if (snat && socket.state === 'ESTABLISHED') flow(socket.remoteIp, socket.remotePort, 'udp').open += socket.count;
      continue;
    }
    if (socket.state === 'ESTABLISHED') {
      if (snat) publicEstablished += socket.count;
      else privateEstablished += socket.count;
    } else if (socket.state === 'TIME_WAIT') {
      if (snat) timeWait += socket.count;
      else privateTimeWait += socket.count;
    } else if (socket.state === 'SYN_SENT' && snat) synSent += socket.count;
    if (!snat) continue;
    if (socket.state === 'TIME_WAIT') flow(socket.remoteIp, socket.remotePort, 'tcp').timeWait += socket.count;
    else if (OPEN_STATES.has(socket.state)) flow(socket.remoteIp, socket.remotePort, 'tcp').open += socket.count;
  }

  for (const event of input.trace) {
    if ((event.type !== 'connect' && event.type !== 'failed') || event.count <= 0 || !input.isSnat(event.daddr))
      continue;
    const row = flow(event.daddr, event.dport, 'tcp');
    if (event.type === 'connect') {
      row.connects += event.count;
      publicConnects += event.count;
    } else row.failed += event.count;
  }

  return {
    publicEstablished,
    privateEstablished,
    timeWait,
    privateTimeWait,
    synSent,
    publicConnects,
    flows: [...flows.values()].sort(
      (a, b) => compareIps(a.ip, b.ip) || a.port - b.port || (a.protocol < b.protocol ? -1 : 1),
    ),
  };
}

/** Numeric order for the addresses the parsers emit; anything else sorts after them, as text. */
export function compareIps(a: string, b: string): number {
  const ka = ipSortKey(a);
  const kb = ipSortKey(b);
  if (ka !== undefined && kb !== undefined) return ka < kb ? -1 : ka > kb ? 1 : 0;
  if (ka !== undefined) return -1;
  if (kb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Keys already made, for the sorts that call compareIps: each address is parsed once, not at every comparison (at
 * 5,000 destinations the parsing was ~100 ms of a 0.47 s analyze, issue 13). Bounded: cleared when full.
 */
const sortKeys = new Map<string, string | null>();
const SORT_KEYS_HELD = 1 << 16;

// A fixed-width hex key ('a' + 8 digits for IPv4, 'b' + 32 for IPv6), so string order is numeric order.
function ipSortKey(ip: string): string | undefined {
  let key = sortKeys.get(ip);
  if (key === undefined) {
    key = parsedSortKey(ip) ?? null;
    if (sortKeys.size >= SORT_KEYS_HELD) sortKeys.clear();
    sortKeys.set(ip, key);
  }
  return key ?? undefined;
}

function parsedSortKey(ip: string): string | undefined {
  let bytes: number[];
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) bytes = ipaddr.IPv4.parse(ip).toByteArray();
  else if (ipaddr.IPv6.isValid(ip)) bytes = ipaddr.IPv6.parse(ip).toByteArray();
  else return undefined;
  return (bytes.length === 4 ? 'a' : 'b') + bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
}
