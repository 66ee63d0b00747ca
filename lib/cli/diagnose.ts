// `snat-doctor diagnose`: one investigation through the local runtime, with progress and the ranked report — on the
// sandbox (served on 127.0.0.1 and reached through the real SDK clients) or on a real AKS cluster.
import { SnatDoctorError } from '../errors.ts';
import { RealClock } from '../local/durableHost.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { ClusterRef, InvestigationRequest, PrivateRange, Report } from '../model.ts';
import type { Ports } from '../ports.ts';
import { CIDR_EXAMPLE, parsePrivateRanges } from '../privateRanges.ts';
import { renderReport } from '../render/terminal.ts';
import { parseNodeSelector, validateCaptureSeconds, validateClusterRef } from '../validation.ts';
import { startOrJoin } from '../workflow/start.ts';
import { badInputExit } from './badInput.ts';
import { ProgressPrinter } from './progress.ts';

export interface DiagnoseOptions {
  sandbox?: string;
  connect?: string;
  subscription?: string;
  resourceGroup?: string;
  cluster?: string;
  node?: string;
  /** `--private-range`, as given (each may be a comma-separated list). */
  privateRange?: string[];
  seconds: number;
  probeImage?: string;
  json?: boolean;
  progress: boolean;
}

interface Target {
  ports: Ports;
  cluster: ClusterRef;
  header: string;
  close(): Promise<void>;
}

export async function diagnose(options: DiagnoseOptions): Promise<number> {
  try {
    const captureSeconds = validateCaptureSeconds(options.seconds);
    if (options.node !== undefined) parseNodeSelector(options.node);
    const privateRanges = flagRanges(options.privateRange ?? []);
    const target = await targetOf(options);
    try {
      return await investigate(target, { captureSeconds, privateRanges }, options);
    } finally {
      await target.close();
    }
  } catch (error) {
    return badInputExit(error);
  }
}

async function targetOf(options: DiagnoseOptions): Promise<Target> {
  const real = [options.subscription, options.resourceGroup, options.cluster];
  if (real.some((v) => v !== undefined)) {
    if (real.some((v) => v === undefined) || options.sandbox !== undefined) {
      throw new SnatDoctorError(
        'BAD_ARGUMENT',
        'A real cluster needs all of --subscription, --resource-group and --cluster (and no --sandbox).',
      );
    }
    const cluster = validateClusterRef({
      subscriptionId: options.subscription as string,
      resourceGroup: options.resourceGroup as string,
      name: options.cluster as string,
    });
    const { azurePorts } = await import('../adapters/azurePorts.ts');
    return {
      ports: azurePorts({ probeImage: options.probeImage }),
      cluster,
      header: `Cluster ${cluster.name} in resource group ${cluster.resourceGroup} (DefaultAzureCredential)`,
      close: async () => {},
    };
  }

  if (options.connect !== undefined) {
    if (options.sandbox !== undefined) {
      throw new SnatDoctorError(
        'BAD_ARGUMENT',
        'Give either --sandbox (a scenario to serve) or --connect (a running sandbox), not both.',
      );
    }
    const { readConnection } = await import('./sandboxCommand.ts');
    const { sandboxPorts } = await import('../sandbox/sandbox.ts');
    const connection = await readConnection(options.connect);
    return {
      ports: sandboxPorts(connection),
      cluster: connection.cluster,
      header: `Sandbox at ${new URL(connection.armUrl).host}: cluster ${connection.cluster.name}`,
      close: async () => {},
    };
  }

  const { DEFAULT_SCENARIO_PATH, loadScenario } = await import('../sandbox/scenario.ts');
  const { startSandbox } = await import('../sandbox/sandbox.ts');
  const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
  const sandbox = await startSandbox(scenario, { latency: true });
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return {
    ports: sandbox.ports(),
    cluster: { subscriptionId, resourceGroup, name },
    header: `Sandbox scenario "${scenario.name}": cluster ${name}, served on ${new URL(sandbox.arm.url).host} (ARM) and ${new URL(sandbox.kube.url).host} (Kubernetes)`,
    close: () => sandbox.close(),
  };
}

/** The `--private-range` values as ranges (source `flag`); every one that is not a CIDR is named in one error. */
export function flagRanges(values: string[]): PrivateRange[] {
  const { ranges, invalid } = parsePrivateRanges(values.join(','), 'flag');
  if (invalid.length > 0) {
    const named = invalid.map((entry) => JSON.stringify(entry)).join(', ');
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `--private-range ${named} ${invalid.length === 1 ? 'is not a CIDR range' : 'are not CIDR ranges'}: give each as address/prefix-length, like ${CIDR_EXAMPLE} (a single address as /32), and repeat --private-range for more.`,
      { context: { invalid } },
    );
  }
  return ranges;
}

async function investigate(
  target: Target,
  given: { captureSeconds: number; privateRanges: PrivateRange[] },
  options: DiagnoseOptions,
): Promise<number> {
  const { host } = await startLocalRuntime({ ports: target.ports, clock: new RealClock() });
  const request: InvestigationRequest = {
    cluster: target.cluster,
    node: options.node,
    captureSeconds: given.captureSeconds,
    ...(given.privateRanges.length > 0 ? { privateRanges: given.privateRanges } : {}),
    requestedBy: { kind: 'cli', who: process.env.USER ?? 'unknown' },
  };
  const progress = options.progress ? new ProgressPrinter(process.stderr) : undefined;
  progress?.header(target.header);
  // The CLI is not the app: its ranges are the flag's, not the app setting's.
  const { instanceId } = await startOrJoin(host, request, []);
  const stop = progress?.follow(host, instanceId);
  const status = await host.waitForCompletion(instanceId);
  stop?.();

  if (status.runtimeStatus !== 'Completed') {
    process.stderr.write(`The investigation ${instanceId} failed: ${String(status.output)}\n`);
    return 1;
  }
  const report = status.output as Report;
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(`\n${renderReport(report, { color, width: process.stdout.columns ?? 100 })}\n`);
  }
  return 0;
}
