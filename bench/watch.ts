// The watch figures of `npm run bench`:
//
// Watch tick: one snatWatch tick on sandbox clusters of 10, 100 and 500 nodes behind the cluster's load balancer,
// through the real SDK clients over HTTPS on 127.0.0.1 (no latencies: the calls are what is counted). Target (DESIGN
// §5): metrics calls per tick grow with load balancers ÷ batch size, not with nodes — the ratio of calls at 500 nodes
// to calls at 10 nodes must be 1.
//
// Cold start: a fresh Node process importing the Functions app's entry (dist/functions.js, what the host loads),
// against a fresh Node process importing nothing; the difference is what the app adds to a cold start.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { startSandbox } from '../lib/sandbox/sandbox.ts';
import { DEFAULT_SCENARIO_PATH, parseScenario } from '../lib/sandbox/scenario.ts';
import { watchTick } from '../lib/watch/tick.ts';
import { median } from './median.ts';

export interface TickFigure {
  nodes: number;
  metricsCalls: number;
  armCalls: number;
  wallMs: number;
}

async function tickOn(nodes: number): Promise<TickFigure> {
  const doc = parse(await readFile(DEFAULT_SCENARIO_PATH, 'utf8')) as Record<string, unknown>;
  doc.latencies = {};
  doc.nodes = Array.from({ length: nodes }, (_, i) => ({
    name: `aks-pool-${String(i).padStart(6, '0')}`,
    ip: `10.224.${Math.floor(i / 250) + 1}.${(i % 250) + 4}`,
    snat: { usedPorts: (i * 7) % 60, failedConnections: 0 }, // within any allocation (64 per node at 500 nodes)
  }));
  const scenario = parseScenario(stringify(doc), 'bench-watch');
  const sandbox = await startSandbox(scenario);
  try {
    const { subscriptionId, resourceGroup, name } = scenario.cluster;
    const started = performance.now();
    const result = await watchTick({ clusters: [{ subscriptionId, resourceGroup, name }], ports: sandbox.ports() });
    const wallMs = performance.now() - started;
    if (result.errors.length > 0 || result.nodes.length !== nodes) {
      throw new Error(`the tick saw ${result.nodes.length} of ${nodes} nodes: ${JSON.stringify(result.errors)}`);
    }
    const metricsCalls = sandbox.arm.calls.filter((c) => c.path.endsWith('/metrics:getBatch')).length;
    return { nodes, metricsCalls, armCalls: sandbox.arm.calls.length, wallMs };
  } finally {
    await sandbox.close();
  }
}

export async function tickFigures(): Promise<TickFigure[]> {
  const figures: TickFigure[] = [];
  for (const nodes of [10, 100, 500]) figures.push(await tickOn(nodes));
  return figures;
}

export interface ColdStartFigure {
  entryMs: number;
  bareMs: number;
}

/**
 * Median wall time of fresh processes loading the app's entry, and of fresh processes loading nothing. The worker's
 * `@azure/functions-core` is answered by the stand-in through a resolve hook written here in plain JavaScript, as
 * installFunctionsCore (lib/local) does: importing that TypeScript file would start Node's type stripping, which cost
 * ~140–160 ms here and which the Functions host never runs.
 */
export function coldStartFigure(runs: number): ColdStartFigure {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const standIn = pathToFileURL(`${root}lib/local/functionsCore.cjs`).href;
  const load = [
    "import { registerHooks } from 'node:module';",
    'registerHooks({ resolve: (specifier, context, next) =>',
    `  specifier === '@azure/functions-core' ? { url: ${JSON.stringify(standIn)}, format: 'commonjs', shortCircuit: true } : next(specifier, context) });`,
    `await import(${JSON.stringify(`${root}dist/functions.js`)});`,
  ].join('\n');
  const timeOf = (script: string) => {
    const started = performance.now();
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: 'ignore' });
    return performance.now() - started;
  };
  const entry: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    entry.push(timeOf(load));
    bare.push(timeOf(''));
  }
  return { entryMs: median(entry), bareMs: median(bare) };
}
