// `pstree -apsl <pid>`: the ancestors of a process (`-s`), with PIDs (`-p`), arguments (`-a`), and lines that are not
// cut to the terminal's width (`-l`). Walking up from the lowest PID of a pod's network namespace (lsns) reaches
// the containerd shim. The shim's `-id` argument is the pod sandbox id, which `crictl pods` lists. Format:
// research/tool-output-formats.md §3.
//
//   systemd,1
//     `-containerd-shim,764860 -namespace k8s.io -id 14c1004655303a70…e80e1a -address /var/run/containerd/containerd.sock
//         `-(pause,764880)                        empty cmdline: shown in parentheses
//             `-(BaseBackup,778711)
//                 |-{BaseBackup},778875           a thread
//
// Glyphs are ASCII (`|-`, `` `- ``, `| `) unless pstree writes to a UTF-8 tty or gets `-U` (`├─`, `└─`, `│ `).
// Without `-a` pstree prints several processes on one line (`systemd(1)─┬─containerd-shim(2141)───pause(2165)`).
// That form is read too, but it has no arguments, so it never yields a shim sandbox.
import { emptyStats, type LineStats, skipLine, splitLines } from './lineStats.ts';

export interface PstreeProcess {
  pid: number;
  /** `comm`, at most 15 characters: `containerd-shim-runc-v2` shows as `containerd-shim`. */
  name: string;
  /** The command line without argv[0], as pstree prints it (non-printable bytes as `\ooo`); `...` ends a cut one. */
  args: string;
  /** 0 for the first process of the tree (`systemd,1`). */
  depth: number;
  parentPid?: number;
  /** A thread (`{name},tid`) rather than a process. */
  thread: boolean;
}

export interface ShimSandbox {
  shimPid: number;
  /** The shim's `-id`: the pod sandbox id (= the pause container's id) for shims that the CRI plugin started. */
  sandboxId: string;
  /** The shim's `-namespace`: `k8s.io` for Kubernetes pods, `moby` for Docker containers. */
  namespace?: string;
  /** Processes below the shim (threads are left out: lsns names processes only). */
  descendantPids: number[];
}

export interface PstreeResult extends LineStats {
  /** Each PID once, in the order first seen; several pstree runs concatenated are merged. */
  processes: PstreeProcess[];
  shims: ShimSandbox[];
  /** Shims whose `-id` could not be read because pstree cut the line (`-id ...`): run it with `-l`. */
  unreadableShims: number[];
}

