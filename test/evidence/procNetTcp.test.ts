// /proc/net/tcp{,6}: the research's live captures, this machine's real tables with connections we open ourselves,
// and properties over generated input (never throws; every data line is parsed or counted as skipped).
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { decodeHexAddress, parseProcNetTcp } from '../../lib/evidence/procNetTcp.ts';
import type { SocketAggregate, TcpState } from '../../lib/model.ts';

// Verbatim from research/tool-output-formats.md §5.3 ([LIVE] captures), trailing padding included.
const LIVE_TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1675 1 00000000c3eade32 100 0 0 10 0                      
   2: 0100007F:864E 0100007F:46A0 01 00000000:00000000 00:00000000 00000000     0        0 15675 1 000000000778cab8 20 0 0 10 -1                     
   3: 0100007F:E7DE 0100007F:46A1 05 00000000:00000000 03:0000101E 00000000     0        0 0 3 0000000003ffed2d                                      
   4: 0100007F:A6E2 0100007F:46AA 06 00000000:00000000 03:0000176F 00000000     0        0 0 3 0000000026c8b5a3                                      
   5: 0100007F:46A1 0100007F:E7DE 08 00000000:00000001 00:00000000 00000000     0        0 15682 1 00000000c2613880 20 4 0 10 -1                     
`;
const LIVE_TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:46A0 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 15673 1 0000000043d9246e 100 0 0 10 0
   1: 00000000000000000000000001000000:46A0 00000000000000000000000001000000:E0C4 01 00000000:00000000 00:00000000 00000000     0        0 15680 1 000000002a2982de 20 0 0 10 -1
   2: 0000000000000000FFFF00000100007F:E7D2 0000000000000000FFFF00000100007F:46A1 01 00000000:00000000 00:00000000 00000000     0        0 15677 1 00000000571ec756 20 0 0 10 -1
   3: 00000000000000000000000001000000:DA08 00000000000000000000000001000000:46AB 06 00000000:00000000 03:0000176F 00000000     0        0 0 3 00000000ef5bb94a
   4: 563412FDDEBC9A7878563412F0DEBC9A:AD21 563412FDDEBC9A7878563412F0DEBC9A:B918 01 00000000:00000000 00:00000000 00000000     0        0 20485 1 000000005b531803 20 0 0 10 -1
`;

// Not every machine has IPv6 loopback (containers often disable it): the IPv6 cases run only where it exists.
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

function socket(state: TcpState, remoteIp: string, remotePort: number, count = 1): SocketAggregate {
  return { netns: 4026531840, state, remoteIp, remotePort, count };
}

