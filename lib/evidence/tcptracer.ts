// BCC `tcptracer` output (`tcptracer [-t] [-v] [-N NETNS]`), research/tool-output-formats.md §1: which process opened,
// accepted or closed which TCP connection, in which network namespace. It is the runbook's step 2 ("count by source IP
// and network namespace") done without `awk | sort | uniq`, and it is the hot path of a million-line capture.
//
//   TIME(ns)      TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS
//   3546123456    close        18627  .NET TP Worker   4  10.244.1.23      20.50.2.10       53746  443    4026532785
//   12345678901234connect      4194304 java             6  [::ffff:10.244.1.23] [2603:1030:20e:3::23c] 40000  443 …
//
// Reading a line:
// - Fields are found from both ends: [TIME] TYPE PID from the left, then IP SADDR DADDR SPORT DPORT [NETNS] from the
//   right; COMM is whatever lies between (a thread name, ≤ 15 bytes, which may contain spaces). Only the space
//   separates fields: tcptracer prints nothing else, and a tab inside COMM is part of the name.
// - The NETNS column is recognised per line (the third field from the right is a number only when NETNS is there), so
//   `-N` captures, captures without a header and concatenated captures all read the same way.
// - TIME may be glued to TYPE (`12345678901234connect`, past 10^13 ns or 10000.000 s) and may be negative (per-CPU
//   buffers print some events after later ones). `-t -v` prints nanoseconds; `time` is always seconds.
// - Redacted timestamps such as the Microsoft runbook's `3xxx9` leave an event with an unknown time: the rest of the
//   line is intact, and dropping it would change the counts the runbook then shows.
// - Addresses come out without brackets; `::ffff:a.b.c.d` (dual-stack sockets) comes out as `a.b.c.d`, the address the
//   peer and the load balancer see; other IPv6 addresses in RFC 5952 form (as `procNetTcp` prints them).
// - Malformed lines are counted and sampled (`skipLine`), never thrown. A final line without a newline is an event
//   only when it is visibly whole: tcptracer pads DPORT (`%-6d`), so a line without NETNS ends in a space, and every
//   netns inode has ten digits (Linux numbers them from 0xEFFFFFF9 up); a capture cut short (runCommand caps output
//   at 512 kB) otherwise leaves a plausible event with a truncated port or netns.
//
// Two readers. `parseEventLine`, on a line as a string, walks the rules above: it is the reference, and
// TcptracerAggregator reads every line with it. Files (summarizeTcptracerFile) are read by tcptracerWasm.ts instead:
// WebAssembly that reads the `-v` lines tcptracer prints (IPv4 or IPv4-mapped, a time of digits: what the runbook's
// `tcptracer -t4v` prints) straight from the bytes by tcptracer's printf formats AND counts them, and leaves every
// other line to parseEventLine and the summary to this module. The tests hold the two equal to a plain reference on
// generated captures cut into chunks anywhere, and check that the WebAssembly takes every `-v` line tcptracer prints.
// Captures without -v (no NETNS, so no pod can be told from another) are read the careful way: ~2.4 s for 1,000,000
// lines here, against ~0.1 s.
//
// What is kept, in memory that does not grow with the input or its flows:
// - per source (SADDR and NETNS): exact event counts by type, and the first MAX_TRACE_SAMPLES pids and comms;
// - connects per source and destination (DADDR:DPORT), the rows the SNAT model reads, in a Misra–Gries summary of
//   ROWS_HELD rows or more (see Rows): exact while they fit, else each count low by at most the stated `undercount`
//   (≤ connects ÷ (ROWS_HELD + 1)) and no row busier than that lost. Each source's ROWS_REPORTED busiest are
//   reported; `TcptracerSummary.cut` says what was left out, which the sources' totals still count. A reader that
//   cannot tie a source to a pod has no use for them and asks for none (`destinations: false`);
// - at most MAX_SOURCES sources (a node has a few hundred): events of further ones are only counted.
import { createReadStream } from 'node:fs';
import ipaddr from 'ipaddr.js';
import type { TraceAggregate, TraceEventType } from '../model.ts';
import { emptyStats, type LineStats, skipLine } from './lineStats.ts';

export interface TcptracerEvent {
  type: TraceEventType;
  /** Seconds since the first event tcptracer printed (from `-t`; `-t -v` prints ns). Absent without `-t`, or redacted. */
  time?: number;
  /** Host-namespace TGID. */
  pid: number;
  /** Thread name (kernel `comm`), may contain spaces. */
  comm: string;
  /** As printed: 6 for dual-stack sockets even when the address is IPv4-mapped (and unwrapped here). */
  ipVersion: 4 | 6;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** Network namespace inode; absent when the capture has no NETNS column (no `-v`, or `-N`). */
  netns?: number;
}

/** How tcptracer was run, as its header (or, without one, its first event) shows. */
export interface TcptracerMode {
  /** `-v`: long type names, ns timestamps, NETNS column. */
  verbose: boolean;
  /** `-t`. */
  timestamps: boolean;
  /** `-v` without `-N`. */
  netnsColumn: boolean;
}

export type TcptracerLine = TcptracerEvent | 'banner' | 'header' | 'blank' | 'lost' | undefined;

export interface SourceCount {
  saddr: string;
  /** Absent when the capture has no NETNS column. */
  netns?: number;
  connects: number;
  accepts: number;
  closes: number;
  /** Every event from this source, `unknown` ones included. */
  total: number;
  /** The first MAX_TRACE_SAMPLES distinct pids and thread names seen from this source. */
  pids: number[];
  comms: string[];
}

