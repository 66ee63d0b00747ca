// Windows `netstat -aon`: the real Windows 10 captures and the Microsoft article's sample quoted by the research, and
// properties over generated tables. (No Windows here, so no live run: the captures are the evidence.)
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import type { SocketRow } from '../../lib/evidence/socketTable.ts';
import { parseWindowsNetstat } from '../../lib/evidence/windowsNetstat.ts';
import type { TcpState } from '../../lib/model.ts';

// Verbatim from research/tool-output-formats.md §6 (jc's `netstat-aon.out`, whose first line is empty), with the
// CRLF line endings Windows writes (the research quotes it with LF).
const AON = `
Active Connections

  Proto  Local Address          Foreign Address        State           PID
  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1712
  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4
  TCP    127.0.0.1:1031         127.0.0.1:1032         ESTABLISHED     10644
  TCP    192.168.31.221:139     0.0.0.0:0              LISTENING       4
  TCP    [::]:135               [::]:0                 LISTENING       1712
  TCP    [::]:49667             [::]:0                 LISTENING       2160
  TCP    [::1]:1025             [::]:0                 LISTENING       6088
  UDP    0.0.0.0:53             *:*                                    4808
  UDP    [::]:5353              *:*                                    3404
  UDP    [::1]:1900             *:*                                    8844
  UDP    [fe80::244e:2f1e:2096:62b2%9]:1900  *:*                                    8844
  UDP    [fe80::f5d1:8bf7:c410:e325%64]:52284  *:*                                    8844
`.replaceAll('\n', '\r\n');
// §6: from jc's `netstat-aonb.out`: `-b` prints each row's owner on the lines under it.
const AONB = `  TCP    192.168.31.221:1028    169.150.202.133:443    ESTABLISHED     6608
 [AnyDesk.exe]
  TCP    192.168.31.221:4604    82.102.152.152:443     CLOSE_WAIT      27568
 [SearchApp.exe]
  TCP    192.168.31.221:4713    157.240.252.61:5222    TIME_WAIT       0
  TCP    192.168.31.221:4699    20.54.232.160:443      ESTABLISHED     17684
  CDPUserSvc_46a8de2e
 [svchost.exe]
  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4
 Can not obtain ownership information
`.replaceAll('\n', '\r\n');
// §6: the Microsoft article's `netstat -aon | find /i "established"` in a Windows pod, hand-redacted (`x`).
const MS_ARTICLE = `  TCP    10.x.x.x:80            10.x.x.x:9818       ESTABLISHED     4
  TCP    10.x.x.x:80            10.x.x.x:15892      ESTABLISHED     4
  TCP    10.x.x.x:80            10.x.x.x:55785      ESTABLISHED     4
  TCP    10.x.x.x:49167         13.x.x.x:80         ESTABLISHED     9188 
`;

function row(
  proto: SocketRow['proto'],
  local: string,
  remote: string,
  state: TcpState,
  owner: { pid?: number; program?: string } = {},
): SocketRow {
  const split = (endpoint: string) => {
    const colon = endpoint.lastIndexOf(':');
    return [endpoint.slice(0, colon), Number(endpoint.slice(colon + 1))] as const;
  };
  const [localIp, localPort] = split(local);
  const [remoteIp, remotePort] = split(remote);
  return { proto, localIp, localPort, remoteIp, remotePort, state, ...owner };
}

describe('parseWindowsNetstat on the captures', () => {
  test('`netstat -aon`: the one connection; listeners and UDP rows dropped; banner, header, blanks are not data', () => {
    const result = parseWindowsNetstat(AON);
    expect(result.connections).toEqual([row('tcp', '127.0.0.1:1031', '127.0.0.1:1032', 'ESTABLISHED', { pid: 10644 })]);
    expect(result).toMatchObject({ lines: 16, skipped: 0, skippedSamples: [] });
  });

  test('`netstat -aonb`: each row takes the program printed under it; service names and "cannot" lines are not data', () => {
    const result = parseWindowsNetstat(AONB);
    expect(result.connections).toEqual([
      row('tcp', '192.168.31.221:1028', '169.150.202.133:443', 'ESTABLISHED', { pid: 6608, program: 'AnyDesk.exe' }),
      row('tcp', '192.168.31.221:4604', '82.102.152.152:443', 'CLOSE_WAIT', { pid: 27568, program: 'SearchApp.exe' }),
      // PID 0 is the System Idle Process: no owner.
      row('tcp', '192.168.31.221:4713', '157.240.252.61:5222', 'TIME_WAIT'),
      row('tcp', '192.168.31.221:4699', '20.54.232.160:443', 'ESTABLISHED', { pid: 17684, program: 'svchost.exe' }),
    ]);
    expect(result).toMatchObject({ lines: 10, skipped: 0 });
  });

  test('the redacted Microsoft article sample: every row skipped with a sample, none misread', () => {
    const result = parseWindowsNetstat(MS_ARTICLE);
    expect(result).toMatchObject({ lines: 4, skipped: 4, connections: [] });
    expect(result.skippedSamples[3]).toBe('  TCP    10.x.x.x:49167         13.x.x.x:80         ESTABLISHED     9188 ');
  });

  test('sockets aggregate by state and remote endpoint, with the netns given', () => {
    expect(parseWindowsNetstat(AONB, { netns: 7 }).sockets).toEqual([
      { netns: 7, state: 'CLOSE_WAIT', remoteIp: '82.102.152.152', remotePort: 443, count: 1 },
      { netns: 7, state: 'ESTABLISHED', remoteIp: '169.150.202.133', remotePort: 443, count: 1 },
      { netns: 7, state: 'ESTABLISHED', remoteIp: '20.54.232.160', remotePort: 443, count: 1 },
      { netns: 7, state: 'TIME_WAIT', remoteIp: '157.240.252.61', remotePort: 5222, count: 1 },
    ]);
  });
});

