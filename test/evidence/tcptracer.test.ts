// BCC tcptracer output: every mode from the research's format strings (research/tool-output-formats.md §1.4, verbatim,
// trailing spaces included), the Microsoft runbook's redacted sample (§1.7), the corners (glued and negative
// timestamps, 7-digit PIDs, COMM with spaces, IPv6, -N), and properties: the parser never throws, every line is
// accounted for, and both aggregators (the plain one, every line through the careful per-line parser, and the
// WebAssembly reader) give exactly what a plain reference built on that parser gives, however the input is cut.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  formatTcptracerHeader,
  formatTcptracerLine,
  generateTcptracer,
  type TcptracerFormat,
  type TcptracerLineFields,
} from '../../bench/generateTcptracer.ts';
import { MAX_SKIPPED_SAMPLES } from '../../lib/evidence/lineStats.ts';
import {
  compareTraceAggregates,
  inferTcptracerMode,
  isWholeFinalLine,
  MAX_SOURCES,
  MAX_TRACE_SAMPLES,
  normalizeTcptracerAddress,
  parseLostSamples,
  parseTcptracerHeader,
  parseTcptracerLine,
  ROWS_REPORTED,
  type SourceCount,
  summarizeTcptracer,
  summarizeTcptracerFile,
  TCPTRACER_BANNER,
  TcptracerAggregator,
  type TcptracerAggregatorOptions,
  type TcptracerEvent,
  type TcptracerMode,
  type TcptracerSummary,
} from '../../lib/evidence/tcptracer.ts';
import {
  loadTcptracerWasmReader,
  type TcptracerWasmReader,
  WASM_READ_BYTES,
  WasmTcptracerAggregator,
} from '../../lib/evidence/tcptracerWasm.ts';
import type { TraceAggregate, TraceEventType } from '../../lib/model.ts';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: research §1.4, verbatim.

const BANNER = 'Tracing TCP established connections. Ctrl-C to end.';
const DEFAULT_MODE = [
  'T  PID    COMM             IP SADDR            DADDR            SPORT  DPORT ',
  'C  18627  curl             4  10.244.1.23      20.50.2.10       53746  443   ',
  'X  18627  .NET TP Worker   4  10.244.1.23      20.50.2.10       53746  443   ',
  'A  28817  nc               6  [::1]            [::1]            80     55758 ',
  'C  4194304 java             6  [::ffff:10.244.1.23] [2603:1030:20e:3::23c] 40000  443   ',
  'X  748    curl             4  10.244.1.23      52.1.2.3         42592  80    ',
];
const T_MODE = [
  'TIME(s)  T  PID    COMM             IP SADDR            DADDR            SPORT  DPORT ',
  '0.000    C  18627  curl             4  10.244.1.23      20.50.2.10       53746  443   ',
  '3.546    X  18627  .NET TP Worker   4  10.244.1.23      20.50.2.10       53746  443   ',
  '4.294    A  28817  nc               6  [::1]            [::1]            80     55758 ',
  '12345.679C  4194304 java             6  [::ffff:10.244.1.23] [2603:1030:20e:3::23c] 40000  443   ',
  '-0.000   X  748    curl             4  10.244.1.23      52.1.2.3         42592  80    ',
];
const V_MODE = [
  'TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS   ',
  'connect      18627  curl             4  10.244.1.23      20.50.2.10       53746  443    4026532785',
  'close        18627  .NET TP Worker   4  10.244.1.23      20.50.2.10       53746  443    4026532785',
  'accept       28817  nc               6  [::1]            [::1]            80     55758  4026531840',
  'connect      4194304 java             6  [::ffff:10.244.1.23] [2603:1030:20e:3::23c] 40000  443    4026532785',
  'close        748    curl             4  10.244.1.23      52.1.2.3         42592  80     4026532785',
];
const TV_MODE = [
  'TIME(ns)      TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS   ',
  '0             connect      18627  curl             4  10.244.1.23      20.50.2.10       53746  443    4026532785',
  '3546123456    close        18627  .NET TP Worker   4  10.244.1.23      20.50.2.10       53746  443    4026532785',
  '4294000001    accept       28817  nc               6  [::1]            [::1]            80     55758  4026531840',
  '12345678901234connect      4194304 java             6  [::ffff:10.244.1.23] [2603:1030:20e:3::23c] 40000  443    4026532785',
  '-1500         close        748    curl             4  10.244.1.23      52.1.2.3         42592  80     4026532785',
];
const TVN_MODE = [
  'TIME(ns)      TYPE         PID    COMM             IP SADDR            DADDR            SPORT  DPORT  ',
  '0             connect      18627  curl             4  10.244.1.23      20.50.2.10       53746  443   ',
];

// The Microsoft runbook's sample (§1.7), verbatim: hand-redacted timestamps, reformatted columns.
const RUNBOOK = `Tracing TCP established connections. Ctrl-C to end.
TIME(ns)     TYPE         PID   COMM             IP SADDR            DADDR            SPORT  DPORT  NETNS
0           connect      18627  curl             4  1.2.3.4           5.6.7.8          53746  80     4026532785
3xxx9       close        18627  curl             4  1.2.3.4           5.6.7.8          53746  80     4026532785
1xxxx4      connect      18629  curl             4  1.2.3.4           9.10.11.12       35686  80     4026532785
2xxxx9      close        18629  curl             4  1.2.3.4           9.10.11.12       35686  80     4026532785
4xxxx5      connect      18631  curl             4  1.2.3.4           9.10.11.12       35688  80     4026532785
4xxxx8      close        18631  curl             4  1.2.3.4           9.10.11.12       35688  80     4026532785
7xxxx3      connect      18633  curl             4  1.2.3.4           13.14.15.16      35690  80     4026532785
9xxxx7      close        18633  curl             4  1.2.3.4           13.14.15.16      35690  80     4026532785
`;

/** An event with the research fixtures' usual values, overridden per case. */
function event(overrides: Partial<TcptracerEvent>): TcptracerEvent {
  return {
    type: 'connect',
    pid: 18627,
    comm: 'curl',
    ipVersion: 4,
    saddr: '10.244.1.23',
    daddr: '20.50.2.10',
    sport: 53746,
    dport: 443,
    ...overrides,
  };
}

const JAVA = {
  pid: 4194304,
  comm: 'java',
  ipVersion: 6,
  saddr: '10.244.1.23',
  daddr: '2603:1030:20e:3::23c',
  sport: 40000,
  dport: 443,
} as const;
const NC = { pid: 28817, comm: 'nc', ipVersion: 6, saddr: '::1', daddr: '::1', sport: 80, dport: 55758 } as const;
const CURL_748 = { pid: 748, daddr: '52.1.2.3', sport: 42592, dport: 80 } as const;
const DOTNET = { comm: '.NET TP Worker' } as const;
const NETNS = 4026532785;

function mode(verbose: boolean, timestamps: boolean, netnsColumn: boolean): TcptracerMode {
  return { verbose, timestamps, netnsColumn };
}

