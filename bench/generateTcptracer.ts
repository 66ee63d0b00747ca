// A deterministic, realistic `tcptracer -t -v` capture from a busy AKS node, for the parser's tests and benchmarks.
// Lines are printed with BCC tcptracer's own format strings (research/tool-output-formats.md §1.2), so the layout is
// exact: padded columns, 7-digit PIDs pushing columns right, timestamps glued to TYPE past 10^13 ns (≈2.8 h), thread
// names with spaces (`.NET TP Worker`), dual-stack sockets printed as `[::ffff:a.b.c.d]`, and a few events printed
// out of order (negative or decreasing relative timestamps, as per-CPU perf buffers produce).
//
// The node: ~30 pods with their own network namespace plus host-network processes. One pod (a .NET service calling a
// partner API without pooling) makes about 40 % of the connects; the rest follow a Zipf-like tail. Connections are
// opened (`connect`, sometimes `accept` on servers) and closed later with the same tuple.
//
//   node bench/generateTcptracer.ts 1000000 /tmp/tcptracer-1m.log [seed]

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TCPTRACER_BANNER } from '../lib/evidence/tcptracer.ts';

export interface TcptracerLineFields {
  type: 'connect' | 'accept' | 'close' | 'unknown';
  /** Nanoseconds since the first event printed (may be negative). */
  timeNs?: number;
  pid: number;
  comm: string;
  ipVersion: 4 | 6;
  /** As tcptracer prints it: IPv6 in brackets. */
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  netns?: number;
}

export interface TcptracerFormat {
  verbose: boolean;
  timestamps: boolean;
  /** `-v` without `-N`: the NETNS column is printed. */
  netnsColumn: boolean;
}

const SHORT_TYPE = { connect: 'C', accept: 'A', close: 'X', unknown: 'U' } as const;

/** Python's `%-Ns`: left-aligned, padded to N characters, never cut. */
function pad(value: string | number, width: number): string {
  return String(value).padEnd(width);
}

/** tcptracer's header for a mode (§1.2), trailing spaces included. */
export function formatTcptracerHeader(format: TcptracerFormat): string {
  if (format.verbose) {
    const time = format.timestamps ? pad('TIME(ns)', 14) : '';
    const columns = `${pad('TYPE', 12)} ${pad('PID', 6)} ${pad('COMM', 16)} ${pad('IP', 2)} ${pad('SADDR', 16)} ${pad('DADDR', 16)} ${pad('SPORT', 6)} ${pad('DPORT', 7)}`;
    return time + columns + (format.netnsColumn ? pad('NETNS', 8) : '');
  }
  const time = format.timestamps ? pad('TIME(s)', 9) : '';
  return `${time}${pad('T', 2)} ${pad('PID', 6)} ${pad('COMM', 16)} ${pad('IP', 2)} ${pad('SADDR', 16)} ${pad('DADDR', 16)} ${pad('SPORT', 6)} ${pad('DPORT', 6)}`;
}

/** One event line exactly as tcptracer prints it in the given mode (§1.2), without the newline. */
export function formatTcptracerLine(event: TcptracerLineFields, format: TcptracerFormat): string {
  let line = '';
  if (format.timestamps) {
    const ns = event.timeNs ?? 0;
    line += format.verbose ? pad(ns, 14) : pad((ns / 1e9).toFixed(3), 9);
  }
  line += format.verbose ? `${pad(event.type, 12)} ` : `${pad(SHORT_TYPE[event.type], 2)} `;
  line += `${pad(event.pid, 6)} ${pad(event.comm, 16)} ${pad(event.ipVersion, 2)} ${pad(event.saddr, 16)} ${pad(event.daddr, 16)} ${pad(event.sport, 6)} ${pad(event.dport, 6)}`;
  if (format.verbose && format.netnsColumn) line += ` ${pad(event.netns ?? 0, 8)}`;
  return line;
}

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Destination {
  ip: string;
  port: number;
  /** IPv6 destination (printed in brackets, from a pod with an IPv6 address). */
  v6?: boolean;
}

export interface SimulatedSource {
  ip: string;
  ip6?: string;
  netns: number;
  pids: number[];
  comms: string[];
  weight: number;
  destinations: Destination[];
  /** Accepts connections on this port (a server), besides connecting out. */
  servesPort?: number;
  /** Uses dual-stack sockets for part of its connections (printed `[::ffff:…]`, IP 6). */
  dualStack?: boolean;
}

const HOST_NETNS = 4026531840;
const NODE_IP = '10.224.0.4';

