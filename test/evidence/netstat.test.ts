// net-tools `netstat -t…`: the research's live captures, this machine's real netstat over connections we open
// ourselves on loopback, and properties over generated tables (never throws; every line is accounted for).
import { execFileSync, spawnSync } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { parseNetstat } from '../../lib/evidence/netstat.ts';
import type { SocketRow } from '../../lib/evidence/socketTable.ts';
import type { TcpState } from '../../lib/model.ts';

// Verbatim from research/tool-output-formats.md §5.1 ([LIVE] `netstat -ptn` as root), trailing padding included.
const LIVE_PTN = `Active Internet connections (w/o servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    
tcp        0      0 127.0.0.1:34382         127.0.0.1:18080         ESTABLISHED 9422/python3        
tcp        0      0 127.0.0.1:59358         127.0.0.1:18081         FIN_WAIT2   -                   
tcp        1      0 127.0.0.1:18081         127.0.0.1:59358         CLOSE_WAIT  9422/python3        
tcp        0      0 127.0.0.1:18081         127.0.0.1:59346         ESTABLISHED 9422/python3        
tcp6       0      0 ::1:18080               ::1:57540               ESTABLISHED 9422/python3        
tcp6       0      0 127.0.0.1:59346         127.0.0.1:18081         ESTABLISHED 9422/python3        
tcp6       0      0 127.0.0.1:18080         127.0.0.1:34382         ESTABLISHED 9422/python3        
tcp6       0      0 ::1:57540               ::1:18080               ESTABLISHED 9422/python3        
`;
// §5.1: "As uid 65534: the same lines with every program field `-`, and on stderr: …" (merged here, as a capture of
// 2>&1 has it).
const NOT_ROOT_NOTICE = '(No info could be read for "-p": geteuid()=65534 but you should be root.)';
// §5.1: the listener `-atnp` adds, the TIME_WAIT rows without -p, and the truncation capture.
const LISTENER = 'tcp6       0      0 :::18080                :::*                    LISTEN      9422/python3';
const TIME_WAIT_V4 = 'tcp        0      0 127.0.0.1:42722         127.0.0.1:18090         TIME_WAIT  ';
const TIME_WAIT_V6 = 'tcp6       0      0 ::1:55816               ::1:18091               TIME_WAIT  ';
const TRUNCATED = 'tcp6       0      0 fd12:3456:789a:bc:44321 fd12:3456:789a:bc:47384 ESTABLISHED';
const WIDE =
  'tcp6       0      0 fd12:3456:789a:bcde:1234:5678:9abc:def0:44321 fd12:3456:789a:bcde:1234:5678:9abc:def0:47384 ESTABLISHED';
// §5.1: the Microsoft article's in-pod sample, hand-redacted (`x`): not an address, so not a connection.
const MS_ARTICLE = 'tcp        0      0 10.x.x.x:xxxx        20.x.x.x:443       ESTABLISHED xxxxx3/telnet';

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

const python = { pid: 9422, program: 'python3' };

