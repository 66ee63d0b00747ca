// `snat-doctor diagnose`: one investigation through the local runtime, with progress and the ranked report — on the
// sandbox (served on 127.0.0.1 and reached through the real SDK clients) or on a real AKS cluster.

import { constants } from 'node:os';
import { SnatDoctorError } from '../errors.ts';
import { RealClock } from '../local/durableHost.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { ClusterRef, InvestigationRequest, PrivateRange, Report } from '../model.ts';
import type { Ports } from '../ports.ts';
import { CIDR_EXAMPLE, parsePrivateRanges } from '../privateRanges.ts';
import { formatEndpoint } from '../render/endpoint.ts';
import { shellQuoted } from '../render/shellQuoted.ts';
import { renderReport } from '../render/terminal.ts';
import { terminalSafe } from '../render/terminalSafe.ts';
import { parseNodeSelector, validateCaptureSeconds, validateClusterRef } from '../validation.ts';
import { startOnce } from '../watch/startOnce.ts';
import { badInputExit } from './badInput.ts';
import { connectedSandbox, probeRuns, probesLeftText } from './probeRuns.ts';
import { ProgressPrinter } from './progress.ts';
import { announceStop, ignoreRepeatedStops, STOP_SIGNALS, tolerateClosedTerminal } from './stopSignals.ts';

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

/** How long an interrupted run waits for its probe pod to be deleted before it leaves anyway. */
const CLEANUP_WAIT_MS = 60_000;

export async function diagnose(options: DiagnoseOptions): Promise<number> {
  // A stop signal (stopSignals.ts): stop, delete the probe pod if one is running (its wait is aborted, and its cleanup
  // runs), and leave with 128 + the first signal's number; a second Ctrl-C leaves at once. SIGKILL cannot be caught:
  // the pod's activeDeadlineSeconds stops it, and the next investigation on the cluster deletes it
  // (lib/adapters/nodeProbe.ts).
  const stop = new AbortController();
  let exitCode = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      if (signal === 'SIGINT') process.exit(128 + (constants.signals.SIGINT ?? 2));
      return;
    }
    exitCode = 128 + (constants.signals[signal] ?? 0);
    tolerateClosedTerminal(signal);
    ignoreRepeatedStops();
    announceStop(signal);
    stop.abort(new SnatDoctorError('INTERNAL', `snat-doctor was stopped (${signal})`));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    const captureSeconds = validateCaptureSeconds(options.seconds);
    if (options.node !== undefined) parseNodeSelector(options.node);
    const privateRanges = flagRanges(options.privateRange ?? []);
    const target = await targetOf(options, stop.signal);
    try {
      return await investigate(target, { captureSeconds, privateRanges }, options, {
        signal: stop.signal,
        exitCode: () => exitCode,
      });
    } finally {
      await target.close();
    }
  } catch (error) {
    return badInputExit(error);
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

async function targetOf(options: DiagnoseOptions, signal: AbortSignal): Promise<Target> {
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
      ports: azurePorts({ probeImage: options.probeImage, signal }),
      cluster,
      header: `Cluster ${cluster.name} in resource group ${cluster.resourceGroup} (DefaultAzureCredential)`,
      close: async () => {},
    };
  }

  if (options.connect !== undefined) {
    const connected = await connectedSandbox({ connect: options.connect, sandbox: options.sandbox }, signal);
    return {
      ports: connected.ports,
      cluster: connected.cluster,
      header: `Sandbox at ${connected.host}: cluster ${connected.cluster.name}`,
      close: async () => {},
    };
  }

  const { DEFAULT_SCENARIO_PATH, loadScenario } = await import('../sandbox/scenario.ts');
  const { startSandbox } = await import('../sandbox/sandbox.ts');
  const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
  const sandbox = await startSandbox(scenario, { latency: true });
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return {
    ports: sandbox.ports({ signal }),
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
  interrupt: { signal: AbortSignal; exitCode(): number },
): Promise<number> {
  const { signal } = interrupt;
  // The probe runs this process knows of: an interrupted run waits for them to end (their pods deleted).
  const runs = probeRuns(target.ports);
  const { ports } = runs;
  const { host } = await startLocalRuntime({ ports, clock: new RealClock() });
  const request: InvestigationRequest = {
    cluster: target.cluster,
    node: options.node,
    captureSeconds: given.captureSeconds,
    ...(given.privateRanges.length > 0 ? { privateRanges: given.privateRanges } : {}),
    requestedBy: { kind: 'cli', who: process.env.USER ?? 'unknown' },
  };
  const progress = options.progress ? new ProgressPrinter(process.stderr) : undefined;
  progress?.header(target.header);
  if (signal.aborted) {
    // Stopped while it reached the cluster: start nothing (the run went on to the end, and exit 0, before).
    process.stderr.write('Stopped before an investigation started: nothing ran on a node.\n');
    await target.close();
    process.exit(interrupt.exitCode());
  }
  // The CLI is not the app: its ranges are the flag's, not the app setting's.
  const { instanceId } = await startOnce(host, request, { settingRanges: [] });
  const stop = progress?.follow(host, instanceId);
  // Already aborted (a signal while it started) is as interrupted as a later one.
  const interrupted = new Promise<'interrupted'>((resolve) => {
    if (signal.aborted) resolve('interrupted');
    else signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
  const status = await Promise.race([host.waitForCompletion(instanceId), interrupted]);
  stop?.();
  if (status === 'interrupted') {
    const left = await runs.settled(CLEANUP_WAIT_MS);
    process.stderr.write(
      `Stopped: investigation ${instanceId} left unfinished; ${probesLeftText(left, CLEANUP_WAIT_MS)}.\n`,
    );
    await target.close();
    // The rest of the investigation (other steps, the in-process sandbox) would keep this process alive.
    process.exit(interrupt.exitCode());
  }

  if (status.runtimeStatus !== 'Completed') {
    process.stderr.write(`The investigation ${instanceId} failed: ${String(status.output)}\n`);
    return 1;
  }
  const report = status.output as Report;
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(`\n${renderReport(report, { color, width: process.stdout.columns ?? 100 })}\n`);
    const next = nextNodeCommands(report, process.argv.slice(2));
    if (next.length > 0) {
      const hot = report.survey?.destination;
      const endpoint = hot ? formatEndpoint(hot.ip, hot.port) : '';
      process.stdout.write(
        `Next: the other nodes holding ${endpoint}, one investigation each:\n${next.map((line) => `  ${line}\n`).join('')}`,
      );
    }
  }
  return 0;
}

/** The survey's other nodes holding the hot endpoint the CLI offers a command for, most connections first. */
const NEXT_NODES = 3;

/**
 * On a NAT gateway cluster surveyed without a node: this command again for each other node holding the hot endpoint
 * (its own arguments, `--node` added), as Slack's report offers an "Investigate <node>" button. Printable as they are:
 * every argument is quoted for a POSIX shell and kept free of terminal controls.
 */
export function nextNodeCommands(report: Report, args: string[]): string[] {
  const hot = report.survey?.destination;
  if (!hot) return [];
  const others = (report.survey?.nodes ?? []).filter((n) => n.name !== report.node?.name).slice(0, NEXT_NODES);
  return others.map((n) => {
    const command = ['snat-doctor', ...args, '--node', n.name].map(shellQuoted).join(' ');
    return terminalSafe(`${command}   # ${n.connections} connection(s) to ${formatEndpoint(hot.ip, hot.port)}`);
  });
}
