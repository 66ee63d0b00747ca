// What the three socket-table parsers share: net-tools `netstat`, iproute2 `ss` and Windows `netstat` print the same
// facts in three dialects (research/tool-output-formats.md §5–6). Here live the row they all produce, the reading of an
// `address:port` endpoint in any of the dialects, the line loop that keeps the LineStats honest, and the aggregation
// into SocketAggregate that the analysis consumes.
import ipaddr from 'ipaddr.js';
import type { SocketAggregate, TcpState } from '../model.ts';
import { emptyStats, type LineStats, skipLine, splitLines } from './lineStats.ts';

/** One TCP socket as a socket-table tool printed it. Addresses are normalised (see `parseEndpoint`). */
export interface SocketRow {
  /** `tcp6` for an IPv6 socket, including a dual-stack one talking IPv4 (whose addresses read as plain IPv4). */
  proto: 'tcp' | 'tcp6';
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  state: TcpState;
  /** The owning process, when the tool was asked (`-p`, `-o`) and allowed to say. */
  pid?: number;
  program?: string;
}

export interface SocketTableOptions {
  /** Network namespace inode the table was read in; carried on every aggregate. 0 when unknown. */
  netns?: number;
}

export interface SocketTable extends LineStats {
  /** Every socket row except those that hold no connection (listeners, unconnected sockets, other protocols). */
  connections: SocketRow[];
  /**
   * The connections counted by (state, remote IP, remote port), biggest groups first; not those accepted on a port the
   * table listens on, which are `inbound`.
   */
  sockets: SocketAggregate[];
  /** Connections accepted on a listening port (inbound: no SNAT port), per port. */
  inbound: { port: number; count: number }[];
}

/** A LISTEN row: the port it listens on (which makes the connections on it inbound), when its address reads. */
export function listenerRow(localText: string): LineReading {
  const local = parseEndpoint(localText);
  return local && typeof local.port === 'number' ? { kind: 'listen', port: local.port } : IGNORED;
}

/**
 * What one line of a socket table is. `frame` is the tool's own layout (banner, header, blank line, notice);
 * `ignored` is a well-formed row that holds no SNAT port (LISTEN, UDP, an unconnected socket); `skipped` is a line
 * that could not be read.
 */
export type LineReading =
  | { kind: 'row'; row: SocketRow }
  | { kind: 'listen'; port: number }
  | { kind: 'frame' }
  | { kind: 'ignored' }
  | { kind: 'skipped' };

export const FRAME: LineReading = { kind: 'frame' };
export const IGNORED: LineReading = { kind: 'ignored' };
export const SKIPPED: LineReading = { kind: 'skipped' };

/**
 * The first `count` whitespace-separated fields of a line and the text after them (trimmed), or undefined when the
 * line has fewer fields. The rest is kept whole because the last column of netstat (`1234/nginx: worker pro`) and of
 * ss (`users:(("nginx: worker",…))`) may contain spaces.
 */
export function leadingFields(line: string, count: number): { fields: string[]; rest: string } | undefined {
  const fields: string[] = [];
  const field = /\S+/g;
  let end = 0;
  while (fields.length < count) {
    const match = field.exec(line);
    if (match === null) return undefined;
    fields.push(match[0]);
    end = match.index + match[0].length;
  }
  return { fields, rest: line.slice(end).trim() };
}

export interface Endpoint {
  /** Dotted IPv4 or RFC 5952 IPv6; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) becomes plain `a.b.c.d`. */
  ip: string;
  /** `*` when the tool printed a wildcard port (a listener's or an unconnected socket's peer). */
  port: number | '*';
  /** The address family as printed: 6 for any IPv6 form (mapped ones included), and for ss's `*` (`in6addr_any`). */
  family: 4 | 6;
}

const PORT = /^\d{1,5}$/;
// A bracketed IPv6 address, with the scope either inside (Windows: `[fe80::1%9]`) or after the bracket (ss:
// `[fe80::1]%eth0`).
const BRACKETED = /^\[([^[\]]+)\](?:%[^\s%[\]]+)?$/;
const SCOPE = /%[^\s%[\]]+$/;

/**
 * Reads `address:port` as any of the three tools prints it: `10.0.0.1:443`, `::1:443` (net-tools: IPv6 unbracketed,
 * so the port is after the LAST colon), `[::1]:443` and `[::ffff:10.0.0.1]:443` (ss, Windows), `*:443` (ss's
 * unspecified IPv6), `0.0.0.0:*`, and scope suffixes (`%eth0`, `%9`), which are dropped: a link-local peer is never
 * SNAT'd, and the analysis joins on the address alone. Anything else, including host or service names (the tools
 * were run without `-n`), is undefined.
 */