describe('parseWindowsNetstat details', () => {
  test.each<[string, TcpState]>([
    ['ESTABLISHED', 'ESTABLISHED'],
    ['SYN_SENT', 'SYN_SENT'],
    ['SYN_RECEIVED', 'SYN_RECV'],
    ['FIN_WAIT_1', 'FIN_WAIT1'],
    ['FIN_WAIT_2', 'FIN_WAIT2'],
    ['CLOSE_WAIT', 'CLOSE_WAIT'],
    ['CLOSING', 'CLOSING'],
    ['LAST_ACK', 'LAST_ACK'],
    ['TIME_WAIT', 'TIME_WAIT'],
    ['CLOSED', 'CLOSE'],
  ])('state %s reads as %s', (name, state) => {
    const result = parseWindowsNetstat(`  TCP    10.240.0.9:50001       20.50.2.1:443          ${name.padEnd(16)}3120`);
    expect(result.connections).toEqual([row('tcp', '10.240.0.9:50001', '20.50.2.1:443', state, { pid: 3120 })]);
  });

  test('`netstat -an` (no PID column) reads the same rows without owners', () => {
    const text = [
      '  Proto  Local Address          Foreign Address        State',
      '  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING',
      '  TCP    10.240.0.9:50001       20.50.2.1:443          ESTABLISHED',
      '  UDP    0.0.0.0:53             *:*                    ',
    ].join('\r\n');
    const result = parseWindowsNetstat(text);
    expect(result).toMatchObject({ lines: 4, skipped: 0 });
    expect(result.connections).toEqual([row('tcp', '10.240.0.9:50001', '20.50.2.1:443', 'ESTABLISHED')]);
  });

  test('IPv6 rows: brackets and zone ids removed, ::ffff: unwrapped, `TCPv6` read as TCP', () => {
    const text = [
      '  TCP    [2001:db8::9]:50001    [2603:1030:20c:5::2a]:443  ESTABLISHED     3120',
      '  TCP    [fe80::244e:2f1e:2096:62b2%9]:50002  [fe80::1%9]:22  ESTABLISHED     3120',
      '  TCPv6  [::ffff:10.240.0.9]:50003  [::ffff:20.50.2.1]:443  SYN_SENT        3120',
    ].join('\r\n');
    expect(parseWindowsNetstat(text).connections).toEqual([
      row('tcp6', '2001:db8::9:50001', '2603:1030:20c:5::2a:443', 'ESTABLISHED', { pid: 3120 }),
      row('tcp6', 'fe80::244e:2f1e:2096:62b2:50002', 'fe80::1:22', 'ESTABLISHED', { pid: 3120 }),
      row('tcp6', '10.240.0.9:50003', '20.50.2.1:443', 'SYN_SENT', { pid: 3120 }),
    ]);
  });

  test('BOUND (`-q`) sockets have no peer: dropped, not skipped', () => {
    const result = parseWindowsNetstat('  TCP    0.0.0.0:50004          0.0.0.0:0              BOUND           3120');
    expect(result).toMatchObject({ lines: 1, skipped: 0, connections: [] });
  });

  test('a banner or header worded differently is still a banner or header', () => {
    const text =
      '\r\nActive connections\r\n\r\n  Proto  Local address          Remote address         State           PID\r\n';
    expect(parseWindowsNetstat(text)).toMatchObject({ lines: 4, skipped: 0 });
  });

  const VALID = '  TCP    10.240.0.9:50001       20.50.2.1:443          ESTABLISHED     3120';
  test.each([
    ['a translated state (German Windows)', VALID.replace('ESTABLISHED', 'HERGESTELLT')],
    ['a non-numeric PID', VALID.replace('3120', 'svc')],
    ['an extra column', `${VALID}     InHost`],
    ['a missing foreign address', VALID.replace('20.50.2.1:443', '')],
    ['a host name (netstat run without -n)', VALID.replace('20.50.2.1:443', 'example.com:https')],
    ['a wildcard peer on a connection', VALID.replace('20.50.2.1:443', '0.0.0.0:0    ')],
    ['an IPv4 socket with an IPv6 peer', VALID.replace('20.50.2.1:443', '[::1]:443    ')],
    ['a program line with no row above it', ' [svchost.exe]'],
    ['a one-word line with no program line under it', '  CDPUserSvc_46a8de2e'],
    ['a command prompt', 'C:\\inetpub\\wwwroot>netstat -aon | find /i "established"'],
  ])('%s is counted as skipped, with a sample, not thrown', (_what, line) => {
    // After a blank line: right under a row, a program line would belong to that row (`-b`).
    const result = parseWindowsNetstat(`${AON}\r\n${line}\r\n`);
    expect(result).toMatchObject({ lines: 18, skipped: 1, skippedSamples: [line] });
    expect(result.connections).toHaveLength(1);
  });
});