/** A summary built from several aggregates, for comparing with what the aggregator says. */
function row(overrides: Partial<TraceAggregate>): TraceAggregate {
  return {
    type: 'connect',
    saddr: '10.244.1.23',
    daddr: '20.50.2.10',
    dport: 443,
    netns: NETNS,
    count: 1,
    pids: [18627],
    comms: ['curl'],
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe('parseTcptracerLine on every mode, as tcptracer prints it (research §1.4)', () => {
  test.each<[string, string, TcptracerEvent]>([
    ['default: connect', DEFAULT_MODE[1]!, event({})],
    ['default: close by a thread whose name has spaces', DEFAULT_MODE[2]!, event({ type: 'close', ...DOTNET })],
    ['default: accept over IPv6 loopback, brackets removed', DEFAULT_MODE[3]!, event({ type: 'accept', ...NC })],
    ['default: 7-digit PID pushing the columns, IPv4-mapped source unwrapped', DEFAULT_MODE[4]!, event({ ...JAVA })],
    ['default: close', DEFAULT_MODE[5]!, event({ type: 'close', ...CURL_748 })],
    ['-t: first event at 0.000 s', T_MODE[1]!, event({ time: 0 })],
    ['-t: seconds', T_MODE[2]!, event({ type: 'close', ...DOTNET, time: 3.546 })],
    ['-t: IPv6 accept', T_MODE[3]!, event({ type: 'accept', ...NC, time: 4.294 })],
    ['-t: time glued to the type past 10000 s', T_MODE[4]!, event({ ...JAVA, time: 12345.679 })],
    ['-t: negative zero reads as 0', T_MODE[5]!, event({ type: 'close', ...CURL_748, time: 0 })],
    ['-v: connect with NETNS', V_MODE[1]!, event({ netns: NETNS })],
    ['-v: COMM with spaces', V_MODE[2]!, event({ type: 'close', ...DOTNET, netns: NETNS })],
    ['-v: IPv6 accept in the host netns', V_MODE[3]!, event({ type: 'accept', ...NC, netns: 4026531840 })],
    ['-v: 7-digit PID', V_MODE[4]!, event({ ...JAVA, netns: NETNS })],
    ['-v: close', V_MODE[5]!, event({ type: 'close', ...CURL_748, netns: NETNS })],
    ['-t -v: nanoseconds become seconds', TV_MODE[1]!, event({ time: 0, netns: NETNS })],
    ['-t -v: COMM with spaces', TV_MODE[2]!, event({ type: 'close', ...DOTNET, time: 3.546123456, netns: NETNS })],
    ['-t -v: IPv6', TV_MODE[3]!, event({ type: 'accept', ...NC, time: 4.294000001, netns: 4026531840 })],
    ['-t -v: 14-digit ns glued to the type', TV_MODE[4]!, event({ ...JAVA, time: 12345.678901234, netns: NETNS })],
    [
      '-t -v: negative ns (an event printed after a later one)',
      TV_MODE[5]!,
      event({ type: 'close', ...CURL_748, time: -0.0000015, netns: NETNS }),
    ],
    ['-t -v -N: no NETNS column', TVN_MODE[1]!, event({ time: 0 })],
  ])('%s', async (_name, line, expected) => {
    expect(parseTcptracerLine(line)).toEqual(expected);
    // The aggregator's byte-level paths read it the same way.
    expect(await summarizeTcptracer(`${line}\n${line}\n`)).toEqual(referenceSummary(`${line}\n${line}\n`));
  });

  test.each([
    ['default', DEFAULT_MODE[0]!, mode(false, false, false)],
    ['-t', T_MODE[0]!, mode(false, true, false)],
    ['-v', V_MODE[0]!, mode(true, false, true)],
    ['-t -v', TV_MODE[0]!, mode(true, true, true)],
    ['-t -v -N', TVN_MODE[0]!, mode(true, true, false)],
    ['the runbook, reformatted', RUNBOOK.split('\n')[1]!, mode(true, true, true)],
    [
      'libbpf-tools',
      'T PID    COMM         IP SADDR            DADDR            SPORT DPORT',
      mode(false, false, false),
    ],
  ])('the %s header is a header and says how tcptracer was run', (_name, header, expected) => {
    expect(parseTcptracerLine(header)).toBe('header');
    expect(parseTcptracerHeader(header)).toEqual(expected);
  });

  test.each([
    ['default', DEFAULT_MODE, mode(false, false, false)],
    ['-t', T_MODE, mode(false, true, false)],
    ['-v', V_MODE, mode(true, false, true)],
    ['-t -v', TV_MODE, mode(true, true, true)],
    ['-t -v -N', TVN_MODE, mode(true, true, false)],
  ])('every %s event line tells its mode even without the header', (_name, lines, expected) => {
    for (const line of lines.slice(1)) expect(inferTcptracerMode(line)).toEqual(expected);
  });

  test.each([
    ['the banner', BANNER, 'banner'],
    ['an empty line', '', 'blank'],
    ['spaces and a carriage return', '    \r', 'blank'],
    ['bcc lost samples (stderr mixed in)', 'Possibly lost 12 samples', 'lost'],
  ])('%s is not an event and not skipped: %j', (_name, line, kind) => {
    expect(parseTcptracerLine(line)).toBe(kind);
  });

  test('`Possibly lost N samples` gives N', () => {
    expect(parseLostSamples('Possibly lost 12 samples')).toBe(12);
    expect(parseLostSamples('Possibly lost samples')).toBeUndefined();
  });
});

describe('parseTcptracerLine on lines that are not quite what tcptracer prints', () => {
  test.each<[string, string, TcptracerEvent]>([
    [
      'the runbook: a redacted timestamp leaves the event with an unknown time',
      '3xxx9       close        18627  curl             4  1.2.3.4           5.6.7.8          53746  80     4026532785',
      event({ type: 'close', saddr: '1.2.3.4', daddr: '5.6.7.8', dport: 80, netns: NETNS }),
    ],
    ['CRLF line ending', `${TV_MODE[1]!}\r`, event({ time: 0, netns: NETNS })],
    [
      'columns squeezed to single spaces',
      '0 connect 18627 curl 4 10.244.1.23 20.50.2.10 53746 443 4026532785',
      event({ time: 0, netns: NETNS }),
    ],
    [
      'trailing spaces stripped from a line without NETNS',
      'C  18627  curl             4  10.244.1.23      20.50.2.10       53746  443',
      event({}),
    ],
    [
      'COMM that looks like fields',
      'connect      18627  a 4 1.2.3.4 4  10.244.1.23      20.50.2.10       53746  443    4026532785',
      event({ comm: 'a 4 1.2.3.4', netns: NETNS }),
    ],
    [
      'COMM that is a number, without NETNS',
      'connect      18627  4       4  10.244.1.23      20.50.2.10       53746  443   ',
      event({ comm: '4' }),
    ],
    [
      'empty COMM',
      'connect      18627                   4  10.244.1.23      20.50.2.10       53746  443    4026532785',
      event({ comm: '', netns: NETNS }),
    ],
    [
      'COMM with a tab and non-ASCII (tcptracer decodes with replacement)',
      'connect      18627  w\tker ü\uFFFD      4  10.244.1.23      20.50.2.10       53746  443    4026532785',
      event({ comm: 'w\tker ü\uFFFD', netns: NETNS }),
    ],
    [
      'libbpf-tools: no brackets around IPv6',
      'C 1469   curl         6  ::ffff:10.1.2.3  2001:db8::1      36270 443 ',
      event({ pid: 1469, ipVersion: 6, saddr: '10.1.2.3', daddr: '2001:db8::1', sport: 36270 }),
    ],
    [
      'bcc PR #3114 real output: zero ports and an unusual IPv6 spelling',
      'C  7085   nc               6  [::]             [0:0:0:1::]      0      0',
      event({ pid: 7085, comm: 'nc', ipVersion: 6, saddr: '::', daddr: '0:0:0:1::', sport: 0, dport: 0 }),
    ],
    [
      'IPv6 with an embedded IPv4 that is not mapped',
      'C  7085   nc               6  [::1.2.3.4]      [64:ff9b::a01:203] 1      2',
      event({ pid: 7085, comm: 'nc', ipVersion: 6, saddr: '::102:304', daddr: '64:ff9b::a01:203', sport: 1, dport: 2 }),
    ],
    [
      'a PID of ten digits',
      'connect      4294967295 curl             4  10.244.1.23      20.50.2.10       53746  443    4026532785',
      event({ pid: 4294967295, netns: NETNS }),
    ],
  ])('%s', async (_name, line, expected) => {
    expect(parseTcptracerLine(line)).toEqual(expected);
    expect(await summarizeTcptracer(`${line}\n${line}\n`)).toEqual(referenceSummary(`${line}\n${line}\n`));
  });

  test.each([
    ['cut inside DADDR', TV_MODE[1]!.slice(0, 62)],
    ['cut inside COMM', TV_MODE[1]!.slice(0, 40)],
    ['a port above 65535', TV_MODE[1]!.replace('53746', '70000')],
    ['a NETNS above 2^32 - 1', TV_MODE[1]!.replace('4026532785', '4294967296')],
    ['a PID above 2^32 - 1', TV_MODE[1]!.replace('18627 ', '4294967296')],
    ['IP column neither 4 nor 6', TV_MODE[1]!.replace(' 4  10', ' 5  10')],
    ['IPv4 with a leading zero', TV_MODE[1]!.replace('10.244.1.23 ', '10.244.1.023')],
    ['IPv4 with three octets', TV_MODE[1]!.replace('10.244.1.23 ', '10.244.1    ')],
    ['IPv6 address with IP 4', TV_MODE[1]!.replace('10.244.1.23      ', '[::1]            ')],
    ['IPv4 address with IP 6', TV_MODE[1]!.replace(' 4  10', ' 6  10')],
    ['an unterminated bracket', DEFAULT_MODE[3]!.replace('[::1] ', '[::1  ')],
    ['an IPv6 zone id', DEFAULT_MODE[3]!.replace('[::1] ', '[::1%1]')],
    ['a time in seconds with a long type name', TV_MODE[2]!.replace('3546123456', '3.546     ')],
    ['a time in ns with a one-letter type', T_MODE[2]!.replace('3.546', '3546 ')],
    ['an unknown type word', TV_MODE[1]!.replace('connect', 'connecx')],
    ['a time that is only a minus sign', TV_MODE[1]!.replace('0 ', '-')],
    ['a header with an extra column', `${V_MODE[0]!}UID`],
    ['the banner cut short', BANNER.slice(0, 20)],
  ])('%s is malformed, for the aggregator too (even after a good line like it)', async (_name, line) => {
    expect(parseTcptracerLine(line)).toBeUndefined();
    const good = TV_MODE[1]!;
    expect(await summarizeTcptracer(`${good}\n${line}\n${good}\n${line}\n`)).toMatchObject({
      lines: 4,
      events: 2,
      skipped: 2,
    });
  });
});

describe('normalizeTcptracerAddress', () => {
  test.each<[string, 4 | 6, string | undefined]>([
    ['10.244.1.23', 4, '10.244.1.23'],
    ['[::ffff:10.244.1.23]', 6, '10.244.1.23'],
    ['[::FFFF:10.244.1.23]', 6, '10.244.1.23'],
    ['[::ffff:a0b:c0d]', 6, '10.11.12.13'],
    ['[2603:1030:020e:0003:0000:0000:0000:023c]', 6, '2603:1030:20e:3::23c'],
    ['[::1]', 6, '::1'],
    ['::1', 6, '::1'],
    ['[::1.2.3.4]', 6, '::102:304'],
    ['[::1]', 4, undefined],
    ['10.244.1.23', 6, undefined],
    ['256.1.1.1', 4, undefined],
    ['[1::2::3]', 6, undefined],
    ['[]', 6, undefined],
  ])('%s (IP %d) is %s', (token, version, expected) => {
    expect(normalizeTcptracerAddress(token, version)).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The aggregator.

describe('summarizeTcptracer on the research captures', () => {
  test('-t -v (the runbook mode): every event counted by source, type and destination, samples kept', async () => {
    const summary = await summarizeTcptracer(`${[BANNER, ...TV_MODE].join('\n')}\n`);
    expect(summary).toMatchObject({
      lines: 7,
      events: 5,
      skipped: 0,
      banners: 1,
      headers: 1,
      mode: mode(true, true, true),
      firstTime: -0.0000015,
      lastTime: 12345.678901234,
    });
    // Samples are the source's: its first three distinct pids and thread names, in the order seen.
    const samples = { pids: [18627, 4194304, 748], comms: ['curl', '.NET TP Worker', 'java'] };
    expect(summary.bySource).toEqual([
      { saddr: '10.244.1.23', netns: NETNS, connects: 2, accepts: 0, closes: 2, total: 4, ...samples },
      { saddr: '::1', netns: 4026531840, connects: 0, accepts: 1, closes: 0, total: 1, pids: [28817], comms: ['nc'] },
    ]);
    // Rows are the connects' (the SNAT model reads no other); accepts and closes are in the sources' totals.
    expect(summary.aggregates).toEqual(
      [row(samples), row({ daddr: '2603:1030:20e:3::23c', ...samples })].sort(compareTraceAggregates),
    );
    expect(summary.cut).toBeUndefined();
  });

  test.each([
    ['default', DEFAULT_MODE, mode(false, false, false)],
    ['-t', T_MODE, mode(false, true, false)],
    ['-v', V_MODE, mode(true, false, true)],
    ['-t -v -N', TVN_MODE, mode(true, true, false)],
  ])('%s: every event line is an event, the header gives the mode', async (_name, lines, expected) => {
    const summary = await summarizeTcptracer(`${[BANNER, ...lines].join('\n')}\n`);
    expect(summary).toMatchObject({ lines: lines.length + 1, events: lines.length - 1, skipped: 0, mode: expected });
  });

  test('without NETNS, aggregates say netns 0 and sources carry none', async () => {
    const summary = await summarizeTcptracer(`${DEFAULT_MODE.join('\n')}\n`);
    expect(summary.aggregates.every((aggregate) => aggregate.netns === 0)).toBe(true);
    expect(summary.bySource[0]).toEqual({
      saddr: '10.244.1.23',
      connects: 2,
      accepts: 0,
      closes: 2,
      total: 4,
      pids: [18627, 4194304, 748],
      comms: ['curl', '.NET TP Worker', 'java'],
    });
  });

  test('the runbook sample: redacted times still count, as the runbook counted them (8 events of 1.2.3.4)', async () => {
    const summary = await summarizeTcptracer(RUNBOOK);
    expect(summary).toMatchObject({ lines: 10, events: 8, skipped: 0, firstTime: 0, lastTime: 0 });
    expect(summary.bySource).toMatchObject([
      { saddr: '1.2.3.4', netns: NETNS, connects: 4, accepts: 0, closes: 4, total: 8, pids: [18627, 18629, 18631] },
    ]);
    expect(summary.aggregates.find((a) => a.daddr === '9.10.11.12')).toMatchObject({ type: 'connect', count: 2 });
  });

  test('without a header, the first event gives the mode', async () => {
    const summary = await summarizeTcptracer(`${TVN_MODE[1]!}\n`);
    expect(summary.mode).toEqual(mode(true, true, false));
  });
});

describe('TcptracerAggregator: lines at the edges of the input', () => {
  const complete = TV_MODE[1]!;

  test.each<[string, string, { events: number; skipped: number; lines: number }]>([
    ['a final line without a newline is still read', `${complete}\n${complete}`, { events: 2, skipped: 0, lines: 2 }],
    [
      'a final line cut inside NETNS (runCommand capped the output) is skipped',
      `${complete}\n${complete.slice(0, -3)}`,
      { events: 1, skipped: 1, lines: 2 },
    ],
    [
      'a final line cut right after DPORT is skipped, though it would read as a -N line',
      `${complete}\n${complete.slice(0, complete.indexOf('443') + 3)}`,
      { events: 1, skipped: 1, lines: 2 },
    ],
    [
      'a final -N line keeps its DPORT padding: whole',
      `${TVN_MODE[1]!}\n${TVN_MODE[1]!}`,
      { events: 2, skipped: 0, lines: 2 },
    ],
    [
      'a final -N line cut inside DPORT has no padding: skipped',
      `${TVN_MODE[1]!}\n${TVN_MODE[1]!.trimEnd().slice(0, -1)}`,
      { events: 1, skipped: 1, lines: 2 },
    ],
    [
      'the same line cut short but followed by a newline is an event (no way to tell)',
      `${complete.slice(0, -3)}\n`,
      {
        events: 1,
        skipped: 0,
        lines: 1,
      },
    ],
    ['an empty input', '', { events: 0, skipped: 0, lines: 0 }],
    ['a lone newline is one blank line', '\n', { events: 0, skipped: 0, lines: 1 }],
  ])('%s', async (_name, text, expected) => {
    expect(await summarizeTcptracer(text)).toMatchObject(expected);
  });

  test('a line longer than 64 KiB is one skipped line, whatever the chunking', async () => {
    const long = `${'x'.repeat(70 * 1024)}\n${complete}\n`;
    for (const size of [1000, 1 << 20]) {
      const aggregator = new TcptracerAggregator();
      for (let i = 0; i < long.length; i += size) aggregator.push(long.slice(i, i + size));
      expect(aggregator.end()).toMatchObject({ lines: 2, events: 1, skipped: 1 });
    }
  });

  test('stderr mixed into the capture: lost samples are summed, not skipped', async () => {
    const text = `${BANNER}\n${TV_MODE[0]!}\nPossibly lost 3 samples\n${complete}\nPossibly lost 4 samples\n`;
    expect(await summarizeTcptracer(text)).toMatchObject({
      lines: 5,
      events: 1,
      skipped: 0,
      lostSamples: 7,
      lostLines: 2,
    });
  });

  test('skipped lines are counted and the first few kept as samples, cut to 200 characters', async () => {
    const text = `${['garbage', 'x'.repeat(300), 'C 1', '1 2 3', 'connect', 'more garbage'].join('\n')}\n`;
    const summary = await summarizeTcptracer(text);
    expect(summary.skipped).toBe(6);
    expect(summary.skippedSamples).toEqual(['garbage', 'x'.repeat(200), 'C 1', '1 2 3', 'connect']);
    expect(summary.skippedSamples).toHaveLength(MAX_SKIPPED_SAMPLES);
  });

  test('a surrogate pair split between two string chunks is one character', async () => {
    const line = complete.replace('curl', 'c\u{1F600}l ');
    const cut = line.indexOf('\u{1F600}') + 1;
    const aggregator = new TcptracerAggregator();
    aggregator.push(line.slice(0, cut));
    aggregator.push(`${line.slice(cut)}\n`);
    expect(aggregator.end().aggregates[0]?.comms).toEqual(['c\u{1F600}l']);
  });

  test('push after end is a programming error', () => {
    const aggregator = new TcptracerAggregator();
    aggregator.end();
    expect(() => aggregator.push('x')).toThrow('after end');
  });
});

describe('TcptracerAggregator: what it keeps per source', () => {
  const line = (fields: Partial<TcptracerLineFields>): string =>
    formatTcptracerLine(
      {
        type: 'connect',
        timeNs: 0,
        pid: 100,
        comm: 'curl',
        ipVersion: 4,
        saddr: '10.244.1.23',
        daddr: '20.50.2.10',
        sport: 40000,
        dport: 443,
        netns: NETNS,
        ...fields,
      },
      { verbose: true, timestamps: true, netnsColumn: true },
    );

  test(`the first ${MAX_TRACE_SAMPLES} distinct pids and comms, in the order seen`, async () => {
    const pids = [5, 5, 3, 9, 3, 7, 1];
    const comms = ['b', 'a', 'b', 'c', 'd', 'a', 'e'];
    const text = pids.map((pid, i) => `${line({ pid, comm: comms[i]!, sport: 40000 + i })}\n`).join('');
    const summary = await summarizeTcptracer(text);
    expect(summary.bySource[0]).toMatchObject({ connects: 7, pids: [5, 3, 9], comms: ['b', 'a', 'c'] });
    expect(summary.aggregates).toMatchObject([{ count: 7, pids: [5, 3, 9], comms: ['b', 'a', 'c'] }]);
  });

  test('accepts and closes are counted per source, and only connects have rows', async () => {
    const text = [
      line({ type: 'accept', saddr: '10.244.1.40', sport: 8080, daddr: '10.244.2.7', dport: 50002 }),
      line({ type: 'close', saddr: '10.244.1.40', sport: 8080, daddr: '10.244.2.7', dport: 50002 }),
      line({ type: 'unknown', saddr: '10.244.1.40', sport: 8080, daddr: '10.244.2.7', dport: 50003 }),
      line({ type: 'connect', saddr: '10.244.1.40', daddr: '20.50.2.10', dport: 443 }),
    ]
      .map((l) => `${l}\n`)
      .join('');
    const summary = await summarizeTcptracer(text);
    expect(summary.bySource).toMatchObject([{ saddr: '10.244.1.40', connects: 1, accepts: 1, closes: 1, total: 4 }]);
    expect(summary.aggregates).toMatchObject([{ type: 'connect', daddr: '20.50.2.10', dport: 443, count: 1 }]);
  });

  test(`a source's ${ROWS_REPORTED} busiest destinations are reported, the rest only counted`, async () => {
    // 3,000 destinations, destination i met i % 7 + 1 times: counts are exact (all rows fit), the report is cut.
    const lines = Array.from({ length: 3000 }, (_, i) =>
      Array.from({ length: (i % 7) + 1 }, () => line({ daddr: `20.${i >> 8}.${i & 255}.1`, sport: 40000 + i })),
    ).flat();
    const text = `${lines.join('\n')}\n`;
    const summary = await summarizeTcptracer(text);
    expect(summary.aggregates).toHaveLength(ROWS_REPORTED);
    expect(summary.aggregates.every((a) => a.count === 7)).toBe(true);
    expect(summary.cut).toEqual({
      unreportedEvents: lines.length - 7 * ROWS_REPORTED,
      undercount: 0,
      unsourcedEvents: 0,
    });
    expect(summary).toEqual(referenceSummary(text));
  });

  test(`each source's ${ROWS_REPORTED} busiest are its ${ROWS_REPORTED} biggest counts, ties at the cut ordered by destination`, async () => {
    // Source A: 150 destinations met 1 to 150 times (the 100th busiest differs from the 101st); source B: 150
    // destinations met 3 times each (all tied); source C: 250 destinations met 1 + ⌊i / 2⌋ times (pairs tied).
    const source = (saddr: string, destinations: number, times: (i: number) => number): string[] =>
      Array.from({ length: destinations }, (_, i) =>
        Array.from({ length: times(i) }, () => line({ saddr, daddr: `20.${i >> 8}.${i & 255}.1` })),
      ).flat();
    const text = `${[
      ...source('10.0.0.1', 150, (i) => i + 1),
      ...source('10.0.0.2', 150, () => 3),
      ...source('10.0.0.3', 250, (i) => 1 + (i >> 1)),
    ].join('\n')}\n`;
    const summary = await summarizeTcptracer(text);
    expect(summary.aggregates.filter((a) => a.saddr === '10.0.0.1').map((a) => a.count)).toEqual(
      Array.from({ length: ROWS_REPORTED }, (_, i) => 150 - i),
    );
    expect(summary.aggregates.filter((a) => a.saddr === '10.0.0.2')).toHaveLength(ROWS_REPORTED);
    expect(summary).toEqual(referenceSummary(text));
  });

  test('summarizeTcptracer reads an async stream of Buffers and strings', async () => {
    const text = [...generateTcptracer(500, 3)].join('');
    async function* chunks(): AsyncGenerator<Buffer | string> {
      for (let i = 0; i < text.length; i += 777) {
        const piece = text.slice(i, i + 777);
        yield i % 2 === 0 ? Buffer.from(piece) : piece;
      }
    }
    expect(await summarizeTcptracer(chunks())).toEqual(await summarizeTcptracer(text));
  });

  test('bySource: most connects first, then most events, then address', async () => {
    const text = [
      line({ saddr: '10.0.0.3' }),
      line({ saddr: '10.0.0.2', type: 'close' }),
      line({ saddr: '10.0.0.2', type: 'close' }),
      line({ saddr: '10.0.0.1', type: 'close' }),
      line({ saddr: '10.0.0.9' }),
      line({ saddr: '10.0.0.9', netns: 4026532999 }),
    ]
      .map((l) => `${l}\n`)
      .join('');
    const summary = await summarizeTcptracer(text);
    expect(summary.bySource.map((s) => `${s.saddr}/${s.netns}`)).toEqual([
      '10.0.0.3/4026532785',
      '10.0.0.9/4026532785',
      '10.0.0.9/4026532999',
      '10.0.0.2/4026532785',
      '10.0.0.1/4026532785',
    ]);
  });

  test('summarizeTcptracerFile reads a file as summarizeTcptracer reads its text', async () => {
    const text = [...generateTcptracer(3000, 7)].join('');
    const dir = await mkdtemp(join(tmpdir(), 'tcptracer-'));
    try {
      await writeFile(join(dir, 'capture.log'), text);
      expect(await summarizeTcptracerFile(join(dir, 'capture.log'))).toEqual(await summarizeTcptracer(text));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties: a reference aggregator built on the careful per-line parser, and generated captures.

/**
 * The summary computed the slow, obvious way: split, parseTcptracerLine, Maps keyed by strings, every row kept; then
 * each source's ROWS_REPORTED busiest connect rows reported, as the aggregator does.
 */
function referenceSummary(input: string): TcptracerSummary {
  const text = Buffer.from(input, 'utf8').toString('utf8'); // lone surrogates, as any byte stream carries them
  const lines = text.split('\n');
  const terminated = text.endsWith('\n') || text === '';
  if (terminated) lines.pop();
  const summary: TcptracerSummary = {
    lines: lines.length,
    skipped: 0,
    skippedSamples: [],
    events: 0,
    bySource: [],
    aggregates: [],
    lostSamples: 0,
    banners: 0,
    headers: 0,
    blankLines: 0,
    lostLines: 0,
  };
  const skip = (line: string): void => {
    summary.skipped++;
    if (summary.skippedSamples.length < MAX_SKIPPED_SAMPLES) summary.skippedSamples.push(line.slice(0, 200));
  };
  const sources = new Map<string, SourceCount>();
  const rows = new Map<string, TraceAggregate[]>();
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const [index, line] of lines.entries()) {
    const parsed = parseTcptracerLine(line);
    if (parsed === undefined) {
      skip(line);
      continue;
    }
    if (parsed === 'banner') summary.banners++;
    else if (parsed === 'blank') summary.blankLines++;
    else if (parsed === 'header') {
      summary.headers++;
      summary.mode ??= parseTcptracerHeader(line);
    } else if (parsed === 'lost') {
      summary.lostLines++;
      summary.lostSamples += parseLostSamples(line) ?? 0;
    } else {
      if (!terminated && index === lines.length - 1 && !isWholeFinalLine(line, parsed)) {
        skip(line);
        continue;
      }
      summary.events++;
      summary.mode ??= inferTcptracerMode(line);
      if (parsed.time !== undefined) {
        first = Math.min(first, parsed.time);
        last = Math.max(last, parsed.time);
      }
      const netns = parsed.netns ?? 0;
      const key = `${parsed.saddr}|${netns}`;
      let source = sources.get(key);
      if (!source) {
        source = {
          saddr: parsed.saddr,
          ...(netns ? { netns } : {}),
          connects: 0,
          accepts: 0,
          closes: 0,
          total: 0,
          pids: [],
          comms: [],
        };
        sources.set(key, source);
        rows.set(key, []);
      }
      source.total++;
      if (parsed.type === 'accept') source.accepts++;
      if (parsed.type === 'close') source.closes++;
      if (source.pids.length < MAX_TRACE_SAMPLES && !source.pids.includes(parsed.pid)) source.pids.push(parsed.pid);
      if (source.comms.length < MAX_TRACE_SAMPLES && !source.comms.includes(parsed.comm))
        source.comms.push(parsed.comm);
      if (parsed.type !== 'connect') continue;
      source.connects++;
      const mine = rows.get(key) ?? [];
      const row = mine.find((r) => r.daddr === parsed.daddr && r.dport === parsed.dport);
      if (row) row.count++;
      else
        mine.push({
          type: 'connect',
          saddr: parsed.saddr,
          daddr: parsed.daddr,
          dport: parsed.dport,
          netns,
          count: 1,
          pids: [],
          comms: [],
        });
    }
  }
  let unreported = 0;
  for (const [key, mine] of rows) {
    const source = sources.get(key)!;
    mine.sort(compareTraceAggregates);
    for (const row of mine.slice(ROWS_REPORTED)) unreported += row.count;
    for (const row of mine.slice(0, ROWS_REPORTED))
      summary.aggregates.push({ ...row, pids: [...source.pids], comms: [...source.comms] });
  }
  summary.aggregates.sort(compareTraceAggregates);
  summary.bySource = [...sources.values()].sort(
    (a, b) =>
      b.connects - a.connects ||
      b.total - a.total ||
      (a.saddr < b.saddr ? -1 : a.saddr > b.saddr ? 1 : 0) ||
      (a.netns ?? 0) - (b.netns ?? 0),
  );
  if (unreported > 0) summary.cut = { unreportedEvents: unreported, undercount: 0, unsourcedEvents: 0 };
  if (first <= last) {
    summary.firstTime = first;
    summary.lastTime = last;
  }
  return summary;
}

/** Feeds `text` to a fresh aggregator as UTF-8 bytes cut at the given offsets (or as string chunks). */
function aggregate(
  text: string,
  cuts: number[],
  asStrings: boolean,
  aggregator: TcptracerAggregator = new TcptracerAggregator(),
): TcptracerSummary {
  const whole = asStrings ? text : Buffer.from(text, 'utf8');
  const bounds = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...bounds, whole.length]) {
    if (to < from) continue;
    aggregator.push(whole.slice(from, to));
    from = to;
  }
  return aggregator.end();
}

const ipv4 = fc
  .tuple(fc.constantFrom(10, 20, 52, 168, 255, 1), fc.nat(255), fc.nat(255), fc.constantFrom(0, 1, 23, 255))
  .map((octets) => octets.join('.'));
const address = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('10.244.1.23', '20.50.2.10', '168.63.129.16', '10.0.0.1') },
  { weight: 2, arbitrary: ipv4 },
  { weight: 1, arbitrary: fc.constantFrom('::1', '2603:1030:20e:3::23c', 'fe80::1', '::') },
);
const comm = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('curl', '.NET TP Worker', 'java', 'grpc-default-ex', 'nginx') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', ' lead', 'a  b', 'tab\there', 'ünï', '4', '1.2.3.4', 'connect', '[::1]'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 15 }) },
);
const eventFields = fc.record({
  type: fc.constantFrom<TraceEventType>('connect', 'close', 'close', 'accept', 'unknown'),
  timeNs: fc.oneof(
    fc.integer({ min: 0, max: 10_000_000_000 }),
    fc.integer({ min: -5000, max: 0 }),
    fc.constantFrom(12_345_678_901_234, 99_999_999_999_999, 123_456_789_012_345),
  ),
  pid: fc.oneof(fc.constantFrom(18627, 748, 4194304), fc.integer({ min: 0, max: 4294967295 })),
  comm,
  v6: fc.boolean(),
  mapped: fc.boolean(),
  saddr: address,
  daddr: address,
  sport: fc.oneof(fc.integer({ min: 32768, max: 60999 }), fc.constantFrom(0, 80, 8080, 65535)),
  dport: fc.constantFrom(443, 80, 53, 8080, 5432, 0, 65535, 50001),
  netns: fc.oneof(fc.constantFrom(4026532785, 4026531840, 4026532999), fc.integer({ min: 0, max: 4294967295 })),
});
const format = fc.constantFrom<TcptracerFormat>(
  { verbose: true, timestamps: true, netnsColumn: true },
  { verbose: true, timestamps: true, netnsColumn: true },
  { verbose: true, timestamps: false, netnsColumn: true },
  { verbose: true, timestamps: true, netnsColumn: false },
  { verbose: false, timestamps: true, netnsColumn: false },
  { verbose: false, timestamps: false, netnsColumn: false },
);

/** A line as tcptracer would print it, from generated fields. */
function printed(fields: fc.Arbitrary<TcptracerFormat>): fc.Arbitrary<string> {
  return fc.tuple(eventFields, fields).map(([f, mode]) => {
    const v4 = (text: string): string => (text.includes(':') ? '10.244.1.23' : text);
    const v6 = (text: string): string => `[${text.includes(':') ? text : f.mapped ? `::ffff:${text}` : '::1'}]`;
    return formatTcptracerLine(
      {
        type: f.type as TcptracerLineFields['type'],
        timeNs: f.timeNs,
        pid: f.pid,
        comm: f.comm,
        ipVersion: f.v6 ? 6 : 4,
        saddr: f.v6 ? v6(f.saddr) : v4(f.saddr),
        daddr: f.v6 ? v6(f.daddr) : v4(f.daddr),
        sport: f.sport,
        dport: f.dport,
        netns: f.netns,
      },
      mode,
    );
  });
}

/** Lines a capture may hold: printed events (mostly), redacted or damaged ones, headers, noise. */
const captureLine = fc.oneof(
  { weight: 12, arbitrary: printed(format) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        printed(format),
        fc.nat(),
        fc.constantFrom('truncate', 'insert', 'replace', 'redact', 'squeeze', 'crlf', 'strip', 'indent'),
        fc.string({ minLength: 1, maxLength: 2 }),
      )
      .map(([line, at, how, text]) => {
        const i = at % (line.length + 1);
        if (how === 'truncate') return line.slice(0, i);
        if (how === 'insert') return line.slice(0, i) + text + line.slice(i);
        if (how === 'replace') return line.slice(0, i) + text + line.slice(i + 1);
        if (how === 'redact') return line.replace(/^(-?\d)\d{2}/, '$1xx');
        if (how === 'squeeze') return line.replace(/ +/g, ' ');
        if (how === 'crlf') return `${line}\r`;
        if (how === 'strip') return line.trimEnd();
        return `  ${line}`;
      }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constant(TCPTRACER_BANNER),
      format.map(formatTcptracerHeader),
      fc.nat(1000).map((n) => `Possibly lost ${n} samples`),
      fc.constantFrom('', '   ', '\r'),
      fc.string({ maxLength: 40 }),
    ),
  },
);

/**
 * A printed line with 1 to 3 edits made of what the format is made of (digits, padding, the separators of times,
 * addresses and IPv6, `x` of redacted times, CR, tab, a byte that is not ASCII): numbers one digit too long or past
 * their limit, paddings one space short, glued fields, the near misses a reader of columns must refuse.
 */
const nearMiss = fc
  .tuple(
    printed(format),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom('replace', 'insert', 'delete'),
        fc.constantFrom(...'0123456789 .-x:[]f6\r\t\u00e9'),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([line, edits]) => {
    let text = line;
    for (const [at, how, char] of edits) {
      const i = at % (text.length + 1);
      if (how === 'replace') text = text.slice(0, i) + char + text.slice(i + 1);
      else if (how === 'insert') text = text.slice(0, i) + char + text.slice(i);
      else text = text.slice(0, i) + text.slice(i + 1);
    }
    return text;
  });

const capture = fc
  .tuple(fc.array(captureLine, { maxLength: 60 }), fc.boolean())
  .map(([lines, newline]) => (lines.length === 0 ? '' : lines.join('\n') + (newline ? '\n' : '')));

describe('parseTcptracerLine, property', () => {
  test('parseTcptracerLine never throws, whatever the line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), captureLine), (line) => {
        parseTcptracerLine(line);
      }),
      { numRuns: 2000 },
    );
  });
});

