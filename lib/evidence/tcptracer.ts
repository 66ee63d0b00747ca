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
// Rows: one per type × saddr × daddr:dport × netns (0 without NETNS). Inbound connections are folded by service port:
// an accept's DPORT is the client's ephemeral port, which would make one row per connection, so accept rows (and the
// closes of accepted connections, once an accept has shown the listener) carry the local port instead.
//
// Speed (1M-line `-t -v` capture, 113 MB, this machine: ~165 ms cold, ~110 ms warm; bench/tcptracerParse.bench.ts).
// `TcptracerAggregator` works on Buffers and builds no string and no object per line. Three readers, in order:
// - columnLine: a line in tcptracer's own column layout (IPv4). Once such a line has been read, its bytes but for
//   TIME and SPORT are kept as a template; a later line with the same bytes there (the same process, type, tuple and
//   netns: most lines of a capture) has only TIME and SPORT read and is counted straight into the template's row.
//   Other lines have their fields read at their columns, padding checked four bytes at a time, addresses looked up
//   in a cache of already validated 16-byte columns. The line's end is guessed from the previous line's length.
// - tokenLine: lines off the columns (reformatted, squeezed, trailing spaces stripped, `[::ffff:a.b.c.d]`): tokens
//   found from both ends, byte by byte, as parseEventLine finds them in strings.
// - the careful path, parseTcptracerLine on the decoded line: everything else (IPv6, headers, redaction, damage).
// A fast reader takes a line only after checking every byte of it (so a wrong guess of its end cannot slip through),
// and returns false, having counted nothing, for anything it is not sure of. The tests check that the three agree with
// the careful path on generated captures cut into chunks anywhere.
import { open } from 'node:fs/promises';
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
}