describe('parseWindowsNetstat properties', () => {
  const countLines = (text: string) => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

  test('never throws on arbitrary text; every line is counted, and no more rows or skips than lines', () => {
    const anyLine = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(...AON.split('\r\n'), ...AONB.split('\r\n'), ...MS_ARTICLE.split('\n')),
      fc
        .array(fc.constantFrom('TCP', 'UDP', '[::]:0', '[x.exe]', '*:*', '0', 'LISTENING', 'ESTABLISHED', '%9'), {
          maxLength: 8,
        })
        .map((t) => t.join('  ')),
    );
    fc.assert(
      fc.property(fc.array(anyLine, { maxLength: 30 }), fc.boolean(), (lines, crlf) => {
        const text = lines.join(crlf ? '\r\n' : '\n');
        const result = parseWindowsNetstat(text);
        expect(result.lines).toBe(countLines(text));
        expect(result.connections.length + result.skipped).toBeLessThanOrEqual(result.lines);
        // Every connection is counted once: as a connection, or as accepted on a listening port.
        expect(result.sockets.reduce((n, s) => n + s.count, 0) + result.inbound.reduce((n, i) => n + i.count, 0)).toBe(
          result.connections.length,
        );
        expect(result.connections.some((c) => c.state === 'LISTEN')).toBe(false);
      }),
    );
  });

  // Tables laid out like the captures (two leading spaces, padded columns that overflow with long addresses, CRLF)
  // over generated sockets; the expected rows are built independently of the parser.
  const STATES: [string, TcpState][] = [
    ['LISTENING', 'LISTEN'],
    ['ESTABLISHED', 'ESTABLISHED'],
    ['SYN_SENT', 'SYN_SENT'],
    ['SYN_RECEIVED', 'SYN_RECV'],
    ['FIN_WAIT_1', 'FIN_WAIT1'],
    ['FIN_WAIT_2', 'FIN_WAIT2'],
    ['CLOSE_WAIT', 'CLOSE_WAIT'],
    ['CLOSING', 'CLOSING'],
    ['LAST_ACK', 'LAST_ACK'],
    ['TIME_WAIT', 'TIME_WAIT'],
  ];
  const v4 = fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
  const v6 = fc
    .array(fc.nat(255), { minLength: 16, maxLength: 16 })
    .map((b) => (ipaddr.fromByteArray(b) as ipaddr.IPv6).toRFC5952String())
    .filter((ip) => !ip.startsWith('::ffff:'));
  // [as printed, as read]
  const address = (family: 'v4' | 'v6' | 'zoned') =>
    family === 'v4'
      ? v4.map((ip) => [ip, ip] as const)
      : family === 'v6'
        ? v6.map((ip) => [`[${ip}]`, ip] as const)
        : fc.tuple(v6, fc.integer({ min: 1, max: 99 })).map(([ip, zone]) => [`[${ip}%${zone}]`, ip] as const);
  const socket = fc.constantFrom('v4' as const, 'v6' as const, 'zoned' as const).chain((family) =>
    fc.record({
      proto: fc.constant(family === 'v4' ? ('tcp' as const) : ('tcp6' as const)),
      local: address(family),
      remote: address(family),
    }),
  );
  const generatedRow = fc.record({
    socket,
    localPort: fc.integer({ min: 1, max: 65535 }),
    remotePort: fc.integer({ min: 1, max: 65535 }),
    state: fc.constantFrom(...STATES),
    pid: fc.nat(99999),
  });
  type GeneratedRow = typeof generatedRow extends fc.Arbitrary<infer T> ? T : never;
  const column = (text: string, width: number) => (text.length < width ? text.padEnd(width) : `${text}  `);
  const render = (r: GeneratedRow, withPid: boolean) =>
    `  TCP    ${column(`${r.socket.local[0]}:${r.localPort}`, 23)}${column(`${r.socket.remote[0]}:${r.remotePort}`, 23)}` +
    (withPid ? `${r.state[0].padEnd(16)}${r.pid}` : r.state[0]);
  const expectedRow = (r: GeneratedRow, withPid: boolean): SocketRow => ({
    proto: r.socket.proto,
    localIp: r.socket.local[1],
    localPort: r.localPort,
    remoteIp: r.socket.remote[1],
    remotePort: r.remotePort,
    state: r.state[1],
    ...(withPid && r.pid > 0 ? { pid: r.pid } : {}),
  });
  const FRAMES = [
    '',
    'Active Connections',
    '  Proto  Local Address          Foreign Address        State           PID',
  ];
  const IGNORED_LINES = [
    '  UDP    0.0.0.0:53             *:*                                    4808',
    '  UDP    [fe80::244e:2f1e:2096:62b2%9]:1900  *:*                                    8844',
    '  TCP    [::]:135               [::]:0                 LISTENING       1712',
  ];
  const entry = fc.oneof(
    { weight: 4, arbitrary: generatedRow.map((r) => ({ kind: 'row' as const, r })) },
    fc.constantFrom(...FRAMES).map((text) => ({ kind: 'frame' as const, text })),
    fc.constantFrom(...IGNORED_LINES).map((text) => ({ kind: 'ignored' as const, text })),
  );
  type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;
  const table = fc.record({ entries: fc.array(entry, { maxLength: 40 }), withPid: fc.boolean() });
  const renderEntry = (e: Entry, withPid: boolean) => (e.kind === 'row' ? render(e.r, withPid) : e.text);

  test('generated tables: lines = rows + frames + ignored + skipped, with nothing skipped and every row exact', () => {
    fc.assert(
      fc.property(table, ({ entries, withPid }) => {
        const text = entries.map((e) => `${renderEntry(e, withPid)}\r\n`).join('');
        const result = parseWindowsNetstat(text, { netns: 3 });
        const rows = entries.flatMap((e) => (e.kind === 'row' ? [e.r] : []));
        const kept = rows.filter((r) => r.state[1] !== 'LISTEN');
        const frames = entries.filter((e) => e.kind === 'frame').length;
        const ignored = entries.filter((e) => e.kind === 'ignored').length + rows.length - kept.length;
        expect(result.skipped).toBe(0);
        expect(result.lines).toBe(kept.length + frames + ignored + result.skipped);
        expect(result.connections).toEqual(kept.map((r) => expectedRow(r, withPid)));
        // Every kept row once: as a connection, or as accepted on a port a LISTENING row has.
        expect(result.sockets.reduce((n, s) => n + s.count, 0) + result.inbound.reduce((n, i) => n + i.count, 0)).toBe(
          kept.length,
        );
        expect(result.sockets.every((s) => s.netns === 3)).toBe(true);
      }),
    );
  });

  test('generated tables with some lines cut short: never throws, the intact rows are all still read', () => {
    const cutTable = table.chain(({ entries, withPid }) =>
      fc.record({
        entries: fc.constant(entries),
        withPid: fc.constant(withPid),
        cuts: fc.array(fc.option(fc.nat(120), { nil: undefined }), {
          minLength: entries.length,
          maxLength: entries.length,
        }),
      }),
    );
    fc.assert(
      fc.property(cutTable, ({ entries, withPid, cuts }) => {
        const lines = entries.map((e, i) => {
          const line = renderEntry(e, withPid);
          const cut = cuts[i];
          return cut === undefined || cut >= line.length ? line : line.slice(0, cut);
        });
        const text = lines.join('\r\n');
        const result = parseWindowsNetstat(text);
        expect(result.lines).toBe(countLines(text));
        expect(result.connections.length + result.skipped).toBeLessThanOrEqual(result.lines);
        const intact = entries.flatMap((e, i) =>
          e.kind === 'row' && e.r.state[1] !== 'LISTEN' && lines[i] === renderEntry(e, withPid)
            ? [expectedRow(e.r, withPid)]
            : [],
        );
        const remaining = result.connections.map((c) => JSON.stringify(c));
        for (const expected of intact) {
          const at = remaining.indexOf(JSON.stringify(expected));
          expect(at).toBeGreaterThanOrEqual(0);
          remaining.splice(at, 1);
        }
      }),
    );
  });
});