const PUBLIC: Destination[] = [
  { ip: '20.50.2.10', port: 443 },
  { ip: '52.168.112.66', port: 443 },
  { ip: '13.107.42.14', port: 443 },
  { ip: '40.126.32.74', port: 443 },
  { ip: '151.101.1.69', port: 443 },
  { ip: '104.208.16.90', port: 443 },
  { ip: '20.42.65.92', port: 443 },
  { ip: '34.117.59.81', port: 80 },
  { ip: '52.239.152.10', port: 443 },
  { ip: '23.98.104.20', port: 5671 },
];
const PRIVATE: Destination[] = [
  { ip: '10.0.0.1', port: 443 },
  { ip: '10.0.0.10', port: 53 },
  { ip: '168.63.129.16', port: 80 },
  { ip: '169.254.169.254', port: 80 },
  { ip: '10.244.2.17', port: 8080 },
  { ip: '10.244.3.5', port: 5432 },
  { ip: '10.244.1.40', port: 6379 },
  { ip: '10.0.143.20', port: 9092 },
];

const COMMS = [
  ['java', 'http-nio-8080-e', 'OkHttp Dispatch'],
  ['node', 'libuv-worker'],
  ['python3', 'gunicorn'],
  ['nginx'],
  ['envoy', 'wrk:worker_0', 'wrk:worker_1'],
  ['curl'],
  ['grpc-default-ex', 'server'],
  ['dotnet', '.NET TP Worker', '.NET ThreadPool'],
  ['redis-server'],
  ['python3', 'celery'],
];

/** The node's pods and host-network processes, deterministic for a seed. */
export function simulatedSources(random: () => number): SimulatedSource[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const pid = (): number =>
    random() < 0.15 ? 1_000_000 + Math.floor(random() * 3_194_304) : 1000 + Math.floor(random() * 400_000);
  const sources: SimulatedSource[] = [];
  // The culprit: a .NET service hammering one partner API, a new connection per request.
  sources.push({
    ip: '10.244.1.23',
    ip6: 'fd00:10:244:1::17',
    netns: 4026532785,
    pids: [pid(), pid()],
    comms: ['.NET TP Worker', 'dotnet', '.NET ThreadPool'],
    weight: 0,
    destinations: [
      { ip: '20.50.2.10', port: 443 },
      { ip: '20.50.2.11', port: 443 },
      { ip: '2603:1030:20e:3::23c', port: 443, v6: true },
      { ip: '10.0.0.10', port: 53 },
    ],
    dualStack: true,
  });
  for (let i = 1; i < 30; i++) {
    const destinations = new Set<Destination>();
    const count = 2 + Math.floor(random() * 5);
    while (destinations.size < count) destinations.add(random() < 0.5 ? pick(PUBLIC) : pick(PRIVATE));
    sources.push({
      ip: `10.244.1.${24 + i * 3}`,
      netns: 4026532785 + i * 97 + Math.floor(random() * 50),
      pids: [pid(), ...(random() < 0.3 ? [pid()] : [])],
      comms: pick(COMMS),
      weight: 0,
      destinations: [...destinations],
      ...(random() < 0.2 ? { servesPort: pick([8080, 8443, 5000, 3000]) } : {}),
      ...(random() < 0.1 ? { dualStack: true } : {}),
    });
  }
  // Host-network processes: kubelet, the CNI, node exporters. One netns, the host's.
  sources.push({
    ip: NODE_IP,
    netns: HOST_NETNS,
    pids: [pid(), pid(), pid()],
    comms: ['kubelet', 'azure-cns', 'node_exporter', 'containerd'],
    weight: 0,
    destinations: [
      { ip: '10.0.0.1', port: 443 },
      { ip: '168.63.129.16', port: 80 },
      { ip: '168.63.129.16', port: 32526 },
      { ip: '169.254.169.254', port: 80 },
      { ip: '20.42.65.92', port: 443 },
    ],
    servesPort: 10250,
  });
  // Skew: the culprit ~40 %, then a Zipf tail (1/k^1.3) over the rest.
  let tail = 0;
  for (let k = 1; k < sources.length; k++) tail += 1 / (k + 1) ** 1.3;
  for (let k = 1; k < sources.length; k++) (sources[k] as SimulatedSource).weight = (0.6 * (1 / (k + 1) ** 1.3)) / tail;
  (sources[0] as SimulatedSource).weight = 0.4;
  return sources;
}

interface OpenConnection {
  source: SimulatedSource;
  pid: number;
  comm: string;
  ipVersion: 4 | 6;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
}

