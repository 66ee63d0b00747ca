// Micro-benchmark, run by hand: the tcptracer parser on a generated `tcptracer -t -v` capture, against the runbook's
// `awk '{print $6,$10}' | sort | uniq -c | sort -nr` and a single-pass awk hash on the same file.
//
//   node bench/tcptracerParse.bench.ts [EVENTS=1000000] [FILE]
//
// The capture is generated (deterministically) into the temp directory unless FILE is given. The parser runs in a
// fresh process each time, as the CLI would: cold JIT, its own peak RSS. The awk pipelines run through `sh -c` with
// the file as a positional argument (never spliced into the shell text).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeTcptracerFile } from '../lib/evidence/tcptracer.ts';
import { writeTcptracerCapture } from './generateTcptracer.ts';

const RUNS = 5;

interface ChildResult {
  /** Parse + aggregate of the whole file, cold (first run in the process). */
  coldMs: number;
  /** The same, once the JIT has warmed up (best of the next runs). */
  warmMs: number;
  /** Peak RSS after the cold run, and after imports only. */
  peakRssMb: number;
  baselineRssMb: number;
  events: number;
  top: string[];
}

/** In the child: parse the file a few times and report. */
async function child(path: string): Promise<void> {
  const baselineRssMb = process.resourceUsage().maxRSS / 1024;
  let started = performance.now();
  const summary = await summarizeTcptracerFile(path);
  const coldMs = performance.now() - started;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  let warmMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    started = performance.now();
    await summarizeTcptracerFile(path);
    warmMs = Math.min(warmMs, performance.now() - started);
  }
  const top = summary.bySource.slice(0, 3).map((s) => `${s.total} ${s.saddr} ${s.netns ?? '-'}`);
  const result: ChildResult = { coldMs, warmMs, peakRssMb, baselineRssMb, events: summary.events, top };
  process.stdout.write(JSON.stringify(result));
}

function timed(command: string, args: string[]): { ms: number; stdout: string } {
  const started = performance.now();
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr}`);
  return { ms, stdout: run.stdout };
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return `min ${(sorted[0] ?? Number.NaN).toFixed(0)} ms, median ${median.toFixed(0)} ms`;
}

async function main(): Promise<void> {
  const [eventsArg, fileArg] = process.argv.slice(2);
  const events = eventsArg === undefined ? 1_000_000 : Number(eventsArg);
  const path = fileArg ?? join(tmpdir(), `snat-doctor-tcptracer-${events}.log`);
  if (!existsSync(path)) {
    process.stdout.write(`generating ${events} events into ${path} … `);
    await writeTcptracerCapture(path, events);
    process.stdout.write('done\n');
  }
  const size = statSync(path).size;
  console.log(`capture: ${path} (${events.toLocaleString('en')} events, ${(size / 1e6).toFixed(1)} MB)`);

  const self = fileURLToPath(import.meta.url);
  const parses: ChildResult[] = [];
  const processMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    parses.push(JSON.parse(timed(process.execPath, [self, '--child', path]).stdout) as ChildResult);
    processMs.push(timed(process.execPath, [self, '--once', path]).ms);
  }
  const runbook = `awk '{print $6,$10}' "$1" | sort | uniq -c | sort -nr`;
  const hash = `awk '{c[$6" "$10]++} END{for(k in c) print c[k],k}' "$1"`;
  const awkPipeline: number[] = [];
  const awkHash: number[] = [];
  let awkTop: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const pipeline = timed('sh', ['-c', runbook, 'sh', path]);
    awkPipeline.push(pipeline.ms);
    awkTop = pipeline.stdout.split('\n').slice(0, 3);
    awkHash.push(timed('sh', ['-c', hash, 'sh', path]).ms);
  }

  const cold = parses.map((p) => p.coldMs);
  const warm = parses.map((p) => p.warmMs);
  const best = (values: number[]): number => Math.min(...values);
  console.log(`parse + aggregate, in process (cold, fresh process): ${stats(cold)}`);
  console.log(`parse + aggregate, in process (warm JIT):            ${stats(warm)}`);
  console.log(`whole node process (startup, TS load, one parse):   ${stats(processMs)}`);
  console.log(
    `peak RSS: ${Math.max(...parses.map((p) => p.peakRssMb)).toFixed(0)} MB ` +
      `(after imports, before parsing: ${Math.max(...parses.map((p) => p.baselineRssMb)).toFixed(0)} MB)`,
  );
  console.log(`runbook awk | sort | uniq -c | sort -nr:              ${stats(awkPipeline)}`);
  console.log(`awk hash, single pass:                               ${stats(awkHash)}`);
  console.log(
    `speed-up of the cold in-process parse: ${(best(awkPipeline) / best(cold)).toFixed(1)}× the runbook pipeline, ` +
      `${(best(awkHash) / best(cold)).toFixed(1)}× the awk hash; whole process: ` +
      `${(best(awkPipeline) / best(processMs)).toFixed(1)}× / ${(best(awkHash) / best(processMs)).toFixed(1)}×`,
  );
  console.log(`top sources, snat-doctor (events saddr netns): ${parses[0]?.top.join(' | ')}`);
  console.log(
    `top "sources", runbook awk ($6 $10; COMM with spaces shifts the fields): ${awkTop.map((l) => l.trim()).join(' | ')}`,
  );
}

if (process.argv[2] === '--child') await child(process.argv[3] ?? '');
else if (process.argv[2] === '--once') await summarizeTcptracerFile(process.argv[3] ?? '');
else await main();