/** What the summary left out to stay bounded; absent when it left nothing out. */
export interface TcptracerCut {
  /** Events in no reported row (their sources' totals count them): rarer destinations, and the undercounts. */
  unreportedEvents: number;
  /** The most a row's count may be below its true count (0: every count is exact). */
  undercount: number;
  /** Events of sources past MAX_SOURCES: counted in `events` only. */
  unsourcedEvents: number;
}

export interface TcptracerSummary extends LineStats {
  events: number;
  mode?: TcptracerMode;
  /** Exact events per source address and netns (the runbook's `awk '{print $6,$10}' | sort | uniq -c`), most connects first. */
  bySource: SourceCount[];
  /**
   * Connects per saddr × netns (0 without a NETNS column) × daddr:dport, biggest first: each source's ROWS_REPORTED
   * busiest destinations. A row's pids and comms are its source's samples. Empty when the aggregator was told not to
   * count destinations (then `cut.unreportedEvents` is every connect).
   */
  aggregates: TraceAggregate[];
  cut?: TcptracerCut;
  /** Earliest and latest event time (seconds): the capture's span. Events can be printed slightly out of order. */
  firstTime?: number;
  lastTime?: number;
  /** Sum of `Possibly lost N samples` (bcc prints it on stderr; it is here when `2>&1` mixed it in). */
  lostSamples: number;
  /** Lines that were neither events nor skipped: `lines === events + skipped + banners + headers + blankLines + lostLines`. */
  banners: number;
  headers: number;
  blankLines: number;
  lostLines: number;
}

export const TCPTRACER_BANNER = 'Tracing TCP established connections. Ctrl-C to end.';

/** Pids and comms kept per source, as samples. */
export const MAX_TRACE_SAMPLES = 3;

/**
 * No tcptracer line comes near this (they are ~110–200 bytes); a longer "line" is input that is not tcptracer output
 * at all, and is skipped without being held in memory.
 */
export const MAX_LINE_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// The careful path: one line as a string.

const VERBOSE_TYPES = new Map<string, TraceEventType>([
  ['connect', 'connect'],
  ['accept', 'accept'],
  ['close', 'close'],
  ['unknown', 'unknown'],
]);
const BRIEF_TYPES = new Map<string, TraceEventType>([
  ['C', 'connect'],
  ['A', 'accept'],
  ['X', 'close'],
  ['U', 'unknown'],
]);
// `%-14d` ns (`-t -v`) and `%-9.3f` s (`-t`); `x` stands for digits someone redacted (`3xxx9`).
const VERBOSE_TIME = /^-?[0-9][0-9x]*$/;
const BRIEF_TIME = /^-?[0-9][0-9x]*\.[0-9x]+$/;
const GLUED_VERBOSE = /^(-?[0-9][0-9x]*)(connect|accept|close|unknown)$/;
const GLUED_BRIEF = /^(-?[0-9][0-9x]*\.[0-9x]+)([CAXU])$/;
const DIGITS = /^[0-9]+$/;
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const LOST = /^Possibly lost ([0-9]+) samples$/;
const HEADER_TIME = /^TIME(?:\((?:s|ns)\))?$/;
const HEADER_COLUMNS = ['PID', 'COMM', 'IP', 'SADDR', 'DADDR', 'SPORT', 'DPORT'];

const MAX_PORT = 65535;
const MAX_U32 = 4294967295;
/** Every netns inode has ten digits: Linux numbers proc inodes from 0xEFFFFFF9 (init_net) up to 2^32 - 1. */
const MIN_NETNS_INODE = 1_000_000_000;

/** The line without a trailing `\r` and trailing spaces: the end index. */
function trimmedEnd(line: string): number {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 13) end--;
  while (end > 0 && line.charCodeAt(end - 1) === 32) end--;
  return end;
}

/** The mode a header line announces, or undefined when the line is not tcptracer's header. */
export function parseTcptracerHeader(line: string): TcptracerMode | undefined {
  const words = line
    .slice(0, trimmedEnd(line))
    .split(' ')
    .filter((word) => word !== '');
  let i = 0;
  const timestamps = HEADER_TIME.test(words[0] ?? '');
  if (timestamps) i++;
  const typeWord = words[i++];
  if (typeWord !== 'T' && typeWord !== 'TYPE') return undefined;
  for (const column of HEADER_COLUMNS) if (words[i++] !== column) return undefined;
  const netnsColumn = words[i] === 'NETNS';
  if (netnsColumn) i++;
  if (i !== words.length) return undefined;
  return { verbose: typeWord === 'TYPE', timestamps, netnsColumn };
}

/** N from a `Possibly lost N samples` line, or undefined. */
export function parseLostSamples(line: string): number | undefined {
  const match = LOST.exec(line.slice(0, trimmedEnd(line)));
  return match ? Number(match[1]) : undefined;
}

function normalizeTime(seconds: number): number {
  return seconds === 0 ? 0 : seconds; // -0 (`-0.000`) reads as 0
}

/** Seconds from a time token of the mode, or undefined when it was redacted. */
function timeOf(token: string, verbose: boolean): number | undefined {
  if (token.includes('x')) return undefined;
  return normalizeTime(verbose ? Number(token) / 1e9 : Number(token));
}

function ipv4Number(address: string): number {
  let value = 0;
  for (const octet of address.split('.')) value = value * 256 + Number(octet);
  return value;
}

/**
 * An address as tcptracer prints it, normalised: IPv4 as printed; IPv6 without brackets, IPv4-mapped unwrapped, the
 * rest in RFC 5952 form. Undefined when the text is not an address of the IP column's family.
 */
