// The workflow figure of `npm run bench`: one investigation on a sandbox node with ~100 pods and Azure-like latencies
// (scaled down 10×, so the run takes seconds: runCommand's tens of seconds become 3 s, exec's hundreds of ms 30 ms),
// real clock, through the app's registrations, the in-memory Durable host, and the real adapters talking HTTPS and
// WebSocket to the sandbox on 127.0.0.1. The critical path is what cannot overlap: the cluster read, the slower of the
// node list and the metrics query, the probe, the pod list, and the pod examinations, POD_CONCURRENCY at a time.
// Target: wall time ≤ 1.2× the critical path.
import { installFunctionsCore } from '../lib/local/installFunctionsCore.ts';

installFunctionsCore();
const { RealClock } = await import('../lib/local/durableHost.ts');
const { startLocalRuntime } = await import('../lib/local/runtime.ts');
const { parseScenario, DEFAULT_SCENARIO_PATH } = await import('../lib/sandbox/scenario.ts');
const { startSandbox } = await import('../lib/sandbox/sandbox.ts');
const { POD_CONCURRENCY } = await import('../lib/workflow/investigate.ts');
const { startNewInvestigation } = await import('../lib/workflow/start.ts');
const { readFile } = await import('node:fs/promises');
const { parse, stringify } = await import('yaml');

const LATENCIES = {
  'arm.getCluster': 400,
  'metrics.backendSnat': 600,
  'kubernetes.listNodes': 40,
  'kubernetes.listPodsOnNode': 60,
  'kubernetes.exec': 30,
  'probe.capture': 3000,
};

export interface WorkflowFigure {
  name: string;
  pods: number;
  wallMs: number;
  criticalMs: number;
}

async function scenarioText(probeWorks: boolean): Promise<string> {
  const doc = parse(await readFile(DEFAULT_SCENARIO_PATH, 'utf8')) as {
    latencies: Record<string, number>;
    nodes: { pods: { replicas?: number; name: string }[] }[];
    faults?: unknown[];
  };
  doc.latencies = LATENCIES;
  // ~100 pods on the exhausted node: more frontend replicas.
  const frontend = doc.nodes[1]?.pods.find((p) => p.name.startsWith('frontend-'));
  if (frontend) frontend.replicas = 77;
  if (!probeWorks) doc.faults = [{ target: 'probe.capture', error: 'failed', message: 'runCommand is unavailable' }];
  return stringify(doc);
}

async function measure(name: string, probeWorks: boolean): Promise<WorkflowFigure> {
  const scenario = parseScenario(await scenarioText(probeWorks), 'bench');
  const pods = scenario.nodes[1]?.pods.length ?? 0;
  const sandbox = await startSandbox(scenario, { latency: true, pollIntervalMs: 50 });
  const { host } = await startLocalRuntime({ ports: sandbox.ports(), clock: new RealClock() });
  const started = performance.now();
  const instanceId = await startNewInvestigation(
    host,
    {
      cluster: {
        subscriptionId: scenario.cluster.subscriptionId,
        resourceGroup: scenario.cluster.resourceGroup,
        name: scenario.cluster.name,
      },
      captureSeconds: 30,
      requestedBy: { kind: 'cli', who: 'bench' },
    },
    [],
  );
  const status = await host.waitForCompletion(instanceId);
  const wallMs = performance.now() - started;
  await sandbox.close();
  if (status.runtimeStatus !== 'Completed') throw new Error(`the investigation ended ${status.runtimeStatus}`);
  const examined = probeWorks ? 0 : pods;
  const criticalMs =
    LATENCIES['arm.getCluster'] +
    Math.max(LATENCIES['kubernetes.listNodes'], LATENCIES['metrics.backendSnat']) +
    LATENCIES['probe.capture'] +
    LATENCIES['kubernetes.listPodsOnNode'] +
    Math.ceil(examined / POD_CONCURRENCY) * LATENCIES['kubernetes.exec'];
  return { name, pods, wallMs, criticalMs };
}

export async function workflowFigures(): Promise<WorkflowFigure[]> {
  return [
    await measure('probe works (one runCommand, no exec)', true),
    await measure('probe fails (every pod examined by exec)', false),
  ];
}
