// AssemblyScript, compiled to WebAssembly by tools/build.mjs (not TypeScript: tsc and biome skip the .as extension).
// The fast path of lib/evidence/tcptracer.ts's reader for files, lib/evidence/tcptracerWasm.ts its JS side: it reads
// the lines tcptracer prints AND counts them, in its own linear memory, so that a 1,000,000-line capture crosses into
// JavaScript only for the lines it refuses.
//
// A line is read by the printf formats of iovisor/bcc tools/tcptracer.py, print_ipv4_event (and print_ipv6_event for
// IPv4-mapped addresses, `[::ffff:a.b.c.d]`), as `-t -v`, `-v` and `-t -v -N` print them:
//
//   `%-14d` TIME (ns since the first event, -t; no space after it: glued to TYPE when it fills its column),
//   `%-12s ` TYPE, `%-6d ` PID, `%-16s ` COMM, `%-2d ` IP, `%-16s ` SADDR, `%-16s ` DADDR, `%-6d ` SPORT, `%-6d` DPORT,
//   then ` %-8d` NETNS unless -N.
//
// A `%-Nx` field is its value, then spaces up to N characters (none when the value is longer). Every byte of a line
// is checked on the way; COMM, which may hold spaces, is the 16 bytes of its column. The reader takes a subset of what
// lib/evidence/tcptracer.ts's careful parser (parseEventLine) reads, and reads it the same way: it refuses one-letter
// types and times in seconds (no -v), `unknown`, IPv6, redacted times (`3xxx9`), times of 16 digits or more, ports
// of 6 digits or more (`065535`), `[::FFFF:` in capitals, and anything damaged.
//
// Each taken line is counted as TcptracerAggregator counts it: per source (saddr, netns, interned), exact counts by
// type and the first SAMPLES distinct pids; connects per (daddr, dport, source) in the same batched Misra–Gries
// summary (at most 4 x keep rows; when full, every count less the (keep + 1)-th biggest, and the rows left at 0
// dropped); at most MAX_SOURCES sources. COMM samples are distinct decoded strings, so they need JS: a COMM column
// new to a source that has fewer than SAMPLES comms is handed over as a candidate (source, offset), and JS sets the
// source's `full` flag once it holds SAMPLES.
//
// Any other line stops the scan (status 1) with its range [refusedStart, refusedEnd): JS's careful parser reads it
// and, when it is an event, counts it here through countEvent, so that events are counted in input order (the
// Misra–Gries summary and the MAX_SOURCES cut depend on it). A line is taken only when its newline lies before `end`;
// the host keeps 256 zero bytes after `end`, and a zero byte fails every check (it is neither a digit, a space nor a
// newline), so the reader needs no bounds checks (it reads less than 64 bytes past the first byte it refuses).
//
// Keep the constants equal to lib/evidence/tcptracer.ts's (MAX_SOURCES, MAX_TRACE_SAMPLES): tcptracerWasm.ts checks
// them when it loads the module.

const SPACE: u32 = 32;
const NL: u32 = 10;
const CR: u32 = 13;
const ZERO: u32 = 48;
const MINUS: u32 = 45;
const DOT: u32 = 46;
const FOUR: u32 = 52;
const SIX: u32 = 54;
const CLOSE_BRACKET: u32 = 93;

const CONNECT_W: u64 = 0x207463656e6e6f63; // "connect "
const ACCEPT_W: u64 = 0x2020747065636361; // "accept  "
const CLOSE_W: u64 = 0x20202065736f6c63; // "close   "
const MAPPED_W: u64 = 0x3a666666663a3a5b; // "[::ffff:"
const SPACES_4: u32 = 0x20202020;

const HAS_TIME: u32 = 1;
const HAS_NETNS: u32 = 2;
const NO_FLAGS: u32 = 0xffff;

// lib/evidence/tcptracer.ts's MAX_SOURCES and MAX_TRACE_SAMPLES.
const MAX_SOURCES: u32 = 10000;
const SAMPLES: u32 = 3;

