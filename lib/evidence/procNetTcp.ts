// `/proc/net/tcp` and `/proc/net/tcp6`: the kernel's socket tables, read without net-tools and without entering the
// pod (`/proc/<pid>/net/tcp*` on the node, or `cat` inside the pod). Format: research/tool-output-formats.md §5.3.
//
//    0: 0100007F:1F90 0100007F:E7DE 01 00000000:00000000 00:00000000 00000000  1000  0 15675 1 …
//   sl  local         remote        st (the rest is ignored)
//
// Sockets are aggregated by (state, remote IP, remote port): the analysis only needs counts, and a node with
// thousands of sockets must still produce a small result that crosses the Durable boundary cheaply.
import ipaddr from 'ipaddr.js';
import type { SocketAggregate, TcpState } from '../model.ts';

export interface ProcNetTcpOptions {
  netns: number;
  /** For host-namespace sockets attributed to a pod (from the owning process's cgroup). */
  podUid?: string;
}

export interface ProcNetTcpResult {
  sockets: SocketAggregate[];
  /**
   * TCP connections accepted on a port the table listens on (inbound: no SNAT port), per listening port. They are not
   * in `sockets`.
   */
  inbound: { port: number; count: number }[];
  /** Data lines that could not be read: counted, never fatal. */
  skipped: number;
  /** Data lines seen (not headers, not blank): each one is either parsed (LISTEN included) or skipped. */
  lines: number;
  /** Tables seen (their `sl` header lines): `cat` of four files prints four. */
  tables: number;
  /**
   * Why the text looks cut short, when it does: its last line ends without a newline (the kernel ends every row with
   * one: seq_pad(seq, '\n') in tcp4_seq_show). Slot numbers are not used: they count the rows, but a capture in the
   * project's research skips one, so a gap is not proof of a cut. Absent when it looks whole.
   */
  cut?: string;
}

// `include/net/tcp_states.h`. 0D (BOUND_INACTIVE) is an inet_diag pseudo-state that /proc does not print; a line
// carrying it, or any other unknown code, is counted as skipped rather than guessed at.
export const TCP_STATES: Readonly<Record<string, TcpState>> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
  '0C': 'NEW_SYN_RECV',
};

const SLOT = /^\d+:$/;
// Address and port as the kernel prints them: `%08X:%04X` (tcp) or `%08X%08X%08X%08X:%04X` (tcp6).
const ENDPOINT = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/;
const HEX_ADDRESS = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32})$/;

/**
 * Decodes an address as `/proc/net/tcp{,6}` prints it: each 32-bit word is the in-memory (network-order) value
 * printed with `%08X` on a little-endian host, so every 8-hex-digit group is byte-reversed. AKS nodes are x86-64 or
 * arm64, both little-endian; the text is usually read on another machine than the one that printed it, so the
 * reader's own byte order (`os.endianness()`) says nothing and is deliberately not consulted.
 *
 * `::ffff:a.b.c.d` (a dual-stack socket talking IPv4) comes back as plain `a.b.c.d`, the way the peer sees it.
 * Returns undefined for anything that is not 8 or 32 hex digits.
 */