export interface TcptracerSummary extends LineStats {
  events: number;
  mode?: TcptracerMode;
  /** Events per source address and netns (the runbook's `awk '{print $6,$10}' | sort | uniq -c`), most connects first. */
  bySource: SourceCount[];
  /** One row per type × saddr × daddr:dport × netns (0 without a NETNS column), biggest first; first 3 distinct pids/comms. */
  aggregates: TraceAggregate[];
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

/** Pids and comms kept per aggregate, as samples. */
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

function ipv4Value(address: string): number {
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
    const value = ipv4Value(dotted);
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

// ---------------------------------------------------------------------------------------------------------------
// Aggregation.
//
// Keys are numbers, kept within int32 so V8 holds them unboxed: an IPv4 address is its 32-bit value (`| 0`), any
// other address an index into the interned names, flagged in the row's tag; NETNS is its 32-bit value (`| 0`).

const ACCEPT = 1;
const CLOSE = 2;
const UNKNOWN = 3;
const TYPE_NAMES: readonly TraceEventType[] = ['connect', 'accept', 'close', 'unknown'];
const TYPE_INDEX = new Map<TraceEventType, number>(TYPE_NAMES.map((name, index) => [name, index]));
/** Tag bits besides the type (bits 0–1): the source / destination address is interned, not IPv4. */
const SADDR_INTERNED = 4;
const DADDR_INTERNED = 8;
/** `addressIds` values at or above this are interned indexes (the rest are IPv4 values). */
const INTERNED_ID = 2 ** 32;
const POW10 = Array.from({ length: 16 }, (_, n) => 10 ** n);
/** Slots of the address-column cache. */
const ADDRESS_CACHE_SLOTS = 4096;
/** Slots of the line-template cache (first a small one), and its limits: int32 words per template, widths covered. */
const TEMPLATE_SLOTS_FIRST = 1024;
const TEMPLATE_SLOTS = 16384;
const TEMPLATE_WORDS = 28;
const TEMPLATE_K1_MAX = 80;
const TEMPLATE_K2_MAX = 24;

// Bytes the fast paths look for.
const SPACE = 32;
const CR = 13;
const NL = 10;
const DOT = 46;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const FOUR = 52;
const SIX = 54;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const SPACES4 = 0x20202020;
const MAPPED_PREFIX = Buffer.from('[::ffff:');

/** A verbose TYPE column (`%-12s ` = 13 bytes) as three little-endian 32-bit words; byte 12 is a space. */
const VERBOSE_TYPE_FIELDS = TYPE_NAMES.map((word) => {
  const bytes = Buffer.from(word.padEnd(13));
  return [bytes.readInt32LE(0), bytes.readInt32LE(4), bytes.readInt32LE(8)] as const;
});
const BRIEF_TYPE_BYTES = [67 /* C */, 65 /* A */, 88 /* X */, 85 /* U */];
const VERBOSE_TYPE_WORDS = TYPE_NAMES.map((word) => Buffer.from(word));

class Aggregate {
  /** Type (bits 0–1) and SADDR_INTERNED / DADDR_INTERNED. */
  readonly tag: number;
  readonly saddr: number;
  readonly daddr: number;
  readonly dport: number;
  readonly netns: number;
  count = 0;
  readonly pids: number[] = [];
  readonly comms: string[] = [];
  /** UTF-8 of each comm, to compare with a line's bytes without decoding them. */
  readonly commBytes: Uint8Array[] = [];

  constructor(tag: number, saddr: number, daddr: number, dport: number, netns: number) {
    this.tag = tag;
    this.saddr = saddr;
    this.daddr = daddr;
    this.dport = dport;
    this.netns = netns;
  }
}

function hashKey(tag: number, saddr: number, daddr: number, dport: number, netns: number): number {
  let h = Math.imul(saddr, 0x9e3779b1) ^ Math.imul(daddr, 0x85ebca6b);
  h = Math.imul(h ^ netns, 0xc2b2ae35) ^ ((dport << 4) | tag);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

// Set by the byte readers below (module state instead of a result object: no allocation per field).
/** Index just past what the last forward reader consumed; -1 when it found nothing valid. */
let scanEnd = 0;
/** Where the token the last backward reader read starts; -1 when it was not valid. */
let tokenStart = 0;
/** The address the last `addressBefore` read was `[::ffff:a.b.c.d]`. */
let tokenMapped = false;

/** Whether every byte of [from, to) is a space (four at a time); false when from > to. */
function spacesIn(b: Uint8Array, v: DataView, from: number, to: number): boolean {
  if (from > to) return false;
  let p = from;
  for (; p + 4 <= to; p += 4) if (v.getInt32(p) !== SPACES4) return false;
  for (; p < to; p++) if (b[p] !== SPACE) return false;
  return true;
}

/** A port: 1..(limit - p) digits from p, at most 65535; -1 (and scanEnd -1) otherwise. */
function portAt(b: Uint8Array, p: number, limit: number): number {
  let value = 0;
  let k = p;
  while (k < limit) {
    const c = b[k]!;
    if (c < ZERO || c > NINE) break;
    value = value * 10 + c - ZERO;
    k++;
  }
  if (k === p || value > MAX_PORT) {
    scanEnd = -1;
    return -1;
  }
  scanEnd = k;
  return value;
}

/** A strict dotted quad (no leading zeros) from p, as int32; scanEnd -1 when there is none. */
function ipv4At(b: Uint8Array, p: number, limit: number): number {
  let k = p;
  let value = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (k >= limit || b[k] !== DOT) {
        scanEnd = -1;
        return 0;
      }
      k++;
    }
    const first = k;
    let n = 0;
    while (k < limit && k - first < 3) {
      const c = b[k]!;
      if (c < ZERO || c > NINE) break;
      n = n * 10 + c - ZERO;
      k++;
    }
    if (k === first || n > 255 || (k - first > 1 && b[first] === ZERO)) {
      scanEnd = -1;
      return 0;
    }
    value = (value << 8) | n;
  }
  scanEnd = k;
  return value;
}

/** The token ending at `end` as 1–10 digits worth at most 2^32 - 1, as int32 (`| 0`); tokenStart -1 otherwise. */
function digitsBefore(b: Uint8Array, end: number, low: number): number {
  let value = 0;
  let scale = 1;
  let k = end;
  while (k > low) {
    const c = b[k - 1]!;
    if (c === SPACE) break;
    if (c < ZERO || c > NINE || end - k >= 10) {
      tokenStart = -1;
      return 0;
    }
    value += (c - ZERO) * scale;
    scale *= 10;
    k--;
  }
  if (k === end || value > MAX_U32) {
    tokenStart = -1;
    return 0;
  }
  tokenStart = k;
  return value | 0;
}

/** The token ending at `end` as `a.b.c.d` or `[::ffff:a.b.c.d]` (sets tokenMapped), as int32; tokenStart -1 otherwise. */
function addressBefore(b: Uint8Array, end: number, low: number): number {
  let k = end;
  while (k > low && b[k - 1] !== SPACE) k--;
  tokenMapped = b[k] === OPEN_BRACKET;
  let value: number;
  if (!tokenMapped) {
    value = ipv4At(b, k, end);
    tokenStart = scanEnd === end ? k : -1;
    return value;
  }
  tokenStart = -1;
  if (end - k < 16 || b[end - 1] !== CLOSE_BRACKET) return 0;
  for (let i = 1; i < 8; i++) if (b[k + i] !== MAPPED_PREFIX[i]) return 0;
  value = ipv4At(b, k + 8, end - 1);
  if (scanEnd === end - 1) tokenStart = k;
  return value;
}

/** Index of the verbose type whose 13-byte column starts at p, or -1. */
function verboseTypeAt(b: Uint8Array, v: DataView, p: number): number {
  const w0 = v.getInt32(p, true);
  for (let type = 0; type < 4; type++) {
    const field = VERBOSE_TYPE_FIELDS[type]!;
    if (w0 === field[0]) {
      return v.getInt32(p + 4, true) === field[1] && v.getInt32(p + 8, true) === field[2] && b[p + 12] === SPACE
        ? type
        : -1;
    }
  }
  return -1;
}

/** Index of the verbose type word at p followed by a space, or -1. */
function verboseWordAt(b: Uint8Array, p: number, end: number): number {
  for (let type = 0; type < 4; type++) {
    const word = VERBOSE_TYPE_WORDS[type]!;
    const n = word.length;
    if (b[p] !== word[0] || p + n >= end || b[p + n] !== SPACE) continue;
    let i = 1;
    while (i < n && b[p + i] === word[i]) i++;
    if (i === n) return type;
  }
  return -1;
}

/** A hash of a line's words where lines differ: its templates' slots are `hash & mask` and that `^ 1`. */
function templateHash(v: DataView, typeStart: number, pidStart: number, a: number, end: number): number {
  let h =
    v.getInt32(typeStart) ^ Math.imul(v.getInt32(pidStart), 0x85ebca6b) ^ Math.imul(v.getInt32(a - 20), 0xc2b2ae35);
  h ^= Math.imul(v.getInt32(a - 12), 0x27d4eb2f) ^ Math.imul(v.getInt32(a + 4), 0x165667b1);
  h ^= Math.imul(v.getInt32(a + 21), 0x9e3779b1) ^ Math.imul(v.getInt32(a + 25), 0x85ebca6b);
  h = Math.imul(h ^ Math.imul(v.getInt32(end - 4), 0xc2b2ae35) ^ (end - a), 0x27d4eb2f);
  return h ^ (h >>> 15);
}

/**
 * Line templates: lines in tcptracer's column layout already read, but for TIME and SPORT, the only fields that change
 * from one event of a process on a connection tuple to the next. A line whose bytes from TYPE to DADDR (k1) and from
 * SPORT's padding to the end (k2) equal a template's means what the template meant, without being read again. A
 * two-way set-associative cache in flat arrays: bytes as int32 words, k1 === 0 for a free slot.
 */
class LineTemplates {
  readonly mask: number;
  readonly words: Int32Array;
  readonly k1: Int32Array;
  readonly k2: Int32Array;
  readonly verbose: Uint8Array;
  readonly tag: Int32Array;
  readonly saddr: Int32Array;
  readonly daddr: Int32Array;
  readonly dport: Int32Array;
  readonly netns: Int32Array;
  readonly pid: Float64Array;
  readonly comm: string[];
  /** The aggregate, unless it depends on SPORT (a close on a listener's port; see countTemplate). */
  readonly entry: (Aggregate | undefined)[];
  saved = 0;

