// The sandbox node's `/proc/net/tcp` and `/proc/net/tcp6`, in the kernel's exact format (tcp_ipv4.c / tcp_ipv6.c,
// shared/research/tool-output-formats.md §5.3): what `cat /proc/net/tcp /proc/net/tcp6` prints in a pod.
import ipaddr from 'ipaddr.js';
import type { TcpState } from '../model.ts';

export interface SocketRow {
  /** Absent means TCP. A UDP row is a connected UDP socket (state ESTABLISHED). */
  protocol?: 'tcp' | 'udp';
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  state: TcpState;
}

const STATE_CODE: Record<TcpState, number> = {
  ESTABLISHED: 0x01,
  SYN_SENT: 0x02,
  SYN_RECV: 0x03,
  FIN_WAIT1: 0x04,
  FIN_WAIT2: 0x05,
  TIME_WAIT: 0x06,
  CLOSE: 0x07,
  CLOSE_WAIT: 0x08,
  LAST_ACK: 0x09,
  LISTEN: 0x0a,
  CLOSING: 0x0b,
  NEW_SYN_RECV: 0x0c,
};

const TCP4_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

// /proc/net/udp{,6} as this project's test machine's kernel prints them (udp4_format_sock and udp6_seq_show: the slot
// is the hash bucket, `%5d`; IPv4 lines are padded to 127 characters).
const UDP4_HEADER =
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';
const UDP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

/**
 * Renders sockets as the kernel's files: IPv4 TCP sockets go to `tcp`, IPv6 ones to `tcp6`, and connected UDP
 * sockets to `udp` and `udp6`.
 */
export function renderProcNetTcp(
  rows: SocketRow[],
  firstInode = 40_000,
): { tcp: string; tcp6: string; udp: string; udp6: string } {
  const v4: string[] = [TCP4_HEADER.padEnd(149)];
  const v6: string[] = [TCP6_HEADER];
  const u4: string[] = [UDP4_HEADER.padEnd(127)];
  const u6: string[] = [UDP6_HEADER];
  let inode = firstInode;
  for (const row of rows) {
    if (row.protocol === 'udp') {
      const six = ipaddr.parse(row.localIp).kind() === 'ipv6' || ipaddr.parse(row.remoteIp).kind() === 'ipv6';
      const target = six ? u6 : u4;
      const sl = String(1000 + target.length).padStart(5);
      const local = `${encodeAddress(row.localIp, six)}:${hex(row.localPort, 4)}`;
      const remote = `${encodeAddress(row.remoteIp, six)}:${hex(row.remotePort, 4)}`;
      const line = `${sl}: ${local} ${remote} 01 00000000:00000000 00:00000000 00000000  1000        0 ${inode++} 2 0000000000000000 0`;
      target.push(six ? line : line.padEnd(127));
      continue;
    }
    const six = ipaddr.parse(row.localIp).kind() === 'ipv6' || ipaddr.parse(row.remoteIp).kind() === 'ipv6';
    const target = six ? v6 : v4;
    const sl = String(target.length - 1).padStart(4);
    const local = `${encodeAddress(row.localIp, six)}:${hex(row.localPort, 4)}`;
    const remote = `${encodeAddress(row.remoteIp, six)}:${hex(row.remotePort, 4)}`;
    const st = hex(STATE_CODE[row.state], 2);
    // TIME_WAIT rows come from timewait sockets: uid 0, inode 0, timer 03, and fewer trailing fields.
    const line =
      row.state === 'TIME_WAIT'
        ? `${sl}: ${local} ${remote} ${st} 00000000:00000000 03:0000176F 00000000     0        0 0 3 0000000000000000`
        : `${sl}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000  1000        0 ${inode++} 1 0000000000000000 20 4 30 10 -1`;
    target.push(six ? line : line.padEnd(149));
  }
  return {
    tcp: `${v4.join('\n')}\n`,
    tcp6: `${v6.join('\n')}\n`,
    udp: `${u4.join('\n')}\n`,
    udp6: `${u6.join('\n')}\n`,
  };
}

/** Each 32-bit word of the address as the kernel prints its in-memory value on a little-endian host. */
export function encodeAddress(address: string, six: boolean): string {
  const parsed = ipaddr.parse(address);
  const bytes =
    six && parsed.kind() === 'ipv4'
      ? (parsed as ipaddr.IPv4).toIPv4MappedAddress().toByteArray()
      : parsed.toByteArray();
  let out = '';
  for (let word = 0; word < bytes.length; word += 4) {
    for (let i = 3; i >= 0; i--) out += hex(bytes[word + i] ?? 0, 2);
  }
  return out;
}

export function hex(value: number, width: number): string {
  return value.toString(16).toUpperCase().padStart(width, '0');
}

const WINDOWS_STATE: Partial<Record<TcpState, string>> = {
  LISTEN: 'LISTENING',
  ESTABLISHED: 'ESTABLISHED',
  SYN_SENT: 'SYN_SENT',
  TIME_WAIT: 'TIME_WAIT',
  CLOSE_WAIT: 'CLOSE_WAIT',
  FIN_WAIT1: 'FIN_WAIT_1',
  FIN_WAIT2: 'FIN_WAIT_2',
};

/** What `netstat -aon` prints in a Windows container (CRLF, bracketed IPv6, PID 0 for TIME_WAIT). */
export function renderWindowsNetstat(rows: SocketRow[], pid: number, listening: number[] = [80]): string {
  const endpoint = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  const row = (local: string, remote: string, state: string, owner: number) =>
    `  ${'TCP'.padEnd(7)}${local.padEnd(23)}${remote.padEnd(23)}${state.padEnd(16)}${owner}`;
  const lines = [
    '',
    'Active Connections',
    '',
    '  Proto  Local Address          Foreign Address        State           PID',
  ];
  for (const port of listening) lines.push(row(`0.0.0.0:${port}`, '0.0.0.0:0', 'LISTENING', 4));
  for (const r of rows) {
    // Windows netstat prints every UDP socket with a foreign address of `*:*`, connected or not: no destination.
    if (r.protocol === 'udp') continue;
    const state = WINDOWS_STATE[r.state] ?? 'ESTABLISHED';
    lines.push(
      row(endpoint(r.localIp, r.localPort), endpoint(r.remoteIp, r.remotePort), state, state === 'TIME_WAIT' ? 0 : pid),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