export function parseEndpoint(text: string): Endpoint | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = text.slice(colon + 1);
  let port: number | '*';
  if (portText === '*') port = '*';
  else if (PORT.test(portText) && Number(portText) <= 65535) port = Number(portText);
  else return undefined;
  const address = parseAddress(text.slice(0, colon));
  return address && { ...address, port };
}

function parseAddress(host: string): Omit<Endpoint, 'port'> | undefined {
  if (host === '*') return { ip: '::', family: 6 };
  let bare: string;
  if (host.startsWith('[')) {
    const match = BRACKETED.exec(host);
    if (!match?.[1]) return undefined;
    bare = match[1].replace(SCOPE, '');
    if (!bare.includes(':')) return undefined; // only IPv6 is bracketed
  } else {
    bare = host.replace(SCOPE, '');
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return { ip: ipaddr.IPv4.parse(bare).toString(), family: 4 };
  if (!bare.includes(':') || !ipaddr.IPv6.isValid(bare)) return undefined;
  const v6 = ipaddr.IPv6.parse(bare);
  return { ip: v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String(), family: 6 };
}

function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

export interface RowFields {
  proto: SocketRow['proto'];
  local: Endpoint;
  remote: Endpoint;
  state: TcpState;
  pid?: number;
  program?: string;
}

/**
 * Turns a well-formed row into a connection, or says why it is not one. A listener never reaches here (the parsers
 * drop LISTEN before reading addresses they will not use). A socket with no peer (`0.0.0.0:*`, `*:*`, Windows's
 * `0.0.0.0:0`) holds no SNAT port: in CLOSE (ss `UNCONN`, Windows `BOUND`/`CLOSED`) that is just an unconnected
 * socket and is ignored; in any other state it is a contradiction and the line is skipped.
 */
export function connectionRow(fields: RowFields): LineReading {
  const { local, remote, state } = fields;
  const remotePort = remote.port;
  if (remotePort === '*' || (remotePort === 0 && isUnspecified(remote.ip)))
    return state === 'CLOSE' ? IGNORED : SKIPPED;
  // A connected socket has a port of its own, and both ends in one family (a mapped IPv4 peer reads as IPv4 on both).
  const localPort = local.port;
  if (localPort === '*' || local.family !== remote.family) return SKIPPED;
  const row: SocketRow = { proto: fields.proto, localIp: local.ip, localPort, remoteIp: remote.ip, remotePort, state };
  if (fields.pid !== undefined) row.pid = fields.pid;
  if (fields.program !== undefined && fields.program !== '') row.program = fields.program;
  return { kind: 'row', row };
}

/**
 * The loop every socket-table parser runs: each line is read once by `readLine` (which may look at its neighbours),
 * counted, and either kept, ignored, or skipped with a sample. Never throws for any text.
 */
export function readSocketTable(
  text: string,
  options: SocketTableOptions | undefined,
  readLine: (line: string, index: number, lines: readonly string[]) => LineReading,
): SocketTable {
  const stats = emptyStats();
  const connections: SocketRow[] = [];
  const listening = new Set<number>();
  const lines = splitLines(text);
  lines.forEach((line, index) => {
    stats.lines++;
    const reading = readLine(line, index, lines);
    if (reading.kind === 'row') connections.push(reading.row);
    else if (reading.kind === 'listen') listening.add(reading.port);
    else if (reading.kind === 'skipped') skipLine(stats, line);
  });
  const inbound = new Map<number, number>();
  const outbound: SocketRow[] = [];
  for (const row of connections) {
    if (listening.has(row.localPort)) inbound.set(row.localPort, (inbound.get(row.localPort) ?? 0) + 1);
    else outbound.push(row);
  }
  return {
    connections,
    sockets: aggregateSockets(outbound, options?.netns ?? 0),
    inbound: [...inbound]
      .map(([port, count]) => ({ port, count }))
      .sort((a, b) => b.count - a.count || a.port - b.port),
    ...stats,
  };
}

/**
 * Counts connections by (state, remote IP, remote port), as `parseProcNetTcp` does: the analysis needs counts, and a
 * node with thousands of sockets must still give a small result that crosses the Durable boundary cheaply.
 */
export function aggregateSockets(rows: readonly SocketRow[], netns: number): SocketAggregate[] {
  const counts = new Map<string, SocketAggregate>();
  for (const row of rows) {
    const key = `${row.state} ${row.remoteIp} ${row.remotePort}`;
    const existing = counts.get(key);
    if (existing) existing.count++;
    else counts.set(key, { netns, state: row.state, remoteIp: row.remoteIp, remotePort: row.remotePort, count: 1 });
  }
  // Biggest groups first, then a stable order, so the same table always yields the same result.
  return [...counts.values()].sort(
    (a, b) =>
      b.count - a.count ||
      compareText(a.state, b.state) ||
      compareText(a.remoteIp, b.remoteIp) ||
      a.remotePort - b.remotePort,
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