// The WebAssembly aggregator reads in reads of at most `readSize` bytes: each cuts the lines again, down to 1 byte.
const READ_SIZES = [1, 2, 3, 7, 64, 113, 4093, WASM_READ_BYTES];
const readSize = fc.constantFrom(...READ_SIZES);
const wasmReaders = new Map<number, TcptracerWasmReader>();
/** One reader per read size, reused by one aggregator after another (so its tables are cleared between them). */
function wasmReader(size: number): TcptracerWasmReader {
  let reader = wasmReaders.get(size);
  if (reader === undefined) {
    reader = loadTcptracerWasmReader(size);
    wasmReaders.set(size, reader);
  }
  return reader;
}

interface AggregatorUnderTest {
  make(options: TcptracerAggregatorOptions, readSize: number): TcptracerAggregator;
}

const ipv4Event = (line: string): boolean => {
  const event = parseTcptracerLine(line);
  return typeof event === 'object' && !event.saddr.includes(':') && !event.daddr.includes(':');
};
// COMM is the kernel's: at most 15 bytes (longer is not what tcptracer prints, and goes the careful way).
const asciiLine = (line: string): boolean => Buffer.byteLength(line) === line.length;

describe.each<[string, AggregatorUnderTest]>([
  // The plain one: every line the careful way (parseEventLine), the product's reader where WebAssembly cannot load.
  ['the JS aggregator', { make: (options) => new TcptracerAggregator(options) }],
  ['the WebAssembly aggregator', { make: (options, size) => new WasmTcptracerAggregator(wasmReader(size), options) }],
])('properties of %s', (_name, { make }) => {
  test('every line is an event, skipped, or a banner, header, blank or lost line; nothing throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(capture, fc.string({ unit: 'binary' })),
        fc.array(fc.nat(), { maxLength: 8 }),
        readSize,
        (text, cuts, size) => {
          const summary = aggregate(text, cuts, false, make({}, size));
          const lines = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
          expect(summary.lines).toBe(lines);
          expect(
            summary.events +
              summary.skipped +
              summary.banners +
              summary.headers +
              summary.blankLines +
              summary.lostLines,
          ).toBe(summary.lines);
          const sum = (values: number[]): number => values.reduce((n, v) => n + v, 0);
          expect(sum(summary.bySource.map((s) => s.total)) + (summary.cut?.unsourcedEvents ?? 0)).toBe(summary.events);
          expect(sum(summary.aggregates.map((a) => a.count)) + (summary.cut?.unreportedEvents ?? 0)).toBe(
            sum(summary.bySource.map((s) => s.connects)),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('the fast aggregator and the careful per-line parser agree, byte chunks cut anywhere', () => {
    fc.assert(
      fc.property(capture, fc.array(fc.nat(), { maxLength: 8 }), readSize, (text, cuts, size) => {
        expect(aggregate(text, cuts, false, make({}, size))).toEqual(referenceSummary(text));
      }),
      { numRuns: 1500 },
    );
  });

  test('without destinations: the same summary, no rows, every connect in cut.unreportedEvents', () => {
    fc.assert(
      fc.property(capture, fc.array(fc.nat(), { maxLength: 8 }), readSize, (text, cuts, size) => {
        const { aggregates, cut, ...reference } = referenceSummary(text);
        const connects = reference.bySource.reduce((sum, source) => sum + source.connects, 0);
        const unsourcedEvents = cut?.unsourcedEvents ?? 0;
        expect(aggregate(text, cuts, false, make({ rowsHeld: 2, destinations: false }, size))).toEqual({
          ...reference,
          aggregates: [],
          ...(connects > 0 || unsourcedEvents > 0
            ? { cut: { unreportedEvents: connects, undercount: 0, unsourcedEvents } }
            : {}),
        });
      }),
      { numRuns: 500 },
    );
  });

  test('without destinations, no row is counted: no undercount past the rows held', () => {
    const line = (i: number): string =>
      `0             connect      100    curl             4  10.244.1.23      ${`20.0.0.${i}`.padEnd(16)} 40000  443    4026532785`;
    const text = `${Array.from({ length: 30 }, (_, i) => line(i)).join('\n')}\n`;
    expect(aggregate(text, [], false, make({ rowsHeld: 2 }, WASM_READ_BYTES)).cut?.undercount).toBeGreaterThan(0);
    expect(aggregate(text, [], false, make({ rowsHeld: 2, destinations: false }, WASM_READ_BYTES)).cut).toEqual({
      unreportedEvents: 30,
      undercount: 0,
      unsourcedEvents: 0,
    });
  });

  test('the fast aggregator and the careful per-line parser agree, string chunks cut anywhere', () => {
    fc.assert(
      fc.property(capture, fc.array(fc.nat(), { maxLength: 8 }), readSize, (text, cuts, size) => {
        expect(aggregate(text, cuts, true, make({}, size))).toEqual(referenceSummary(text));
      }),
      { numRuns: 500 },
    );
  });

  test('on realistic generated captures (glued times, 7-digit PIDs, IPv4-mapped), the fast aggregator agrees too', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        readSize,
        (seed, cuts, size) => {
          const text = [...generateTcptracer(2000, seed)].join('');
          expect(aggregate(text, cuts, false, make({}, size))).toEqual(referenceSummary(text));
        },
      ),
      { numRuns: 15 },
    );
  });

  test('repeated lines with a damaged copy in between: the byte reader never takes the damaged one', () => {
    fc.assert(
      fc.property(
        printed(format),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 1 }),
        fc.nat(),
        readSize,
        (line, at, char, time, size) => {
          const i = at % line.length;
          const damaged = line.slice(0, i) + char + line.slice(i + 1);
          const again = line.replace(/^\d+/, String(time));
          const text = `${line}\n${damaged}\n${again}\n${damaged}\n`;
          expect(aggregate(text, [], false, make({}, size))).toEqual(referenceSummary(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('near misses: printed lines with a few of the format’s own characters changed, inserted or deleted', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(printed(format), nearMiss), { maxLength: 30 }), readSize, (lines, size) => {
        const text = `${lines.join('\n')}\n`;
        expect(aggregate(text, [], false, make({}, size))).toEqual(referenceSummary(text));
      }),
      { numRuns: 1000 },
    );
  });

  test('past the memory bound, counts are low by at most the stated undercount, and no busier row is lost', () => {
    const held = 3;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 200, max: 3000 }),
        readSize,
        (seed, events, size) => {
          const text = [...generateTcptracer(events, seed)].join('');
          const aggregator = make({ rowsHeld: held }, size);
          aggregator.push(text);
          const summary = aggregator.end();
          const exact = referenceSummary(text);
          // Per-source totals are exact whatever was pruned.
          expect(summary.bySource).toEqual(exact.bySource);
          const connects = exact.bySource.reduce((n, s) => n + s.connects, 0);
          const undercount = summary.cut?.undercount ?? 0;
          expect(undercount).toBeLessThanOrEqual(connects / (held + 1));
          const key = (a: TraceAggregate): string => `${a.saddr} ${a.netns} ${a.daddr}:${a.dport}`;
          const got = new Map(summary.aggregates.map((a) => [key(a), a.count]));
          const all = new Map<string, number>();
          for (const a of referenceSummaryUncut(text)) all.set(key(a), a.count);
          for (const [row, count] of got) {
            const truth = all.get(row) ?? 0;
            expect(count).toBeLessThanOrEqual(truth);
            expect(count).toBeGreaterThanOrEqual(truth - undercount);
          }
          for (const [row, truth] of all) if (truth > undercount) expect(got.has(row)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('the WebAssembly reader', () => {
  // -v lines only (long type names; not `unknown`): the rest is rare enough to go the careful way.
  const takes = (line: string): boolean =>
    ipv4Event(line) &&
    asciiLine(line) &&
    inferTcptracerMode(line)?.verbose === true &&
    (parseTcptracerLine(line) as TcptracerEvent).type !== 'unknown';

  test('takes every -v line tcptracer prints with IPv4 or IPv4-mapped addresses', () => {
    fc.assert(
      fc.property(fc.array(printed(format), { minLength: 1, maxLength: 30 }), (lines) => {
        const text = `${lines.join('\n')}\n`;
        const aggregator = new WasmTcptracerAggregator(wasmReader(WASM_READ_BYTES));
        aggregator.push(Buffer.from(text));
        const summary = aggregator.end();
        expect(aggregator.takenLines).toBe(lines.filter(takes).length);
        expect(summary).toEqual(referenceSummary(text));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the WebAssembly aggregator gives the JS aggregator’s summary', () => {
  /** Generated lines (so that there are rows to prune) with capture lines put in among them. */
  const interleaved = fc
    .tuple(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 300, max: 1500 }),
      fc.array(fc.tuple(fc.nat(), captureLine), { maxLength: 40 }),
      fc.boolean(),
    )
    .map(([seed, events, inserted, newline]) => {
      const lines = [...generateTcptracer(events, seed)].map((line) => line.slice(0, -1));
      for (const [at, line] of inserted) lines.splice(at % (lines.length + 1), 0, line);
      return lines.join('\n') + (newline ? '\n' : '');
    });

  test('with pruning forced (1 to 5 rows held), refused lines interleaved, read in reads of 1 byte up', () => {
    fc.assert(
      fc.property(
        interleaved,
        fc.constantFrom(1, 2, 3, 5),
        fc.array(fc.nat(), { maxLength: 6 }),
        readSize,
        (text, held, cuts, size) => {
          const wasm = aggregate(text, cuts, false, new WasmTcptracerAggregator(wasmReader(size), { rowsHeld: held }));
          const js = aggregate(text, [], false, new TcptracerAggregator({ rowsHeld: held }));
          expect(wasm.cut?.undercount ?? 0).toBeGreaterThan(0);
          expect(wasm).toEqual(js);
        },
      ),
      { numRuns: 60 },
    );
  });

  // Every number of a -t -v line at its limit and past it: the WebAssembly takes the first, the careful way decides on
  // the second (between two good lines, so that a line taken wrongly shows).
  const good = TV_MODE[1]!;
  test.each<[string, string]>([
    ['TIME of 15 digits, glued to TYPE', good.replace('0             connect', '123456789012345connect')],
    ['TIME of 16 digits', good.replace('0             connect', '1234567890123456connect')],
    ['TIME of -15 digits', good.replace('0             connect', '-123456789012345connect')],
    ['TIME of -16 digits', good.replace('0             connect', '-1234567890123456connect')],
    ['PID 4294967295', good.replace('18627  ', '4294967295 ')],
    ['PID 4294967296', good.replace('18627  ', '4294967296 ')],
    ['PID of 11 digits', good.replace('18627  ', '12345678901 ')],
    ['SPORT 65535', good.replace('53746 ', '65535 ')],
    ['SPORT 65536', good.replace('53746 ', '65536 ')],
    ['SPORT 99999', good.replace('53746 ', '99999 ')],
    ['DPORT 65535', good.replace('443    ', '65535  ')],
    ['DPORT 65536', good.replace('443    ', '65536  ')],
    ['DPORT 99999', good.replace('443    ', '99999  ')],
    ['DPORT 065535, six digits', good.replace('443    ', '065535 ')],
    ['NETNS 4294967295', good.replace('4026532785', '4294967295')],
    ['NETNS 4294967296', good.replace('4026532785', '4294967296')],
    ['NETNS of 11 digits', good.replace('4026532785', '40265327850')],
    ['an octet 255', good.replace('20.50.2.10 ', '20.50.2.255')],
    ['an octet 256', good.replace('20.50.2.10 ', '20.50.2.256')],
    ['an octet with a leading zero', good.replace('20.50.2.10 ', '20.50.2.010')],
    ['IPv4-mapped, an octet 256', TV_MODE[4]!.replace('[::ffff:10.244.1.23]', '[::ffff:10.244.1.256]')],
  ])('%s: the careful parser’s reading', (_name, line) => {
    expect(line).not.toBe(good);
    const text = `${good}\n${line}\n${good}\n`;
    const expected = referenceSummary(text);
    expect(aggregate(text, [], false)).toEqual(expected);
    for (const size of [7, 4093, WASM_READ_BYTES])
      expect(aggregate(text, [], false, new WasmTcptracerAggregator(wasmReader(size)))).toEqual(expected);
  });

  test('pruning when more rows than are held count past the histogram (≥ 256)', () => {
    // 8 rows met 300 to 370 times fill the table of 4 × 2 rows; then every new destination prunes, among more connects
    // on the busy rows.
    const connect = (dest: number): string =>
      formatTcptracerLine(
        {
          type: 'connect',
          timeNs: dest,
          pid: 100,
          comm: 'curl',
          ipVersion: 4,
          saddr: '10.244.1.23',
          daddr: `20.0.${dest >> 8}.${dest & 255}`,
          sport: 40000,
          dport: 443,
          netns: NETNS,
        },
        { verbose: true, timestamps: true, netnsColumn: true },
      );
    const lines: string[] = [];
    for (let round = 0; round < 370; round++)
      for (let row = 0; row < 8; row++) if (round < 300 + 10 * row) lines.push(connect(row));
    for (let dest = 8; dest < 200; dest++) lines.push(connect(dest), connect(dest % 8), connect(7));
    const text = `${lines.join('\n')}\n`;
    const js = aggregate(text, [], false, new TcptracerAggregator({ rowsHeld: 2 }));
    expect(js.cut?.undercount).toBeGreaterThan(256);
    for (const size of [113, 4093, WASM_READ_BYTES])
      expect(aggregate(text, [], false, new WasmTcptracerAggregator(wasmReader(size), { rowsHeld: 2 }))).toEqual(js);
  });

  test(`past MAX_SOURCES (${MAX_SOURCES.toLocaleString('en')}), with IPv6 sources (read the careful way) among them: the same sources cut`, () => {
    const lines = [TCPTRACER_BANNER];
    for (let i = 0; i < MAX_SOURCES + 2000; i++) {
      const v6 = i % 7 === 3;
      const saddr = v6 ? `[fd00::${i.toString(16)}]` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const daddr = v6 ? `[2603:1030::${(i % 50).toString(16)}]` : `20.0.${i % 3}.${i % 200}`;
      for (const type of ['connect', 'close'] as const)
        lines.push(
          formatTcptracerLine(
            {
              type,
              timeNs: i * 1000,
              pid: 1000 + (i % 9),
              comm: 'w',
              ipVersion: v6 ? 6 : 4,
              saddr,
              daddr,
              sport: 40000 + (i % 999),
              dport: 443,
              netns: 4026531840 + (i % 3),
            },
            { verbose: true, timestamps: true, netnsColumn: true },
          ),
        );
    }
    const text = `${lines.join('\n')}\n`;
    const js = aggregate(text, [], false);
    expect(js.cut?.unsourcedEvents).toBe(4000);
    for (const size of [4093, WASM_READ_BYTES]) {
      expect(aggregate(text, [], false, new WasmTcptracerAggregator(wasmReader(size)))).toEqual(js);
    }
  });

  const complete = TV_MODE[1]!;
  test.each<[string, string]>([
    ['a final line without a newline', `${complete}\n${complete}`],
    ['a final line cut inside NETNS', `${complete}\n${complete.slice(0, -3)}`],
    ['a final line cut right after DPORT', `${complete}\n${complete.slice(0, complete.indexOf('443') + 3)}`],
    ['a final -N line with its DPORT padding', `${TVN_MODE[1]!}\n${TVN_MODE[1]!}`],
    ['a final -N line cut inside DPORT', `${TVN_MODE[1]!}\n${TVN_MODE[1]!.trimEnd().slice(0, -1)}`],
    ['a final header after events (the mode is the first event’s)', `${TVN_MODE[1]!}\n${TV_MODE[0]!}`],
    ['a header after events', `${TVN_MODE[1]!}\n${TV_MODE[0]!}\n${complete}\n`],
    ['a line of 70 KiB between events', `${complete}\n${'x'.repeat(70 * 1024)}\n${complete}\n`],
    ['a line of exactly 64 KiB, then one byte more', `${'y'.repeat(65536)}\n${'z'.repeat(65537)}\n${complete}\n`],
    ['a final line of 70 KiB', `${complete}\n${'x'.repeat(70 * 1024)}`],
    ['CRLF line ends and a byte-order mark', `\uFEFF${complete}\r\n${complete}\r\n`],
    ['blank lines, lost samples, the banner', `${BANNER}\n\n${complete}\nPossibly lost 3 samples\n   \n`],
    ['every mode of research §1.4', `${[...DEFAULT_MODE, ...T_MODE, ...V_MODE, ...TV_MODE, ...TVN_MODE].join('\n')}\n`],
    ['the runbook sample', RUNBOOK],
  ])('%s, in reads of every size', (_name, text) => {
    const js = aggregate(text, [], false);
    for (const size of READ_SIZES) {
      // Lines of 64 KiB in 1- and 2-byte reads move their start ~65,000 times: nothing the bigger sizes do not test.
      if (text.length > 65536 && size < 3) continue;
      expect(aggregate(text, [], false, new WasmTcptracerAggregator(wasmReader(size)))).toEqual(js);
    }
  });

  test('a surrogate pair split between two string chunks is one character', () => {
    const line = complete.replace('curl', 'c\u{1F600}l ');
    const cut = line.indexOf('\u{1F600}') + 1;
    const aggregator = new WasmTcptracerAggregator(wasmReader(WASM_READ_BYTES));
    aggregator.push(line.slice(0, cut));
    aggregator.push(`${line.slice(cut)}\n`);
    expect(aggregator.end().aggregates[0]?.comms).toEqual(['c\u{1F600}l']);
  });

  test.each([
    ['after the start of the final line', `${complete}\n${complete.slice(0, 40)}`, `${complete.slice(0, 40)}\uFFFD`],
    ['alone on the final line', `${complete}\n`, '\uFFFD'],
  ])('string chunks ending in half a surrogate pair %s: the line keeps it, as U+FFFD', (_name, before, final) => {
    const pushes = [before, '\uD83D'];
    const js = new TcptracerAggregator();
    const wasm = new WasmTcptracerAggregator(wasmReader(4093));
    for (const text of pushes) {
      js.push(text);
      wasm.push(text);
    }
    const summary = wasm.end();
    expect(summary.skippedSamples).toEqual([final]);
    expect(summary).toEqual(js.end());
  });

  test('a reader serves one aggregator at a time, from construction to end()', () => {
    const reader = loadTcptracerWasmReader(4093);
    const first = new WasmTcptracerAggregator(reader);
    expect(() => new WasmTcptracerAggregator(reader)).toThrow('in use');
    first.end();
    expect(() => new WasmTcptracerAggregator(reader)).not.toThrow();
  });
});

/** Every connect row of a capture with its true count (no report cut), from the careful parser. */
function referenceSummaryUncut(text: string): TraceAggregate[] {
  const rows = new Map<string, TraceAggregate>();
  for (const line of text.split('\n')) {
    const event = parseTcptracerLine(line);
    if (typeof event !== 'object' || event.type !== 'connect') continue;
    const key = `${event.saddr} ${event.netns ?? 0} ${event.daddr}:${event.dport}`;
    const row = rows.get(key);
    if (row) row.count++;
    else
      rows.set(key, {
        type: 'connect',
        saddr: event.saddr,
        daddr: event.daddr,
        dport: event.dport,
        netns: event.netns ?? 0,
        count: 1,
        pids: [],
        comms: [],
      });
  }
  return [...rows.values()];
}