  constructor(slots: number) {
    this.mask = slots - 1;
    this.words = new Int32Array(slots * TEMPLATE_WORDS);
    this.k1 = new Int32Array(slots);
    this.k2 = new Int32Array(slots);
    this.verbose = new Uint8Array(slots);
    this.tag = new Int32Array(slots);
    this.saddr = new Int32Array(slots);
    this.daddr = new Int32Array(slots);
    this.dport = new Int32Array(slots);
    this.netns = new Int32Array(slots);
    this.pid = new Float64Array(slots);
    this.comm = new Array<string>(slots).fill('');
    this.entry = new Array<Aggregate | undefined>(slots).fill(undefined);
  }

  /** Whether `slot` holds these bytes: [from1, from1 + k1) and [from2, from2 + k2). */
  matches(v: DataView, slot: number, from1: number, k1: number, from2: number, k2: number): boolean {
    if (this.k1[slot] !== k1 || this.k2[slot] !== k2) return false;
    const words = this.words;
    let j = slot * TEMPLATE_WORDS;
    const end1 = from1 + k1;
    let q = from1;
    for (; q + 4 <= end1; q += 4) if (v.getInt32(q, true) !== words[j++]) return false;
    // The last word of each range overlaps the one before when the length is not a multiple of 4.
    if (q < end1 && v.getInt32(end1 - 4, true) !== words[j++]) return false;
    const end2 = from2 + k2;
    for (q = from2; q + 4 <= end2; q += 4) if (v.getInt32(q, true) !== words[j++]) return false;
    return q === end2 || v.getInt32(end2 - 4, true) === words[j];
  }

  save(v: DataView, slot: number, from1: number, k1: number, from2: number, k2: number): void {
    const words = this.words;
    let j = slot * TEMPLATE_WORDS;
    const end1 = from1 + k1;
    let q = from1;
    for (; q + 4 <= end1; q += 4) words[j++] = v.getInt32(q, true);
    if (q < end1) words[j++] = v.getInt32(end1 - 4, true);
    const end2 = from2 + k2;
    for (q = from2; q + 4 <= end2; q += 4) words[j++] = v.getInt32(q, true);
    if (q < end2) words[j] = v.getInt32(end2 - 4, true);
    this.k1[slot] = k1;
    this.k2[slot] = k2;
    this.saved++;
  }
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
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

/** `bySource` from aggregates, in the summary's order. */
export function countBySource(aggregates: readonly TraceAggregate[]): SourceCount[] {
  const sources = new Map<string, SourceCount>();
  for (const row of aggregates) {
    const key = `${row.saddr} ${row.netns}`;
    let source = sources.get(key);
    if (!source) {
      source = { saddr: row.saddr, connects: 0, accepts: 0, closes: 0, total: 0 };
      if (row.netns !== 0) source.netns = row.netns;
      sources.set(key, source);
    }
    if (row.type === 'connect') source.connects += row.count;
    else if (row.type === 'accept') source.accepts += row.count;
    else if (row.type === 'close') source.closes += row.count;
    source.total += row.count;
  }
  return [...sources.values()].sort(
    (a, b) =>
      b.connects - a.connects || b.total - a.total || compareText(a.saddr, b.saddr) || (a.netns ?? 0) - (b.netns ?? 0),
  );
}

/**
 * Streams tcptracer output in chunks of any size (lines may span chunks) and aggregates it in memory bounded by the
 * number of distinct aggregates, not by the input. Chunks are not retained after `push` returns, so a caller may reuse
 * its buffer.
 *
 * Inbound connections are folded by service port: an `accept` row's `dport` is the local port that accepted (tcptracer
 * prints the remote's ephemeral port as DPORT, which would make one row per connection), and so is a `close` row's
 * once an accept has shown that (saddr, netns, sport) is a listener. Outbound rows are as printed.
 */
export class TcptracerAggregator {
  private readonly stats: LineStats = emptyStats();
  private events = 0;
  private banners = 0;
  private headers = 0;
  private blankLines = 0;
  private lostLines = 0;
  private lostSamples = 0;
  private mode: TcptracerMode | undefined;
  private firstTime = Number.POSITIVE_INFINITY;
  private lastTime = Number.NEGATIVE_INFINITY;
  /** Bytes of a line whose newline has not arrived yet. */
  private carry: Buffer | undefined;
  /** The carried line passed MAX_LINE_BYTES: its start is kept for the sample, the rest is dropped. */
  private carryOverlong = false;
  /** A high surrogate ending a string chunk, waiting for its pair. */
  private pendingSurrogate = '';
  private ended = false;
  /** Length of the last line: the first guess for the next one's. */
  private expectedLength = 0;

  private slots = new Int32Array(1024).fill(-1);
  private mask = 1023;
  private readonly entries: Aggregate[] = [];
  /** Careful-path addresses: IPv4 value, or INTERNED_ID + index into addressNames. */
  private readonly addressIds = new Map<string, number>();
  private readonly addressNames: string[] = [];
  /** Ports some accept was seen on, and per port the (saddr, saddr-interned, netns) triples listening on it. */
  private readonly listenerPorts = new Uint8Array(65536);
  private readonly listeners = new Map<number, number[]>();
  /** Address columns already validated (see addressColumn): 16 bytes as four int32, and the address. */
  private readonly columnWords = new Int32Array(ADDRESS_CACHE_SLOTS * 4);
  private readonly columnValues = new Int32Array(ADDRESS_CACHE_SLOTS);
  private readonly columnFilled = new Uint8Array(ADDRESS_CACHE_SLOTS);
  /** Small at first (a short capture should not pay for the big table); replaced by the big one once it fills. */
  private templates = new LineTemplates(TEMPLATE_SLOTS_FIRST);

