// Windows `netstat -aon` (and `-an`, `-aonb`), as the Microsoft SNAT article runs it inside a Windows pod.
// Format: research/tool-output-formats.md §6 (no source exists; the layout comes from real captures).
//
//   Active Connections
//
//     Proto  Local Address          Foreign Address        State           PID
//     TCP    192.168.31.221:1028    169.150.202.133:443    ESTABLISHED     6608
//     TCP    [::]:135               [::]:0                 LISTENING       1712
//     UDP    0.0.0.0:53             *:*                                    4808
//
// Rows are read by token count (TCP: 5 with -o, 4 without; UDP has no State) and by address shape, not by column
// position: a long IPv6 address pushes the columns apart. CRLF line endings. Headings and state words are English;
// the banner and header are recognised by their first word only, so a changed wording does not turn them into skips.
import type { TcpState } from '../model.ts';
import {
  connectionRow,
  FRAME,
  IGNORED,
  type LineReading,
  listenerRow,
  parseEndpoint,
  readSocketTable,
  SKIPPED,
  type SocketRow,
  type SocketTable,
  type SocketTableOptions,
} from './socketTable.ts';

// The states Windows netstat prints (MIB_TCP_STATE). The research saw LISTENING, ESTABLISHED, CLOSE_WAIT and
// TIME_WAIT in captures; the others are documented names. BOUND (`-q`) is a bound, unconnected socket, like Linux's
// CLOSE; with its `0.0.0.0:0` peer it is dropped, not counted.
const STATES: Record<string, TcpState> = {
  LISTENING: 'LISTEN',
  ESTABLISHED: 'ESTABLISHED',
  SYN_SENT: 'SYN_SENT',
  SYN_RECEIVED: 'SYN_RECV',
  FIN_WAIT_1: 'FIN_WAIT1',
  FIN_WAIT_2: 'FIN_WAIT2',
  CLOSE_WAIT: 'CLOSE_WAIT',
  CLOSING: 'CLOSING',
  LAST_ACK: 'LAST_ACK',
  TIME_WAIT: 'TIME_WAIT',
  CLOSED: 'CLOSE',
  BOUND: 'CLOSE',
};

const PID = /^\d+$/;
// `-b` prints the owner under its row: an optional service name (one word), then `[program.exe]`, or a sentence
// saying it could not.
const OWNER_EXECUTABLE = /^\[(.+)\]$/;
const NO_OWNER = 'Can not obtain ownership information';

/**
 * Parses Windows `netstat -a[o]n[b]` output. TCP connections are kept (TIME_WAIT, CLOSE_WAIT… included); LISTENING
 * and unconnected (BOUND) rows and UDP rows are dropped; unreadable lines are counted as skipped, with samples.
 * PID 0 (the System Idle Process, which Windows shows for sockets no process owns, such as TIME_WAIT) is no owner.
 * Never throws.
 */
export function parseWindowsNetstat(text: string, options?: SocketTableOptions): SocketTable {
  // With -b, owner lines follow their row: remember the last row (undefined after a UDP or LISTENING row) while
  // inside such a block.
  let inOwnerBlock = false;
  let lastRow: SocketRow | undefined;
  return readSocketTable(text, options, (line, index, lines) => {
    const tokens = line.trim().split(/\s+/);
    const head = tokens[0] ?? '';
    const proto = head.toUpperCase();
    if (proto === 'TCP' || proto === 'TCPV6' || proto === 'UDP' || proto === 'UDPV6') {
      const reading = proto.startsWith('UDP') ? IGNORED : readTcpRow(tokens, proto === 'TCPV6');
      inOwnerBlock = reading.kind !== 'skipped';
      lastRow = reading.kind === 'row' ? reading.row : undefined;
      return reading;
    }
    if (inOwnerBlock && head !== '') {
      const owner = readOwnerLine(line.trim(), lines[index + 1]?.trim() ?? '');
      if (owner !== undefined) {
        if (owner !== '' && lastRow) lastRow.program = owner;
        return FRAME;
      }
    }
    inOwnerBlock = false;
    if (head === '' || /^Active$/i.test(head) || /^Proto$/i.test(head)) return FRAME;
    return SKIPPED;
  });
}

function readTcpRow(tokens: string[], v6: boolean): LineReading {
  // [proto, local, foreign, state, pid] with -o; [proto, local, foreign, state] without.
  if (tokens.length !== 5 && tokens.length !== 4) return SKIPPED;
  const [, localText = '', remoteText = '', stateText = '', pidText] = tokens;
  const upper = stateText.toUpperCase();
  const state = Object.hasOwn(STATES, upper) ? STATES[upper] : undefined;
  if (state === undefined) return SKIPPED;
  if (pidText !== undefined && !PID.test(pidText)) return SKIPPED;
  if (state === 'LISTEN') return listenerRow(localText);

  const local = parseEndpoint(localText);
  const remote = parseEndpoint(remoteText);
  if (!local || !remote) return SKIPPED;
  const pid = pidText === undefined ? 0 : Number(pidText);
  return connectionRow({
    proto: v6 || local.family === 6 ? 'tcp6' : 'tcp',
    local,
    remote,
    state,
    ...(pid > 0 && Number.isSafeInteger(pid) ? { pid } : {}),
  });
}

/**
 * A line of a `-b` owner block: the program (`[svchost.exe]` → `svchost.exe`), '' for a line that belongs to the
 * block but names no program, or undefined when the line is not part of one. A one-word line is a service name only
 * when the program line follows it, so that a stray fragment after a row is still skipped.
 */
function readOwnerLine(trimmed: string, next: string): string | undefined {
  const executable = OWNER_EXECUTABLE.exec(trimmed);
  if (executable) return executable[1] ?? '';
  if (trimmed === NO_OWNER) return '';
  if (!/\s/.test(trimmed) && OWNER_EXECUTABLE.test(next)) return '';
  return undefined;
}
