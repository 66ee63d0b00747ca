// The WebAssembly reader of tcptracer capture files: wasm/tcptracerReader.as (AssemblyScript, built by tools/build.mjs
// into wasm/tcptracerReader.generated.ts) reads the lines tcptracer prints, by the printf formats of iovisor/bcc
// tools/tcptracer.py (print_ipv4_event, and print_ipv6_event for IPv4-mapped addresses), AND counts them in its own
// memory; this module is its host. A file is read synchronously straight into that memory, 512 KiB at a time; the
// lines the WebAssembly refuses go to TcptracerAggregator's careful path in input order, their events counted back in
// the WebAssembly's tables (the Misra–Gries rows and the MAX_SOURCES cut depend on the order); at the end the tables
// are moved into the aggregator, whose summary() builds the result. So the summary is TcptracerAggregator's, line for
// line: test/evidence/tcptracer.test.ts holds the two equal on generated captures cut anywhere.
//
// Memory (one WebAssembly.Memory per reader, made here; it never grows):
//   [0, layoutEnd)                the module's tables (sources, rows twice, address cache, COMM candidates)
//   [data - MAX_LINE_BYTES, data) the line cut by the previous read, moved to just below the next one
//   [data, data + chunk)          where each read lands
//   [data + n, + 256)             zeros after the n bytes read: the reader needs no bounds checks
//
// Reads of 512 KiB: here a page of fresh memory costs a few µs to fault in, so 8 MiB reads were 30–50 ms slower on a
// 1,000,000-line capture; reads overlapped with the scanning (a second region) gained nothing (issue 13's experiment).
import { closeSync, openSync, readSync } from 'node:fs';
import { skipLine } from './lineStats.ts';
import {
  MAX_LINE_BYTES,
  MAX_SOURCES,
  MAX_TRACE_SAMPLES,
  ROWS_HELD,
  TcptracerAggregator,
  type TcptracerAggregatorOptions,
  type TcptracerEvent,
  type TcptracerSummary,
} from './tcptracer.ts';
import { TCPTRACER_READER_WASM_BASE64 } from './wasm/tcptracerReader.generated.ts';

// The part of the WebAssembly JS API used here: TypeScript declares it in its DOM lib, which this project leaves out.
declare global {
  namespace WebAssembly {
    class Module {
      constructor(bytes: Uint8Array);
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number });
      readonly buffer: ArrayBuffer;
    }
    class Instance {
      constructor(module: Module, imports: Record<string, Record<string, Memory>>);
      readonly exports: Record<string, unknown>;
    }
  }
}

/** What wasm/tcptracerReader.as exports (addresses and sizes in bytes; u32 as number, i64 as bigint). */
interface ReaderExports {
  init(rowsHeld: number, fresh: boolean, destinations: boolean): void;
  scan(pos: number, end: number): number;
  countEvent(
    type: number,
    saddr: number,
    saddrInterned: number,
    daddr: number,
    daddrInterned: number,
    dport: number,
    netns: number,
    pid: number,
  ): number;
  layoutEnd(): number;
  maxSources(): number;
  samplesKept(): number;
  sourcesAt(): number;
  sourceStride(): number;
  rowsAt(): number;
  rowCells(): number;
  maxRowCells(): number;
  candidatesAt(): number;
  candidates(): number;
  clearCandidates(): void;
  sourceCount(): number;
  eventCount(): number;
  unsourcedCount(): number;
  undercountOf(): number;
  takenLines(): number;
  flagsOfFirst(): number;
  next(): number;
  refusedStart(): number;
  refusedEnd(): number;
  timeCount(): number;
  timeMin(): bigint;
  timeMax(): bigint;
}

/** scan()'s results. */
const SCAN_DONE = 0;
const SCAN_REFUSED = 1;
/** flagsOfFirst(): no line taken yet; else HAS_TIME | HAS_NETNS. */
const NO_FLAGS = 0xffff;
const HAS_TIME = 1;
const HAS_NETNS = 2;
/** Zeros kept after the bytes read. */
const SENTINEL = 256;
const PAGE = 65536;
/** A source's record in the module's memory, in 32-bit words: see SRC_STRIDE in wasm/tcptracerReader.as. */
const SOURCE_COUNTS = 3;
const SOURCE_PIDS_KEPT = 7;
const SOURCE_PIDS = 8;
const SOURCE_FULL = 11;
export const WASM_READ_BYTES = 512 * 1024;