export function decodeHexAddress(hex: string): string | undefined {
  if (!HEX_ADDRESS.test(hex)) return undefined;
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let byte = 3; byte >= 0; byte--)
      bytes.push(Number.parseInt(hex.slice(word + byte * 2, word + byte * 2 + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const v4Mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (v4Mapped) return bytes.slice(12).join('.');
  return (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
}

interface Endpoint {
  ip: string;
  port: number;
  /** Hex digits in the address: 8 (tcp) or 32 (tcp6). */
  width: number;
}

function parseEndpoint(token: string | undefined): Endpoint | undefined {
  const match = token === undefined ? null : ENDPOINT.exec(token);
  if (!match) return undefined;
  const [, hexAddress = '', hexPort = ''] = match;
  const ip = decodeHexAddress(hexAddress);
  if (ip === undefined) return undefined;
  return { ip, port: Number.parseInt(hexPort, 16), width: hexAddress.length };
}

type Row =
  | { kind: 'socket'; state: TcpState; localPort: number; remoteIp: string; remotePort: number }
  | { kind: 'skipped' };

function parseRow(tokens: string[]): Row {
  const [slot, local, remote, st] = tokens;
  if (slot === undefined || !SLOT.test(slot)) return { kind: 'skipped' };
  const localEndpoint = parseEndpoint(local);
  const remoteEndpoint = parseEndpoint(remote);
  // The local address is not reported, but a corrupt one (or a v4/v6 mix on one line) means the line is damaged and
  // its remote address cannot be trusted either.
  if (!localEndpoint || !remoteEndpoint || localEndpoint.width !== remoteEndpoint.width) return { kind: 'skipped' };
  const state = st === undefined ? undefined : TCP_STATES[st.toUpperCase()];
  if (state === undefined) return { kind: 'skipped' };
  return {
    kind: 'socket',
    state,
    localPort: localEndpoint.port,
    remoteIp: remoteEndpoint.ip,
    remotePort: remoteEndpoint.port,
  };
}

/**
 * Parses the concatenated text of `/proc/net/tcp` and `/proc/net/tcp6` (headers may appear anywhere: `cat` of both
 * files puts one in the middle), and of `/proc/net/udp{,6}` when they follow: a UDP table's header ends in
 * `ref pointer drops` (net/ipv4/udp.c, udp4_seq_show), and its rows until the next header are UDP. Only connected UDP
 * sockets (state 01, which connect() gives a UDP socket) name a destination; the others are read and dropped, like
 * LISTEN sockets, which hold no SNAT port. A TCP socket on a port the table listens on was accepted: it is counted in
 * `inbound`, per port, not as a connection to its client. Never throws.
 */
export function parseProcNetTcp(text: string, options: ProcNetTcpOptions): ProcNetTcpResult {
  const counts = new Map<string, SocketAggregate>();
  let skipped = 0;
  let lines = 0;

  // Two passes: a TCP socket whose local port is one the table listens on was accepted (inbound), and the listener may
  // come after it (tcp6 after tcp).
  const rows: { udp: boolean; row: Extract<Row, { kind: 'socket' }> }[] = [];
  const listening = new Set<number>();
  let udp = false;
  let tables = 0;
  const cut = text.length > 0 && !text.endsWith('\n') ? 'its last line ends without a newline' : undefined;
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === '') continue; // blank (or whitespace-only) line
    if (tokens[0] === 'sl') {
      udp = tokens.at(-1) === 'drops'; // the header of either kind of table
      tables++;
      continue;
    }
    lines++;
    const row = parseRow(tokens);
    if (row.kind === 'skipped') {
      skipped++;
      continue;
    }
    if (row.state === 'LISTEN') {
      if (!udp) listening.add(row.localPort);
      continue;
    }
    rows.push({ udp, row });
  }

  const inbound = new Map<number, number>();
  for (const { udp: isUdp, row } of rows) {
    if (isUdp && (row.state !== 'ESTABLISHED' || row.remotePort === 0)) continue; // an unconnected UDP socket
    if (!isUdp && listening.has(row.localPort)) {
      inbound.set(row.localPort, (inbound.get(row.localPort) ?? 0) + 1);
      continue;
    }
    const key = `${isUdp ? 'udp' : 'tcp'} ${row.state} ${row.remoteIp} ${row.remotePort}`;
    const existing = counts.get(key);
    if (existing) {
      existing.count++;
    } else {
      counts.set(key, {
        netns: options.netns,
        ...(isUdp ? { protocol: 'udp' as const } : {}),
        ...(options.podUid !== undefined ? { podUid: options.podUid } : {}),
        state: row.state,
        remoteIp: row.remoteIp,
        remotePort: row.remotePort,
        count: 1,
      });
    }
  }

  // Biggest groups first, then a stable order, so the same table always yields the same result.
  const sockets = [...counts.values()].sort(
    (a, b) =>
      b.count - a.count ||
      compareText(a.state, b.state) ||
      compareText(a.remoteIp, b.remoteIp) ||
      a.remotePort - b.remotePort,
  );
  return {
    sockets,
    inbound: [...inbound]
      .map(([port, count]) => ({ port, count }))
      .sort((a, b) => b.count - a.count || a.port - b.port),
    skipped,
    lines,
    tables,
    ...(cut !== undefined ? { cut } : {}),
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
