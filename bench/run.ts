// `npm run bench`: the figures the design sets targets for, measured in one run on this machine, as ratios.
//
// Evidence analysis: a generated 1,000,000-event `tcptracer -t -v` capture, analysed by the CLI as a user runs it
// (`snat-doctor analyze --tcptracer FILE --json`: a fresh process, start-up included) against the runbook's
// `awk '{print $6,$10}' FILE | sort | uniq -c | sort -nr` and a single-pass awk hash on the same file. Each command
// runs RUNS times, interleaved; the median wall time counts. Peak memory is the CLI's maximum RSS (GNU time), at 1M
// and at 3M events: streaming means it must not grow with the file.
//
// Analysis shapes (issue 13, analysisShapes.ts): the same CLI against the runbook pipeline on 1,000,000-event captures
// with 5, 50, 500 and 5,000 distinct destinations and with every event its own flow (and 5,000 with the pods named, not
// a target): per shape the time ratio, the peak memory, and PASS/MISS against the targets (speed-up ≥ 2×, goal 3×;
// < 150 MB at 1,000,000 distinct flows).
//
//   npm run bench            (BENCH_EVENTS=N and BENCH_RUNS=N change the size and the repetitions; BENCH_SHAPES,
//                             BENCH_SHAPE_EVENTS and BENCH_SHAPE_RUNS the shapes: see analysisShapes.ts)
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTcptracerCapture } from './generateTcptracer.ts';
import { median } from './median.ts';

const benchStarted = performance.now();
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BIN = fileURLToPath(new URL('../bin/snat-doctor.js', import.meta.url));
const TIME = '/usr/bin/time';

interface Measured {
  ms: number;
  maxRssMb?: number;
}

function measure(command: string, args: string[]): Measured {
  const timed = existsSync(TIME);
  const started = process.hrtime.bigint();
  const run = timed
    ? spawnSync(TIME, ['-f', '%M', command, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })
    : spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr}`);
  const rssKb = timed ? Number(run.stderr.trim().split('\n').at(-1)) : Number.NaN;
  return { ms, ...(Number.isFinite(rssKb) ? { maxRssMb: rssKb / 1024 } : {}) };
}

async function capture(events: number): Promise<string> {
  const file = join(tmpdir(), `snat-doctor-bench-tcptracer-${events}.log`);
  if (!existsSync(file)) {
    process.stderr.write(`generating a ${events.toLocaleString('en')}-event tcptracer -t -v capture in ${file}…\n`);
    await writeTcptracerCapture(file, events);
  }
  return file;
}

const file = await capture(EVENTS);
const sizeMb = statSync(file).size / 1024 / 1024;
// The file is an argument of sh, never part of its script.
const contenders: Record<string, [string, string[]]> = {
  'snat-doctor analyze': [process.execPath, [BIN, 'analyze', '--tcptracer', file, '--json']],
  'runbook awk | sort | uniq -c | sort -nr': [
    'sh',
    ['-c', `awk '{print $6,$10}' "$1" | sort | uniq -c | sort -nr`, 'sh', file],
  ],
  'single-pass awk hash': ['sh', ['-c', `awk '{c[$6" "$10]++} END {for (k in c) print c[k], k}' "$1"`, 'sh', file]],
};

const times = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]));
let cliRss = 0;
for (let run = 0; run < RUNS; run++) {
  for (const [name, [command, args]] of Object.entries(contenders)) {
    const m = measure(command, args);
    times.get(name)?.push(m.ms);
    if (name === 'snat-doctor analyze' && m.maxRssMb) cliRss = Math.max(cliRss, m.maxRssMb);
  }
}

const big = await capture(EVENTS * 3);
const [command, args] = contenders['snat-doctor analyze'] as [string, string[]];
const bigRss =
  measure(
    command,
    args.map((a) => (a === file ? big : a)),
  ).maxRssMb ?? Number.NaN;

const cli = median(times.get('snat-doctor analyze') ?? []);
const lines: string[] = [];
lines.push(
  `Evidence analysis: ${EVENTS.toLocaleString('en')} tcptracer -t -v events (${sizeMb.toFixed(0)} MB), median of ${RUNS} runs`,
);
for (const [name, values] of times) {
  const ms = median(values);
  const ratio = name === 'snat-doctor analyze' ? '' : `   snat-doctor is ${(ms / cli).toFixed(2)}× faster`;
  lines.push(`  ${name.padEnd(42)} ${ms.toFixed(0).padStart(6)} ms${ratio}`);
}
lines.push(
  `  snat-doctor peak memory: ${cliRss.toFixed(0)} MB at ${EVENTS.toLocaleString('en')} events, ${bigRss.toFixed(0)} MB at ${(EVENTS * 3).toLocaleString('en')} (streaming: it does not grow with the file)`,
);
const runbook = median(times.get('runbook awk | sort | uniq -c | sort -nr') ?? []);
lines.push(
  `  target: ≥ 2× the runbook pipeline (goal 3×): ${(runbook / cli).toFixed(2)}× ${runbook / cli >= 2 ? 'met' : 'NOT met'}`,
);
process.stdout.write(`${lines.join('\n')}\n`);

const { analysisShapeFigures, formatShapeFigures } = await import('./analysisShapes.ts');
process.stdout.write(`\n${formatShapeFigures(await analysisShapeFigures()).join('\n')}\n`);

const { workflowFigures } = await import('./workflow.ts');
const workflow = await workflowFigures();
const out: string[] = [
  '',
  'Workflow: one investigation on the sandbox with Azure-like latencies (scaled 1/10), real clock',
];
for (const f of workflow) {
  const ratio = f.wallMs / f.criticalMs;
  out.push(
    `  ${f.name.padEnd(44)} ${f.pods} pods  wall ${f.wallMs.toFixed(0)} ms  critical path ${f.criticalMs} ms  ${ratio.toFixed(2)}× ${ratio <= 1.2 ? '(target ≤ 1.2× met)' : '(target ≤ 1.2× NOT met)'}`,
  );
}
process.stdout.write(`${out.join('\n')}\n`);

const { tickFigures, coldStartFigure } = await import('./watch.ts');
const ticks = await tickFigures();
const fewest = ticks[0] as { metricsCalls: number };
const most = ticks.at(-1) as { metricsCalls: number };
const growth = most.metricsCalls / fewest.metricsCalls;
const watchOut = ['', 'Watch tick: one cluster, one load balancer, through the real SDK clients on the sandbox'];
for (const t of ticks) {
  watchOut.push(
    `  ${String(t.nodes).padStart(4)} nodes  ${t.metricsCalls} metrics calls (getBatch)  ${t.armCalls} ARM calls in all  ${t.wallMs.toFixed(0)} ms`,
  );
}
watchOut.push(
  `  metrics calls at ${ticks.at(-1)?.nodes} nodes ÷ at ${ticks[0]?.nodes} nodes: ${growth.toFixed(2)}× ${growth === 1 ? '(target: independent of nodes, met)' : '(target: independent of nodes, NOT met)'}`,
);
const cold = coldStartFigure(RUNS);
watchOut.push(
  '',
  `Cold start: a fresh process importing dist/functions.js ${cold.entryMs.toFixed(0)} ms, importing nothing ${cold.bareMs.toFixed(0)} ms (the app adds ${(cold.entryMs - cold.bareMs).toFixed(0)} ms; median of ${RUNS})`,
);
process.stdout.write(`${watchOut.join('\n')}\n`);
process.stdout.write(`\nThe bench took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s.\n`);