/** An instance of the module with its memory, for one aggregator at a time. */
export interface TcptracerWasmReader {
  readonly exports: ReaderExports;
  /** The most bytes one read puts in the memory. */
  readonly chunk: number;
  /** Where each read lands. */
  readonly data: number;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  /** The memory as a Buffer, for the careful path's strings. */
  readonly buf: Buffer;
  /** Whether an aggregator has used the memory (fresh memory is all zeros: nothing to clear). */
  used: boolean;
  /** Whether an aggregator is using it now. */
  busy: boolean;
}

let compiled: { module: WebAssembly.Module; layoutEnd: number } | undefined;

/** Compiles the module (once per process), or throws when it does not match tcptracer.ts's limits. */
function compile(): { module: WebAssembly.Module; layoutEnd: number } {
  if (compiled !== undefined) return compiled;
  const module = new WebAssembly.Module(Buffer.from(TCPTRACER_READER_WASM_BASE64, 'base64'));
  // The layout is the module's: ask an instance (none can be made without its memory: one page will do here).
  const probe = instantiate(module, new WebAssembly.Memory({ initial: 1 }));
  if (probe.maxSources() !== MAX_SOURCES || probe.samplesKept() !== MAX_TRACE_SAMPLES) {
    throw new Error(
      `wasm/tcptracerReader.as keeps ${probe.maxSources()} sources and ${probe.samplesKept()} samples, tcptracer.ts ` +
        `${MAX_SOURCES} and ${MAX_TRACE_SAMPLES}: make them equal and rebuild (npm run build).`,
    );
  }
  compiled = { module, layoutEnd: probe.layoutEnd() };
  return compiled;
}

function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): ReaderExports {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ReaderExports;
}