// ---- Layout (bytes). Everything below LAYOUT_END is this module's; the host puts its data after it. The hash tables
// grow by doubling into the other of two regions, so that only what is used gets touched (a fresh page costs a few
// µs to fault in: touching memory is not free).
const SRC_CELLS: u32 = 32768; // at most; [saddr, netns, interned, index + 1]
const FIRST_SRC_CELLS: u32 = 256;
const SRC_HASH_A: u32 = 65536;
const SRC_HASH_B: u32 = SRC_HASH_A + SRC_CELLS * 16;
const SRC_DATA: u32 = SRC_HASH_B + SRC_CELLS * 16;
// Per source: 0 saddr, 4 netns, 8 interned, 12..27 counts[4], 28 npids, 32..43 pids[3], 44 full, 48 ncols,
// 64..191 COMM columns seen [8][16].
const SRC_STRIDE: u32 = 192;
const MAX_COLS: u32 = 8;
const ROW_CELLS: u32 = 32768; // at most; [daddr, port | interned << 16, source, count]; 4 x keep <= ROW_CELLS / 2
const FIRST_ROW_CELLS: u32 = 1024;
const ROWS_A: u32 = SRC_DATA + MAX_SOURCES * SRC_STRIDE;
const ROWS_B: u32 = ROWS_A + ROW_CELLS * 16;
const HISTOGRAM_COUNTS: u32 = 256;
const HIST: u32 = ROWS_B + ROW_CELLS * 16;
const BIG: u32 = HIST + HISTOGRAM_COUNTS * 4;
const CAND_CAP: u32 = 4096; // [source, comm offset]
const CAND: u32 = BIG + ROW_CELLS * 4;
// The source address cache: SADDR columns (a node has a few hundred sources) → their value. DADDR is parsed every
// time (ipv4Plain): a cache of 16,384 slots for both columns read the 1,000,000-event bench shapes in 73.5, 95.9 and
// 119.3 ms (5 and 5,000 destinations, every event its own flow; medians of 7, in-process), parsing DADDR in 77.1,
// 94.5 and 88.9 ms: to thousands of destinations each miss was a slot fetched from memory as well as a parse.
const ADDR_SLOTS: u32 = 1024; // [w0, w1, value, filled, -]
const ADDR_SHIFT: u64 = 54; // 64 - log2(ADDR_SLOTS)
const ADDR: u32 = CAND + CAND_CAP * 8;
const LAYOUT_END: u32 = ADDR + ADDR_SLOTS * 32;
const POW10: u32 = 1024; // u64 10^0 .. 10^8

// ---- State.
let keep: u32 = 4096;
let countRows: bool = true;
let rows: u32 = ROWS_A;
let rowCap: u32 = FIRST_ROW_CELLS;
let rowSize: u32 = 0;
let srcHash: u32 = SRC_HASH_A;
let srcCap: u32 = FIRST_SRC_CELLS;
let undercount: u32 = 0;
let nSources: u32 = 0;
let events: u32 = 0;
let unsourced: u32 = 0;
let taken: u32 = 0;
let candN: u32 = 0;
let firstFlags: u32 = NO_FLAGS;
let nextPos: u32 = 0;
let refStart: u32 = 0;
let refEnd: u32 = 0;
let minTime: i64 = i64.MAX_VALUE;
let maxTime: i64 = i64.MIN_VALUE;
let timed: u32 = 0;