  push(chunk: Buffer | Uint8Array | string): void {
    if (this.ended) throw new Error('TcptracerAggregator.push after end()');
    if (typeof chunk === 'string') this.pushBytes(this.encode(chunk));
    else if (chunk.length > 0) this.pushBytes(asBuffer(chunk));
  }

  end(): TcptracerSummary {
    if (!this.ended) {
      if (this.pendingSurrogate !== '') this.pushBytes(Buffer.from(this.pendingSurrogate));
      this.pendingSurrogate = '';
      if (this.carry !== undefined) this.finishCarriedLine(true);
      this.ended = true;
    }
    return this.summary();
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

  private pushBytes(b: Buffer): void {
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
    const last = b.lastIndexOf(NL);
    if (last >= from) {
      this.scan(b, viewOf(b), from, last + 1);
      from = last + 1;
    }
    if (from < b.length) this.extendCarry(b, from, b.length);
  }

  private extendCarry(b: Buffer, from: number, to: number): void {
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

  private finishCarriedLine(final: boolean): void {
    const line = this.carry ?? Buffer.alloc(0);
    const overlong = this.carryOverlong;
    this.carry = undefined;
    this.carryOverlong = false;
    this.stats.lines++;
    if (overlong) skipLine(this.stats, line.toString('utf8'));
    // The final line goes the careful way: only there is the rule for a line that may have been cut.
    else if (final || !this.readLine(line, viewOf(line), 0, line.length)) this.slowLine(line.toString('utf8'), final);
  }

  /** Complete lines: `b[to - 1]` is a newline. */
  private scan(b: Buffer, v: DataView, from: number, to: number): void {
    let pos = from;
    let lines = 0;
    while (pos < to) {
      lines++;
      // Most lines are as long as the one before (tcptracer's columns are fixed): try that end first. columnLine only
      // accepts a line having seen every byte of it, none a newline, so a wrong guess cannot slip through.
      const guess = pos + this.expectedLength;
      if (guess < to && b[guess] === NL && this.columnLine(b, v, pos, guess)) {
        pos = guess + 1;
        continue;
      }
      const newline = b.indexOf(NL, pos);
      if (newline - pos > MAX_LINE_BYTES) skipLine(this.stats, b.toString('utf8', pos, pos + 1024));
      else if (newline === guess ? !this.tokenLine(b, pos, newline) : !this.readLine(b, v, pos, newline))
        this.slowLine(b.toString('utf8', pos, newline), false);
      this.expectedLength = newline - pos;
      pos = newline + 1;
    }
    this.stats.lines += lines;
  }

  /** The two fast paths; false when neither took the line (nothing has been counted then). */
  private readLine(b: Buffer, v: DataView, s: number, e: number): boolean {
    return this.columnLine(b, v, s, e) || this.tokenLine(b, s, e);
  }

  /**
   * Fastest path: the line as tcptracer lays it out, every field at its column (`%-14d%-12s %-6d %-16s %-2d %-16s
   * %-16s %-6d %-6d %-8d`, or the non-verbose widths), IPv4. Values are read digit by digit, padding four bytes at a
   * time, COMM not at all unless it is sampled. Any departure (IPv6, a reformatted file, redaction) returns false.
   */
  private columnLine(b: Buffer, v: DataView, s: number, e: number): boolean {
    let end = e;
    if (end > s && b[end - 1] === CR) end--;
    if (end - s < 70) return false; // shorter than any line in tcptracer's own layout
    let p = s;
    let c = b[p]!;

    // TIME: `%-14d` ns or `%-9.3f` s, glued to TYPE when it fills the column.
    let hasTime = false;
    let negative = false;
    let whole = 0;
    let fraction = 0;
    let fractionDigits = -1;
    if (c === MINUS || (c >= ZERO && c <= NINE)) {
      hasTime = true;
      if (c === MINUS) {
        negative = true;
        p++;
      }
      // Up to 15 digits in two int32 parts (doubles would be boxed, one per digit, before the code is optimized).
      const first = p;
      let high = 0;
      let low = 0;
      let lowDigits = 0;
      while (p < end) {
        c = b[p]!;
        if (c < ZERO || c > NINE) break;
        if (lowDigits === 9) {
          high = low;
          low = 0;
          lowDigits = 0;
        }
        low = low * 10 + (c - ZERO);
        lowDigits++;
        p++;
      }
      let digits = p - first;
      if (digits === 0) return false;
      whole = digits > 9 ? high * POW10[lowDigits]! + low : low;
      if (c === DOT) {
        const dot = ++p;
        while (p < end) {
          c = b[p]!;
          if (c < ZERO || c > NINE) break;
          fraction = fraction * 10 + (c - ZERO);
          p++;
        }
        fractionDigits = p - dot;
        if (fractionDigits === 0) return false;
        digits += fractionDigits;
      }
      if (digits > 15) return false;
      const column = s + (fractionDigits < 0 ? 14 : 9);
      if (p < column) {
        if (!spacesIn(b, v, p, column)) return false;
        p = column;
      }
    }

    const typeStart = p;
    if (typeStart + 13 > end) return false;

    // Seen this line before, but for TIME and SPORT? Then only those two are read (see the template fields).
    const pidStart = typeStart + (b[typeStart + 1] === SPACE ? 3 : 13);
    let pidColumn = pidStart + 6;
    while (pidColumn < end && b[pidColumn] !== SPACE) pidColumn++; // 7-digit PIDs push the columns right
    const a = pidColumn + 21;
    if (a + 47 <= end) {
      const k1 = a + 34 - typeStart;
      const k2 = end - a - 39;
      const t = this.templates;
      let slot = templateHash(v, typeStart, pidStart, a, end) & t.mask;
      if (!t.matches(v, slot, typeStart, k1, a + 39, k2)) {
        slot ^= 1;
        if (!t.matches(v, slot, typeStart, k1, a + 39, k2)) slot = -1;
      }
      if (slot >= 0 && (!hasTime || (t.verbose[slot] === 1) === fractionDigits < 0)) {
        const sport = portAt(b, a + 34, a + 40);
        if (sport < 0 || !spacesIn(b, v, scanEnd, a + 41)) return false;
        if (hasTime) {
          let time =
            fractionDigits < 0 ? whole / 1e9 : (whole * POW10[fractionDigits]! + fraction) / POW10[fractionDigits]!;
          if (negative) time = -time;
          if (time === 0) time = 0; // -0 reads as 0
          if (time < this.firstTime) this.firstTime = time;
          if (time > this.lastTime) this.lastTime = time;
        }
        const entry = t.entry[slot];
        if (entry !== undefined && ((t.tag[slot]! & 3) !== CLOSE || this.listenerPorts[sport] === 0)) {
          // The template's pid and comm were sampled into this aggregate when it was made.
          this.events++;
          entry.count++;
        } else this.countTemplate(t, slot, sport);
        return true;
      }
    }
    return this.columnParse(b, v, end, typeStart, hasTime, negative, whole, fraction, fractionDigits);
  }

  /** A template line whose aggregate may depend on SPORT (a close on a listener's port) or is not known yet. */
  private countTemplate(t: LineTemplates, slot: number, sport: number): void {
    const tag = t.tag[slot]!;
    const entry = this.count(tag, t.saddr[slot]!, t.daddr[slot]!, sport, t.dport[slot]!, t.netns[slot]!, t.pid[slot]!);
    if (entry.comms.length < MAX_TRACE_SAMPLES) this.sampleComm(entry, t.comm[slot]!);
    if ((tag & 3) !== CLOSE || this.listenerPorts[sport] === 0) t.entry[slot] = entry;
  }

  /** columnLine past TIME, for a line no template matches: every field read, and a template made. */
  private columnParse(
    b: Buffer,
    v: DataView,
    end: number,
    typeStart: number,
    hasTime: boolean,
    negative: boolean,
    whole: number,
    fraction: number,
    fractionDigits: number,
  ): boolean {
    let p = typeStart;
    let c: number;
    // TYPE: `%-12s ` or `%-2s `.
    let type = verboseTypeAt(b, v, p);
    const verbose = type >= 0;
    if (verbose) p += 13;
    else {
      if (b[p + 1] !== SPACE || b[p + 2] !== SPACE) return false;
      type = BRIEF_TYPE_BYTES.indexOf(b[p]!);
      if (type < 0) return false;
      p += 3;
    }
    if (hasTime && verbose !== fractionDigits < 0) return false; // ns go with long types, seconds with letters

    // PID: `%-6d ` (7-digit PIDs push the rest right).
    const pidStart = p;
    let pid = 0;
    while (p < end) {
      c = b[p]!;
      if (c < ZERO || c > NINE) break;
      pid = pid * 10 + (c - ZERO);
      p++;
    }
    const low = p;
    if (low === pidStart || low - pidStart > 10 || pid > MAX_U32) return false;
    const pidColumn = Math.max(low, pidStart + 6);
    if (!spacesIn(b, v, low, pidColumn + 1)) return false;

    // COMM `%-16s ` (any bytes but a newline: scan may have guessed the line's end); IP `%-2d `: a 4 and two spaces.
    const comm = pidColumn + 1;
    const ip = comm + 17;
    const a = ip + 3;
    if (a + 47 > end) return false;
    if (b[ip - 1] !== SPACE || b[ip] !== FOUR || b[ip + 1] !== SPACE || b[ip + 2] !== SPACE) return false;
    for (let i = comm; i < ip - 1; i++) if (b[i] === NL) return false;

    // SADDR, DADDR `%-16s `, SPORT `%-6d `, DPORT `%-6d`, then ` %-8d` NETNS or the end of the line.
    const saddr = this.addressColumn(b, v, a);
    if (scanEnd < 0 || b[a + 16] !== SPACE) return false;
    const daddr = this.addressColumn(b, v, a + 17);
    if (scanEnd < 0 || b[a + 33] !== SPACE) return false;
    const sport = portAt(b, a + 34, a + 40);
    if (sport < 0 || !spacesIn(b, v, scanEnd, a + 41)) return false;
    const dport = portAt(b, a + 41, a + 47);
    if (dport < 0 || !spacesIn(b, v, scanEnd, a + 47)) return false;
    let netns = 0;
    const netnsColumn = end > a + 47;
    if (netnsColumn) {
      if (b[a + 47] !== SPACE) return false;
      p = a + 48;
      const limit = Math.min(end, p + 10);
      let value = 0;
      while (p < limit) {
        c = b[p]!;
        if (c < ZERO || c > NINE) break;
        value = value * 10 + (c - ZERO);
        p++;
      }
      if (p === a + 48 || value > MAX_U32 || !spacesIn(b, v, p, end)) return false;
      netns = value | 0;
    }

    if (hasTime) {
      let time =
        fractionDigits < 0 ? whole / 1e9 : (whole * POW10[fractionDigits]! + fraction) / POW10[fractionDigits]!;
      if (negative) time = -time;
      if (time === 0) time = 0; // -0 reads as 0
      if (time < this.firstTime) this.firstTime = time;
      if (time > this.lastTime) this.lastTime = time;
    }
    if (this.mode === undefined) this.mode = { verbose, timestamps: hasTime, netnsColumn };
    const entry = this.count(type, saddr, daddr, sport, dport, netns, pid);
    const commText = this.sampleCommBytes(entry, b, low, ip);
    // Accepts are not remembered (their DPORT is the client's ephemeral port: the bytes never recur), nor are lines
    // off the usual widths. Two ways per set: a new template takes a free way, else the second.
    const k1 = a + 34 - typeStart;
    const k2 = end - a - 39;
    if (type === ACCEPT || k1 > TEMPLATE_K1_MAX || k2 > TEMPLATE_K2_MAX) return true;
    if (this.templates.saved > this.templates.mask && this.templates.mask < TEMPLATE_SLOTS - 1) {
      this.templates = new LineTemplates(TEMPLATE_SLOTS);
    }
    const t = this.templates;
    const first = templateHash(v, typeStart, pidStart, a, end) & t.mask;
    const slot = t.k1[first] === 0 ? first : first ^ 1;
    t.save(v, slot, typeStart, k1, a + 39, k2);
    t.verbose[slot] = verbose ? 1 : 0;
    t.tag[slot] = type;
    t.saddr[slot] = saddr;
    t.daddr[slot] = daddr;
    t.dport[slot] = dport;
    t.netns[slot] = netns;
    t.pid[slot] = pid;
    t.comm[slot] = commText;
    // A close's aggregate is the template's unless SPORT may be a listener's (then countTemplate looks it up).
    t.entry[slot] = type !== CLOSE || this.listenerPorts[sport] === 0 ? entry : undefined;
    return true;
  }

  /**
   * A `%-16s` IPv4 column at `a` (address, then spaces), as int32; scanEnd -1 when it is not one. A capture has few
   * distinct addresses, so the 16 bytes are looked up (four reads) in a direct-mapped cache of columns already
   * validated: parsing octets of varying length costs a branch misprediction per octet.
   */
  private addressColumn(b: Buffer, v: DataView, a: number): number {
    const w0 = v.getInt32(a);
    const w1 = v.getInt32(a + 4);
    const w2 = v.getInt32(a + 8);
    const w3 = v.getInt32(a + 12);
    let h =
      Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f);
    h = (h ^ (h >>> 15) ^ (h >>> 27)) & (ADDRESS_CACHE_SLOTS - 1);
    const words = this.columnWords;
    const i = h * 4;
    if (
      this.columnFilled[h] === 1 &&
      words[i] === w0 &&
      words[i + 1] === w1 &&
      words[i + 2] === w2 &&
      words[i + 3] === w3
    ) {
      scanEnd = 0;
      return this.columnValues[h]!;
    }
    const value = ipv4At(b, a, a + 16);
    if (scanEnd < 0 || !spacesIn(b, v, scanEnd, a + 16)) {
      scanEnd = -1;
      return 0;
    }
    words[i] = w0;
    words[i + 1] = w1;
    words[i + 2] = w2;
    words[i + 3] = w3;
    this.columnValues[h] = value;
    this.columnFilled[h] = 1;
    return value;
  }

  /**
   * Fast path for lines off the columns (reformatted, trailing spaces stripped, IPv4-mapped IPv6): tokens found from
   * both ends byte by byte, as `parseEventLine` finds them in strings. Returns false, having counted nothing, for
   * anything else (IPv6 proper, redaction, damage); the careful path then decides.
   */
  private tokenLine(b: Buffer, s: number, e: number): boolean {
    let end = e;
    if (end > s && b[end - 1] === CR) end--;
    while (end > s && b[end - 1] === SPACE) end--;
    if (end - s < 24) return false; // blank, or too short for an event
    let p = s;
    let c = b[p]!;

    // [TIME]
    let hasTime = false;
    let negative = false;
    let whole = 0;
    let fraction = 0;
    let fractionDigits = -1;
    if (c === MINUS || (c >= ZERO && c <= NINE)) {
      hasTime = true;
      if (c === MINUS) {
        negative = true;
        p++;
      }
      // Up to 15 digits in two int32 parts (doubles would be boxed, one per digit, before the code is optimized).
      const first = p;
      let high = 0;
      let low = 0;
      let lowDigits = 0;
      while (p < end) {
        c = b[p]!;
        if (c < ZERO || c > NINE) break;
        if (lowDigits === 9) {
          high = low;
          low = 0;
          lowDigits = 0;
        }
        low = low * 10 + (c - ZERO);
        lowDigits++;
        p++;
      }
      let digits = p - first;
      if (digits === 0) return false;
      whole = digits > 9 ? high * POW10[lowDigits]! + low : low;
      if (c === DOT) {
        const dot = ++p;
        while (p < end) {
          c = b[p]!;
          if (c < ZERO || c > NINE) break;
          fraction = fraction * 10 + (c - ZERO);
          p++;
        }
        fractionDigits = p - dot;
        if (fractionDigits === 0) return false;
        digits += fractionDigits;
      }
      if (digits > 15) return false;
      while (p < end && b[p] === SPACE) p++;
      if (p >= end) return false;
    }

    // TYPE
    let type = verboseWordAt(b, p, end);
    const verbose = type >= 0;
    if (verbose) p += VERBOSE_TYPE_WORDS[type]!.length;
    else {
      if (p + 1 >= end || b[p + 1] !== SPACE) return false;
      type = BRIEF_TYPE_BYTES.indexOf(b[p]!);
      if (type < 0) return false;
      p += 1;
    }
    if (hasTime && verbose !== fractionDigits < 0) return false;

    // PID
    while (p < end && b[p] === SPACE) p++;
    const pidStart = p;
    let pid = 0;
    while (p < end) {
      c = b[p]!;
      if (c < ZERO || c > NINE) break;
      pid = pid * 10 + (c - ZERO);
      p++;
    }
    const low = p;
    if (low === pidStart || low - pidStart > 10 || pid > MAX_U32 || low >= end || b[low] !== SPACE) return false;

    // From the right: [NETNS] DPORT SPORT DADDR SADDR IP.
    let k = end;
    const last = digitsBefore(b, k, low);
    if (tokenStart < 0) return false;
    k = tokenStart;
    while (k > low && b[k - 1] === SPACE) k--;
    const second = digitsBefore(b, k, low);
    if (tokenStart < 0) return false;
    k = tokenStart;
    while (k > low && b[k - 1] === SPACE) k--;
    let netns = 0;
    let dport = last;
    let sport = second;
    const third = digitsBefore(b, k, low);
    const netnsColumn = tokenStart >= 0;
    if (netnsColumn) {
      netns = last;
      dport = second;
      sport = third;
      k = tokenStart;
      while (k > low && b[k - 1] === SPACE) k--;
    }
    // Ports are below 2^31, so a negative int32 here was a 10-digit value.
    if (dport < 0 || dport > MAX_PORT || sport < 0 || sport > MAX_PORT) return false;
    const daddr = addressBefore(b, k, low);
    const mapped = tokenMapped;
    if (tokenStart < 0) return false;
    k = tokenStart;
    while (k > low && b[k - 1] === SPACE) k--;
    const saddr = addressBefore(b, k, low);
    if (tokenStart < 0 || tokenMapped !== mapped) return false;
    k = tokenStart;
    while (k > low && b[k - 1] === SPACE) k--;
    // IP: a lone 4 (or 6 for IPv4-mapped addresses) with a space before it.
    if (k - 1 <= low || b[k - 1] !== (mapped ? SIX : FOUR) || b[k - 2] !== SPACE) return false;

    if (hasTime) {
      let time =
        fractionDigits < 0 ? whole / 1e9 : (whole * POW10[fractionDigits]! + fraction) / POW10[fractionDigits]!;
      if (negative) time = -time;
      if (time === 0) time = 0;
      if (time < this.firstTime) this.firstTime = time;
      if (time > this.lastTime) this.lastTime = time;
    }
    if (this.mode === undefined) this.mode = { verbose, timestamps: hasTime, netnsColumn };
    const entry = this.count(type, saddr, daddr, sport, dport, netns, pid);
    if (entry.comms.length < MAX_TRACE_SAMPLES) this.sampleCommBytes(entry, b, low, k - 1, false);
    return true;
  }

  /** Counts one event (tag: type and interned-address bits); returns its aggregate for the caller to sample COMM. */
  private count(
    tag: number,
    saddr: number,
    daddr: number,
    sport: number,
    dport: number,
    netns: number,
    pid: number,
  ): Aggregate {
    this.events++;
    const type = tag & 3;
    let port = dport;
    if (type === ACCEPT) {
      if (!this.isListener(saddr, tag & SADDR_INTERNED, netns, sport))
        this.addListener(saddr, tag & SADDR_INTERNED, netns, sport);
      port = sport;
    } else if (
      type === CLOSE &&
      this.listenerPorts[sport] === 1 &&
      this.isListener(saddr, tag & SADDR_INTERNED, netns, sport)
    )
      port = sport;
    const entry = this.find(tag, saddr, daddr, port, netns);
    entry.count++;
    const pids = entry.pids;
    if (pids.length < MAX_TRACE_SAMPLES) {
      let i = 0;
      while (i < pids.length && pids[i] !== pid) i++;
      if (i === pids.length) pids.push(pid);
    }
    return entry;
  }

  private isListener(saddr: number, interned: number, netns: number, port: number): boolean {
    const endpoints = this.listeners.get(port);
    if (endpoints === undefined) return false;
    for (let i = 0; i < endpoints.length; i += 3) {
      if (endpoints[i] === saddr && endpoints[i + 1] === interned && endpoints[i + 2] === netns) return true;
    }
    return false;
  }

  private addListener(saddr: number, interned: number, netns: number, port: number): void {
    const endpoints = this.listeners.get(port);
    if (endpoints === undefined) this.listeners.set(port, [saddr, interned, netns]);
    else endpoints.push(saddr, interned, netns);
    this.listenerPorts[port] = 1;
  }

  /**
   * Samples COMM, found between PID (ending at `low`) and the IP field (at `ip`), padding trimmed, comparing bytes
   * rather than decoding them; returns the text only when asked to (`decode`), else ''.
   */
  private sampleCommBytes(entry: Aggregate, b: Buffer, low: number, ip: number, decode = true): string {
    let end = ip;
    while (end > low && b[end - 1] === SPACE) end--;
    let start = low;
    while (start < end && b[start] === SPACE) start++;
    if (entry.comms.length >= MAX_TRACE_SAMPLES) return decode ? b.toString('utf8', start, end) : '';
    const length = end - start;
    for (let i = start; i < end; i++) {
      if (b[i]! >= 0x80) {
        const text = b.toString('utf8', start, end);
        this.sampleComm(entry, text);
        return text;
      }
    }
    for (let k = 0; k < entry.commBytes.length; k++) {
      const known = entry.commBytes[k]!;
      if (known.length !== length) continue;
      let i = 0;
      while (i < length && known[i] === b[start + i]) i++;
      if (i === length) return decode ? entry.comms[k]! : '';
    }
    const text = b.toString('latin1', start, end);
    entry.comms.push(text);
    entry.commBytes.push(Buffer.from(b.subarray(start, end)));
    return text;
  }

  private sampleComm(entry: Aggregate, comm: string): void {
    if (entry.comms.length >= MAX_TRACE_SAMPLES || entry.comms.includes(comm)) return;
    entry.comms.push(comm);
    entry.commBytes.push(Buffer.from(comm, 'utf8'));
  }

  private noteTime(time: number): void {
    if (time < this.firstTime) this.firstTime = time;
    if (time > this.lastTime) this.lastTime = time;
  }

  private slowLine(line: string, final: boolean): void {
    const parsed = parseEventLine(line);
    if (parsed) {
      if (final && !isWholeFinalLine(line, parsed.event)) skipLine(this.stats, line);
      else this.record(parsed);
      return;
    }
    const kind = classifyOtherLine(line);
    if (kind === 'blank') this.blankLines++;
    else if (kind === 'banner') this.banners++;
    else if (kind === 'header') {
      this.headers++;
      if (this.mode === undefined) this.mode = parseTcptracerHeader(line);
    } else if (kind === 'lost') {
      this.lostLines++;
      this.lostSamples += parseLostSamples(line) ?? 0;
    } else skipLine(this.stats, line);
  }

  private record({ event, mode }: ParsedEventLine): void {
    if (event.time !== undefined) this.noteTime(event.time);
    if (this.mode === undefined) this.mode = mode;
    let tag = TYPE_INDEX.get(event.type) ?? UNKNOWN;
    const saddrId = this.addressId(event.saddr);
    const daddrId = this.addressId(event.daddr);
    if (saddrId >= INTERNED_ID) tag |= SADDR_INTERNED;
    if (daddrId >= INTERNED_ID) tag |= DADDR_INTERNED;
    const netns = (event.netns ?? 0) | 0;
    const entry = this.count(
      tag,
      (saddrId % INTERNED_ID) | 0,
      (daddrId % INTERNED_ID) | 0,
      event.sport,
      event.dport,
      netns,
      event.pid,
    );
    if (entry.comms.length < MAX_TRACE_SAMPLES) this.sampleComm(entry, event.comm);
  }

  private addressId(address: string): number {
    let id = this.addressIds.get(address);
    if (id === undefined) {
      id = IPV4.test(address) ? ipv4Value(address) : INTERNED_ID + this.addressNames.push(address) - 1;
      this.addressIds.set(address, id);
    }
    return id;
  }

  private addressName(value: number, interned: boolean): string {
    return interned ? (this.addressNames[value] ?? '') : dottedQuad(value >>> 0);
  }

  private find(tag: number, saddr: number, daddr: number, dport: number, netns: number): Aggregate {
    const entries = this.entries;
    let slot = hashKey(tag, saddr, daddr, dport, netns) & this.mask;
    for (;;) {
      const index = this.slots[slot]!;
      if (index < 0) break;
      const entry = entries[index]!;
      if (
        entry.saddr === saddr &&
        entry.daddr === daddr &&
        entry.dport === dport &&
        entry.netns === netns &&
        entry.tag === tag
      )
        return entry;
      slot = (slot + 1) & this.mask;
    }
    const entry = new Aggregate(tag, saddr, daddr, dport, netns);
    this.slots[slot] = entries.length;
    entries.push(entry);
    if (entries.length * 2 > this.slots.length) this.grow();
    return entry;
  }

  private grow(): void {
    const size = this.slots.length * 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let index = 0; index < this.entries.length; index++) {
      const entry = this.entries[index]!;
      let slot = hashKey(entry.tag, entry.saddr, entry.daddr, entry.dport, entry.netns) & this.mask;
      while (this.slots[slot]! >= 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = index;
    }
  }

  private summary(): TcptracerSummary {
    const aggregates: TraceAggregate[] = this.entries.map((entry) => ({
      type: TYPE_NAMES[entry.tag & 3] ?? 'unknown',
      saddr: this.addressName(entry.saddr, (entry.tag & SADDR_INTERNED) !== 0),
      daddr: this.addressName(entry.daddr, (entry.tag & DADDR_INTERNED) !== 0),
      dport: entry.dport,
      netns: entry.netns >>> 0,
      count: entry.count,
      pids: [...entry.pids],
      comms: [...entry.comms],
    }));
    aggregates.sort(compareTraceAggregates);
    const summary: TcptracerSummary = {
      lines: this.stats.lines,
      skipped: this.stats.skipped,
      skippedSamples: [...this.stats.skippedSamples],
      events: this.events,
      bySource: countBySource(aggregates),
      aggregates,
      lostSamples: this.lostSamples,
      banners: this.banners,
      headers: this.headers,
      blankLines: this.blankLines,
      lostLines: this.lostLines,
    };
    if (this.mode) summary.mode = { ...this.mode };
    if (this.firstTime <= this.lastTime) {
      summary.firstTime = this.firstTime;
      summary.lastTime = this.lastTime;
    }
    return summary;
  }
}

const STRING_SLICE = 1 << 20;

/** Aggregates tcptracer output given whole or as a stream of chunks (any chunking). */
export async function summarizeTcptracer(input: AsyncIterable<Buffer | string> | string): Promise<TcptracerSummary> {
  const aggregator = new TcptracerAggregator();
  if (typeof input === 'string') {
    // In slices, so that the UTF-8 copy stays small however big the text.
    for (let i = 0; i < input.length; i += STRING_SLICE) aggregator.push(input.slice(i, i + STRING_SLICE));
  } else for await (const chunk of input) aggregator.push(chunk);
  return aggregator.end();
}

const READ_CHUNK_BYTES = 2 << 20;

/**
 * Aggregates a tcptracer capture file, streaming it through two reused 2 MiB buffers (the next read runs while the
 * current chunk is parsed): memory does not grow with the file, only with the number of distinct aggregates.
 */
export async function summarizeTcptracerFile(path: string): Promise<TcptracerSummary> {
  const aggregator = new TcptracerAggregator();
  const file = await open(path, 'r');
  let filling = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let spare = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let reading = file.read(filling, 0, READ_CHUNK_BYTES, null);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const chunk = filling.subarray(0, bytesRead);
      [filling, spare] = [spare, filling];
      // Reads without a position continue where the last one ended; only one is ever in flight.
      reading = file.read(filling, 0, READ_CHUNK_BYTES, null);
      aggregator.push(chunk);
    }
  } finally {
    await reading.catch(() => undefined);
    await file.close();
  }
  return aggregator.end();
}