export function normalizeTcptracerAddress(token: string, ipVersion: 4 | 6): string | undefined {
  if (ipVersion === 4) return IPV4.test(token) ? token : undefined;
  // libbpf-tools' tcptracer prints IPv6 without brackets: accept both.
  const text = token.length > 2 && token[0] === '[' && token[token.length - 1] === ']' ? token.slice(1, -1) : token;
  if (!IPV6_CHARS.test(text)) return undefined; // no zone ids (inet_ntop prints none), no stray brackets
  if (text.length > 7 && text.slice(0, 7).toLowerCase() === '::ffff:' && IPV4.test(text.slice(7))) return text.slice(7);
  let hex = text;
  if (text.includes('.')) {
    // Embedded IPv4 in the last 32 bits (`::a.b.c.d`, `64:ff9b::a.b.c.d`). ipaddr.js reads `::a.b.c.d` as mapped,
    // which it is not, so the dotted part is turned into hex first.
    const colon = text.lastIndexOf(':');
    const dotted = text.slice(colon + 1);
    if (colon < 0 || !IPV4.test(dotted)) return undefined;
    const value = ipv4Number(dotted);
    hex = `${text.slice(0, colon + 1)}${Math.floor(value / 65536).toString(16)}:${(value % 65536).toString(16)}`;
  }
  if (!ipaddr.IPv6.isValid(hex)) return undefined;
  const address = ipaddr.IPv6.parse(hex);
  const p = address.parts;
  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0xffff) {
    const high = p[6] ?? 0;
    const low = p[7] ?? 0;
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return address.toRFC5952String();
}

/** Bounded memo for the careful path's IPv6 addresses (a capture has few distinct ones, met many times). */
const addressMemo = new Map<string, string | undefined>();

function normalizeAddressMemo(token: string, ipVersion: 4 | 6): string | undefined {
  if (ipVersion === 4) return IPV4.test(token) ? token : undefined;
  if (addressMemo.has(token)) return addressMemo.get(token);
  const address = normalizeTcptracerAddress(token, 6);
  if (addressMemo.size >= 4096) addressMemo.clear();
  addressMemo.set(token, address);
  return address;
}

interface ParsedEventLine {
  event: TcptracerEvent;
  mode: TcptracerMode;
}

interface LineHead {
  type: TraceEventType;
  verbose: boolean;
  timeToken?: string;
}

/**
 * TYPE (with TIME glued to it, or given as the token before it) in either mode; undefined when the tokens are not
 * that. The time must be the mode's: nanoseconds with long type names, seconds with letters.
 */
function headOf(token: string, timeBefore: string | undefined): LineHead | undefined {
  const verboseType = VERBOSE_TYPES.get(token);
  const briefType = BRIEF_TYPES.get(token);
  if (timeBefore === undefined) {
    if (verboseType) return { type: verboseType, verbose: true };
    if (briefType) return { type: briefType, verbose: false };
    const gluedVerbose = GLUED_VERBOSE.exec(token);
    const gluedVerboseType = VERBOSE_TYPES.get(gluedVerbose?.[2] ?? '');
    if (gluedVerbose && gluedVerboseType) return { type: gluedVerboseType, verbose: true, timeToken: gluedVerbose[1] };
    const gluedBrief = GLUED_BRIEF.exec(token);
    const gluedBriefType = BRIEF_TYPES.get(gluedBrief?.[2] ?? '');
    if (gluedBrief && gluedBriefType) return { type: gluedBriefType, verbose: false, timeToken: gluedBrief[1] };
    return undefined;
  }
  if (verboseType && VERBOSE_TIME.test(timeBefore)) return { type: verboseType, verbose: true, timeToken: timeBefore };
  if (briefType && BRIEF_TIME.test(timeBefore)) return { type: briefType, verbose: false, timeToken: timeBefore };
  return undefined;
}

/** Index just past the token starting at `from` (the next space, or `end`). */
function tokenEndAt(line: string, from: number, end: number): number {
  const space = line.indexOf(' ', from);
  return space < 0 || space > end ? end : space;
}

function skipSpaces(line: string, from: number, end: number): number {
  let i = from;
  while (i < end && line.charCodeAt(i) === 32) i++;
  return i;
}

