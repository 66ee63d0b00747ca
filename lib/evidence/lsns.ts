// `lsns -t net`: the node's network namespaces. Each one has an inode (the NETNS that tcptracer prints), the lowest PID
// in it, and that PID's command. Format: research/tool-output-formats.md §2.
//
// Both forms are accepted, and the form is detected from the text (JSON starts with `{`):
//   `lsns -t net --list -J`   {"namespaces": [{"ns": 4026532177, "type": "net", "nprocs": 1, "pid": 7090, …}]}
//   `lsns -t net`             a table aligned by libsmartcols, which the header's column positions describe
// Rows of another namespace type (only possible when `-t net` was left out) are ignored, not skipped: they are
// valid output that this tool has no use for. They are counted in `otherTypes`.
import type { NetnsEntry } from '../model.ts';
import { emptyStats, type LineStats, skipLine, splitLines } from './lineStats.ts';

export interface LsnsResult extends LineStats {
  namespaces: NetnsEntry[];
  /** Valid rows or entries of a type other than `net`, left out on purpose (not counted as skipped). */
  otherTypes: number;
  /** Why the whole input was unusable (JSON that does not parse, a table without a header); every line is skipped. */
  error?: string;
}

/** Parses `lsns -t net` as JSON (`-J`, flat with `--list` or nested in tree mode) or as a table. Never throws. */
export function parseLsns(text: string): LsnsResult {
  const lines = splitLines(text);
  const first = lines.find((line) => line.trim() !== '');
  return first?.trimStart().startsWith('{') ? parseJson(text, lines) : parseTable(lines);
}

// ---------------------------------------------------------------------------------------------------------------- JSON

function parseJson(text: string, lines: string[]): LsnsResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    return unusable(lines, `lsns JSON does not parse: ${(error as Error).message}`);
  }
  const list = isRecord(doc) ? doc.namespaces : undefined;
  if (!Array.isArray(list)) return unusable(lines, 'lsns JSON has no "namespaces" array');

  const result: LsnsResult = { ...emptyStats(), lines: lines.length, namespaces: [], otherTypes: 0 };
  const visit = (items: unknown[]): void => {
    for (const item of items) {
      // An entry is not a line: a malformed one counts as one skipped line, its JSON as the sample.
      const entry = isRecord(item) ? jsonEntry(item) : 'malformed';
      if (entry === 'malformed') skipLine(result, String(JSON.stringify(item)));
      else if (entry === 'other-type') result.otherTypes++;
      else result.namespaces.push(entry);
      // Tree mode (the default since util-linux 2.38) nests namespaces under `children`; walking them makes the
      // result the same whether `--list` was given or not.
      if (isRecord(item) && Array.isArray(item.children)) visit(item.children);
    }
  };
  visit(list);
  return result;
}

function jsonEntry(item: Record<string, unknown>): NetnsEntry | 'malformed' | 'other-type' {
  // util-linux < 2.33 prints every value as a string, so numbers are accepted in either form.
  const inode = positiveInteger(item.ns);
  const pid = positiveInteger(item.pid);
  if (inode === undefined || pid === undefined) return 'malformed';
  if (item.type !== undefined && item.type !== 'net') return 'other-type';
  const nprocs = item.nprocs === undefined ? 1 : positiveInteger(item.nprocs);
  if (nprocs === undefined) return 'malformed';
  const command = typeof item.command === 'string' ? item.command : '';
  // A namespace mounted twice has one NSFS string with the paths separated by `\n`.
  const path = typeof item.nsfs === 'string' ? firstPath(item.nsfs.split('\n')) : undefined;
  return entry(inode, pid, nprocs, command, path);
}

// --------------------------------------------------------------------------------------------------------------- table