/** A reader whose reads are at most `chunk` bytes (the tests make it small, to cut lines anywhere). */
export function loadTcptracerWasmReader(chunk = WASM_READ_BYTES): TcptracerWasmReader {
  const { module, layoutEnd } = compile();
  const data = Math.ceil(layoutEnd / PAGE) * PAGE + MAX_LINE_BYTES;
  const pages = Math.ceil((data + chunk + SENTINEL) / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const buffer = memory.buffer;
  return {
    exports: instantiate(module, memory),
    chunk,
    data,
    u8: new Uint8Array(buffer),
    u32: new Uint32Array(buffer),
    i32: new Int32Array(buffer),
    buf: Buffer.from(buffer),
    used: false,
    busy: false,
  };
}

/**
 * TcptracerAggregator whose lines are read and counted by the WebAssembly reader: `push` (as the parent's, in chunks
 * of any size) and `readFile`. One at a time per reader, from construction to `end()`.
 */
export class WasmTcptracerAggregator extends TcptracerAggregator {
  private readonly reader: TcptracerWasmReader;
  /** COMM samples per source index of the module (it keeps everything else). */
  private readonly commsOf: string[][] = [];
  /** Bytes of the line cut by the last read, just below `reader.data`. */
  private tail = 0;
  /** Lines the WebAssembly refused (they went the careful way). */
  refusedLines = 0;
  /** Lines the WebAssembly read and counted, known at `end()`: the tests check it takes every line tcptracer prints. */
  takenLines = 0;

  /** `options`: as the parent's. */
  constructor(reader: TcptracerWasmReader, options: TcptracerAggregatorOptions = {}) {
    super(options);
    const { rowsHeld = ROWS_HELD } = options;
    if (reader.busy) throw new Error('WasmTcptracerAggregator: the reader is in use by an aggregator not ended yet');
    if (rowsHeld < 1 || rowsHeld * 4 > reader.exports.maxRowCells() / 2)
      throw new Error(`WasmTcptracerAggregator: rowsHeld ${rowsHeld} does not fit the module's row table`);
    this.reader = reader;
    reader.exports.init(rowsHeld, !reader.used, this.destinations);
    reader.used = true;
    reader.busy = true;
  }

  /** Reads a file to its end, synchronously, straight into the module's memory. */
  readFile(path: string): void {
    if (this.ended) throw new Error('WasmTcptracerAggregator.readFile after end()');
    const { u8, chunk, data } = this.reader;
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, u8, data, chunk, null);
        if (n === 0) break;
        this.scanRead(n);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The parent's `push` (and its strings) ends here: the bytes are copied in, `chunk` at a time, as if read. */
  protected override pushBytes(b: Buffer): void {
    const { u8, chunk, data } = this.reader;
    for (let from = 0; from < b.length; from += chunk) {
      const n = Math.min(chunk, b.length - from);
      u8.set(b.subarray(from, from + n), data);
      this.scanRead(n);
    }
  }

  /**
   * Scans the n bytes just read at `data`, from the start of the line the previous read cut (just below), then moves
   * the line this one cut to just below `data`, where the next read lands.
   */
  private scanRead(n: number): void {
    const { u8, exports, buf, data } = this.reader;
    const end = data + n;
    u8.fill(0, end, end + SENTINEL);
    let pos = data - this.tail;
    this.tail = 0;
    if (this.carry !== undefined) {
      // A line longer than MAX_LINE_BYTES, carried by the parent, which skips it: find its end.
      const newline = u8.indexOf(10, data);
      if (newline < 0 || newline >= end) {
        this.extendCarry(buf, data, end);
        return;
      }
      this.extendCarry(buf, data, newline);
      this.finishCarriedLine(false);
      pos = newline + 1;
    }
    for (;;) {
      const status = exports.scan(pos, end);
      // Candidates first: their lines came before the refused one.
      if (exports.candidates() > 0) this.sampleCandidates();
      pos = exports.next();
      if (status === SCAN_DONE) break;
      if (status === SCAN_REFUSED) this.refused(exports.refusedStart(), exports.refusedEnd());
    }
    const left = end - pos;
    if (left === 0) return;
    if (left <= MAX_LINE_BYTES) {
      u8.copyWithin(data - left, pos, end);
      this.tail = left;
    } else this.extendCarry(buf, pos, end);
  }

  /** A line the WebAssembly refused, [s, e) without its newline: the parent's careful path, in order. */
  private refused(s: number, e: number): void {
    this.refusedLines++;
    this.stats.lines++;
    if (e - s > MAX_LINE_BYTES) skipLine(this.stats, this.reader.buf.toString('utf8', s, s + 1024));
    else this.line(this.reader.buf, s, e, false);
  }

  /** Every line the parent reads, refused, carried or final: the mode of the module's first line comes first. */
  protected override line(b: Buffer, s: number, e: number, final: boolean): void {
    this.applyFirstMode();
    super.line(b, s, e, final);
  }

  /** The mode of the first line the module took, if it took one before any mode was known (`??=`, as the parent). */
  private applyFirstMode(): void {
    if (this.mode !== undefined) return;
    const flags = this.reader.exports.flagsOfFirst();
    if (flags !== NO_FLAGS)
      this.mode = { verbose: true, timestamps: (flags & HAS_TIME) !== 0, netnsColumn: (flags & HAS_NETNS) !== 0 };
  }

  /** Decodes the COMM columns the module handed over (new to a source with fewer than MAX_TRACE_SAMPLES comms). */
  private sampleCandidates(): void {
    const { u32, u8, buf, exports } = this.reader;
    const base = exports.candidatesAt() >>> 2;
    const n = exports.candidates();
    for (let k = 0; k < n; k++) {
      const from = u32[base + 2 * k + 1]!;
      let to = from + 16;
      let start = from;
      while (to > start && u8[to - 1] === 32) to--;
      while (start < to && u8[start] === 32) start++;
      this.sampleComm(u32[base + 2 * k]!, buf.toString('utf8', start, to));
    }
    exports.clearCandidates();
  }

  /** As Source.sampleComm; a full source is flagged in the module, which then hands over no more of its comms. */
  private sampleComm(source: number, comm: string): void {
    let comms = this.commsOf[source];
    if (comms === undefined) {
      comms = [];
      this.commsOf[source] = comms;
    }
    if (comms.length >= MAX_TRACE_SAMPLES || comms.includes(comm)) return;
    comms.push(comm);
    if (comms.length === MAX_TRACE_SAMPLES) {
      const { exports, u32 } = this.reader;
      u32[((exports.sourcesAt() + source * exports.sourceStride()) >>> 2) + SOURCE_FULL] = 1;
    }
  }

  /** An event of the careful path: counted in the module's tables, its comm sampled here. */
  protected override countParsed(
    type: number,
    saddr: number,
    saddrInterned: number,
    daddr: number,
    daddrInterned: number,
    event: TcptracerEvent,
  ): void {
    const source = this.reader.exports.countEvent(
      type,
      saddr,
      saddrInterned,
      daddr,
      daddrInterned,
      event.dport,
      event.netns ?? 0,
      event.pid,
    );
    if (source >= 0) this.sampleComm(source, event.comm);
  }

  /** The final line (the careful way, as the parent reads it), then the module's tables into the parent's. */
  protected override finish(): void {
    if (this.ended) return;
    if (this.pendingSurrogate !== '') {
      this.pushBytes(Buffer.from(this.pendingSurrogate));
      this.pendingSurrogate = '';
    }
    if (this.tail > 0) {
      // The parent finishes a carried line as the final one.
      this.extendCarry(this.reader.buf, this.reader.data - this.tail, this.reader.data);
      this.tail = 0;
    }
    super.finish();
    this.applyFirstMode();
    this.adoptTables();
    this.reader.busy = false;
  }

  /** The module's counts, sources (in its order, which is the parent's: first seen first) and rows, to the parent. */
  private adoptTables(): void {
    const { exports, u32, i32 } = this.reader;
    if (exports.timeCount() > 0) {
      this.noteTime(nsToSeconds(exports.timeMin()));
      this.noteTime(nsToSeconds(exports.timeMax()));
    }
    const stride = exports.sourceStride() >>> 2;
    for (let index = 0, d = exports.sourcesAt() >>> 2; index < exports.sourceCount(); index++, d += stride) {
      const source = this.sourceAt(i32[d]!, i32[d + 1]!, i32[d + 2]!);
      if (source === undefined) throw new Error('WasmTcptracerAggregator: more sources than MAX_SOURCES');
      for (let type = 0; type < 4; type++) source.counts[type] = u32[d + SOURCE_COUNTS + type]!;
      for (let k = 0; k < u32[d + SOURCE_PIDS_KEPT]!; k++) source.pids.push(u32[d + SOURCE_PIDS + k]!);
      source.comms.push(...(this.commsOf[index] ?? []));
    }
    const rows = exports.rowsAt() >>> 2;
    this.rows.table.cells = i32.slice(rows, rows + exports.rowCells() * 4);
    this.rows.undercount = exports.undercountOf();
    this.events += exports.eventCount();
    this.unsourcedEvents += exports.unsourcedCount();
    this.stats.lines += exports.takenLines();
    this.takenLines = exports.takenLines();
  }
}

/**
 * What parseEventLine makes of a `%-14d` TIME of v ns: |v| / 1e9, negated, -0 as 0. The module keeps the least and
 * the greatest v, which is exact: this is monotonic, and its ≤ 15 digits are exact in a double.
 */
function nsToSeconds(v: bigint): number {
  const seconds = Number(v < 0n ? -v : v) / 1e9;
  return v < 0n && seconds !== 0 ? -seconds : seconds;
}

/** Reads a capture file with the WebAssembly reader (summarizeTcptracerFile's fast path). */
export function summarizeTcptracerFileWasm(
  path: string,
  reader: TcptracerWasmReader,
  options: TcptracerAggregatorOptions = {},
): TcptracerSummary {
  const aggregator = new WasmTcptracerAggregator(reader, options);
  aggregator.readFile(path);
  return aggregator.end();
}
