// The analysis shapes of `npm run bench` (issue 13): `tcptracer -t -v` captures whose number of distinct
// (source, destination) flows is chosen, to measure whether analysis cost grows with flows rather than with lines.
//
// Each capture: banner, header, then `events` events from 120 source pods (each its own address and network
// namespace; one pod makes ~40 % of the events, the rest follow a Zipf-like tail, as on a node with a culprit).
// - `destinations: N`: every event goes to one of N public IPv4 destinations on port 443, drawn uniformly (the most
//   distinct flows N destinations allow: at 5,000 nearly every (pod, destination) pair occurs). Connections are
//   opened (`connect`) and closed later with the same tuple (`close`), about half of the events each.
// - `destinations: 'distinct'`: every event is a `connect` to a destination no other event has: as many distinct
//   (source, destination) flows as events.
// Lines are printed with the generator's exact tcptracer format (generateTcptracer.ts). To keep the runbook's awk
// fields where it expects them ($6 SADDR, $10 NETNS), no thread name has a space, addresses are IPv4, and the
// timestamps stay below 10^13 ns (1 ms between events: ~17 min for a million), so TIME is never glued to TYPE.
//
//   node bench/generateShapes.ts EVENTS DESTINATIONS|distinct OUTFILE [SEED]
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TCPTRACER_BANNER } from '../lib/evidence/tcptracer.ts';
import {
  formatTcptracerHeader,
  formatTcptracerLine,
  seededRandom,
  type TcptracerFormat,
  type TcptracerLineFields,
} from './generateTcptracer.ts';

export interface AnalysisShape {
  /** How many distinct destinations the events go to, or `distinct`: a new destination for every event. */
  destinations: number | 'distinct';
  /** Source pods (default 120). */
  sources?: number;
  /**
   * The sources' pods are named by a `crictl inspectp` file (shapeInspectp) given with the capture, so analyze counts
   * connects per destination and ties them to pods, which it does not for a capture alone.
   */
  pods?: boolean;
}

interface ShapeSource {
  ip: string;
  netns: number;
  pids: number[];
  comms: string[];
  nextPort: number;
}

interface Open {
  source: ShapeSource;
  pid: number;
  comm: string;
  daddr: string;
  sport: number;
}

// Thread names without spaces: the runbook's awk splits on them.
const COMMS = [
  ['java', 'http-nio-8080-e', 'OkHttp'],
  ['node', 'libuv-worker'],
  ['python3', 'gunicorn'],
  ['nginx'],
  ['envoy', 'wrk:worker_0', 'wrk:worker_1'],
  ['curl'],
  ['grpc-default-ex'],
  ['dotnet', '.NET-TP-Worker'],
  ['celery'],
];

/** The i-th source pod's address (and its sandbox's in shapeInspectp). */
function shapeSourceAddress(i: number): string {
  return `10.244.${1 + Math.floor(i / 100)}.${10 + (i % 100)}`;
}

/**
 * `crictl inspectp` of the shape's source pods, as crictl prints it for several sandboxes (a JSON array; the fields
 * lib/evidence/crictl.ts reads): each pod named `shapes/pod-I`, with its source's address, so analyze ties the
 * capture's sources to pods by address.
 */
export function shapeInspectp(sources = 120): string {
  const sandboxes = Array.from({ length: sources }, (_, i) => ({
    info: {
      pid: 20_000 + i,
      runtimeSpec: { linux: { namespaces: [{ type: 'network', path: `/var/run/netns/cni-shape-${i}` }] } },
    },
    status: {
      id: (i + 1).toString(16).padStart(64, 'c'),
      metadata: {
        attempt: 0,
        name: `pod-${i}`,
        namespace: 'shapes',
        uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      },
      network: { additionalIps: [], ip: shapeSourceAddress(i) },
      state: 'SANDBOX_READY',
    },
  }));
  return `${JSON.stringify(sandboxes, null, 2)}\n`;
}