function parseEventLine(line: string): ParsedEventLine | undefined {
  const end = trimmedEnd(line);
  const start = skipSpaces(line, 0, end);
  if (start === end) return undefined;

  // Left: [TIME] TYPE, then PID.
  let cursor = tokenEndAt(line, start, end);
  const first = line.slice(start, cursor);
  let head = headOf(first, undefined);
  if (head === undefined) {
    const from = skipSpaces(line, cursor, end);
    cursor = tokenEndAt(line, from, end);
    head = headOf(line.slice(from, cursor), first);
  }
  if (head === undefined) return undefined;
  const { type, verbose, timeToken } = head;
  const pidFrom = skipSpaces(line, cursor, end);
  const low = tokenEndAt(line, pidFrom, end); // fields on the right lie strictly after this (a space)
  const pidText = line.slice(pidFrom, low);
  if (low >= end || !DIGITS.test(pidText)) return undefined;
  const pid = Number(pidText);
  if (pid > MAX_U32) return undefined;

  // Right: DPORT SPORT DADDR SADDR IP, after NETNS when the third field from the right is a number.
  const tokens: string[] = [];
  let ipStart = -1;
  let right = end;
  for (let n = 0; n < 6; n++) {
    if (right <= low) return undefined;
    let left = right;
    while (left > low && line.charCodeAt(left - 1) !== 32) left--;
    tokens.push(line.slice(left, right));
    ipStart = left;
    right = left;
    while (right > low && line.charCodeAt(right - 1) === 32) right--;
    if (n === 4 && !DIGITS.test(tokens[2] ?? '')) break; // no NETNS: the IP field was the fifth
  }
  const netnsColumn = tokens.length === 6;
  const [netnsText, dportText, sportText, daddrText, saddrText, ipText] = netnsColumn ? tokens : [undefined, ...tokens];
  if (ipText !== '4' && ipText !== '6') return undefined;
  const ipVersion = ipText === '4' ? 4 : 6;
  if (!DIGITS.test(dportText ?? '') || !DIGITS.test(sportText ?? '')) return undefined;
  const dport = Number(dportText);
  const sport = Number(sportText);
  if (dport > MAX_PORT || sport > MAX_PORT) return undefined;
  let netns: number | undefined;
  if (netnsText !== undefined) {
    if (!DIGITS.test(netnsText)) return undefined;
    netns = Number(netnsText);
    if (netns > MAX_U32) return undefined;
  }
  const saddr = normalizeAddressMemo(saddrText ?? '', ipVersion);
  const daddr = normalizeAddressMemo(daddrText ?? '', ipVersion);
  if (saddr === undefined || daddr === undefined) return undefined;

  // COMM: between PID and IP, padding trimmed.
  let commEnd = ipStart;
  while (commEnd > low && line.charCodeAt(commEnd - 1) === 32) commEnd--;
  const comm = line.slice(skipSpaces(line, low, commEnd), commEnd);

  const event: TcptracerEvent = { type, pid, comm, ipVersion, saddr, daddr, sport, dport };
  if (timeToken !== undefined) {
    const time = timeOf(timeToken, verbose);
    if (time !== undefined) event.time = time;
  }
  if (netns !== undefined) event.netns = netns;
  return { event, mode: { verbose, timestamps: timeToken !== undefined, netnsColumn } };
}

/**
 * Classifies one line of tcptracer output (without its newline): an event, the banner, a header, a blank line, a
 * `Possibly lost` line, or undefined when it is none of these (malformed or truncated). Never throws.
 */
export function parseTcptracerLine(line: string): TcptracerLine {
  return parseEventLine(line)?.event ?? classifyOtherLine(line);
}

/**
 * The mode an event line was printed in (long or one-letter type, with or without TIME, with or without NETNS), or
 * undefined when the line is not an event. A capture without its header is read with this.
 */
export function inferTcptracerMode(line: string): TcptracerMode | undefined {
  return parseEventLine(line)?.mode;
}

/** What a line that is not an event is. */
function classifyOtherLine(line: string): Exclude<TcptracerLine, TcptracerEvent> {
  const end = trimmedEnd(line);
  const start = skipSpaces(line, 0, end);
  if (start === end) return 'blank';
  if (line.slice(start, end) === TCPTRACER_BANNER) return 'banner';
  if (parseTcptracerHeader(line)) return 'header';
  if (parseLostSamples(line) !== undefined) return 'lost';
  return undefined;
}

/**
 * Whether a final line that has no newline was printed whole (see the top of this file): the padding after DPORT
 * when there is no NETNS column, a ten-digit NETNS when there is.
 */
export function isWholeFinalLine(line: string, event: TcptracerEvent): boolean {
  if (event.netns !== undefined) return event.netns >= MIN_NETNS_INODE;
  const end = line.endsWith('\r') ? line.length - 1 : line.length;
  return end > 0 && line.charCodeAt(end - 1) === 32;
}

const TYPE_NAMES: readonly TraceEventType[] = ['connect', 'accept', 'close', 'unknown'];
const TYPE_INDEX = new Map<TraceEventType, number>(TYPE_NAMES.map((name, index) => [name, index]));
const CONNECT = 0;
const NL = 10;

// ---------------------------------------------------------------------------------------------------------------
// Aggregation. Keys are int32 (V8 keeps them unboxed): an IPv4 address is its 32-bit value, any other address an
// index into the interned names (flagged); NETNS is its 32-bit value.

/**
 * Open addressing in one Int32Array: each cell is a key of three int32 and a value, 0 marking a free cell (so values
 * are positive). One cell read finds a key and its value together.
 */
class IntTable {
  cells = new Int32Array(16 * 4);
  size = 0;

  /** The cell of the key: where it is, or the free cell where it goes (`value(cell) === 0`). */
  cellOf(a: number, b: number, c: number): number {
    const cells = this.cells;
    const mask = cells.length - 4;
    for (let cell = (hash3(a, b, c) << 2) & mask; ; cell = (cell + 4) & mask) {
      if (cells[cell + 3] === 0 || (cells[cell] === a && cells[cell + 1] === b && cells[cell + 2] === c)) return cell;
    }
  }

  /** Puts a new key in its free cell (from cellOf, with nothing put since). */
  put(cell: number, a: number, b: number, c: number, value: number): void {
    const cells = this.cells;
    cells[cell] = a;
    cells[cell + 1] = b;
    cells[cell + 2] = c;
    cells[cell + 3] = value;
    if (++this.size * 2 > cells.length / 4) this.rebuild(this.cells.length * 2, 0);
  }