describe('parseNetstat on the live captures', () => {
  test('`netstat -ptn` as root: every row, in order, with its pid and program; banner and header are not data', () => {
    const result = parseNetstat(LIVE_PTN);
    expect(result.connections).toEqual([
      row('tcp', '127.0.0.1:34382', '127.0.0.1:18080', 'ESTABLISHED', python),
      // An orphaned socket: `-` even as root.
      row('tcp', '127.0.0.1:59358', '127.0.0.1:18081', 'FIN_WAIT2'),
      row('tcp', '127.0.0.1:18081', '127.0.0.1:59358', 'CLOSE_WAIT', python),
      row('tcp', '127.0.0.1:18081', '127.0.0.1:59346', 'ESTABLISHED', python),
      row('tcp6', '::1:18080', '::1:57540', 'ESTABLISHED', python),
      // Dual-stack sockets (`::ffff:127.0.0.1` in the kernel): netstat already prints them as IPv4.
      row('tcp6', '127.0.0.1:59346', '127.0.0.1:18081', 'ESTABLISHED', python),
      row('tcp6', '127.0.0.1:18080', '127.0.0.1:34382', 'ESTABLISHED', python),
      row('tcp6', '::1:57540', '::1:18080', 'ESTABLISHED', python),
    ]);
    expect(result).toMatchObject({ lines: 10, skipped: 0, skippedSamples: [] });
  });

  test('the same table as a non-root user: `-` owners and the stderr notice merged in, nothing skipped', () => {
    const text = `${LIVE_PTN.replaceAll('9422/python3', '-           ')}${NOT_ROOT_NOTICE}\n`;
    const result = parseNetstat(text);
    expect(result).toMatchObject({ lines: 11, skipped: 0 });
    expect(result.connections).toHaveLength(8);
    expect(result.connections.every((c) => c.pid === undefined && c.program === undefined)).toBe(true);
  });

  test('the two-line "Not all processes could be identified" notice is not data either', () => {
    const notice =
      '(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)\n';
    expect(parseNetstat(notice + LIVE_PTN)).toMatchObject({ lines: 12, skipped: 0 });
  });

  test('`-atnp`: the listener is read and dropped, not skipped', () => {
    const text = `${LIVE_PTN.replace('(w/o servers)', '(servers and established)')}${LISTENER}\n`;
    const result = parseNetstat(text);
    expect(result).toMatchObject({ lines: 11, skipped: 0 });
    expect(result.connections).toHaveLength(8);
    expect(result.connections.some((c) => c.state === 'LISTEN')).toBe(false);
  });

  test('TIME_WAIT rows of `netstat -tn` (no program column, padded state) are connections without an owner', () => {
    const result = parseNetstat(`${TIME_WAIT_V4}\n${TIME_WAIT_V6}\n`);
    expect(result.connections).toEqual([
      row('tcp', '127.0.0.1:42722', '127.0.0.1:18090', 'TIME_WAIT'),
      row('tcp6', '::1:55816', '::1:18091', 'TIME_WAIT'),
    ]);
    expect(result.skipped).toBe(0);
  });

  test('an IPv6 address cut by netstat without -W is skipped with a sample; with -W it is read whole', () => {
    const cut = parseNetstat(TRUNCATED);
    expect(cut).toMatchObject({ lines: 1, skipped: 1, skippedSamples: [TRUNCATED], connections: [] });
    const wide = parseNetstat(WIDE);
    expect(wide.connections).toEqual([
      row(
        'tcp6',
        'fd12:3456:789a:bcde:1234:5678:9abc:def0:44321',
        'fd12:3456:789a:bcde:1234:5678:9abc:def0:47384',
        'ESTABLISHED',
      ),
    ]);
  });

  test('the redacted Microsoft article sample is skipped, not misread', () => {
    expect(parseNetstat(MS_ARTICLE)).toMatchObject({ lines: 1, skipped: 1, connections: [] });
  });
});

describe('parseNetstat: truncation without -W', () => {
  // `2001:db8::1234:5678` port 44321 is 24 characters: netstat without -W prints `2001:db8::1234:56:44321`, a valid
  // address of someone else.
  const cutButValid = 'tcp6       0      0 2001:db8::1:443         2001:db8::1234:56:44321 ESTABLISHED';
  // `2603:1030:20c:5::2a` port 443 is exactly 22 characters: printed whole, but indistinguishable from a cut one.
  const exactlyAtTheLimit = 'tcp6       0      0 2001:db8::1:50000       2603:1030:20c:5::2a:443 ESTABLISHED';

  test.each([
    ['a cut address that still parses as an address', cutButValid],
    ['an address exactly at the limit', exactlyAtTheLimit],
  ])('without -W, %s is skipped rather than trusted', (_what, line) => {
    expect(parseNetstat(line)).toMatchObject({ skipped: 1, connections: [] });
  });

  test('with `wide: true` an address exactly at the limit is read', () => {
    expect(parseNetstat(exactlyAtTheLimit, { wide: true }).connections).toEqual([
      row('tcp6', '2001:db8::1:50000', '2603:1030:20c:5::2a:443', 'ESTABLISHED'),
    ]);
  });

  test('an endpoint longer than netstat ever cuts to shows the text is -W output, so the limit case is read too', () => {
    const result = parseNetstat(`${WIDE}\n${exactlyAtTheLimit}\n`);
    expect(result).toMatchObject({ skipped: 0 });
    expect(result.connections.map((c) => c.remoteIp)).toEqual([
      'fd12:3456:789a:bcde:1234:5678:9abc:def0',
      '2603:1030:20c:5::2a',
    ]);
  });

  test('IPv4 endpoints are never long enough to be cut', () => {
    const line = 'tcp        0      0 100.100.100.100:65535   200.200.200.200:65535   ESTABLISHED';
    expect(parseNetstat(line).connections).toEqual([
      row('tcp', '100.100.100.100:65535', '200.200.200.200:65535', 'ESTABLISHED'),
    ]);
  });
});