/** The i-th destination: 20.0.0.1 up, at most 15 characters, so tcptracer's 16-wide DADDR column holds it. */
export function shapeDestination(i: number): string {
  const n = i + 1;
  return `20.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Yields a capture line by line (each ending with `\n`), and returns how many distinct (source, destination) flows it
 * holds. Deterministic for a seed.
 */
export function* generateShape(events: number, shape: AnalysisShape, seed = 13): Generator<string, number> {
  const random = seededRandom(seed);
  const format: TcptracerFormat = { verbose: true, timestamps: true, netnsColumn: true };
  const count = shape.sources ?? 120;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const pid = (): number =>
    random() < 0.15 ? 1_000_000 + Math.floor(random() * 3_194_304) : 1000 + Math.floor(random() * 400_000);
  const sources: ShapeSource[] = [];
  for (let i = 0; i < count; i++) {
    sources.push({
      ip: shapeSourceAddress(i),
      netns: 4026532785 + i * 97,
      pids: random() < 0.3 ? [pid(), pid()] : [pid()],
      comms: pick(COMMS),
      nextPort: 32768 + Math.floor(random() * 28000),
    });
  }
  // One pod ~40 %, then 1/k^1.3 over the rest.
  const cumulative: number[] = [];
  let tail = 0;
  for (let k = 1; k < count; k++) tail += 1 / (k + 1) ** 1.3;
  let sum = 0;
  for (let k = 0; k < count; k++) {
    sum += k === 0 ? 0.4 : (0.6 * (1 / (k + 1) ** 1.3)) / tail;
    cumulative.push(sum);
  }
  const pickSource = (): ShapeSource => {
    const r = random() * sum;
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    return sources[lo] as ShapeSource;
  };
  const destinations =
    shape.destinations === 'distinct' ? [] : Array.from({ length: shape.destinations }, (_, i) => shapeDestination(i));
  // Which (source, destination) pairs occurred: one byte per pair (120 × 5,000 is 600 kB).
  const seen = shape.destinations === 'distinct' ? undefined : new Uint8Array(count * shape.destinations);
  const sourceIndex = new Map(sources.map((source, i) => [source, i]));
  let flows = 0;

  yield `${TCPTRACER_BANNER}\n`;
  yield `${formatTcptracerHeader(format)}\n`;
  const open: Open[] = [];
  let clock = 0;
  for (let i = 0; i < events; i++) {
    if (i > 0) clock += Math.round(-Math.log(1 - random()) * 1_000_000);
    let type: TcptracerLineFields['type'];
    let connection: Open;
    const closing = shape.destinations !== 'distinct' && open.length > 0 && (open.length > 4000 || random() < 0.49);
    if (closing) {
      const index = Math.floor(random() * open.length);
      connection = open[index] as Open;
      open[index] = open[open.length - 1] as Open;
      open.pop();
      type = 'close';
    } else {
      const source = pickSource();
      const sport = source.nextPort;
      source.nextPort = sport >= 60999 ? 32768 : sport + 1;
      let daddr: string;
      if (seen === undefined) {
        daddr = shapeDestination(i);
        flows++;
      } else {
        const destination = Math.floor(random() * destinations.length);
        daddr = destinations[destination] as string;
        const pair = (sourceIndex.get(source) as number) * destinations.length + destination;
        if (seen[pair] === 0) {
          seen[pair] = 1;
          flows++;
        }
      }
      connection = { source, pid: pick(source.pids), comm: pick(source.comms), daddr, sport };
      if (seen !== undefined) open.push(connection);
      type = 'connect';
    }
    const { source, ...fields } = connection;
    const line = formatTcptracerLine(
      { type, timeNs: clock, ipVersion: 4, saddr: source.ip, dport: 443, netns: source.netns, ...fields },
      format,
    );
    yield `${line}\n`;
  }
  return flows;
}

/** Writes a shape's capture to a file, in ~1 MiB writes with back-pressure; returns its distinct flows. */
export async function writeShapeCapture(
  path: string,
  events: number,
  shape: AnalysisShape,
  seed = 13,
): Promise<number> {
  const out = createWriteStream(path);
  const lines = generateShape(events, shape, seed);
  let batch = '';
  for (let next = lines.next(); ; next = lines.next()) {
    if (next.done) {
      out.end(batch);
      await once(out, 'finish');
      return next.value;
    }
    batch += next.value;
    if (batch.length >= 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [events, destinations, path, seed] = process.argv.slice(2);
  if (
    events === undefined ||
    destinations === undefined ||
    path === undefined ||
    !/^\d+$/.test(events) ||
    !/^(\d+|distinct)$/.test(destinations)
  ) {
    console.error('usage: node bench/generateShapes.ts EVENTS DESTINATIONS|distinct OUTFILE [SEED]');
    process.exit(2);
  }
  const flows = await writeShapeCapture(
    path,
    Number(events),
    { destinations: destinations === 'distinct' ? 'distinct' : Number(destinations) },
    seed === undefined ? 13 : Number(seed),
  );
  console.error(`${Number(events).toLocaleString('en')} events, ${flows.toLocaleString('en')} distinct flows`);
}
