// The analysis-shape figures of `npm run bench` (issue 13): does `snat-doctor analyze` stay fast, and small, when a
// capture has many distinct (source, destination) flows?
//
// Per shape (generateShapes.ts: 1,000,000 `tcptracer -t -v` events from 120 source pods, to 5, 50, 500 or 5,000
// distinct destinations, or every event its own flow), in a fresh temp directory deleted afterwards:
// - snat-doctor: the built CLI as a user runs it, `node bin/snat-doctor.js analyze --tcptracer FILE --json` (a fresh
//   process, start-up included; stdout to a file), under GNU time for its peak memory (`/usr/bin/time -f %M`: the
//   process's maximum RSS). Without GNU time, the process itself reports `process.resourceUsage().maxRSS` at exit
//   (through `node --import`).
// - with pods (`5000+pods`): the same with `--crictl` and a crictl inspectp naming the 120 source pods
//   (generateShapes.ts shapeInspectp): analyze then counts connects per destination too and ranks the pods, which it
//   skips when no source can be tied to a pod. More than the pipeline does, so shown, but not one of the targets.
// - the reference: the runbook's pipeline, `LC_ALL=C sh -c "awk '{print $6,$10}' FILE | sort | uniq -c | sort -nr"`.
//   In `-t -v` lines $6 is SADDR and $10 NETNS (TIME TYPE PID COMM IP SADDR DADDR SPORT DPORT NETNS): events per
//   (source address, netns), as the runbook and the issue's table count. The shapes keep those fields in place (no
//   space in COMM, no glued TIME), and the bench checks that both agree on the top source and its event count.
// The two run interleaved, 3 rounds per shape (BENCH_SHAPE_RUNS), or 1 when snat-doctor's first run took over 10 s;
// the median wall time counts. Targets (issue 13): pipeline ÷ snat-doctor ≥ 2× (goal 3×) at every shape; peak memory
// < 150 MB at 1,000,000 distinct flows.
//
//   BENCH_SHAPES=5,50,500,5000,distinct,5000+pods   which shapes (default: these; +pods after any)
//   BENCH_SHAPE_EVENTS=N                  events per capture (default 1,000,000)
//   BENCH_SHAPE_RUNS=N                    rounds per shape (default 3)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AnalysisShape, shapeInspectp, writeShapeCapture } from './generateShapes.ts';
import { median } from './median.ts';

const BIN = fileURLToPath(new URL('../bin/snat-doctor.js', import.meta.url));
const TIME = '/usr/bin/time';
const PIPELINE = `awk '{print $6,$10}' "$1" | sort | uniq -c | sort -nr`;
/** A first run slower than this is not repeated: the shape is measured once. */
const SLOW_MS = 10_000;
const SPEED_TARGET = 2;
const SPEED_GOAL = 3;
const MEMORY_TARGET_MB = 150;
// Reports the process's own peak RSS on stderr as it exits (the fallback without GNU time).
const REPORT_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nmaxrss-kb '+process.resourceUsage().maxRSS+'\\n'))`;

export interface ShapeFigure {
  name: string;
  shape: AnalysisShape;
  events: number;
  flows: number;
  sizeMb: number;
  runs: number;
  /** Median wall times. */
  cliMs: number;
  pipelineMs: number;
  /** Highest peak RSS of the snat-doctor process over the runs. */
  peakMb: number;
  /** Whether the memory target applies (1,000,000 distinct flows). */
  memoryTarget: boolean;
  /** Whether the pipeline's top line and snat-doctor's top source agree; a reason when they do not or were not compared. */
  agreement: true | string;
  /** Generation, every run and the check. */
  tookMs: number;
  /** The machine's 1-minute load average as the shape started (other work slows both sides). */
  load: number;
  /** Set when snat-doctor failed (its last stderr line): no figure then. */
  failed?: string;
}

/** How the memory figure is taken on this machine. */
export const MEMORY_METHOD = existsSync(TIME)
  ? 'maximum RSS of the snat-doctor process (GNU time %M)'
  : 'maximum RSS of the snat-doctor process (process.resourceUsage().maxRSS at exit, via node --import)';