  /** Rebuilds the table `length` long, keeping the keys whose value is above `less`, and taking `less` off it. */
  rebuild(length: number, less: number): void {
    const old = this.cells;
    this.cells = new Int32Array(length);
    this.size = 0;
    for (let cell = 0; cell < old.length; cell += 4) {
      const value = old[cell + 3]! - less;
      if (old[cell + 3] === 0 || value <= 0) continue;
      const a = old[cell]!;
      const b = old[cell + 1]!;
      const c = old[cell + 2]!;
      const free = this.cellOf(a, b, c);
      this.cells[free] = a;
      this.cells[free + 1] = b;
      this.cells[free + 2] = c;
      this.cells[free + 3] = value;
      this.size++;
    }
  }
}

function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

/**
 * Connects per row (source × destination), in bounded memory: the Misra–Gries summary, in batches. It holds up to
 * 4 × `keep` rows; when a new row finds it full, m = the (keep + 1)-th biggest count is taken off every count and the
 * rows left at 0 or below are dropped, leaving at most `keep`. Each such step takes at least m × (keep + 1) of the
 * events counted, so over N events the steps' m add up to at most N ÷ (keep + 1): `undercount`, the most any row's
 * count is below its true count. A row with more events than that is never dropped, and below 4 × `keep` rows every
 * count is exact. (Misra and Gries, "Finding repeated elements", 1982; in batches as in Agarwal et al., "Mergeable
 * summaries", 2012.)
 */
class Rows {
  readonly table = new IntTable();
  private readonly histogram = new Int32Array(HISTOGRAM_COUNTS);
  /** Sum of the steps' m. */
  undercount = 0;
  private readonly keep: number;

  constructor(keep: number) {
    this.keep = keep;
  }

  /** Counts one event on the row keyed (destination, port and flags, source). */
  count(daddr: number, port: number, source: number): void {
    const table = this.table;
    let cell = table.cellOf(daddr, port, source);
    if (table.cells[cell + 3] !== 0) {
      table.cells[cell + 3]!++;
      return;
    }
    if (table.size === 4 * this.keep) {
      this.prune();
      cell = table.cellOf(daddr, port, source);
    }
    table.put(cell, daddr, port, source, 1);
  }

  private prune(): void {
    const m = this.keptAbove();
    this.table.rebuild(this.table.cells.length, m);
    this.undercount += m;
  }

  /**
   * The (keep + 1)-th biggest count, from a histogram of the counts (a pass over the table, where a sort would cost
   * more than the counting it serves); only counts past the histogram, if more than `keep` are, get sorted.
   */
  private keptAbove(): number {
    const cells = this.table.cells;
    const histogram = this.histogram.fill(0);
    const big: number[] = [];
    for (let cell = 3; cell < cells.length; cell += 4) {
      const count = cells[cell]!;
      if (count >= HISTOGRAM_COUNTS) big.push(count);
      else histogram[count]!++;
    }
    if (big.length > this.keep) return big.sort((x, y) => y - x)[this.keep]!;
    let atLeast = big.length;
    for (let count = HISTOGRAM_COUNTS - 1; count > 0; count--) {
      atLeast += histogram[count]!;
      if (atLeast > this.keep) return count;
    }
    return 0; // not reached: the table holds 4 × keep rows
  }
}

/** Counts below this are tallied one by one when the row table is pruned. */
const HISTOGRAM_COUNTS = 256;

/** What is known of one source (SADDR and NETNS): exact counts by type (connect, accept, close, unknown), samples. */
class Source {
  readonly counts = [0, 0, 0, 0];
  readonly pids: number[] = [];
  readonly comms: string[] = [];
  /** Its place in the aggregator's sources. */
  readonly index: number;
  readonly saddr: number;
  readonly netns: number;
  readonly interned: number;

  constructor(index: number, saddr: number, netns: number, interned: number) {
    this.index = index;
    this.saddr = saddr;
    this.netns = netns;
    this.interned = interned;
  }

  samplePid(pid: number): void {
    if (this.pids.length < MAX_TRACE_SAMPLES && !this.pids.includes(pid)) this.pids.push(pid);
  }

  sampleComm(comm: string): void {
    if (this.comms.length < MAX_TRACE_SAMPLES && !this.comms.includes(comm)) this.comms.push(comm);
  }
}

/** Connect rows (source × destination) the summary keeps at least; it holds up to four times as many. */
export const ROWS_HELD = 4096;
/** Rows reported per source: its busiest destinations. */
export const ROWS_REPORTED = 100;
/** Sources kept; the events of further ones are only counted. */
export const MAX_SOURCES = 10_000;