/**
 * Yields a `tcptracer -t -v` capture line by line (each ending with `\n`): banner, header, then `events` events.
 * Mean gap between events is 12 ms, so a million events span ≈3.3 h and the last ~15 % have glued timestamps.
 */
export function* generateTcptracer(events: number, seed = 1): Generator<string> {
  const random = seededRandom(seed);
  const format: TcptracerFormat = { verbose: true, timestamps: true, netnsColumn: true };
  const sources = simulatedSources(random);
  const cumulative: number[] = [];
  let sum = 0;
  for (const source of sources) {
    sum += source.weight;
    cumulative.push(sum);
  }
  const pickSource = (): SimulatedSource => {
    const r = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    return sources[lo] as SimulatedSource;
  };
  const nextPort = new Map<SimulatedSource, number>();
  const ephemeral = (source: SimulatedSource): number => {
    const port = nextPort.get(source) ?? 32768 + Math.floor(random() * 28000);
    nextPort.set(source, port >= 60999 ? 32768 : port + 1);
    return port;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

  yield `${TCPTRACER_BANNER}\n`;
  yield `${formatTcptracerHeader(format)}\n`;

  const open: OpenConnection[] = [];
  let clock = 0;
  let start = 0;
  for (let i = 0; i < events; i++) {
    clock += Math.round(-Math.log(1 - random()) * 12_000_000);
    if (i === 0) start = clock; // tcptracer prints times relative to the first event
    // Per-CPU buffers: now and then an event is printed after a later one (and the second event can precede the
    // first, giving a negative relative time).
    const printed = i === 1 ? -1500 : (random() < 0.002 ? clock - Math.floor(random() * 3_000_000) : clock) - start;
    let event: TcptracerLineFields;
    const closing = open.length > 0 && (open.length > 4000 || random() < 0.49);
    if (closing) {
      const index = Math.floor(random() * open.length);
      const connection = open[index] as OpenConnection;
      open[index] = open[open.length - 1] as OpenConnection;
      open.pop();
      const { source, ...fields } = connection;
      event = { type: 'close', ...fields, netns: source.netns };
    } else {
      const source = pickSource();
      const pid = pick(source.pids);
      const comm = pick(source.comms);
      let connection: OpenConnection;
      const accepting = source.servesPort !== undefined && random() < 0.15;
      if (accepting) {
        const client = `10.244.${2 + Math.floor(random() * 3)}.${2 + Math.floor(random() * 250)}`;
        connection = {
          source,
          pid,
          comm,
          ipVersion: 4,
          saddr: source.ip,
          daddr: client,
          sport: source.servesPort ?? 0,
          dport: 32768 + Math.floor(random() * 28000),
        };
      } else {
        let destination = pick(source.destinations);
        // IPv6 destinations are the exception, even for a pod that has them.
        if (destination.v6 && random() > 0.01) destination = source.destinations[0] as Destination;
        if (destination.v6 && source.ip6) {
          connection = {
            source,
            pid,
            comm,
            ipVersion: 6,
            saddr: `[${source.ip6}]`,
            daddr: `[${destination.ip}]`,
            sport: ephemeral(source),
            dport: destination.port,
          };
        } else if (source.dualStack && random() < 0.02) {
          connection = {
            source,
            pid,
            comm,
            ipVersion: 6,
            saddr: `[::ffff:${source.ip}]`,
            daddr: `[::ffff:${destination.ip}]`,
            sport: ephemeral(source),
            dport: destination.port,
          };
        } else {
          connection = {
            source,
            pid,
            comm,
            ipVersion: 4,
            saddr: source.ip,
            daddr: destination.ip,
            sport: ephemeral(source),
            dport: destination.port,
          };
        }
      }
      open.push(connection);
      const { source: _owner, ...fields } = connection;
      event = { type: accepting ? 'accept' : 'connect', ...fields, netns: source.netns };
    }
    event.timeNs = printed;
    yield `${formatTcptracerLine(event, format)}\n`;
  }
}

/** Writes a capture to a file, in ~1 MiB writes with back-pressure. */
export async function writeTcptracerCapture(path: string, events: number, seed = 1): Promise<void> {
  const out = createWriteStream(path);
  let batch = '';
  for (const line of generateTcptracer(events, seed)) {
    batch += line;
    if (batch.length >= 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [events, path, seed] = process.argv.slice(2);
  if (events === undefined || path === undefined || !/^\d+$/.test(events)) {
    console.error('usage: node bench/generateTcptracer.ts EVENTS OUTFILE [SEED]');
    process.exit(2);
  }
  await writeTcptracerCapture(path, Number(events), seed === undefined ? 1 : Number(seed));
}