function shapeName(shape: AnalysisShape): string {
  const name =
    shape.destinations === 'distinct'
      ? 'every event its own flow'
      : `${shape.destinations.toLocaleString('en')} destination${shape.destinations === 1 ? '' : 's'}`;
  return shape.pods ? `${name}, pods` : name;
}

function parseShapes(spec: string | undefined): AnalysisShape[] {
  const items = (spec ?? '5,50,500,5000,distinct,5000+pods').split(',').map((s) => s.trim());
  return items.map((item) => {
    const [count = '', pods] = item.split('+');
    if (pods !== undefined && pods !== 'pods')
      throw new Error(`BENCH_SHAPES: "${item}": only +pods may follow a shape`);
    const shape: AnalysisShape = { destinations: count === 'distinct' ? 'distinct' : Number(count) };
    if (count !== 'distinct' && (!/^\d+$/.test(count) || Number(count) < 1))
      throw new Error(`BENCH_SHAPES: "${item}" is not a count or distinct (with +pods or not)`);
    return pods ? { ...shape, pods: true } : shape;
  });
}

interface Run {
  ms: number;
  status: number | null;
  stderr: string;
}

/** Runs a command with stdout to a file; wall time from spawn to exit. */
function run(command: string, args: string[], stdoutPath: string, env?: NodeJS.ProcessEnv): Run {
  const out = openSync(stdoutPath, 'w');
  try {
    const started = process.hrtime.bigint();
    const child = spawnSync(command, args, {
      stdio: ['ignore', out, 'pipe'],
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      ...(env ? { env } : {}),
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (child.error) throw child.error;
    return { ms, status: child.status, stderr: child.stderr };
  } finally {
    closeSync(out);
  }
}

function runCli(file: string, stdoutPath: string, inspectp?: string): Run & { peakMb: number } {
  const cli = [BIN, 'analyze', '--tcptracer', file, ...(inspectp ? ['--crictl', inspectp] : []), '--json'];
  const timed = existsSync(TIME);
  const result = timed
    ? run(TIME, ['-f', 'maxrss-kb %M', process.execPath, ...cli], stdoutPath)
    : run(process.execPath, ['--import', REPORT_RSS, ...cli], stdoutPath);
  const reported = /maxrss-kb (\d+)\s*$/.exec(result.stderr);
  return { ...result, peakMb: reported ? Number(reported[1]) / 1024 : Number.NaN };
}

/** The pipeline's first line (`count saddr netns`) against snat-doctor's first source in its JSON. */
function agreement(pipelineOut: string, cliOut: string): true | string {
  const top = /^\s*(\d+) (\S+) (\d+)\s*$/.exec(readFileSync(pipelineOut, 'utf8').split('\n', 1)[0] ?? '');
  if (!top) return 'pipeline printed no `count saddr netns` line';
  let first: Record<string, unknown> | undefined;
  try {
    const json = JSON.parse(readFileSync(cliOut, 'utf8')) as { bySource?: Record<string, unknown>[] };
    first = json.bySource?.[0];
  } catch {
    return 'snat-doctor printed no JSON';
  }
  if (first === undefined) return 'not compared: no bySource in the JSON';
  const events = ['connects', 'accepts', 'closes'].reduce((sum, key) => sum + Number(first[key] ?? 0), 0);
  const [, count, saddr, netns] = top;
  if (first.saddr === saddr && String(first.netns) === netns && events === Number(count)) return true;
  return `pipeline's top: ${count} ${saddr} ${netns}; snat-doctor's: ${events} ${String(first.saddr)} ${String(first.netns)}`;
}

async function measureShape(dir: string, shape: AnalysisShape, events: number, rounds: number): Promise<ShapeFigure> {
  const started = performance.now();
  const load = loadavg()[0] ?? Number.NaN;
  const name = shapeName(shape);
  const file = join(dir, `tcptracer-${shape.destinations}.log`);
  const cliOut = join(dir, 'snat-doctor.json');
  const pipelineOut = join(dir, 'pipeline.txt');
  process.stderr.write(`analysis shapes: ${name}: generating… `);
  const flows = await writeShapeCapture(file, events, shape);
  const inspectp = shape.pods ? join(dir, 'inspectp.json') : undefined;
  if (inspectp) writeFileSync(inspectp, shapeInspectp(shape.sources));
  const sizeMb = statSync(file).size / 1024 / 1024;
  const cliMs: number[] = [];
  const pipelineMs: number[] = [];
  let peakMb = 0;
  let failed: string | undefined;
  const env = { ...process.env, LC_ALL: 'C' };
  try {
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`run ${round + 1}… `);
      const cli = runCli(file, cliOut, inspectp);
      if (cli.status !== 0) {
        const lines = cli.stderr.trim().split('\n');
        failed = `exit ${cli.status ?? 'by signal'} after ${(cli.ms / 1000).toFixed(1)} s: ${lines.findLast((l) => !l.startsWith('maxrss-kb')) ?? ''}`;
        peakMb = Math.max(peakMb, cli.peakMb);
        break;
      }
      cliMs.push(cli.ms);
      peakMb = Math.max(peakMb, cli.peakMb);
      const pipeline = run('sh', ['-c', PIPELINE, 'sh', file], pipelineOut, env);
      if (pipeline.status !== 0) throw new Error(`the runbook pipeline failed on ${file}: ${pipeline.stderr}`);
      pipelineMs.push(pipeline.ms);
      if (round === 0 && cli.ms > SLOW_MS) break;
    }
    const agrees = failed === undefined ? agreement(pipelineOut, cliOut) : 'not compared: snat-doctor failed';
    return {
      name,
      shape,
      events,
      flows,
      sizeMb,
      runs: cliMs.length,
      cliMs: cliMs.length ? median(cliMs) : Number.NaN,
      pipelineMs: pipelineMs.length ? median(pipelineMs) : Number.NaN,
      peakMb,
      memoryTarget: shape.destinations === 'distinct',
      agreement: agrees,
      tookMs: performance.now() - started,
      load,
      ...(failed === undefined ? {} : { failed }),
    };
  } finally {
    rmSync(file, { force: true });
    if (inspectp) rmSync(inspectp, { force: true });
    process.stderr.write('done\n');
  }
}

