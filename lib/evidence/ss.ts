// iproute2 `ss -tn[p]`, `ss -tan`, `ss -tn[p] state established`. Format: research/tool-output-formats.md §5.2.
//
//   State Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process
//   ESTAB 0      0               127.0.0.1:33720          127.0.0.1:37201 users:(("node",pid=6608,fd=24))
//   ESTAB 0      0      [::ffff:127.0.0.1]:46881 [::ffff:127.0.0.1]:45450 users:(("node",pid=6608,fd=27))
//
// The columns come and go with the options: a single `state X` filter removes State, several socket kinds (`-tu`,
// `-a` without `-t`) add Netid in front, `-H` removes the header. So each line is read on its own, from its first
// fields, rather than by the header's positions. ss ≥ 6.11 wraps a socket over several lines when $COLUMNS is set:
// run it with COLUMNS unset (a wrapped line is skipped, not misread).
import type { TcpState } from '../model.ts';
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

export interface SsOptions extends SocketTableOptions {
  /**
   * The state a single `state …` filter selected. ss then prints no State column, so the rows cannot say it
   * themselves. Defaults to ESTABLISHED (`ss -tnp state established`, what this project runs).
   */
  state?: TcpState;
}

// `sstate_name[]` in misc/ss.c. `UNCONN` is TCP_CLOSE: a bound, unconnected socket.
const STATES: Record<string, TcpState> = {
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

// The Netid column's values (misc/ss.c); only `tcp` rows are connections to count.
const NETIDS = new Set([
  'tcp',
  'udp',
  'raw',
  'mptcp',
  'dccp',
  'sctp',
  'u_str',
  'u_dgr',
  'u_seq',
  'p_raw',
  'p_dgr',
  'nl',
  'v_str',
  'v_dgr',
  'xdp',
  'tipc',
]);

const HEADER_FIRST_FIELDS = new Set(['Netid', 'State', 'Recv-Q']);
const QUEUE = /^\d+$/;
// `users:(("comm",pid=N,fd=N),…)`: the first process is taken. The comm is printed unescaped and may contain spaces
// (ss reads it from /proc/PID/stat up to the first `)`), so it ends at the first `",pid=`.
const USERS = /users:\(\("(.*?)",pid=(\d+)[,)]/;

/**
 * Parses `ss -t…` output. Every connection is kept (TIME-WAIT, CLOSE-WAIT… included); LISTEN rows, unconnected
 * sockets (UNCONN with a `*` peer) and other socket kinds are dropped; unreadable lines are counted as skipped, with
 * samples. Never throws.
 */
export function parseSs(text: string, options?: SsOptions): SocketTable {
  const assumedState = options?.state ?? 'ESTABLISHED';
  return readSocketTable(text, options, (line) => readSsLine(line, assumedState));
}

function readSsLine(line: string, assumedState: TcpState): LineReading {
  const [head = '', second = ''] = line.trim().split(/\s+/, 2);
  if (head === '') return FRAME; // blank
  if (HEADER_FIRST_FIELDS.has(head)) return FRAME;

  let netid = false;
  if (NETIDS.has(head)) {
    if (head !== 'tcp') return IGNORED;
    netid = true;
  }
  const stateField = netid ? second : head;
  const named = Object.hasOwn(STATES, stateField) ? STATES[stateField] : undefined;
  if (named === undefined && !QUEUE.test(stateField)) return SKIPPED;
  const state = named ?? assumedState;

  const leading = (netid ? 1 : 0) + (named === undefined ? 0 : 1);
  const parsed = leadingFields(line, leading + 4);
  if (!parsed) return SKIPPED;
  const [recvQ = '', sendQ = '', localText = '', remoteText = ''] = parsed.fields.slice(leading);
  if (!QUEUE.test(recvQ) || !QUEUE.test(sendQ)) return SKIPPED;
  // A listener holds no SNAT port; its port makes the connections accepted on it inbound (`*:46881` → 46881).
  if (state === 'LISTEN') return listenerRow(localText);

  const local = parseEndpoint(localText);
  const remote = parseEndpoint(remoteText);
  if (!local || !remote) return SKIPPED;
  const owner = USERS.exec(parsed.rest);
  return connectionRow({
    // ss has no protocol column: a bracketed (or `*`) address is an IPv6 socket, mapped ones included.
    proto: local.family === 6 ? 'tcp6' : 'tcp',
    local,
    remote,
    state,
    ...(owner ? { program: owner[1], pid: Number(owner[2]) } : {}),
  });
}
