// net-tools `netstat -tn` / `-ptn` / `-ptnW` / `-atnp`, as the Microsoft SNAT article runs it inside a Linux pod.
// Format: research/tool-output-formats.md §5.1.
//
//   Active Internet connections (w/o servers)
//   Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
//   tcp        0      0 10.244.1.7:34382        20.50.2.1:443           ESTABLISHED 9422/python3
//   tcp6       0      0 ::1:57540               ::1:18080               ESTABLISHED -
//
// IPv6 is unbracketed (the port is after the last colon) and IPv4-mapped sockets already print as plain IPv4 on
// `tcp6` lines. The program column is `-` or `pid/argv0-basename`, cut to 19 characters, and may contain spaces.
import type { TcpState } from '../model.ts';
import { splitLines } from './lineStats.ts';
import {
  connectionRow,
  FRAME,
  IGNORED,
  type LineReading,
  leadingFields,
  listenerRow,
  parseEndpoint,
  readSocketTable,
  SKIPPED,
  type SocketTable,
  type SocketTableOptions,
} from './socketTable.ts';

export interface NetstatOptions extends SocketTableOptions {
  /**
   * The text came from `netstat -W`. Without it, an endpoint exactly as long as netstat's truncated ones (see
   * `possiblyTruncated`) is not trusted, unless the text itself shows it is wide.
   */
  wide?: boolean;
}

// `tcp_state[]` in netstat.c. The names are gettext-translated, so the caller must run netstat with LC_ALL=C; a
// translated name is skipped rather than guessed at.
const STATES: Record<string, TcpState> = {
  ESTABLISHED: 'ESTABLISHED',
  SYN_SENT: 'SYN_SENT',
  SYN_RECV: 'SYN_RECV',
  FIN_WAIT1: 'FIN_WAIT1',
  FIN_WAIT2: 'FIN_WAIT2',
  TIME_WAIT: 'TIME_WAIT',
  CLOSE: 'CLOSE',
  CLOSE_WAIT: 'CLOSE_WAIT',
  LAST_ACK: 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

// Rows of the other tables `netstat -a` or `-u` adds: well-formed, but no TCP connection to count.
const OTHER_PROTOCOLS = new Set(['udp', 'udp6', 'udpl', 'udpl6', 'raw', 'raw6', 'unix']);

// What netstat writes to stderr about `-p` when not root; a capture that merged stderr into stdout carries it.
const NOTICES = [
  /^\(No info could be read for "-p"/,
  /^\(Not all processes could be identified/,
  /^will not be shown, you would have to be root/,
];

// Without -W, `addr_do_one(…, 22, …)` cuts the address so that address + port is exactly 22 characters, with no marker:
// a cut endpoint is always 23 characters with its colon. An untruncated one can be 23 characters too, so without
// -W such an endpoint is ambiguous. Only IPv6 gets that long (an IPv4 endpoint is at most 21).
const TRUNCATED_LENGTH = 23;

const QUEUE = /^\d+$/;
const OWNER = /^(\d+)\/(.*)$/;

/**
 * Parses `netstat -t[a]n[p][W]` output. Every connection is kept (TIME_WAIT, CLOSE_WAIT… included); LISTEN rows and
 * rows of other protocols are dropped; unreadable lines are counted as skipped, with samples. Never throws.
 *
 * Without -W, a long IPv6 address is silently cut, and the cut one may still be a valid address (of someone else):
 * a row with an endpoint that may have been cut is skipped, so that the report shows the damage instead of a wrong
 * destination. The text counts as wide when `options.wide` says so or when some endpoint in it is longer than a
 * truncated one can be.
 */
export function parseNetstat(text: string, options?: NetstatOptions): SocketTable {
  const wide = options?.wide === true || looksWide(text);
  return readSocketTable(text, options, (line) => readNetstatLine(line, wide));
}

function looksWide(text: string): boolean {
  return splitLines(text).some((line) => {
    const fields = leadingFields(line, 5)?.fields;
    return fields !== undefined && /^(?:tcp|udp|raw)6?$/.test(fields[0] ?? '') && fields.slice(3).some(isOverlong);
  });
}

function isOverlong(endpoint: string): boolean {
  return endpoint.length > TRUNCATED_LENGTH;
}

function possiblyTruncated(endpoint: string, wide: boolean): boolean {
  return !wide && endpoint.length === TRUNCATED_LENGTH;
}

function readNetstatLine(line: string, wide: boolean): LineReading {
  const trimmed = line.trim();
  // Blank, the banner (`Active Internet connections (…)`, or `Active UNIX domain sockets` after -a), the header.
  if (trimmed === '' || trimmed.startsWith('Active ') || /^Proto\s/.test(trimmed)) return FRAME;
  if (NOTICES.some((notice) => notice.test(trimmed))) return FRAME;

  const proto = /^\S+/.exec(trimmed)?.[0] ?? '';
  if (OTHER_PROTOCOLS.has(proto)) return IGNORED;
  if (proto !== 'tcp' && proto !== 'tcp6') return SKIPPED;

  const parsed = leadingFields(line, 6);
  if (!parsed) return SKIPPED;
  const [, recvQ = '', sendQ = '', localText = '', remoteText = '', stateText = ''] = parsed.fields;
  if (!QUEUE.test(recvQ) || !QUEUE.test(sendQ)) return SKIPPED;
  const state = Object.hasOwn(STATES, stateText) ? STATES[stateText] : undefined;
  if (state === undefined) return SKIPPED;
  const owner = parseOwner(parsed.rest);
  if (owner === undefined) return SKIPPED;
  // A listener holds no SNAT port; its port makes the connections accepted on it inbound (`:::18080` → 18080).
  if (state === 'LISTEN') return listenerRow(localText);

  if (possiblyTruncated(localText, wide) || possiblyTruncated(remoteText, wide)) return SKIPPED;
  const local = parseEndpoint(localText);
  const remote = parseEndpoint(remoteText);
  // A `tcp` line is an IPv4 socket; IPv6 addresses on it mean the line is damaged.
  if (!local || !remote || (proto === 'tcp' && local.family === 6)) return SKIPPED;
  return connectionRow({ proto, local, remote, state, ...owner });
}

/** The `PID/Program name` column: absent (no -p), `-` (not permitted, or an orphaned socket), or `pid/name`. */
function parseOwner(text: string): { pid?: number; program?: string } | undefined {
  if (text === '' || text === '-') return {};
  const match = OWNER.exec(text);
  if (!match) return undefined;
  const pid = Number(match[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, program: (match[2] ?? '').trimEnd() };
}
