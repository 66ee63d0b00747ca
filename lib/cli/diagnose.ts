// `snat-doctor diagnose`: one investigation through the local runtime, with progress and the ranked report.
import { SnatDoctorError } from '../errors.ts';
import { RealClock } from '../local/durableHost.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { InvestigationRequest, Report } from '../model.ts';
import { renderReport } from '../render/terminal.ts';
import { DEFAULT_SCENARIO_PATH, loadScenario } from '../sandbox/scenario.ts';
import { scenarioPorts } from '../sandbox/scenarioPorts.ts';
import { parseNodeSelector, validateCaptureSeconds } from '../validation.ts';
import { startOrJoin } from '../workflow/start.ts';
import { ProgressPrinter } from './progress.ts';

export interface DiagnoseOptions {
  sandbox?: string;
  node?: string;
  seconds: number;
  json?: boolean;
  progress: boolean;
}

export async function diagnose(options: DiagnoseOptions): Promise<number> {
  try {
    const captureSeconds = validateCaptureSeconds(options.seconds);
    if (options.node !== undefined) parseNodeSelector(options.node);
    const scenario = await loadScenario(options.sandbox ?? DEFAULT_SCENARIO_PATH);
    const { host } = await startLocalRuntime({
      ports: scenarioPorts(scenario, { latency: true }),
      clock: new RealClock(),
    });

    const request: InvestigationRequest = {
      cluster: {
        subscriptionId: scenario.cluster.subscriptionId,
        resourceGroup: scenario.cluster.resourceGroup,
        name: scenario.cluster.name,
      },
      node: options.node,
      captureSeconds,
      requestedBy: { kind: 'cli', who: process.env.USER ?? 'unknown' },
    };
    const progress = options.progress ? new ProgressPrinter(process.stderr) : undefined;
    progress?.header(`Sandbox scenario "${scenario.name}": cluster ${scenario.cluster.name}`);
    const { instanceId } = await startOrJoin(host, request);
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
  } catch (error) {
    if (error instanceof SnatDoctorError) {
      process.stderr.write(`snat-doctor: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