export function layoutEnd(): u32 {
  return LAYOUT_END;
}
export function maxSources(): u32 {
  return MAX_SOURCES;
}
export function samplesKept(): u32 {
  return SAMPLES;
}
export function sourcesAt(): u32 {
  return SRC_DATA;
}
export function sourceStride(): u32 {
  return SRC_STRIDE;
}
export function rowsAt(): u32 {
  return rows;
}
export function rowCells(): u32 {
  return rowCap;
}
export function maxRowCells(): u32 {
  return ROW_CELLS;
}
export function candidatesAt(): u32 {
  return CAND;
}
export function candidates(): u32 {
  return candN;
}
export function clearCandidates(): void {
  candN = 0;
}
export function sourceCount(): u32 {
  return nSources;
}
export function eventCount(): u32 {
  return events;
}
export function unsourcedCount(): u32 {
  return unsourced;
}
export function undercountOf(): u32 {
  return undercount;
}
export function takenLines(): u32 {
  return taken;
}
export function flagsOfFirst(): u32 {
  return firstFlags;
}
export function next(): u32 {
  return nextPos;
}
export function refusedStart(): u32 {
  return refStart;
}
export function refusedEnd(): u32 {
  return refEnd;
}
export function timeCount(): u32 {
  return timed;
}
export function timeMin(): i64 {
  return minTime;
}
export function timeMax(): i64 {
  return maxTime;
}

/**
 * Starts over, keeping at least `rowsHeld` rows (ROWS_HELD; at most ROW_CELLS / 8), or no rows at all without
 * `destinations` (the sources' counts only). `fresh`: the memory is new (all zeros), so nothing needs clearing (and no
 * page gets touched for it). Else the tables start again in their first regions at their first sizes, which are
 * cleared here; a table grows or is rebuilt into a region it clears first.
 */
export function init(rowsHeld: u32, fresh: bool, destinations: bool): void {
  keep = rowsHeld;
  countRows = destinations;
  if (!fresh) {
    memory.fill(SRC_HASH_A, 0, FIRST_SRC_CELLS * 16);
    memory.fill(ROWS_A, 0, FIRST_ROW_CELLS * 16);
    memory.fill(ADDR, 0, ADDR_SLOTS * 32);
  }
  rows = ROWS_A;
  rowCap = FIRST_ROW_CELLS;
  rowSize = 0;
  srcHash = SRC_HASH_A;
  srcCap = FIRST_SRC_CELLS;
  undercount = 0;
  nSources = 0;
  events = 0;
  unsourced = 0;
  taken = 0;
  candN = 0;
  firstFlags = NO_FLAGS;
  nextPos = 0;
  minTime = i64.MAX_VALUE;
  maxTime = i64.MIN_VALUE;
  timed = 0;
  let v: u64 = 1;
  for (let k: u32 = 0; k <= 8; k++, v *= 10) store<u64>(POW10 + (k << 3), v);
}

// ---- Helpers.
// @ts-ignore: decorator
@inline function at(p: u32): u32 {
  return <u32>load<u8>(p);
}

// @ts-ignore: decorator
@inline function isDigit(c: u32): bool {
  return c - ZERO < 10;
}

// @ts-ignore: decorator
@inline function padded(p: u32, column: u32): i32 {
  while (p < column && at(p) == SPACE) p++;
  return p < column ? -1 : <i32>p;
}

// @ts-ignore: decorator
@inline function newlineMask(w: u64): u64 {
  const x = w ^ 0x0a0a0a0a0a0a0a0a;
  return (x - 0x0101010101010101) & ~x & 0x8080808080808080;
}

// @ts-ignore: decorator
@inline function hash3(a: u32, b: u32, c: u32): u32 {
  let h = (a * 0x9e3779b1) ^ (b * 0x85ebca6b) ^ (c * 0xc2b2ae35);
  h = (h ^ (h >>> 15)) * 0x2c1b3c6d;
  return h ^ (h >>> 13);
}

/** A strict dotted quad (no leading zeros) filling [from, to); -1 otherwise. (For `[::ffff:a.b.c.d]`.) */
function ipv4Range(from: u32, to: u32): i64 {
  let value: u32 = 0;
  let p = from;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (p >= to || at(p) != DOT) return -1;
      p++;
    }
    const first = p;
    let n: u32 = 0;
    let c: u32;
    while (p < to && p - first < 3 && isDigit((c = at(p)))) {
      n = n * 10 + (c - ZERO);
      p++;
    }
    if (p == first || n > 255 || (p - first > 1 && at(first) == ZERO)) return -1;
    value = (value << 8) | n;
  }
  return p == to ? <i64>value : -1;
}