/** Measures every shape (BENCH_SHAPES), each in turn, in a temp directory removed afterwards. */
export async function analysisShapeFigures(): Promise<ShapeFigure[]> {
  const shapes = parseShapes(process.env.BENCH_SHAPES);
  const events = Number(process.env.BENCH_SHAPE_EVENTS ?? 1_000_000);
  const rounds = Number(process.env.BENCH_SHAPE_RUNS ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'snat-doctor-bench-shapes-'));
  try {
    const figures: ShapeFigure[] = [];
    for (const shape of shapes) figures.push(await measureShape(dir, shape, events, rounds));
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const verdict = (met: boolean): string => (met ? 'PASS' : 'MISS');

/** The section `npm run bench` prints. */
export function formatShapeFigures(figures: ShapeFigure[]): string[] {
  const events = figures[0]?.events ?? 0;
  const out: string[] = [
    `Analysis shapes: ${events.toLocaleString('en')} tcptracer -t -v events from 120 source pods, by distinct destinations (destinations drawn uniformly)`,
    '  snat-doctor: node bin/snat-doctor.js analyze --tcptracer FILE --json (built CLI, fresh process, start-up included)',
    '    ", pods": with --crictl and a crictl inspectp of the 120 pods: connects are also counted per destination and tied',
    '    to pods, and the pods ranked (more than the pipeline does; not a target: without pods, analyze counts no',
    "    destinations, which only a pod's SNAT ports are read from)",
    `  pipeline:    LC_ALL=C sh -c "${PIPELINE.replace('"$1"', 'FILE')}"  ($6 SADDR, $10 NETNS: events per source address and netns)`,
    '  time: median wall time of the runs (snat-doctor and pipeline interleaved; a shape whose first snat-doctor run takes > 10 s runs once)',
    '  sd ÷ pipe: snat-doctor time ÷ pipeline time (lower is better); speed-up: pipeline time ÷ snat-doctor time',
    `  peak memory: ${MEMORY_METHOD}`,
    `  targets: speed-up ≥ ${SPEED_TARGET}× (goal ${SPEED_GOAL}×) at every shape; peak memory < ${MEMORY_TARGET_MB} MB at 1,000,000 distinct flows`,
    '',
    `  ${'shape'.padEnd(25)} ${'flows'.padStart(9)} ${'MB'.padStart(4)} ${'runs'.padStart(4)} ${'snat-doctor'.padStart(11)} ${'pipeline'.padStart(9)} ${'sd ÷ pipe'.padStart(9)} ${'speed-up'.padStart(8)}  ${`≥${SPEED_TARGET}×`.padEnd(4)}  ${`≥${SPEED_GOAL}×`.padEnd(4)}  ${'peak mem'.padStart(8)}  ${`<${MEMORY_TARGET_MB} MB`.padEnd(7)}  ${'shape took'.padStart(10)}`,
  ];
  for (const f of figures) {
    const head = `  ${f.name.padEnd(25)} ${f.flows.toLocaleString('en').padStart(9)} ${f.sizeMb.toFixed(0).padStart(4)} ${String(f.runs).padStart(4)}`;
    const took = `${(f.tookMs / 1000).toFixed(1)} s`.padStart(10);
    if (f.failed !== undefined) {
      const memory = f.memoryTarget ? `MISS (${f.peakMb.toFixed(0)} MB before failing)` : '';
      out.push(`${head} snat-doctor FAILED (${f.failed})  ≥${SPEED_TARGET}× MISS  ${memory}  ${took}`);
      continue;
    }
    const ratio = f.cliMs / f.pipelineMs;
    const speedUp = f.pipelineMs / f.cliMs;
    const memory = f.memoryTarget ? verdict(f.peakMb < MEMORY_TARGET_MB) : '—';
    out.push(
      `${head} ${`${f.cliMs.toFixed(0)} ms`.padStart(11)} ${`${f.pipelineMs.toFixed(0)} ms`.padStart(9)} ${ratio.toFixed(2).padStart(9)} ${`${speedUp.toFixed(2)}×`.padStart(8)}  ${verdict(speedUp >= SPEED_TARGET)}  ${verdict(speedUp >= SPEED_GOAL)}  ${`${f.peakMb.toFixed(0)} MB`.padStart(8)}  ${memory.padEnd(7)}  ${took}`,
    );
  }
  const disagreements = figures.filter((f) => f.agreement !== true);
  out.push(
    disagreements.length === 0
      ? '  check: the pipeline and snat-doctor agree on the top (source address, netns) and its event count at every shape'
      : `  check: ${disagreements.map((f) => `${f.name}: ${f.agreement}`).join('; ')}`,
  );
  out.push(
    `  machine: ${availableParallelism()} CPUs; 1-minute load average as each shape started: ${figures.map((f) => f.load.toFixed(1)).join(', ')}`,
  );
  const targeted = figures.filter((f) => !f.shape.pods);
  const met = targeted.filter((f) => f.failed === undefined && f.pipelineMs / f.cliMs >= SPEED_TARGET).length;
  const memory = figures.find((f) => f.memoryTarget);
  out.push(
    `  targets: speed-up ≥ ${SPEED_TARGET}× at ${met} of ${targeted.length} shapes${memory ? `; peak memory at ${memory.flows.toLocaleString('en')} distinct flows ${memory.peakMb.toFixed(0)} MB ${verdict(memory.failed === undefined && memory.peakMb < MEMORY_TARGET_MB)}` : ''}`,
  );
  return out;
}