describe('parseNetstat details', () => {
  test('sockets aggregate the connections by state and remote endpoint, with the netns given', () => {
    const line = (localPort: number, remote: string, state = 'ESTABLISHED') =>
      `tcp        0      0 10.244.1.7:${localPort}        ${remote}        ${state} 31/java`;
    const text = [
      line(40001, '20.50.2.1:443'),
      line(40002, '20.50.2.1:443'),
      line(40003, '20.50.2.1:443', 'TIME_WAIT'),
      line(40004, '52.1.1.1:5432'),
    ].join('\n');
    expect(parseNetstat(text, { netns: 4026532785 }).sockets).toEqual([
      { netns: 4026532785, state: 'ESTABLISHED', remoteIp: '20.50.2.1', remotePort: 443, count: 2 },
      { netns: 4026532785, state: 'ESTABLISHED', remoteIp: '52.1.1.1', remotePort: 5432, count: 1 },
      { netns: 4026532785, state: 'TIME_WAIT', remoteIp: '20.50.2.1', remotePort: 443, count: 1 },
    ]);
    expect(parseNetstat(text).sockets.every((s) => s.netns === 0)).toBe(true);
  });

  test('a program name with spaces (argv[0] of an nginx worker, cut to 19 characters) is kept whole', () => {
    const line =
      'tcp        0      0 10.244.1.7:40001        20.50.2.1:443           ESTABLISHED 1234/nginx: worker pro ';
    expect(parseNetstat(line).connections[0]).toMatchObject({ pid: 1234, program: 'nginx: worker pro' });
  });

  test('rows of other protocols (`-u`, `-a`) are dropped, not skipped', () => {
    const text = [
      'udp        0      0 0.0.0.0:68              0.0.0.0:*                           -',
      'udp6       0      0 :::546                  :::*                                -',
      'Active UNIX domain sockets (servers and established)',
      'Proto RefCnt Flags       Type       State         I-Node   PID/Program name     Path',
      'unix  2      [ ACC ]     STREAM     LISTENING     17045    1/systemd            /run/systemd/private',
    ].join('\n');
    expect(parseNetstat(text)).toMatchObject({ lines: 5, skipped: 0, connections: [] });
  });

  test('CRLF line endings and blank lines change nothing', () => {
    const result = parseNetstat(`\n${LIVE_PTN}\n  \n`.replaceAll('\n', '\r\n'));
    expect(result).toMatchObject({ lines: 13, skipped: 0 });
    expect(result.connections).toHaveLength(8);
  });

  test('no text is no lines', () => {
    expect(parseNetstat('')).toEqual({
      connections: [],
      sockets: [],
      inbound: [],
      lines: 0,
      skipped: 0,
      skippedSamples: [],
    });
  });

  const VALID = 'tcp        0      0 127.0.0.1:34382         127.0.0.1:18080         ESTABLISHED 9422/python3';
  test.each([
    ['a translated state (netstat run without LC_ALL=C)', VALID.replace('ESTABLISHED', 'VERBUNDEN  ')],
    ['an ss state name', VALID.replace('ESTABLISHED', 'ESTAB      ')],
    ['a host name (netstat run without -n)', VALID.replace('127.0.0.1:18080', 'localhost:18080')],
    ['a service name (netstat run without -n)', VALID.replace('127.0.0.1:18080', '127.0.0.1:http ')],
    ['a port above 65535', VALID.replace(':18080', ':65536')],
    ['an address without a port', VALID.replace('127.0.0.1:18080', '127.0.0.1      ')],
    ['a wildcard peer on a connection', VALID.replace('127.0.0.1:18080', '0.0.0.0:*      ')],
    ['a non-numeric queue', VALID.replace('tcp        0', 'tcp        x')],
    ['an owner that is neither `-` nor pid/name', VALID.replace('9422/python3', 'python3')],
    ['a `tcp` (IPv4) line with IPv6 addresses', VALID.replaceAll('127.0.0.1', '::1')],
    ['a line cut before the state', 'tcp        0      0 127.0.0.1:34382         127.0.0.1:18080'],
    ['an unknown protocol', VALID.replace('tcp ', 'sctp')],
    ['an error message', "netstat: no support for `AF INET (tcp)' on this system."],
  ])('%s is counted as skipped, with a sample, not thrown', (_what, line) => {
    const result = parseNetstat(`${LIVE_PTN}${line}\n`);
    expect(result).toMatchObject({ lines: 11, skipped: 1, skippedSamples: [line] });
    expect(result.connections).toHaveLength(8);
  });
});