// libsmartcols right-aligns these columns (SCOLS_FL_RIGHT in lsns.c's colinfo); the rest are left-aligned.
const RIGHT_ALIGNED = new Set(['NS', 'NPROCS', 'PID', 'PPID', 'UID', 'NETNSID', 'PNS', 'ONS']);
const HEADER_WORD = /^[A-Z]+$/;
const DIGITS = /^\d+$/;
// In tree mode (the default since 2.38) COMMAND may start with tree glyphs: `└─sleep 500` (UTF-8 locale) or
// `` `-sleep 500 `` (C locale), maybe after `│ `/`| ` columns for deeper levels.
const TREE_GLYPHS = /^\s*(?:[│|]\s+)*(?:[├└]─|[|`]-)/;

interface Column {
  name: string;
  /** Where the header word starts and ends: the cell's left edge if left-aligned, its right edge if right-aligned. */
  start: number;
  end: number;
  right: boolean;
}

function parseTable(lines: string[]): LsnsResult {
  const result: LsnsResult = { ...emptyStats(), lines: lines.length, namespaces: [], otherTypes: 0 };
  let columns: Column[] | undefined;
  for (const line of lines) {
    if (line.trim() === '') continue;
    if (!columns) {
      columns = headerColumns(line);
      // Whatever comes before the header (there should be nothing) cannot be read.
      if (!columns) skipLine(result, line);
      continue;
    }
    const row = tableRow(columns, line);
    if (row === 'malformed') skipLine(result, line);
    else if (row === 'other-type') result.otherTypes++;
    else if (row !== 'continuation') result.namespaces.push(row);
  }
  if (!columns && result.skipped > 0) result.error = 'lsns table has no header line (NS … PID …)';
  return result;
}

function headerColumns(line: string): Column[] | undefined {
  const columns = [...line.matchAll(/\S+/g)].map((match) => ({
    name: match[0],
    start: match.index,
    end: match.index + match[0].length,
    right: RIGHT_ALIGNED.has(match[0]),
  }));
  const names = columns.map((column) => column.name);
  const isHeader = columns.every((column) => HEADER_WORD.test(column.name)) && names.includes('NS');
  return isHeader && names.includes('PID') ? columns : undefined;
}

/**
 * Cuts a row into cells by the header's positions. A right-aligned cell ends where its header word ends; a
 * left-aligned one starts where its header word starts. Between a left-aligned column and a right-aligned one
 * (TYPE|NPROCS, USER|NETNSID) the edge is not known from the header. The right-aligned cell is then the word that
 * ends at its header's end, because numbers and `unassigned` never contain spaces. Cells may be empty (NSFS).
 */
function cells(columns: Column[], line: string): Map<string, string> {
  const cuts = [0];
  for (let k = 1; k < columns.length; k++) {
    const previous = columns[k - 1]!;
    const next = columns[k]!;
    if (previous.right) cuts.push(previous.end);
    else if (!next.right) cuts.push(next.start);
    else {
      let start = next.end;
      while (start > previous.start && start - 1 < line.length && line[start - 1] !== ' ') start--;
      cuts.push(start);
    }
  }
  cuts.push(Math.max(line.length, cuts.at(-1)!));
  return new Map(columns.map((column, k) => [column.name, line.slice(cuts[k], cuts[k + 1])]));
}

function tableRow(columns: Column[], line: string): NetnsEntry | 'malformed' | 'other-type' | 'continuation' {
  const row = cells(columns, line);
  const cell = (name: string): string | undefined => row.get(name)?.trim();
  // A namespace with two nsfs mounts wraps its NSFS cell onto a line of its own, with every other cell empty. Only
  // the first path is kept (NetnsEntry has one), so the extra line is accepted and not used.
  if (cell('NS') === '' && cell('NSFS')) return 'continuation';
  const inode = DIGITS.test(cell('NS') ?? '') ? Number(cell('NS')) : undefined;
  const pid = DIGITS.test(cell('PID') ?? '') ? Number(cell('PID')) : undefined;
  const nprocsCell = cell('NPROCS');
  const nprocs = nprocsCell === undefined ? 1 : DIGITS.test(nprocsCell) ? Number(nprocsCell) : undefined;
  if (!inode || !pid || !nprocs) return 'malformed';
  const type = cell('TYPE');
  if (type === '') return 'malformed';
  if (type !== undefined && type !== 'net') return 'other-type';
  const command = (row.get('COMMAND') ?? '').replace(TREE_GLYPHS, '').trim();
  // `--nowrap` joins the paths of a doubly mounted namespace with `,`.
  const path = firstPath((cell('NSFS') ?? '').split(','));
  return entry(inode, pid, nprocs, command, path);
}

// ------------------------------------------------------------------------------------------------------------- shared

function entry(inode: number, pid: number, nprocs: number, command: string, path: string | undefined): NetnsEntry {
  // Without an NPROCS column (`-o NS,PID,…`), 1 is a lower bound: the PID that lsns names is in the namespace.
  return { inode, pid, nprocs, command, ...(path ? { path } : {}) };
}

function firstPath(paths: string[]): string | undefined {
  return paths.map((path) => path.trim()).find((path) => path !== '');
}

function unusable(lines: string[], error: string): LsnsResult {
  const result: LsnsResult = { ...emptyStats(), lines: lines.length, namespaces: [], otherTypes: 0, error };
  for (const line of lines) if (line.trim() !== '') skipLine(result, line);
  return result;
}

function positiveInteger(value: unknown): number | undefined {
  const number =
    typeof value === 'number' ? value : typeof value === 'string' && DIGITS.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(number) && number > 0 ? number : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