describe('decodeHexAddress', () => {
  // The decodings the research checked live (per-word little-endian).
  test.each([
    ['0100007F', '127.0.0.1'],
    ['2D7BF40A', '10.244.123.45'],
    ['0000000000000000FFFF00002D7BF40A', '10.244.123.45'],
    ['563412FDDEBC9A7878563412F0DEBC9A', 'fd12:3456:789a:bcde:1234:5678:9abc:def0'],
    ['00000000000000000000000001000000', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['0000000000000000FFFF00000100007F', '127.0.0.1'],
    ['2d7bf40a', '10.244.123.45'],
  ])('%s decodes to %s', (hex, ip) => {
    expect(decodeHexAddress(hex)).toBe(ip);
  });

  test.each([
    '',
    '0100007',
    '0100007F0',
    'GGGGGGGG',
    '0100007F:1F90',
    ' 0100007F',
    '00000000000000000000000001000000FF',
  ])('%j is not an address, and says so with undefined instead of throwing', (hex) => {
    expect(decodeHexAddress(hex)).toBeUndefined();
  });
});

describe('parseProcNetTcp on the live captures', () => {
  test('tcp then tcp6, concatenated as `cat` prints them: every socket but the listeners and the accepted ones, by state and remote', () => {
    const result = parseProcNetTcp(LIVE_TCP + LIVE_TCP6, { netns: 4026531840 });
    expect(result.skipped).toBe(0);
    expect(result.lines).toBe(10);
    expect(result.sockets).toEqual(
      expect.arrayContaining([
        socket('ESTABLISHED', '127.0.0.1', 18080),
        socket('FIN_WAIT2', '127.0.0.1', 18081),
        socket('TIME_WAIT', '127.0.0.1', 18090),
        socket('CLOSE_WAIT', '127.0.0.1', 59358),
        // A dual-stack socket talking IPv4: reported as the IPv4 peer it is.
        socket('ESTABLISHED', '127.0.0.1', 18081),
        socket('TIME_WAIT', '::1', 18091),
        socket('ESTABLISHED', 'fd12:3456:789a:bcde:1234:5678:9abc:def0', 47384),
      ]),
    );
    expect(result.sockets).toHaveLength(7);
    expect(result.sockets.some((s) => s.state === 'LISTEN')).toBe(false);
    // [::1]:18080 listens (tcp6 slot 0); the server's side of its connection from [::1]:57540 was accepted there: inbound.
    expect(result.inbound).toEqual([{ port: 18080, count: 1 }]);
  });

  test('sockets to the same remote in the same state are one aggregate with a count', () => {
    const line = (sl: number, localPort: string) =>
      `${sl}: 0A00F40A:${localPort} 08080808:01BB 01 00000000:00000000 00:00000000 00000000 0 0 1 1 0 20 4 30 10 -1`;
    const result = parseProcNetTcp([line(0, 'C000'), line(1, 'C001'), line(2, 'C002')].join('\n'), { netns: 7 });
    expect(result.sockets).toEqual([
      { netns: 7, state: 'ESTABLISHED', remoteIp: '8.8.8.8', remotePort: 443, count: 3 },
    ]);
  });

  test('a pod uid given for host-namespace sockets is carried on every aggregate', () => {
    const result = parseProcNetTcp(LIVE_TCP, { netns: 1, podUid: 'b3f1c2d4-0000-4000-8000-000000000001' });
    expect(result.sockets.every((s) => s.podUid === 'b3f1c2d4-0000-4000-8000-000000000001')).toBe(true);
  });

  test('without a pod uid the aggregates carry none (no undefined key in the JSON)', () => {
    const result = parseProcNetTcp(LIVE_TCP, { netns: 1 });
    expect(result.sockets.every((s) => !('podUid' in s))).toBe(true);
  });

  test('CRLF line endings, blank lines and a header between the two files are not data', () => {
    const text = `${LIVE_TCP}\n\n   \n${LIVE_TCP6}`.replaceAll('\n', '\r\n');
    const result = parseProcNetTcp(text, { netns: 1 });
    expect(result).toMatchObject({ skipped: 0, lines: 10 });
  });

  test('an empty table (only the header: a namespace with no sockets) gives nothing, skips nothing', () => {
    expect(parseProcNetTcp(`${LIVE_TCP.split('\n')[0] ?? ''}\n`, { netns: 1 })).toEqual({
      sockets: [],
      inbound: [],
      skipped: 0,
      lines: 0,
      tables: 1,
    });
  });

  const VALID =
    '   2: 0100007F:864E 0100007F:46A0 01 00000000:00000000 00:00000000 00000000     0        0 15675 1 0 20 0 0 10 -1';
  test.each([
    ['a state the kernel does not print (0D)', VALID.replace(' 01 ', ' 0D ')],
    ['a state that is not hex', VALID.replace(' 01 ', ' ZZ ')],
    ['state 00', VALID.replace(' 01 ', ' 00 ')],
    ['a remote address one digit short', VALID.replace('0100007F:46A0', '100007F:46A0')],
    ['a non-hex digit in the local address', VALID.replace('0100007F:864E', '0100007G:864E')],
    ['a port of five digits', VALID.replace(':46A0', ':46A00')],
    ['no colon after the slot number', VALID.replace('2:', '2')],
    ['an IPv4 local with an IPv6 remote', VALID.replace('0100007F:46A0', '00000000000000000000000001000000:46A0')],
    ['a line cut after the remote address', '   2: 0100007F:864E 0100007F:46A0'],
    [
      'netstat output instead of /proc',
      'tcp        0      0 127.0.0.1:34382         127.0.0.1:18080         ESTABLISHED',
    ],
    ['an error message', 'cat: /proc/net/tcp6: No such file or directory'],
  ])('%s is counted as skipped, not thrown', (_what, line) => {
    const result = parseProcNetTcp(`${LIVE_TCP}${line}\n`, { netns: 1 });
    expect(result.skipped).toBe(1);
    expect(result.lines).toBe(6);
    expect(result.sockets).toHaveLength(4);
  });

  test("lower-case hex is read like the kernel's upper case", () => {
    const result = parseProcNetTcp('0: 0100007f:864e 0100007f:46a0 0a\n', { netns: 1 });
    expect(result).toEqual({ sockets: [], inbound: [], skipped: 0, lines: 1, tables: 0 }); // a LISTEN socket: read, then dropped
  });
});

describe("parseProcNetTcp on this machine's real tables", () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const close of cleanup.splice(0)) close();
  });

  async function listen(host: string): Promise<{ server: Server; port: number; accepted: Socket[] }> {
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
    return { server, port: address.port, accepted };
  }

  async function connect(host: string, port: number, count: number, accepted: Socket[]): Promise<Socket[]> {
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
    // Both ends must be ESTABLISHED before the table is read: wait until the server has accepted every client.
    while (accepted.length < count) await new Promise((resolve) => setImmediate(resolve));
    return clients;
  }

  async function readOwnTables(): Promise<string> {
    const [v4, v6] = await Promise.all([
      readFile('/proc/self/net/tcp', 'utf8'),
      readFile('/proc/self/net/tcp6', 'utf8').catch(() => ''),
    ]);
    return v4 + v6;
  }

  function established(sockets: SocketAggregate[], ip: string, port: number): number {
    return sockets
      .filter((s) => s.state === 'ESTABLISHED' && s.remoteIp === ip && s.remotePort === port)
      .reduce((n, s) => n + s.count, 0);
  }

  test('three clients connected to a server on 127.0.0.1 appear as 3 ESTABLISHED sockets to its port', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const clients = await connect('127.0.0.1', port, 3, accepted);

    const result = parseProcNetTcp(await readOwnTables(), { netns: 0 });
    expect(result.skipped).toBe(0);
    expect(established(result.sockets, '127.0.0.1', port)).toBe(3);
    // And the server's side: accepted on the listening port, so inbound, never a connection "to" a client's port.
    for (const client of clients) expect(established(result.sockets, '127.0.0.1', client.localPort ?? -1)).toBe(0);
    expect(result.inbound).toContainEqual({ port, count: 3 });
    // The listener itself is dropped.
    expect(result.sockets.some((s) => s.state === 'LISTEN')).toBe(false);
  });

  (ipv6Loopback ? test : test.skip)(
    'two clients on ::1 appear in tcp6 as ESTABLISHED to ::1 and the port',
    async () => {
      const { port, accepted } = await listen('::1');
      await connect('::1', port, 2, accepted);
      const result = parseProcNetTcp(await readOwnTables(), { netns: 0 });
      expect(result.skipped).toBe(0);
      expect(established(result.sockets, '::1', port)).toBe(2);
    },
  );

  (ipv6Loopback ? test : test.skip)(
    'a dual-stack server (listening on ::) accepting IPv4 clients: its ::ffff: sockets are inbound on its port; the clients read as plain IPv4',
    async () => {
      const { port, accepted } = await listen('::');
      await connect('127.0.0.1', port, 2, accepted);
      const result = parseProcNetTcp(await readOwnTables(), { netns: 0 });
      expect(result.inbound).toContainEqual({ port, count: 2 });
      expect(established(result.sockets, '127.0.0.1', port)).toBe(2);
      expect(result.sockets.some((s) => s.remoteIp.startsWith('::ffff:'))).toBe(false);
    },
  );
});

