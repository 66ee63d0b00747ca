// iproute2 `ss -t…`: the research's live capture, one from the development machine, this machine's real ss over
// connections we open ourselves on loopback, and properties over generated tables.
import { execFileSync, spawnSync } from 'node:child_process';
import { createConnection, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import type { SocketRow } from '../../lib/evidence/socketTable.ts';
import { parseSs } from '../../lib/evidence/ss.ts';
import type { TcpState } from '../../lib/model.ts';

// Verbatim from research/tool-output-formats.md §5.2 ([LIVE] `ss -tnp state established`, iproute2 6.1.0): no State
// column.
const LIVE_STATE_ESTABLISHED = `Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process                            
0      0               127.0.0.1:34382          127.0.0.1:18080 users:(("python3",pid=9422,fd=5)) 
0      0               127.0.0.1:18081          127.0.0.1:59346 users:(("python3",pid=9422,fd=12))
0      0                   [::1]:18080              [::1]:57540 users:(("python3",pid=9422,fd=11))
0      0      [::ffff:127.0.0.1]:59346 [::ffff:127.0.0.1]:18081 users:(("python3",pid=9422,fd=7)) 
0      0      [::ffff:127.0.0.1]:18080 [::ffff:127.0.0.1]:34382 users:(("python3",pid=9422,fd=9)) 
0      0                   [::1]:57540              [::1]:18080 users:(("python3",pid=9422,fd=6)) 
`;
// §5.2: the header alone, run together, as ss prints it when there are no rows.
const EMPTY_HEADER = 'Recv-Q Send-Q Local Address:Port Peer Address:PortProcess';
// `ss -tanp` captured on the development machine (iproute2 6.1.0, root): LISTEN rows, a listener of another
// process without users, `*` for the unspecified IPv6 address, a dual-stack socket's `[::ffff:…]` addresses.
const DEV_TANP = `State  Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process                         
LISTEN 0      511             127.0.0.1:37201            0.0.0.0:*     users:(("node",pid=6608,fd=22))
LISTEN 0      128               0.0.0.0:2024             0.0.0.0:*                                    
ESTAB  0      0               127.0.0.1:33720          127.0.0.1:37201 users:(("node",pid=6608,fd=24))
ESTAB  0      0               127.0.0.1:45450          127.0.0.1:46881 users:(("node",pid=6608,fd=26))
ESTAB  0      0               127.0.0.1:37201          127.0.0.1:33720 users:(("node",pid=6608,fd=25))
LISTEN 0      511                     *:46881                  *:*     users:(("node",pid=6608,fd=23))
ESTAB  0      0                   [::1]:52836              [::1]:46881 users:(("node",pid=6608,fd=28))
ESTAB  0      0      [::ffff:127.0.0.1]:46881 [::ffff:127.0.0.1]:45450 users:(("node",pid=6608,fd=27))
ESTAB  0      0                   [::1]:46881              [::1]:52836 users:(("node",pid=6608,fd=29))
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

const python = { program: 'python3', pid: 9422 };
const node = { program: 'node', pid: 6608 };

describe('parseSs on the live captures', () => {
  test('`ss -tnp state established`: no State column, so every row is ESTABLISHED; brackets and ::ffff: removed', () => {
    const result = parseSs(LIVE_STATE_ESTABLISHED);
    expect(result.connections).toEqual([
      row('tcp', '127.0.0.1:34382', '127.0.0.1:18080', 'ESTABLISHED', python),
      row('tcp', '127.0.0.1:18081', '127.0.0.1:59346', 'ESTABLISHED', python),
      row('tcp6', '::1:18080', '::1:57540', 'ESTABLISHED', python),
      // A dual-stack socket talking IPv4: an IPv6 socket, whose peer is the IPv4 address it is.
      row('tcp6', '127.0.0.1:59346', '127.0.0.1:18081', 'ESTABLISHED', python),
      row('tcp6', '127.0.0.1:18080', '127.0.0.1:34382', 'ESTABLISHED', python),
      row('tcp6', '::1:57540', '::1:18080', 'ESTABLISHED', python),
    ]);
    expect(result).toMatchObject({ lines: 7, skipped: 0, skippedSamples: [] });
  });

  test('a single `state` filter other than established is said by the caller, since the rows cannot say it', () => {
    const result = parseSs(LIVE_STATE_ESTABLISHED, { state: 'TIME_WAIT' });
    expect(result.connections.map((c) => c.state)).toEqual(Array(6).fill('TIME_WAIT'));
  });

  test('`ss -tanp`: LISTEN rows (`0.0.0.0:*`, `*:*`) are dropped, not skipped; the state names are translated', () => {
    const result = parseSs(DEV_TANP);
    expect(result.connections).toEqual([
      row('tcp', '127.0.0.1:33720', '127.0.0.1:37201', 'ESTABLISHED', node),
      row('tcp', '127.0.0.1:45450', '127.0.0.1:46881', 'ESTABLISHED', node),
      row('tcp', '127.0.0.1:37201', '127.0.0.1:33720', 'ESTABLISHED', node),
      row('tcp6', '::1:52836', '::1:46881', 'ESTABLISHED', node),
      row('tcp6', '127.0.0.1:46881', '127.0.0.1:45450', 'ESTABLISHED', node),
      row('tcp6', '::1:46881', '::1:52836', 'ESTABLISHED', node),
    ]);
    expect(result).toMatchObject({ lines: 10, skipped: 0 });
  });

  test('the run-together header of an empty table, and `-H` output with no header at all', () => {
    expect(parseSs(`${EMPTY_HEADER}\n`)).toEqual({
      connections: [],
      sockets: [],
      inbound: [],
      lines: 1,
      skipped: 0,
      skippedSamples: [],
    });
    const headless = LIVE_STATE_ESTABLISHED.split('\n').slice(1).join('\n');
    expect(parseSs(headless)).toMatchObject({ lines: 6, skipped: 0 });
  });
});

describe('parseSs details', () => {
  test.each<[string, TcpState]>([
    ['ESTAB', 'ESTABLISHED'],
    ['SYN-SENT', 'SYN_SENT'],
    ['SYN-RECV', 'SYN_RECV'],
    ['FIN-WAIT-1', 'FIN_WAIT1'],
    ['FIN-WAIT-2', 'FIN_WAIT2'],
    ['TIME-WAIT', 'TIME_WAIT'],
    ['CLOSE-WAIT', 'CLOSE_WAIT'],
    ['LAST-ACK', 'LAST_ACK'],
    ['CLOSING', 'CLOSING'],
    ['UNCONN', 'CLOSE'],
  ])('state %s reads as %s', (name, state) => {
    const result = parseSs(`${name.padEnd(10)} 0      0      10.244.1.7:40001      20.50.2.1:443`);
    expect(result.connections).toEqual([row('tcp', '10.244.1.7:40001', '20.50.2.1:443', state)]);
  });

  test('an unconnected socket (UNCONN with a `*` peer) holds no port: dropped, not skipped', () => {
    const result = parseSs('UNCONN 0      0             0.0.0.0:5000      0.0.0.0:*');
    expect(result).toMatchObject({ lines: 1, skipped: 0, connections: [] });
  });

  test('a shared socket lists several processes: the first is the owner', () => {
    const line =
      'ESTAB 0      0      10.244.1.7:40001      20.50.2.1:443 users:(("java",pid=123,fd=45),("java",pid=124,fd=46))';
    expect(parseSs(line).connections[0]).toMatchObject({ pid: 123, program: 'java' });
  });

  test('a process name with spaces and parentheses is read up to its closing quote', () => {
    const line = 'ESTAB 0 0 10.244.1.7:40001 20.50.2.1:443 users:(("nginx: worker",pid=77,fd=3),("x",pid=78,fd=4))';
    expect(parseSs(line).connections[0]).toMatchObject({ pid: 77, program: 'nginx: worker' });
  });

  test('no Process column (not root, or an orphaned socket): no owner, and no undefined keys', () => {
    const [connection] = parseSs('TIME-WAIT 0      0      10.244.1.7:40001      20.50.2.1:443      ').connections;
    expect(connection).toEqual(row('tcp', '10.244.1.7:40001', '20.50.2.1:443', 'TIME_WAIT'));
    expect(Object.keys(connection ?? {})).not.toContain('pid');
  });

  test('`-e` details after the users are tolerated', () => {
    const line =
      'ESTAB 0 0 10.244.1.7:40001 20.50.2.1:443 users:(("java",pid=123,fd=45)) uid:1000 ino:31337 sk:1 cgroup:/kubepods <->';
    expect(parseSs(line).connections[0]).toMatchObject({ pid: 123, remoteIp: '20.50.2.1' });
  });

  test.each([
    ['after the bracket (as ss prints it)', '[fe80::1]%eth0:22', 'fe80::1'],
    ['inside the bracket', '[fe80::1%eth0]:22', 'fe80::1'],
    ['on an IPv4 socket bound to a device', '10.244.1.7%eth0:22', '10.244.1.7'],
  ])('a scope suffix %s is dropped from the address', (_where, peer, ip) => {
    const [connection] = parseSs(`ESTAB 0 0 ${peer.replace(':22', ':40001')} ${peer}`).connections;
    expect(connection).toMatchObject({ localIp: ip, localPort: 40001, remoteIp: ip, remotePort: 22 });
  });

  test('IPv6 addresses come out in one canonical form (RFC 5952), whatever case ss used', () => {
    const [connection] = parseSs('ESTAB 0 0 [2001:DB8:0:0:0:0:0:1]:40001 [2603:1030:20C:5::2A]:443').connections;
    expect(connection).toMatchObject({ localIp: '2001:db8::1', remoteIp: '2603:1030:20c:5::2a' });
  });

  test('with a Netid column (`ss -tuan`), tcp rows are read and the other kinds dropped', () => {
    const text = [
      'Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process',
      'udp   UNCONN 0      0            0.0.0.0:68         0.0.0.0:*',
      'tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*',
      'tcp   ESTAB  0      0         10.244.1.7:40001    20.50.2.1:443',
      'u_str ESTAB  0      0                  * 31337            * 31338',
    ].join('\n');
    const result = parseSs(text);
    expect(result).toMatchObject({ lines: 5, skipped: 0 });
    expect(result.connections).toEqual([row('tcp', '10.244.1.7:40001', '20.50.2.1:443', 'ESTABLISHED')]);
  });

  test('sockets aggregate the connections by state and remote endpoint, with the netns given', () => {
    const line = (port: number, state = 'ESTAB') => `${state} 0 0 10.244.1.7:${port} 20.50.2.1:443`;
    const text = [line(40001), line(40002), line(40003, 'TIME-WAIT')].join('\n');
    expect(parseSs(text, { netns: 4026532785 }).sockets).toEqual([
      { netns: 4026532785, state: 'ESTABLISHED', remoteIp: '20.50.2.1', remotePort: 443, count: 2 },
      { netns: 4026532785, state: 'TIME_WAIT', remoteIp: '20.50.2.1', remotePort: 443, count: 1 },
    ]);
  });

  const VALID = 'ESTAB 0      0      127.0.0.1:34382          127.0.0.1:18080 users:(("python3",pid=9422,fd=5))';
  test.each([
    ['a netstat state name', VALID.replace('ESTAB', 'ESTABLISHED')],
    ['a service name (ss run without -n)', VALID.replace(':18080', ':http')],
    ['a host name (ss run with -r)', VALID.replace('127.0.0.1:18080', 'localhost:18080')],
    ['an unclosed bracket', VALID.replace('127.0.0.1:18080', '[::1:18080')],
    ['an IPv4 address in brackets', VALID.replace('127.0.0.1:18080', '[127.0.0.1]:18080')],
    ['a wildcard peer on an established socket', VALID.replace('127.0.0.1:18080', '0.0.0.0:*')],
    ['an IPv4 socket with an IPv6 peer', VALID.replace('127.0.0.1:18080', '[::1]:18080')],
    ['a missing queue', VALID.replace('0      0 ', '0        ')],
    ['a line cut after the local address', 'ESTAB 0      0      127.0.0.1:34382'],
    ['`-i` detail wrapped onto its own line', '\t cubic wscale:7,7 rto:204 rtt:0.05/0.025 mss:32768'],
    ['an error message', 'Cannot open netlink socket: Protocol not supported'],
  ])('%s is counted as skipped, with a sample, not thrown', (_what, line) => {
    const result = parseSs(`${LIVE_STATE_ESTABLISHED}${line}\n`);
    expect(result).toMatchObject({ lines: 8, skipped: 1, skippedSamples: [line] });
    expect(result.connections).toHaveLength(6);
  });
});

// Not every machine has IPv6 loopback (containers often disable it), nor iproute2: those cases run only where they
// exist.
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});
const hasSs = spawnSync('ss', ['-V']).error === undefined;

describe("parseSs on this machine's ss", () => {
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
    // Both ends must be ESTABLISHED and owned by this process (accepted) before ss looks.
    while (accepted.length < count) await new Promise((resolve) => setImmediate(resolve));
    return clients.map((c) => c.localPort ?? -1);
  }

  // ss ≥ 6.11 wraps rows to $COLUMNS when it is set: run it the way the parser expects, with COLUMNS unset.
  function ss(...args: string[]): string {
    const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
    delete env.COLUMNS;
    return execFileSync('ss', args, { encoding: 'utf8', env });
  }

  function find(connections: SocketRow[], localPort: number, remotePort: number): SocketRow[] {
    return connections.filter((c) => c.localPort === localPort && c.remotePort === remotePort);
  }

  (hasSs ? test : test.skip)('`ss -tnp`: both ends of each loopback connection, owned by this process', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const clientPorts = await connect('127.0.0.1', port, 3, accepted);
    const result = parseSs(ss('-tnp'));
    expect(result.skipped).toBe(0);
    for (const clientPort of clientPorts) {
      const owned = {
        proto: 'tcp',
        state: 'ESTABLISHED',
        pid: process.pid,
        localIp: '127.0.0.1',
        remoteIp: '127.0.0.1',
      };
      expect(find(result.connections, clientPort, port)).toEqual([expect.objectContaining(owned)]);
      expect(find(result.connections, port, clientPort)).toEqual([expect.objectContaining(owned)]);
    }
  });

  (hasSs ? test : test.skip)('`ss -tn state established`: no State column, the same connections', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const clientPorts = await connect('127.0.0.1', port, 2, accepted);
    const text = ss('-tn', 'state', 'established');
    expect(text.split('\n')[0]).toMatch(/^Recv-Q/);
    const result = parseSs(text);
    expect(result.skipped).toBe(0);
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

  (hasSs ? test : test.skip)('`ss -tanp`: the listener is dropped, not skipped', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    await connect('127.0.0.1', port, 1, accepted);
    const text = ss('-tanp');
    expect(text).toMatch(new RegExp(`LISTEN.*127\\.0\\.0\\.1:${port}\\s+0\\.0\\.0\\.0:\\*`));
    const result = parseSs(text);
    expect(result.skipped).toBe(0);
    expect(result.connections.filter((c) => c.localPort === port)).toHaveLength(1);
  });

  (hasSs && ipv6Loopback ? test : test.skip)(
    'IPv6: clients on ::1, and IPv4 clients of a dual-stack (::) server, whose `[::ffff:…]` addresses read as IPv4',
    async () => {
      const v6 = await listen('::1');
      const v6Clients = await connect('::1', v6.port, 2, v6.accepted);
      const dual = await listen('::');
      const dualClients = await connect('127.0.0.1', dual.port, 2, dual.accepted);
      const text = ss('-tnp');
      expect(text).toContain('[::ffff:127.0.0.1]');
      const result = parseSs(text);
      expect(result.skipped).toBe(0);
      for (const clientPort of v6Clients) {
        expect(find(result.connections, clientPort, v6.port)).toEqual([
          expect.objectContaining({ proto: 'tcp6', localIp: '::1', remoteIp: '::1', pid: process.pid }),
        ]);
      }
      for (const clientPort of dualClients) {
        expect(find(result.connections, dual.port, clientPort)).toEqual([
          expect.objectContaining({ proto: 'tcp6', localIp: '127.0.0.1', remoteIp: '127.0.0.1', pid: process.pid }),
        ]);
      }
      expect(result.connections.some((c) => c.remoteIp.startsWith('::ffff:'))).toBe(false);
    },
  );
});

describe('parseSs properties', () => {
  const countLines = (text: string) => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

  test('never throws on arbitrary text; every line is counted, and no more rows or skips than lines', () => {
    const anyLine = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(...LIVE_STATE_ESTABLISHED.split('\n'), ...DEV_TANP.split('\n'), EMPTY_HEADER),
      fc
        .array(
          fc.constantFrom(
            'ESTAB',
            'tcp',
            'udp',
            '0',
            '[::1]:80',
            '[::1',
            '*:*',
            '%eth0',
            'users:((',
            '"x",pid=1,',
            ' ',
          ),
          { maxLength: 8 },
        )
        .map((t) => t.join(' ')),
    );
    fc.assert(
      fc.property(fc.array(anyLine, { maxLength: 30 }), (lines) => {
        const text = lines.join('\n');
        const result = parseSs(text);
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

  // Tables laid out the way ss does (left-aligned state and queues, right-aligned addresses, then Process) over
  // generated sockets; the expected rows are built independently of the parser.
  const STATES: [string, TcpState][] = [
    ['ESTAB', 'ESTABLISHED'],
    ['SYN-SENT', 'SYN_SENT'],
    ['SYN-RECV', 'SYN_RECV'],
    ['FIN-WAIT-1', 'FIN_WAIT1'],
    ['FIN-WAIT-2', 'FIN_WAIT2'],
    ['TIME-WAIT', 'TIME_WAIT'],
    ['CLOSE-WAIT', 'CLOSE_WAIT'],
    ['LAST-ACK', 'LAST_ACK'],
    ['LISTEN', 'LISTEN'],
    ['CLOSING', 'CLOSING'],
  ];
  const v4 = fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
  const v6 = fc
    .array(fc.nat(255), { minLength: 16, maxLength: 16 })
    .map((b) => (ipaddr.fromByteArray(b) as ipaddr.IPv6).toRFC5952String())
    .filter((ip) => !ip.startsWith('::ffff:') && ip !== '::');
  // [as printed, as read]
  const address = (family: 'v4' | 'v6' | 'mapped') =>
    family === 'v4'
      ? v4.map((ip) => [ip, ip] as const)
      : family === 'v6'
        ? v6.map((ip) => [`[${ip}]`, ip] as const)
        : v4.map((ip) => [`[::ffff:${ip}]`, ip] as const);
  const socket = fc.constantFrom('v4' as const, 'v6' as const, 'mapped' as const).chain((family) =>
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
    queues: fc.tuple(fc.nat(99999), fc.nat(99999)),
    width: fc.integer({ min: 1, max: 40 }),
    users: fc.array(
      fc.record({
        program: fc.constantFrom('java', 'node', 'nginx: worker', 'python3', 'envoy'),
        pid: fc.integer({ min: 1, max: 4194304 }),
        fd: fc.nat(1000),
      }),
      { maxLength: 3 },
    ),
  });
  type GeneratedRow = typeof generatedRow extends fc.Arbitrary<infer T> ? T : never;
  const render = (r: GeneratedRow, stateColumn: boolean) => {
    const users = r.users.map((u) => `("${u.program}",pid=${u.pid},fd=${u.fd})`).join(',');
    return (
      `${stateColumn ? `${r.state[0].padEnd(10)} ` : ''}${String(r.queues[0]).padEnd(6)} ${String(r.queues[1]).padEnd(6)} ` +
      `${`${r.socket.local[0]}:${r.localPort}`.padStart(r.width)} ${`${r.socket.remote[0]}:${r.remotePort}`.padStart(r.width)}` +
      (users === '' ? ' ' : ` users:(${users})`)
    );
  };
  const expectedRow = (r: GeneratedRow, state: TcpState): SocketRow => ({
    proto: r.socket.proto,
    localIp: r.socket.local[1],
    localPort: r.localPort,
    remoteIp: r.socket.remote[1],
    remotePort: r.remotePort,
    state,
    ...(r.users[0] ? { pid: r.users[0].pid, program: r.users[0].program } : {}),
  });
  const FRAMES = [
    'State  Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process',
    'Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process',
    EMPTY_HEADER,
    '',
  ];
  const IGNORED_LINES = [
    'LISTEN 0      128               0.0.0.0:2024             0.0.0.0:*',
    'LISTEN 0      511                     *:46881                  *:*     users:(("node",pid=6608,fd=23))',
    'UNCONN 0      0                 0.0.0.0:5000             0.0.0.0:*',
  ];
  const entry = fc.oneof(
    { weight: 4, arbitrary: generatedRow.map((r) => ({ kind: 'row' as const, r })) },
    fc.constantFrom(...FRAMES).map((text) => ({ kind: 'frame' as const, text })),
    fc.constantFrom(...IGNORED_LINES).map((text) => ({ kind: 'ignored' as const, text })),
  );
  type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;
  // A table either has the State column or is the output of a single `state` filter, whose state the caller names.
  const table = fc.record({
    entries: fc.array(entry, { maxLength: 40 }),
    filter: fc.option(fc.constantFrom(...STATES), { nil: undefined }),
  });
  const renderEntry = (e: Entry, filter: [string, TcpState] | undefined) =>
    e.kind === 'row' ? render(e.r, filter === undefined) : e.text;
  const stateOf = (r: GeneratedRow, filter: [string, TcpState] | undefined) => (filter ?? r.state)[1];

  test('generated tables: lines = rows + frames + ignored + skipped, with nothing skipped and every row exact', () => {
    fc.assert(
      fc.property(table, ({ entries, filter }) => {
        const text = entries.map((e) => `${renderEntry(e, filter)}\n`).join('');
        const result = parseSs(text, { netns: 3, ...(filter ? { state: filter[1] } : {}) });
        const rows = entries.flatMap((e) => (e.kind === 'row' ? [e.r] : []));
        const kept = rows.filter((r) => stateOf(r, filter) !== 'LISTEN');
        const frames = entries.filter((e) => e.kind === 'frame').length;
        const ignored = entries.filter((e) => e.kind === 'ignored').length + rows.length - kept.length;
        expect(result.skipped).toBe(0);
        expect(result.lines).toBe(kept.length + frames + ignored + result.skipped);
        expect(result.connections).toEqual(kept.map((r) => expectedRow(r, stateOf(r, filter))));
        // Every kept row once: as a connection, or as accepted on a port a LISTEN row has.
        const listening = new Set(
          result.connections.length === 0
            ? []
            : rows.filter((r) => stateOf(r, filter) === 'LISTEN').map((r) => r.localPort),
        );
        const accepted = result.connections.filter((c) => listening.has(c.localPort)).length;
        expect(result.inbound.reduce((n, i) => n + i.count, 0)).toBe(accepted);
        expect(result.sockets.reduce((n, s) => n + s.count, 0)).toBe(kept.length - accepted);
        expect(result.sockets.every((s) => s.netns === 3)).toBe(true);
      }),
    );
  });

  test('generated tables with some lines cut short: never throws, the intact rows are all still read', () => {
    const cutTable = table.chain(({ entries, filter }) =>
      fc.record({
        entries: fc.constant(entries),
        filter: fc.constant(filter),
        cuts: fc.array(fc.option(fc.nat(200), { nil: undefined }), {
          minLength: entries.length,
          maxLength: entries.length,
        }),
      }),
    );
    fc.assert(
      fc.property(cutTable, ({ entries, filter, cuts }) => {
        const lines = entries.map((e, i) => {
          const line = renderEntry(e, filter);
          const cut = cuts[i];
          return cut === undefined || cut >= line.length ? line : line.slice(0, cut);
        });
        const text = lines.join('\n');
        const result = parseSs(text, filter ? { state: filter[1] } : {});
        expect(result.lines).toBe(countLines(text));
        expect(result.connections.length + result.skipped).toBeLessThanOrEqual(result.lines);
        const intact = entries.flatMap((e, i) =>
          e.kind === 'row' && stateOf(e.r, filter) !== 'LISTEN' && lines[i] === renderEntry(e, filter)
            ? [expectedRow(e.r, stateOf(e.r, filter))]
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