// Not every machine has IPv6 loopback (containers often disable it), nor net-tools: those cases run only where they
// exist.
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});
const hasNetstat = spawnSync('netstat', ['--version']).error === undefined;

describe("parseNetstat on this machine's netstat", () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const close of cleanup.splice(0)) close();
  });

  async function listen(host: string): Promise<{ port: number; accepted: Socket[] }> {
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    cleanup.push(() => {
      for (const s of accepted) s.destroy();
      server.close();
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return { port: address.port, accepted };
  }

  async function connect(host: string, port: number, count: number, accepted: Socket[]): Promise<number[]> {
    const clients = await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const client = createConnection({ host, port }, () => resolve(client));
            client.once('error', reject);
          }),
      ),
    );
    cleanup.push(() => {
      for (const c of clients) c.destroy();
    });
    // Both ends must be ESTABLISHED and owned by this process (accepted) before netstat looks.
    while (accepted.length < count) await new Promise((resolve) => setImmediate(resolve));
    return clients.map((c) => c.localPort ?? -1);
  }

  function netstat(...args: string[]): string {
    return execFileSync('netstat', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  }

  function find(connections: SocketRow[], localPort: number, remotePort: number): SocketRow[] {
    return connections.filter((c) => c.localPort === localPort && c.remotePort === remotePort);
  }

  (hasNetstat ? test : test.skip)(
    '`netstat -ptnW`: both ends of each loopback connection, owned by this process',
    async () => {
      const { port, accepted } = await listen('127.0.0.1');
      const clientPorts = await connect('127.0.0.1', port, 3, accepted);
      const result = parseNetstat(netstat('-ptnW'));
      expect(result.skipped).toBe(0);
      for (const clientPort of clientPorts) {
        const owned = { state: 'ESTABLISHED', pid: process.pid, localIp: '127.0.0.1', remoteIp: '127.0.0.1' };
        expect(find(result.connections, clientPort, port)).toEqual([expect.objectContaining(owned)]);
        expect(find(result.connections, port, clientPort)).toEqual([expect.objectContaining(owned)]);
      }
      expect(result.connections.find((c) => c.pid === process.pid)?.program).toMatch(/\S/);
    },
  );

  (hasNetstat ? test : test.skip)('`netstat -tn`: the same connections, without owners', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const clientPorts = await connect('127.0.0.1', port, 2, accepted);
    const text = netstat('-tn');
    const result = parseNetstat(text);
    // Without -W an IPv6 endpoint of exactly 23 characters may have been cut, and is skipped: on a loopback-only
    // machine there are none, and elsewhere only those.
    const ambiguous = text.split('\n').filter((line) =>
      line
        .trim()
        .split(/\s+/)
        .slice(3, 5)
        .some((endpoint) => endpoint.length === 23),
    );
    expect(result.skipped).toBe(ambiguous.length);
    for (const clientPort of clientPorts) {
      expect(find(result.connections, clientPort, port)).toEqual([
        {
          proto: 'tcp',
          localIp: '127.0.0.1',
          localPort: clientPort,
          remoteIp: '127.0.0.1',
          remotePort: port,
          state: 'ESTABLISHED',
        },
      ]);
    }
  });

  (hasNetstat ? test : test.skip)('`netstat -atnp`: the listener is dropped, not skipped', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    await connect('127.0.0.1', port, 1, accepted);
    const text = netstat('-atnpW');
    expect(text).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}\\s+0\\.0\\.0\\.0:\\*\\s+LISTEN`));
    const result = parseNetstat(text);
    expect(result.skipped).toBe(0);
    expect(result.connections.filter((c) => c.localPort === port)).toHaveLength(1);
  });

  (hasNetstat && ipv6Loopback ? test : test.skip)(
    'IPv6: clients on ::1, and IPv4 clients of a dual-stack (::) server, whose sockets netstat shows as IPv4 on tcp6',
    async () => {
      const v6 = await listen('::1');
      const v6Clients = await connect('::1', v6.port, 2, v6.accepted);
      const dual = await listen('::');
      const dualClients = await connect('127.0.0.1', dual.port, 2, dual.accepted);
      const result = parseNetstat(netstat('-ptnW'));
      expect(result.skipped).toBe(0);
      for (const clientPort of v6Clients) {
        expect(find(result.connections, clientPort, v6.port)).toEqual([
          expect.objectContaining({ proto: 'tcp6', localIp: '::1', remoteIp: '::1', pid: process.pid }),
        ]);
      }
      for (const clientPort of dualClients) {
        // The server's end is the dual-stack socket: tcp6, `::ffff:127.0.0.1` printed (and read) as 127.0.0.1.
        expect(find(result.connections, dual.port, clientPort)).toEqual([
          expect.objectContaining({ proto: 'tcp6', localIp: '127.0.0.1', remoteIp: '127.0.0.1', pid: process.pid }),
        ]);
        expect(find(result.connections, clientPort, dual.port)).toEqual([
          expect.objectContaining({ proto: 'tcp', state: 'ESTABLISHED' }),
        ]);
      }
    },
  );
});

describe('parseNetstat properties', () => {
  const countLines = (text: string) => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

  test('never throws on arbitrary text; every line is counted, and no more rows or skips than lines', () => {
    const anyLine = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(...LIVE_PTN.split('\n'), LISTENER, TRUNCATED, WIDE, MS_ARTICLE, NOT_ROOT_NOTICE),
      fc
        .array(
          fc.constantFrom(
            'tcp',
            'tcp6',
            '0',
            '1',
            '::1:80',
            '[::1]:80',
            '127.0.0.1:*',
            ':',
            '-',
            'LISTEN',
            'ESTABLISHED',
          ),
          { maxLength: 8 },
        )
        .map((t) => t.join(' ')),
    );
    fc.assert(
      fc.property(fc.array(anyLine, { maxLength: 30 }), fc.boolean(), (lines, crlf) => {
        const text = lines.join(crlf ? '\r\n' : '\n');
        const result = parseNetstat(text);
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

  // Tables printed with netstat.c's own format strings (`%-4s  %6ld %6ld %-*s %-*s %-11s` and ` %-20s`) over
  // generated sockets; the expected rows are built independently of the parser.
  const STATES: TcpState[] = [
    'ESTABLISHED',
    'SYN_SENT',
    'SYN_RECV',
    'FIN_WAIT1',
    'FIN_WAIT2',
    'TIME_WAIT',
    'CLOSE',
    'CLOSE_WAIT',
    'LAST_ACK',
    'LISTEN',
    'CLOSING',
  ];
  const v4 = fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
  const v6 = fc
    .array(fc.nat(255), { minLength: 16, maxLength: 16 })
    .map((b) => (ipaddr.fromByteArray(b) as ipaddr.IPv6).toRFC5952String())
    .filter((ip) => !ip.startsWith('::ffff:')); // netstat prints mapped addresses as IPv4
  const socket = fc.oneof(
    fc.record({ proto: fc.constant('tcp' as const), local: v4, remote: v4 }),
    fc.record({ proto: fc.constant('tcp6' as const), local: v6, remote: v6 }),
    // A dual-stack socket talking IPv4: tcp6 with IPv4 addresses.
    fc.record({ proto: fc.constant('tcp6' as const), local: v4, remote: v4 }),
  );
  const generatedRow = fc.record({
    socket,
    localPort: fc.integer({ min: 1, max: 65535 }),
    remotePort: fc.integer({ min: 1, max: 65535 }),
    state: fc.constantFrom(...STATES),
    queues: fc.tuple(fc.nat(99999), fc.nat(99999)),
    owner: fc.option(
      fc.record({
        pid: fc.integer({ min: 1, max: 4194304 }),
        program: fc.constantFrom('python3', 'node', 'java', 'nginx: worker pro', 'envoy'),
      }),
      { nil: undefined },
    ),
  });
  type GeneratedRow = typeof generatedRow extends fc.Arbitrary<infer T> ? T : never;
  const endpoint = (ip: string, port: number) => `${ip}:${port}`;
  const column = (text: string) => text.padEnd(Math.max(23, text.length));
  const render = (r: GeneratedRow, withOwner: boolean) => {
    const owner = r.owner ? `${r.owner.pid}/${r.owner.program}` : '-';
    return (
      `${r.socket.proto.padEnd(4)}  ${String(r.queues[0]).padStart(6)} ${String(r.queues[1]).padStart(6)} ` +
      `${column(endpoint(r.socket.local, r.localPort))} ${column(endpoint(r.socket.remote, r.remotePort))} ` +
      `${r.state.padEnd(11)}${withOwner ? ` ${owner.padEnd(20)}` : ''}`
    );
  };
  const expectedRow = (r: GeneratedRow, withOwner: boolean): SocketRow => ({
    proto: r.socket.proto,
    localIp: r.socket.local,
    localPort: r.localPort,
    remoteIp: r.socket.remote,
    remotePort: r.remotePort,
    state: r.state,
    ...(withOwner && r.owner ? r.owner : {}),
  });
  const FRAMES = [
    'Active Internet connections (w/o servers)',
    'Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    ',
    '',
    '   ',
    NOT_ROOT_NOTICE,
  ];
  const IGNORED_LINES = [LISTENER, 'udp        0      0 0.0.0.0:68              0.0.0.0:*                           -'];
  const entry = fc.oneof(
    { weight: 4, arbitrary: generatedRow.map((r) => ({ kind: 'row' as const, r })) },
    fc.constantFrom(...FRAMES).map((text) => ({ kind: 'frame' as const, text })),
    fc.constantFrom(...IGNORED_LINES).map((text) => ({ kind: 'ignored' as const, text })),
  );
  type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;
  const table = fc.record({ entries: fc.array(entry, { maxLength: 40 }), withOwner: fc.boolean() });
  const renderEntry = (e: Entry, withOwner: boolean) => (e.kind === 'row' ? render(e.r, withOwner) : e.text);

  test('generated tables: lines = rows + frames + ignored + skipped, with nothing skipped and every row exact', () => {
    fc.assert(
      fc.property(table, ({ entries, withOwner }) => {
        const text = entries.map((e) => `${renderEntry(e, withOwner)}\n`).join('');
        const result = parseNetstat(text, { wide: true, netns: 3 });
        const rows = entries.flatMap((e) => (e.kind === 'row' ? [e.r] : []));
        const listeners = rows.filter((r) => r.state === 'LISTEN').length;
        const frames = entries.filter((e) => e.kind === 'frame').length;
        const ignored = entries.filter((e) => e.kind === 'ignored').length + listeners;
        expect(result.skipped).toBe(0);
        expect(result.lines).toBe(rows.length - listeners + frames + ignored + result.skipped);
        expect(result.connections).toEqual(
          rows.filter((r) => r.state !== 'LISTEN').map((r) => expectedRow(r, withOwner)),
        );
        // A connection on a port a listener has was accepted: inbound, counted per port, not a connection.
        const listening = new Set(rows.filter((r) => r.state === 'LISTEN').map((r) => r.localPort));
        const expected = new Map<string, number>();
        const inbound = new Map<number, number>();
        for (const c of result.connections) {
          if (listening.has(c.localPort)) {
            inbound.set(c.localPort, (inbound.get(c.localPort) ?? 0) + 1);
            continue;
          }
          const key = `${c.state} ${c.remoteIp} ${c.remotePort}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
        expect(new Map(result.sockets.map((s) => [`${s.state} ${s.remoteIp} ${s.remotePort}`, s.count]))).toEqual(
          expected,
        );
        expect(new Map(result.inbound.map((i) => [i.port, i.count]))).toEqual(inbound);
        expect(result.sockets.every((s) => s.netns === 3)).toBe(true);
      }),
    );
  });

  test('generated tables with some lines cut short: never throws, the intact rows are all still read', () => {
    const cutTable = table.chain(({ entries, withOwner }) =>
      fc.record({
        entries: fc.constant(entries),
        withOwner: fc.constant(withOwner),
        cuts: fc.array(fc.option(fc.nat(200), { nil: undefined }), {
          minLength: entries.length,
          maxLength: entries.length,
        }),
      }),
    );
    fc.assert(
      fc.property(cutTable, ({ entries, withOwner, cuts }) => {
        const lines = entries.map((e, i) => {
          const line = renderEntry(e, withOwner);
          const cut = cuts[i];
          return cut === undefined || cut >= line.length ? line : line.slice(0, cut);
        });
        const result = parseNetstat(lines.join('\n'), { wide: true });
        expect(result.lines).toBe(countLines(lines.join('\n')));
        expect(result.connections.length + result.skipped).toBeLessThanOrEqual(result.lines);
        const intact = entries.flatMap((e, i) =>
          e.kind === 'row' && e.r.state !== 'LISTEN' && lines[i] === renderEntry(e, withOwner)
            ? [expectedRow(e.r, withOwner)]
            : [],
        );
        const remaining = [...result.connections];
        for (const expected of intact) {
          const at = remaining.findIndex((c) => JSON.stringify(c) === JSON.stringify(expected));
          expect(at).toBeGreaterThanOrEqual(0);
          remaining.splice(at, 1);
        }
      }),
    );
  });
});