/** The dotted quad (no leading zeros) at a, then spaces to a + 16; -1 otherwise. One pass, no bounds checks: the
 * bytes read are within the column's 16 and the one after it. */
function ipv4Plain(a: u32): i64 {
  let p = a;
  let value: u32 = 0;
  for (let octet = 0; octet < 4; octet++) {
    let c = at(p);
    if (!isDigit(c)) return -1;
    let n = c - ZERO;
    c = at(++p);
    if (isDigit(c)) {
      if (n == 0) return -1;
      n = n * 10 + (c - ZERO);
      c = at(++p);
      if (isDigit(c)) {
        n = n * 10 + (c - ZERO);
        if (n > 255) return -1;
        c = at(++p);
      }
    }
    value = (value << 8) | n;
    if (octet < 3) {
      if (c != DOT) return -1;
      p++;
    }
  }
  return spacesTo(p, a + 16) ? <i64>value : -1;
}

/** ipv4Plain through a direct-mapped cache, for SADDR. */
function ipv4Column(a: u32): i64 {
  const w0 = load<u64>(a);
  const w1 = load<u64>(a + 8);
  const e = ADDR + (<u32>(((w0 * 0x9e3779b97f4a7c15) ^ (w1 * 0xc2b2ae3d27d4eb4f)) >> ADDR_SHIFT)) * 32;
  if (load<u32>(e + 20) != 0 && load<u64>(e) == w0 && load<u64>(e + 8) == w1) return <i64>load<u32>(e + 16);
  const value = ipv4Plain(a);
  if (value < 0) return -1;
  store<u64>(e, w0);
  store<u64>(e + 8, w1);
  store<u32>(e + 16, <u32>value);
  store<u32>(e + 20, 1);
  return value;
}

/** The end (a space) of a `[::ffff:a.b.c.d]` token at p, at least 16 wide; -1 otherwise. */
function mappedEnd(p: u32): i32 {
  let k = p;
  let c: u32;
  while ((c = at(k)) != SPACE && c != NL && c != 0 && k - p < 48) k++;
  if (c != SPACE || k - p < 16 || at(k - 1) != CLOSE_BRACKET || load<u64>(p) != MAPPED_W) return -1;
  return <i32>k;
}

// ---- Aggregation.

/** The index of source (saddr, netns, interned), made when new; -1 when new and MAX_SOURCES are known. */
function sourceAt(saddr: u32, netns: u32, interned: u32): i32 {
  const mask = srcCap - 1;
  let i = hash3(saddr, netns, interned) & mask;
  while (true) {
    const cell = srcHash + (i << 4);
    const v = load<u32>(cell + 12);
    if (v == 0) {
      if (nSources == MAX_SOURCES) return -1;
      const index = nSources++;
      store<u32>(cell, saddr);
      store<u32>(cell + 4, netns);
      store<u32>(cell + 8, interned);
      store<u32>(cell + 12, index + 1);
      const d = SRC_DATA + index * SRC_STRIDE;
      memory.fill(d, 0, SRC_STRIDE);
      store<u32>(d, saddr);
      store<u32>(d + 4, netns);
      store<u32>(d + 8, interned);
      if (nSources * 2 > srcCap) growSources();
      return <i32>index;
    }
    if (load<u32>(cell) == saddr && load<u32>(cell + 4) == netns && load<u32>(cell + 8) == interned) return <i32>(v - 1);
    i = (i + 1) & mask;
  }
}