describe('parseProcNetTcp properties', () => {
  const isData = (line: string) => {
    const first = line.trim().split(/\s+/)[0];
    return first !== '' && first !== 'sl';
  };

  test('never throws on arbitrary text, and counts every non-blank non-header line', () => {
    const anyLine = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(...LIVE_TCP.split('\n'), ...LIVE_TCP6.split('\n')),
      fc
        .array(fc.constantFrom('0:', '1:', '0100007F:1F90', '01', '0A', 'sl', ':', ' ', '\t', 'FFFF', '-1'), {
          maxLength: 8,
        })
        .map((t) => t.join(' ')),
    );
    fc.assert(
      fc.property(fc.array(anyLine, { maxLength: 30 }), (lines) => {
        const text = lines.join('\n');
        const result = parseProcNetTcp(text, { netns: 1 });
        const dataLines = text.split('\n').filter(isData).length;
        expect(result.lines).toBe(dataLines);
        const parsed = result.sockets.reduce((n, s) => n + s.count, 0);
        expect(parsed + result.skipped).toBeLessThanOrEqual(result.lines);
        expect(result.sockets.every((s) => s.count > 0 && s.state !== 'LISTEN')).toBe(true);
      }),
    );
  });

  // Lines encoded independently of the parser: each address's bytes, 4 at a time, printed as a little-endian word.
  const STATE_CODES: [string, TcpState][] = [
    ['01', 'ESTABLISHED'],
    ['02', 'SYN_SENT'],
    ['03', 'SYN_RECV'],
    ['04', 'FIN_WAIT1'],
    ['05', 'FIN_WAIT2'],
    ['06', 'TIME_WAIT'],
    ['07', 'CLOSE'],
    ['08', 'CLOSE_WAIT'],
    ['09', 'LAST_ACK'],
    ['0A', 'LISTEN'],
    ['0B', 'CLOSING'],
    ['0C', 'NEW_SYN_RECV'],
  ];
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
  const encode = (bytes: number[]) => {
    let out = '';
    for (let i = 0; i < bytes.length; i += 4)
      out += bytes
        .slice(i, i + 4)
        .reverse()
        .map((b) => hex(b, 2))
        .join('');
    return out;
  };
  const format = (bytes: number[]) => {
    if (bytes.length === 4) return bytes.join('.');
    const v6 = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
  };
  const family = fc.oneof(fc.constant(4), fc.constant(16));
  const validLine = family.chain((size) =>
    fc.record({
      local: fc.array(fc.nat(255), { minLength: size, maxLength: size }),
      remote: fc.oneof(
        fc.array(fc.nat(255), { minLength: size, maxLength: size }),
        // v4-mapped remotes on tcp6 lines
        fc
          .array(fc.nat(255), { minLength: 4, maxLength: 4 })
          .map((v4) => (size === 16 ? [...Array(10).fill(0), 255, 255, ...v4] : v4)),
      ),
      localPort: fc.nat(65535),
      remotePort: fc.nat(65535),
      state: fc.constantFrom(...STATE_CODES),
      slot: fc.nat(9999),
    }),
  );
  const render = (l: {
    local: number[];
    remote: number[];
    localPort: number;
    remotePort: number;
    state: [string, TcpState];
    slot: number;
  }) =>
    `${String(l.slot).padStart(4)}: ${encode(l.local)}:${hex(l.localPort, 4)} ${encode(l.remote)}:${hex(l.remotePort, 4)} ${l.state[0]} 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 20 4 30 10 -1`;
  // Damage that makes a line unreadable whatever it contained.
  const corruptions: ((line: string) => string)[] = [
    (line) => line.replace(/ ([0-9A-F]{2}) 00000000:/, ' 0D 00000000:'),
    (line) => line.replace(/ ([0-9A-F]{2}) 00000000:/, ' X1 00000000:'),
    (line) => line.replace(/^(\s*\d+):/, '$1'),
    (line) => line.replace(/ ([0-9A-F]+):([0-9A-F]{4}) /, ' $1Z:$2 '),
    (line) => line.replace(/ [0-9A-F]([0-9A-F]*):([0-9A-F]{4}) ([0-9A-F]{2}) /, ' $1:$2 $3 '),
    (line) => line.split(/\s+/).filter(Boolean).slice(0, 3).join(' '),
  ];

  test('every generated socket line is parsed exactly, every damaged one is skipped, and they add up to `lines`', () => {
    const entry = fc.oneof(
      validLine.map((l) => ({ kind: 'valid' as const, l })),
      fc.tuple(validLine, fc.nat(corruptions.length - 1)).map(([l, c]) => ({ kind: 'damaged' as const, l, c })),
      fc.constantFrom('', '   ', LIVE_TCP.split('\n')[0] ?? '').map((text) => ({ kind: 'noise' as const, text })),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
        const text = entries
          .map((e) =>
            e.kind === 'noise' ? e.text : e.kind === 'valid' ? render(e.l) : corruptions[e.c]?.(render(e.l)),
          )
          .join('\n');
        const result = parseProcNetTcp(text, { netns: 9 });

        // A socket on a port some listener has is inbound (counted per port); every other one is a connection.
        const valid = entries.flatMap((e) => (e.kind === 'valid' ? [e.l] : []));
        const listening = new Set(valid.filter((l) => l.state[1] === 'LISTEN').map((l) => l.localPort));
        const expected = new Map<string, number>();
        const inbound = new Map<number, number>();
        for (const l of valid) {
          if (l.state[1] === 'LISTEN') continue;
          if (listening.has(l.localPort)) {
            inbound.set(l.localPort, (inbound.get(l.localPort) ?? 0) + 1);
            continue;
          }
          const key = `${l.state[1]} ${format(l.remote)} ${l.remotePort}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
        const actual = new Map(result.sockets.map((s) => [`${s.state} ${s.remoteIp} ${s.remotePort}`, s.count]));
        expect(actual).toEqual(expected);
        expect(new Map(result.inbound.map((i) => [i.port, i.count]))).toEqual(inbound);
        expect(result.skipped).toBe(entries.filter((e) => e.kind === 'damaged').length);
        expect(result.lines).toBe(entries.filter((e) => e.kind !== 'noise').length);
      }),
    );
  });
});

describe('parseProcNetTcp: UDP tables after the TCP ones', () => {
  // Captured on this project's test machine (a connected UDP socket and its bound receiver, over 127.0.0.1 and ::1).
  const udp =
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n' +
    '10906: 0100007F:ED9F 0100007F:B096 01 00000000:00000000 00:00000000 00000000     0        0 59707 2 000000004e0640b8 0         \n' +
    '11665: 0100007F:B096 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 59706 2 00000000923dd1b7 0         \n';
  const udp6 =
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
    ' 2690: 00000000000000000000000001000000:8D87 00000000000000000000000001000000:8F95 01 00000000:00000000 00:00000000 00000000     0        0 59711 2 00000000a595961b 0\n' +
    ' 3216: 00000000000000000000000001000000:8F95 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 59710 2 000000008c7d590b 0\n';
  const tcp =
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
    '   0: 0100007F:E7DE 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 15675 1 0000000000000000 20 4 30 10 -1\n';

  test('connected UDP sockets are read as UDP to their peer; unconnected ones (07) are read and dropped', () => {
    const result = parseProcNetTcp(tcp + udp + udp6, { netns: 7 });
    expect(result).toMatchObject({ skipped: 0, lines: 5 });
    expect(result.sockets).toEqual(
      expect.arrayContaining([
        { netns: 7, state: 'ESTABLISHED', remoteIp: '127.0.0.1', remotePort: 8080, count: 1 },
        { netns: 7, protocol: 'udp', state: 'ESTABLISHED', remoteIp: '127.0.0.1', remotePort: 0xb096, count: 1 },
        { netns: 7, protocol: 'udp', state: 'ESTABLISHED', remoteIp: '::1', remotePort: 0x8f95, count: 1 },
      ]),
    );
    expect(result.sockets).toHaveLength(3);
  });

  test('a TCP table after a UDP one is TCP again', () => {
    const result = parseProcNetTcp(udp + tcp, { netns: 7 });
    expect(result.sockets.find((s) => s.remotePort === 8080)).not.toHaveProperty('protocol');
  });
});

// Issue 14: a pod's exec output cut short undercounted it (481 of 905 connections) while its step "succeeded" with
// no note. The parser says what it can tell from the text; the step (podConnections) turns it into a note.
describe('parseProcNetTcp: a table cut short', () => {
  test('whole tables: their count, and no cut', () => {
    const result = parseProcNetTcp(LIVE_TCP + LIVE_TCP6, { netns: 0 });
    expect(result.tables).toBe(2);
    expect(result.cut).toBeUndefined();
  });

  test('text cut in the middle of a row (no final newline) is cut; its complete rows are still read', () => {
    const text = LIVE_TCP + LIVE_TCP6;
    const result = parseProcNetTcp(text.slice(0, text.length - 40), { netns: 0 });
    expect(result.cut).toBe('its last line ends without a newline');
    expect(result.tables).toBe(2);
  });

  test('text cut at a row boundary shows only as fewer tables (the caller knows how many it asked for)', () => {
    const result = parseProcNetTcp(LIVE_TCP, { netns: 0 });
    expect(result.tables).toBe(1);
    expect(result.cut).toBeUndefined();
  });
});