export interface TcptracerAggregatorOptions {
  /** Rows kept at least (the tests make it small, to prune). */
  rowsHeld?: number;
  /**
   * Count connects per destination (default). Without, only the sources' counts are kept and `aggregates` is empty:
   * for a reader that can tie no source to a pod, which is all the rows are read for (analyzeEvidence without crictl
   * or a probe report). At 5,000 destinations the rows are most of the time after the read (issue 13's bench).
   */
  destinations?: boolean;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function dottedQuad(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order of `TcptracerSummary.aggregates`: biggest first, then a stable order. */
export function compareTraceAggregates(a: TraceAggregate, b: TraceAggregate): number {
  return (
    b.count - a.count ||
    compareText(a.type, b.type) ||
    compareText(a.saddr, b.saddr) ||
    compareText(a.daddr, b.daddr) ||
    a.dport - b.dport ||
    a.netns - b.netns
  );
}

/** compareTraceAggregates for the connect rows of one source (same type, saddr and netns). */
function compareRowsOfSource(a: TraceAggregate, b: TraceAggregate): number {
  return b.count - a.count || compareText(a.daddr, b.daddr) || a.dport - b.dport;
}

/** The order of `TcptracerSummary.bySource`: most connects first, then most events, then address and netns. */
function compareSources(a: SourceCount, b: SourceCount): number {
  return (
    b.connects - a.connects || b.total - a.total || compareText(a.saddr, b.saddr) || (a.netns ?? 0) - (b.netns ?? 0)
  );
}

/**
 * Streams tcptracer output in chunks of any size (lines may span chunks) and aggregates it in memory bounded by the
 * number of sources, not by the input or its flows. Chunks are not retained after `push` returns, so a caller may
 * reuse its buffer.
 *
 * The `protected` members are for WasmTcptracerAggregator (tcptracerWasm.ts), which reads and counts in WebAssembly
 * and leaves the rest to this class: the lines it refuses (through `line`, counted back through `countParsed`), the
 * carried and final lines, and the summary, from its tables moved into `sources` and `rows`.
 */
export class TcptracerAggregator {
  protected readonly stats: LineStats = emptyStats();
  protected events = 0;
  private banners = 0;
  private headers = 0;
  private blankLines = 0;
  private lostLines = 0;
  private lostSamples = 0;
  protected unsourcedEvents = 0;
  protected mode: TcptracerMode | undefined;
  private firstTime = Number.POSITIVE_INFINITY;
  private lastTime = Number.NEGATIVE_INFINITY;
  /** Bytes of a line whose newline has not arrived yet. */
  protected carry: Buffer | undefined;
  /** The carried line passed MAX_LINE_BYTES: its start is kept for the sample, the rest is dropped. */
  private carryOverlong = false;
  /** A high surrogate ending a string chunk, waiting for its pair. */
  protected pendingSurrogate = '';
  protected ended = false;
  /** (address, netns, interned) → index in `sources` + 1. */
  private readonly sourceIndex = new IntTable();
  private readonly sources: Source[] = [];
  protected readonly rows: Rows;
  /** Addresses of the careful path that are not IPv4, interned: id → name. */
  private readonly addressIds = new Map<string, number>();
  private readonly addressNames: string[] = [];

  /** Whether connects are counted per destination (the rows); without, `aggregates` is empty. */
  protected readonly destinations: boolean;

  constructor({ rowsHeld = ROWS_HELD, destinations = true }: TcptracerAggregatorOptions = {}) {
    this.rows = new Rows(rowsHeld);
    this.destinations = destinations;
  }

  push(chunk: Buffer | Uint8Array | string): void {
    if (this.ended) throw new Error('TcptracerAggregator.push after end()');
    if (typeof chunk === 'string') this.pushBytes(this.encode(chunk));
    else if (chunk.length > 0) this.pushBytes(asBuffer(chunk));
  }

  end(): TcptracerSummary {
    this.finish();
    return this.summary();
  }

  protected finish(): void {
    if (this.ended) return;
    if (this.pendingSurrogate !== '') this.pushBytes(Buffer.from(this.pendingSurrogate));
    this.pendingSurrogate = '';
    if (this.carry !== undefined) this.finishCarriedLine(true);
    this.ended = true;
  }

  private encode(text: string): Buffer {
    let whole = this.pendingSurrogate + text;
    this.pendingSurrogate = '';
    const last = whole.charCodeAt(whole.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.pendingSurrogate = whole.slice(-1);
      whole = whole.slice(0, -1);
    }
    return Buffer.from(whole, 'utf8');
  }

  protected pushBytes(b: Buffer): void {
    let from = 0;
    if (this.carry !== undefined) {
      const newline = b.indexOf(NL);
      if (newline < 0) {
        this.extendCarry(b, 0, b.length);
        return;
      }
      this.extendCarry(b, 0, newline);
      this.finishCarriedLine(false);
      from = newline + 1;
    }
    for (;;) {
      const newline = b.indexOf(NL, from);
      if (newline < 0) break;
      this.stats.lines++;
      if (newline - from > MAX_LINE_BYTES) skipLine(this.stats, b.toString('utf8', from, from + 1024));
      else this.line(b, from, newline, false);
      from = newline + 1;
    }
    if (from < b.length) this.extendCarry(b, from, b.length);
  }

  protected extendCarry(b: Buffer, from: number, to: number): void {
    if (this.carryOverlong) return;
    const carried = this.carry?.length ?? 0;
    if (carried + (to - from) > MAX_LINE_BYTES) {
      // Keep enough for the skipped-line sample (200 characters are at most 800 bytes).
      const keep = Math.max(0, Math.min(to - from, 1024 - carried));
      this.carry = Buffer.concat([this.carry ?? Buffer.alloc(0), b.subarray(from, from + keep)]);
      this.carryOverlong = true;
      return;
    }
    const piece = b.subarray(from, to);
    this.carry = this.carry === undefined ? Buffer.from(piece) : Buffer.concat([this.carry, piece]);
  }

  protected finishCarriedLine(final: boolean): void {
    const line = this.carry ?? Buffer.alloc(0);
    const overlong = this.carryOverlong;
    this.carry = undefined;
    this.carryOverlong = false;
    this.stats.lines++;
    if (overlong) skipLine(this.stats, line.toString('utf8'));
    else this.line(line, 0, line.length, final);
  }

  /** One line [s, e) without its newline. The final line goes the careful way: only there is the rule for a cut line. */
  protected line(b: Buffer, s: number, e: number, final: boolean): void {
    const text = b.toString('utf8', s, e);
    const parsed = parseEventLine(text);
    if (parsed === undefined) this.otherLine(text);
    else if (final && !isWholeFinalLine(text, parsed.event)) skipLine(this.stats, text);
    else this.record(parsed);
  }

  private otherLine(line: string): void {
    const kind = classifyOtherLine(line);
    if (kind === 'blank') this.blankLines++;
    else if (kind === 'banner') this.banners++;
    else if (kind === 'header') {
      this.headers++;
      this.mode ??= parseTcptracerHeader(line);
    } else if (kind === 'lost') {
      this.lostLines++;
      this.lostSamples += parseLostSamples(line) ?? 0;
    } else skipLine(this.stats, line);
  }

  private record({ event, mode }: ParsedEventLine): void {
    if (event.time !== undefined) this.noteTime(event.time);
    this.mode ??= mode;
    const [saddr, saddrInterned] = this.addressKey(event.saddr);
    const [daddr, daddrInterned] = this.addressKey(event.daddr);
    this.countParsed(TYPE_INDEX.get(event.type) ?? 3, saddr, saddrInterned, daddr, daddrInterned, event);
  }

  /** Counts an event the careful path read, its addresses keyed (`addressKey`), and samples its pid and comm. */
  protected countParsed(
    type: number,
    saddr: number,
    saddrInterned: number,
    daddr: number,
    daddrInterned: number,
    event: TcptracerEvent,
  ): void {
    const source = this.count(type, saddr, saddrInterned, daddr, daddrInterned, event.dport, event.netns);
    if (source !== undefined) {
      source.samplePid(event.pid);
      source.sampleComm(event.comm);
    }
  }

  protected noteTime(time: number): void {
    if (time < this.firstTime) this.firstTime = time;
    if (time > this.lastTime) this.lastTime = time;
  }

  /** Counts one event; returns its source for the caller to sample, or undefined past MAX_SOURCES. */
  private count(
    type: number,
    saddr: number,
    saddrInterned: number,
    daddr: number,
    daddrInterned: number,
    dport: number,
    netns = 0,
  ): Source | undefined {
    this.events++;
    const source = this.sourceAt(saddr, netns | 0, saddrInterned);
    if (source === undefined) {
      this.unsourcedEvents++;
      return undefined;
    }
    source.counts[type]!++;
    // Rows only for connects: the SNAT model reads no other (a source's accepts and closes are its totals).
    if (type === CONNECT && this.destinations) this.rows.count(daddr, dport | (daddrInterned << 16), source.index);
    return source;
  }

  /** The source (address, netns), made when it is new; undefined when it is new and MAX_SOURCES are known already. */
  protected sourceAt(saddr: number, netns: number, interned: number): Source | undefined {
    const cell = this.sourceIndex.cellOf(saddr, netns, interned);
    const index = this.sourceIndex.cells[cell + 3]! - 1;
    if (index >= 0) return this.sources[index];
    if (this.sources.length === MAX_SOURCES) return undefined;
    const source = new Source(this.sources.length, saddr, netns, interned);
    this.sourceIndex.put(cell, saddr, netns, interned, source.index + 1);
    this.sources.push(source);
    return source;
  }

  /** An address's key: its IPv4 value, or its interned index flagged 1. */
  private addressKey(address: string): [number, number] {
    const value = IPV4.test(address) ? ipv4Number(address) : undefined;
    if (value !== undefined) return [value | 0, 0];
    let id = this.addressIds.get(address);
    if (id === undefined) {
      id = this.addressNames.push(address) - 1;
      this.addressIds.set(address, id);
    }
    return [id, 1];
  }

  private addressName(value: number, interned: number): string {
    return interned ? (this.addressNames[value] ?? '') : dottedQuad(value >>> 0);
  }

  /**
   * Each source's connect rows, busiest first; ROWS_REPORTED of each reported, in compareTraceAggregates' order. Rows
   * that cannot be among them are left out before their strings and objects are made. `bySource`: in `sources` order.
   */
  private reportedRows(bySource: SourceCount[]): TraceAggregate[] {
    const cells = this.rows.table.cells;
    const least = leastReportedCounts(cells, this.sources.length);
    const rowsOf = this.sources.map((): TraceAggregate[] => []);
    for (let cell = 0; cell < cells.length; cell += 4) {
      const count = cells[cell + 3]!;
      if (count === 0 || count < least[cells[cell + 2]!]!) continue;
      const source = bySource[cells[cell + 2]!]!;
      const port = cells[cell + 1]!;
      rowsOf[cells[cell + 2]!]!.push({
        type: 'connect',
        saddr: source.saddr,
        daddr: this.addressName(cells[cell]!, port >>> 16),
        dport: port & 0xffff,
        netns: source.netns ?? 0,
        count,
        pids: source.pids,
        comms: source.comms,
      });
    }
    // A source's rows share its samples (the summary's copies, which nothing changes): a copy per row was two arrays
    // more per row for the collector to move, 8,680 at 5,000 destinations.
    const aggregates: TraceAggregate[] = [];
    // Only a source with more rows than are reported needs its own order (then by destination: the rows of one source
    // differ in nothing else compareTraceAggregates reads); the aggregates are sorted together below.
    for (const rows of rowsOf) {
      if (rows.length > ROWS_REPORTED) rows.sort(compareRowsOfSource);
      for (let i = 0; i < Math.min(rows.length, ROWS_REPORTED); i++) aggregates.push(rows[i]!);
    }
    return aggregates.sort(compareTraceAggregates);
  }

  private summary(): TcptracerSummary {
    const bySource = this.sources.map((source): SourceCount => {
      const [connects = 0, accepts = 0, closes = 0, unknown = 0] = source.counts;
      const netns = source.netns >>> 0;
      return {
        saddr: this.addressName(source.saddr, source.interned),
        ...(netns !== 0 ? { netns } : {}),
        connects,
        accepts,
        closes,
        total: connects + accepts + closes + unknown,
        pids: [...source.pids],
        comms: [...source.comms],
      };
    });
    const aggregates = this.destinations ? this.reportedRows(bySource) : [];
    const reported = aggregates.reduce((sum, row) => sum + row.count, 0);
    bySource.sort(compareSources);
    const summary: TcptracerSummary = {
      lines: this.stats.lines,
      skipped: this.stats.skipped,
      skippedSamples: [...this.stats.skippedSamples],
      events: this.events,
      bySource,
      aggregates,
      lostSamples: this.lostSamples,
      banners: this.banners,
      headers: this.headers,
      blankLines: this.blankLines,
      lostLines: this.lostLines,
    };
    const connects = bySource.reduce((sum, source) => sum + source.connects, 0);
    const unreported = connects - reported;
    if (unreported > 0 || this.unsourcedEvents > 0) {
      summary.cut = {
        unreportedEvents: unreported,
        undercount: this.rows.undercount,
        unsourcedEvents: this.unsourcedEvents,
      };
    }
    if (this.mode) summary.mode = { ...this.mode };
    if (this.firstTime <= this.lastTime) {
      summary.firstTime = this.firstTime;
      summary.lastTime = this.lastTime;
    }
    return summary;
  }
}

/**
 * Per source, the least count a row needs to be among its ROWS_REPORTED busiest: its ROWS_REPORTED-th biggest count
 * when it has more rows than that, else 0. Exact: at least ROWS_REPORTED rows count that much or more, so a row that
 * counts less is never reported, and rows tied with it all stay for compareTraceAggregates to order.
 */
function leastReportedCounts(cells: Int32Array, sources: number): Int32Array {
  // The counts of each source's rows, grouped by source (a counting sort), then each group sorted.
  const start = new Int32Array(sources + 1);
  for (let cell = 0; cell < cells.length; cell += 4) if (cells[cell + 3] !== 0) start[cells[cell + 2]! + 1]!++;
  for (let source = 0; source < sources; source++) start[source + 1]! += start[source]!;
  const counts = new Int32Array(start[sources]!);
  const next = start.slice(0, sources);
  for (let cell = 0; cell < cells.length; cell += 4)
    if (cells[cell + 3] !== 0) counts[next[cells[cell + 2]!]!++] = cells[cell + 3]!;
  const least = new Int32Array(sources);
  for (let source = 0; source < sources; source++) {
    const rows = counts.subarray(start[source]!, start[source + 1]!);
    if (rows.length > ROWS_REPORTED) least[source] = rows.sort()[rows.length - ROWS_REPORTED]!;
  }
  return least;
}

const STRING_SLICE = 1 << 20;

/** Aggregates tcptracer output given whole or as a stream of chunks (any chunking). */
export async function summarizeTcptracer(
  input: AsyncIterable<Buffer | string> | string,
  options: TcptracerAggregatorOptions = {},
): Promise<TcptracerSummary> {
  const aggregator = new TcptracerAggregator(options);
  if (typeof input === 'string') {
    // In slices, so that the UTF-8 copy stays small however big the text.
    for (let i = 0; i < input.length; i += STRING_SLICE) aggregator.push(input.slice(i, i + STRING_SLICE));
  } else for await (const chunk of input) aggregator.push(chunk);
  return aggregator.end();
}

/** Reads a whole capture file into a summary, synchronously. */
export type TcptracerFileReader = (path: string, options: TcptracerAggregatorOptions) => TcptracerSummary;

/** The WebAssembly reader (tcptracerWasm.ts), compiled on first use; rejects when it cannot be instantiated. */
async function wasmFileReader(): Promise<TcptracerFileReader> {
  const { loadTcptracerWasmReader, summarizeTcptracerFileWasm } = await import('./tcptracerWasm.ts');
  const reader = loadTcptracerWasmReader();
  return (path, options) => summarizeTcptracerFileWasm(path, reader, options);
}

/**
 * Aggregates a tcptracer capture file, in memory that does not grow with the file nor with its flows: with the
 * WebAssembly reader (tcptracerWasm.ts; 2–3× faster on a 1,000,000-line capture), or, when that cannot be loaded (a
 * build without it, a runtime without WebAssembly), with summarizeTcptracerFileJs, which gives the same summary.
 * `options.destinations`: see TcptracerAggregatorOptions. `loadWasm` is for the tests.
 */
export async function summarizeTcptracerFile(
  path: string,
  options: { destinations?: boolean } = {},
  loadWasm: () => Promise<TcptracerFileReader> = wasmFileReader,
): Promise<TcptracerSummary> {
  let read: TcptracerFileReader | undefined;
  try {
    read = await loadWasm();
  } catch {
    // Only slower: the JS reader is the reference the WebAssembly one is tested against (and the tests check it loads).
  }
  return read === undefined ? summarizeTcptracerFileJs(path, options) : read(path, options);
}

/**
 * The plain reader of files, where the WebAssembly one cannot be loaded: the file streamed through TcptracerAggregator,
 * whose careful path reads every line (same summary; ~2.4 s for a 1,000,000-line capture here, ~20× the
 * WebAssembly's time).
 */
export function summarizeTcptracerFileJs(
  path: string,
  options: { destinations?: boolean } = {},
): Promise<TcptracerSummary> {
  return summarizeTcptracer(createReadStream(path, { highWaterMark: 1 << 20 }), options);
}