function growSources(): void {
  const from = srcHash;
  const to = from == SRC_HASH_A ? SRC_HASH_B : SRC_HASH_A;
  const cap = srcCap * 2;
  memory.fill(to, 0, cap * 16);
  for (let cell = from; cell < from + srcCap * 16; cell += 16) {
    const v = load<u32>(cell + 12);
    if (v == 0) continue;
    const a = load<u32>(cell);
    const b = load<u32>(cell + 4);
    const c = load<u32>(cell + 8);
    let i = hash3(a, b, c) & (cap - 1);
    while (load<u32>(to + (i << 4) + 12) != 0) i = (i + 1) & (cap - 1);
    const free = to + (i << 4);
    store<u32>(free, a);
    store<u32>(free + 4, b);
    store<u32>(free + 8, c);
    store<u32>(free + 12, v);
  }
  srcHash = to;
  srcCap = cap;
}

// @ts-ignore: decorator
@inline function samplePid(d: u32, pid: u32): void {
  const n = load<u32>(d + 28);
  if (n >= SAMPLES) return;
  for (let k: u32 = 0; k < n; k++) if (load<u32>(d + 32 + k * 4) == pid) return;
  store<u32>(d + 32 + n * 4, pid);
  store<u32>(d + 28, n + 1);
}

/** Hands a COMM column new to the source to JS (which decodes it), unless the source has its 3 comms. */
function sampleComm(index: u32, d: u32, comm: u32): void {
  if (load<u32>(d + 44) != 0) return;
  const w0 = load<u64>(comm);
  const w1 = load<u64>(comm + 8);
  const n = load<u32>(d + 48);
  for (let k: u32 = 0; k < n; k++) {
    const c = d + 64 + (k << 4);
    if (load<u64>(c) == w0 && load<u64>(c + 8) == w1) return;
  }
  if (n < MAX_COLS) {
    const c = d + 64 + (n << 4);
    store<u64>(c, w0);
    store<u64>(c + 8, w1);
    store<u32>(d + 48, n + 1);
  }
  const e = CAND + (candN++ << 3);
  store<u32>(e, index);
  store<u32>(e + 4, comm);
}

/** The row cell of the key in the table at `table` (`cap` cells): where it is, or the free cell where it goes. */
// @ts-ignore: decorator
@inline function rowCell(table: u32, cap: u32, a: u32, b: u32, c: u32): u32 {
  const mask = cap - 1;
  let i = hash3(a, b, c) & mask;
  while (true) {
    const cell = table + (i << 4);
    if (load<u32>(cell + 12) == 0 || (load<u32>(cell) == a && load<u32>(cell + 4) == b && load<u32>(cell + 8) == c))
      return cell;
    i = (i + 1) & mask;
  }
}

