// One pod's connections, reduced to what the ranking and the SNAT budget need. Pure: the podConnections step feeds
// it whichever source it had (node snapshot or exec), plus the trace's events for the pod.
import ipaddr from 'ipaddr.js';
import type { DestinationCount, SocketAggregate, TraceAggregate } from '../model.ts';

export interface ConnectionSummary {
  /** ESTABLISHED sockets to SNAT'd destinations: each one holds a SNAT port right now. */
  publicEstablished: number;
  /** ESTABLISHED sockets to destinations that are not SNAT'd (cluster, VNet, private ranges). */
  privateEstablished: number;
  /** TIME_WAIT sockets, whatever the destination. */
  timeWait: number;
  /** SYN_SENT sockets, whatever the destination. */
  synSent: number;
  /** Connects to SNAT'd destinations seen by the trace during the capture. */
  publicConnects: number;
  /** Public ESTABLISHED sockets by destination ip:port, most connections first; every destination, untruncated. */
  destinations: DestinationCount[];
}

/**
 * Counts a pod's connections. ESTABLISHED sockets are split by destination because that is what the runbook
 * measures. TIME_WAIT and SYN_SENT are counted for every destination, deliberately: they are symptoms of connection
 * churn (TIME_WAIT) and of connects that cannot complete (SYN_SENT, e.g. while SNAT ports are exhausted), and they
 * serve as tie-breakers and hints, not as a SNAT measure. A pod churning through in-cluster connections shows up
 * here too, and the recommendation says so only in terms of churn.
 */
export function summarizeConnections(input: {
  sockets: SocketAggregate[];
  trace: TraceAggregate[];
  isSnat: (ip: string) => boolean;
}): ConnectionSummary {
  let publicEstablished = 0;
  let privateEstablished = 0;
  let timeWait = 0;
  let synSent = 0;
  const byDestination = new Map<string, DestinationCount>();

  for (const socket of input.sockets) {
    switch (socket.state) {
      case 'ESTABLISHED':
        if (input.isSnat(socket.remoteIp)) {
          publicEstablished += socket.count;
          addDestination(byDestination, socket.remoteIp, socket.remotePort, socket.count);
        } else {
          privateEstablished += socket.count;
        }
        break;
      case 'TIME_WAIT':
        timeWait += socket.count;
        break;
      case 'SYN_SENT':
        synSent += socket.count;
        break;
      default:
        break; // closing states hold their SNAT port only briefly; not counted
    }
  }

  let publicConnects = 0;
  for (const event of input.trace) {
    if (event.type === 'connect' && input.isSnat(event.daddr)) publicConnects += event.count;
  }

  const destinations = [...byDestination.values()].sort(compareDestinations);
  return { publicEstablished, privateEstablished, timeWait, synSent, publicConnects, destinations };
}

/** Adds `connections` to the ip:port entry of `into` (the same destination may come from several aggregates). */
export function addDestination(into: Map<string, DestinationCount>, ip: string, port: number, connections: number) {
  const key = `${ip} ${port}`;
  const existing = into.get(key);
  if (existing) existing.connections += connections;
  else into.set(key, { ip, port, connections });
}

/** Most connections first; then by address (numerically, IPv4 before IPv6) and port, so the order is stable. */
export function compareDestinations(
  a: { ip: string; port: number; connections: number },
  b: { ip: string; port: number; connections: number },
): number {
  return b.connections - a.connections || compareIps(a.ip, b.ip) || a.port - b.port;
}

/** Numeric order for the addresses the parsers emit; anything else sorts after them, as text. */
function compareIps(a: string, b: string): number {
  const ka = ipSortKey(a);
  const kb = ipSortKey(b);
  if (ka !== undefined && kb !== undefined) return ka < kb ? -1 : ka > kb ? 1 : 0;
  if (ka !== undefined) return -1;
  if (kb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// A fixed-width hex key ('a' + 8 digits for IPv4, 'b' + 32 for IPv6), so string order is numeric order.
function ipSortKey(ip: string): string | undefined {
  let bytes: number[];
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) bytes = ipaddr.IPv4.parse(ip).toByteArray();
  else if (ipaddr.IPv6.isValid(ip)) bytes = ipaddr.IPv6.parse(ip).toByteArray();
  else return undefined;
  return (bytes.length === 4 ? 'a' : 'b') + bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
}