// Leading tree drawing: indentation, `|-`, `` `- ``, `|` (ASCII) or `├─`, `└─`, `│` (UTF-8). A `-` on its own is
// not drawing, so a name that starts with `-` survives.
const PREFIX = /^(?:\s|\|-|`-|\||├─|└─|│)*/;
// `-a` form. The PID follows the name after a comma (and `-u`/`-g` may add more comma fields). A process with an
// empty cmdline (kernel thread, zombie) is shown in parentheses.
const NO_CMDLINE = /^\((.+?),(\d+)(?:,[^\s,()]+)*\)$/;
const WITH_ARGS = /^(.+?),(\d+)(?:,[^\s,]+)*(?: (.*))?$/;
// Form without `-a`: `name(pid)` joined by `───`/`─┬─` (or `---`/`-+-` in ASCII).
const CONNECTOR = /───|─┬─|---|-\+-/g;
const COMPACT = /^(.+)\((\d+)(?:,[^()]*)?\)$/;
const THREAD = /^\{(.*)\}$/;
const SHIM_NAME = /^containerd-shim/;
const SHIM_FLAG = /^--?(id|namespace)(?:=(.*))?$/;
// containerd's identifier rule (`pkg/identifiers`); `...` (pstree's cut) and a cut `2xxxf...` both fail it.
const CONTAINERD_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

interface Parsed {
  column: number;
  pid: number;
  name: string;
  args: string;
  thread: boolean;
}

/** Parses `pstree -aps[l] PID` (or `pstree -ps`) output. Never throws. */
export function parsePstree(text: string): PstreeResult {
  const stats = emptyStats();
  const byPid = new Map<number, PstreeProcess>();
  // The processes that enclose the current line, by the column their name starts at. A process's parent is the
  // nearest one further left: this holds for every glyph set and for both forms.
  const stack: { column: number; pid: number }[] = [];

  for (const line of splitLines(text)) {
    stats.lines++;
    if (line.trim() === '') continue;
    const parsed = parseLine(line);
    if (!parsed) {
      skipLine(stats, line);
      continue;
    }
    for (const process of parsed) {
      while (stack.length > 0 && stack.at(-1)!.column >= process.column) stack.pop();
      const parentPid = stack.at(-1)?.pid;
      if (!byPid.has(process.pid)) {
        const { column: _column, ...fields } = process;
        byPid.set(process.pid, { ...fields, depth: stack.length, ...(parentPid !== undefined ? { parentPid } : {}) });
      }
      stack.push({ column: process.column, pid: process.pid });
    }
  }

  const processes = [...byPid.values()];
  return { ...stats, processes, ...findShims(processes) };
}

function parseLine(line: string): Parsed[] | undefined {
  const column = PREFIX.exec(line)![0].length;
  const rest = line.slice(column);
  const withArgs = NO_CMDLINE.exec(rest) ?? WITH_ARGS.exec(rest);
  if (withArgs) {
    const process = named(column, withArgs[1]!, withArgs[2]!, withArgs[3] ?? '');
    return process ? [process] : undefined;
  }
  return parseCompact(column, rest);
}

function parseCompact(column: number, rest: string): Parsed[] | undefined {
  const processes: Parsed[] = [];
  let start = 0;
  for (const connector of [...rest.matchAll(CONNECTOR), undefined]) {
    const end = connector?.index ?? rest.length;
    const match = COMPACT.exec(rest.slice(start, end));
    const process = match ? named(column + start, match[1]!, match[2]!, '') : undefined;
    if (!process) return undefined;
    processes.push(process);
    start = end + (connector?.[0].length ?? 0);
  }
  return processes;
}

function named(column: number, name: string, pid: string, args: string): Parsed | undefined {
  const number = Number(pid);
  if (!Number.isSafeInteger(number) || number <= 0) return undefined;
  const thread = THREAD.exec(name);
  return { column, pid: number, name: thread ? thread[1]! : name, args, thread: thread !== null };
}

function findShims(processes: PstreeProcess[]): Pick<PstreeResult, 'shims' | 'unreadableShims'> {
  const children = new Map<number, number[]>();
  for (const process of processes) {
    if (process.thread || process.parentPid === undefined) continue;
    const siblings = children.get(process.parentPid);
    if (siblings) siblings.push(process.pid);
    else children.set(process.parentPid, [process.pid]);
  }
  const descendants = (pid: number): number[] =>
    (children.get(pid) ?? []).flatMap((child) => [child, ...descendants(child)]);

  const shims: ShimSandbox[] = [];
  const unreadableShims: number[] = [];
  for (const process of processes) {
    if (process.thread || !SHIM_NAME.test(process.name)) continue;
    const flags = shimFlags(process.args);
    if (flags.id !== undefined && CONTAINERD_ID.test(flags.id)) {
      shims.push({
        shimPid: process.pid,
        sandboxId: flags.id,
        ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
        descendantPids: descendants(process.pid),
      });
    } else if (flags.id !== undefined || process.args.endsWith('...')) {
      unreadableShims.push(process.pid);
    }
    // A shim without `-id` whose line was not cut (the old v1 shim) cannot name a sandbox: it is left alone.
  }
  return { shims, unreadableShims };
}

/** Reads the shim's Go-style flags: `-id X`, `--id X`, `-id=X`. */
function shimFlags(args: string): { id?: string; namespace?: string } {
  const tokens = args.split(' ').filter((token) => token !== '');
  const flags: { id?: string; namespace?: string } = {};
  tokens.forEach((token, i) => {
    const match = SHIM_FLAG.exec(token);
    const value = match?.[2] ?? tokens[i + 1];
    if (match && value !== undefined) flags[match[1] as 'id' | 'namespace'] ??= value;
  });
  return flags;
}