/** The (keep + 1)-th biggest count. */
function keptAbove(): u32 {
  memory.fill(HIST, 0, HISTOGRAM_COUNTS * 4);
  let big: u32 = 0;
  let max: u32 = 0;
  for (let cell = rows; cell < rows + rowCap * 16; cell += 16) {
    const count = load<u32>(cell + 12);
    if (count >= HISTOGRAM_COUNTS) {
      store<u32>(BIG + (big++ << 2), count);
      if (count > max) max = count;
    } else {
      const h = HIST + (count << 2);
      store<u32>(h, load<u32>(h) + 1);
    }
  }
  if (big > keep) {
    // The largest x with more than `keep` counts >= x.
    let lo = HISTOGRAM_COUNTS;
    let hi = max;
    while (lo < hi) {
      const mid = lo + ((hi - lo + 1) >> 1);
      let n: u32 = 0;
      for (let k: u32 = 0; k < big; k++) if (load<u32>(BIG + (k << 2)) >= mid) n++;
      if (n > keep) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  let atLeast = big;
  for (let count = HISTOGRAM_COUNTS - 1; count > 0; count--) {
    atLeast += load<u32>(HIST + (count << 2));
    if (atLeast > keep) return count;
  }
  return 0;
}

/** Rebuilds the rows into the other region with `cap` cells, keeping those above `less`, less `less`. */
function rebuildRows(cap: u32, less: u32): void {
  const from = rows;
  const to = rows == ROWS_A ? ROWS_B : ROWS_A;
  memory.fill(to, 0, cap * 16);
  let size: u32 = 0;
  for (let cell = from; cell < from + rowCap * 16; cell += 16) {
    const count = load<u32>(cell + 12);
    if (count <= less) continue; // free cells (0) too
    const a = load<u32>(cell);
    const b = load<u32>(cell + 4);
    const c = load<u32>(cell + 8);
    const free = rowCell(to, cap, a, b, c);
    store<u32>(free, a);
    store<u32>(free + 4, b);
    store<u32>(free + 8, c);
    store<u32>(free + 12, count - less);
    size++;
  }
  rows = to;
  rowCap = cap;
  rowSize = size;
}

function prune(): void {
  const m = keptAbove();
  rebuildRows(rowCap, m);
  undercount += m;
}

// @ts-ignore: decorator
@inline function countRow(daddr: u32, port: u32, source: u32): void {
  let cell = rowCell(rows, rowCap, daddr, port, source);
  const v = load<u32>(cell + 12);
  if (v != 0) {
    store<u32>(cell + 12, v + 1);
    return;
  }
  if (rowSize == 4 * keep) {
    prune();
    cell = rowCell(rows, rowCap, daddr, port, source);
  }
  store<u32>(cell, daddr);
  store<u32>(cell + 4, port);
  store<u32>(cell + 8, source);
  store<u32>(cell + 12, 1);
  if (++rowSize * 2 > rowCap) rebuildRows(rowCap * 2, 0);
}

/** Counts one event; the source's index, or -1 past MAX_SOURCES. (type 3: unknown.) */
// @ts-ignore: decorator
@inline function count(type: u32, saddr: u32, daddr: u32, port: u32, netns: u32, interned: u32, pid: u32): i32 {
  events++;
  const index = sourceAt(saddr, netns, interned);
  if (index < 0) {
    unsourced++;
    return -1;
  }
  const d = SRC_DATA + <u32>index * SRC_STRIDE;
  const c = d + 12 + (type << 2);
  store<u32>(c, load<u32>(c) + 1);
  if (type == 0 && countRows) countRow(daddr, port, <u32>index);
  samplePid(d, pid);
  return index;
}

/** An event the careful parser read (JS samples its comm). Returns the source index or -1. */
export function countEvent(
  type: u32,
  saddr: u32,
  saddrInterned: u32,
  daddr: u32,
  daddrInterned: u32,
  dport: u32,
  netns: u32,
  pid: u32,
): i32 {
  return count(type, saddr, daddr, dport | (daddrInterned << 16), netns, saddrInterned, pid);
}

// ---- The reader. Digits are read 8 bytes at a time (SWAR; little-endian: the first byte is the lowest).

/** 0x80 in each byte that is not an ASCII digit. (A carry out of a byte >= 0xFA only disturbs the bytes above it.) */
// @ts-ignore: decorator
@inline function nonDigits(x: u64): u64 {
  const a = (x & 0xf0f0f0f0f0f0f0f0) ^ 0x3030303030303030;
  const b = ((x + 0x0606060606060606) & 0xf0f0f0f0f0f0f0f0) ^ 0x3030303030303030;
  const nd = a | b;
  return (((nd & 0x7f7f7f7f7f7f7f7f) + 0x7f7f7f7f7f7f7f7f) | nd) & 0x8080808080808080;
}

/** How many of the 8 bytes, from the first, are digits (0-8). */
// @ts-ignore: decorator
@inline function digitRun(x: u64): u32 {
  return <u32>ctz(nonDigits(x)) >> 3;
}

/** The value of the first k (1-8) bytes of x, digits. */
// @ts-ignore: decorator
@inline function digitsValue(x: u64, k: u32): u64 {
  let v = (x - 0x3030303030303030) << (<u64>(8 - k) << 3);
  v = (v * 10 + (v >> 8)) & 0x00ff00ff00ff00ff;
  v = (v * 100 + (v >> 16)) & 0x0000ffff0000ffff;
  return (v * 10000 + (v >> 32)) & 0xffffffff;
}

// @ts-ignore: decorator
@inline function pow10(k: u32): u64 {
  return load<u64>(POW10 + (k << 3));
}

/** Whether [p, column) is all spaces (true when p >= column). */
// @ts-ignore: decorator
@inline function spacesTo(p: u32, column: u32): bool {
  if (p >= column) return true;
  const n = column - p;
  if (n >= 8) return padded(p, column) >= 0;
  const mask = (<u64>1 << (<u64>n << 3)) - 1;
  return ((load<u64>(p) ^ 0x2020202020202020) & mask) == 0;
}

/** Reads and counts the line at s; returns the index of its newline, or -1 (refused, nothing counted). */
function takeLine(s: u32): i32 {
  let p = s;
  let flags: u32 = 0;
  let t: i64 = 0;
  let c = at(p);
  if (isDigit(c)) {
    // TIME `%-14d` (ns), up to 15 digits (exact as a double, as parseEventLine requires).
    flags = HAS_TIME;
    const x0 = load<u64>(p);
    const k0 = digitRun(x0);
    if (k0 < 8) {
      t = <i64>digitsValue(x0, k0);
      p += k0;
    } else {
      const x1 = load<u64>(p + 8);
      const k1 = digitRun(x1);
      if (k1 == 8) return -1;
      t = <i64>(digitsValue(x0, 8) * pow10(k1) + (k1 != 0 ? digitsValue(x1, k1) : 0));
      p += 8 + k1;
    }
    if (at(p) == DOT || !spacesTo(p, s + 14)) return -1;
    if (p < s + 14) p = s + 14;
  } else if (c == MINUS) {
    flags = HAS_TIME;
    p++;
    const first = p;
    let v: i64 = 0;
    while (isDigit((c = at(p)))) {
      v = v * 10 + <i64>(c - ZERO);
      p++;
      if (p - first > 15) return -1;
    }
    if (p == first || c == DOT) return -1;
    const q = padded(p, s + 14);
    if (q < 0) return -1;
    p = <u32>q;
    t = -v;
  }

  const w = load<u64>(p);
  let type: u32;
  if (w == CONNECT_W) type = 0;
  else if (w == ACCEPT_W) type = 1;
  else if (w == CLOSE_W) type = 2;
  else return -1;
  if (load<u32>(p + 8) != SPACES_4 || at(p + 12) != SPACE) return -1;
  p += 13;

  // PID `%-6d `: up to 10 digits, <= 2^32 - 1.
  const pidStart = p;
  let pid: u64;
  let x = load<u64>(p);
  let k = digitRun(x);
  if (k == 0) return -1;
  if (k < 8) {
    pid = digitsValue(x, k);
    p += k;
  } else {
    const x1 = load<u64>(p + 8);
    const k1 = digitRun(x1);
    if (k1 > 2) return -1;
    pid = digitsValue(x, 8) * pow10(k1) + (k1 != 0 ? digitsValue(x1, k1) : 0);
    p += 8 + k1;
    if (pid > 0xffffffff) return -1;
  }
  if (!spacesTo(p, pidStart + 6)) return -1;
  if (p < pidStart + 6) p = pidStart + 6;
  if (at(p) != SPACE) return -1;

  // COMM `%-16s ` (any 16 bytes but a newline), IP `%-2d `.
  const comm = p + 1;
  p = comm + 17;
  if (at(p - 1) != SPACE || at(p + 1) != SPACE || at(p + 2) != SPACE) return -1;
  if ((newlineMask(load<u64>(comm)) | newlineMask(load<u64>(comm + 8))) != 0) return -1;
  const ip = at(p);
  p += 3;

  let saddr: i64;
  let daddr: i64;
  if (ip == FOUR) {
    saddr = ipv4Column(p);
    if (saddr < 0 || at(p + 16) != SPACE) return -1;
    daddr = ipv4Plain(p + 17);
    if (daddr < 0 || at(p + 33) != SPACE) return -1;
    p += 34;
  } else if (ip == SIX) {
    // `[::ffff:a.b.c.d]` is wider than its column: one space follows each.
    const se = mappedEnd(p);
    if (se < 0) return -1;
    const de = mappedEnd(<u32>se + 1);
    if (de < 0) return -1;
    saddr = ipv4Range(p + 8, <u32>se - 1);
    daddr = ipv4Range(<u32>se + 9, <u32>de - 1);
    if (saddr < 0 || daddr < 0) return -1;
    p = <u32>de + 1;
  } else return -1;

  // SPORT `%-6d ` (checked, not kept), DPORT `%-6d`: 1-5 digits, <= 65535.
  x = load<u64>(p);
  k = digitRun(x);
  if (k == 0 || k > 5 || digitsValue(x, k) > 65535 || !spacesTo(p + k, p + 6)) return -1;
  p = k < 6 ? p + 6 : p + k;
  if (at(p) != SPACE) return -1;
  p++;
  x = load<u64>(p);
  k = digitRun(x);
  if (k == 0 || k > 5) return -1;
  const port = <u32>digitsValue(x, k);
  if (port > 65535 || !spacesTo(p + k, p + 6)) return -1;
  p += 6;

  // ` %-8d` NETNS (up to 10 digits, <= 2^32 - 1), or the end of the line.
  let netns: u64 = 0;
  if (at(p) == SPACE) {
    flags |= HAS_NETNS;
    p++;
    x = load<u64>(p);
    k = digitRun(x);
    if (k == 0) return -1;
    if (k < 8) {
      netns = digitsValue(x, k);
      p += k;
    } else {
      const x1 = load<u64>(p + 8);
      const k1 = digitRun(x1);
      if (k1 > 2) return -1;
      netns = digitsValue(x, 8) * pow10(k1) + (k1 != 0 ? digitsValue(x1, k1) : 0);
      p += 8 + k1;
      if (netns > 0xffffffff) return -1;
    }
    while (at(p) == SPACE) p++;
  }
  if (at(p) == CR) p++;
  if (at(p) != NL) return -1;

  // Taken: count it.
  taken++;
  if (firstFlags == NO_FLAGS) firstFlags = flags;
  if (flags & HAS_TIME) {
    timed++;
    if (t < minTime) minTime = t;
    if (t > maxTime) maxTime = t;
  }
  const index = count(type, <u32>saddr, <u32>daddr, port, <u32>netns, 0, <u32>pid);
  if (index >= 0) sampleComm(<u32>index, SRC_DATA + <u32>index * SRC_STRIDE, comm);
  return <i32>p;
}

/** The first newline in [p, end), or -1. */
function findNewline(p: u32, end: u32): i32 {
  while (p < end) {
    const m = newlineMask(load<u64>(p));
    if (m != 0) {
      const q = p + <u32>(ctz(m) >> 3);
      return q < end ? <i32>q : -1;
    }
    p += 8;
  }
  return -1;
}

/**
 * Reads and counts lines from pos. Returns 0 when it reached `end` or a line without its newline before `end`
 * (next() is where that line starts); 1 at a line it refuses (refusedStart/End; next() is past its newline);
 * 2 when the COMM candidates are full (next() is the first line not read).
 */
export function scan(pos: u32, end: u32): u32 {
  let s = pos;
  while (s < end) {
    if (candN >= CAND_CAP) {
      nextPos = s;
      return 2;
    }
    const nl = takeLine(s);
    if (nl >= 0) {
      s = <u32>nl + 1;
      continue;
    }
    const e = findNewline(s, end);
    if (e < 0) break;
    refStart = s;
    refEnd = <u32>e;
    nextPos = <u32>e + 1;
    return 1;
  }
  nextPos = s;
  return 0;
}
