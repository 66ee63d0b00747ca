// AKS runCommand (`az aks command invoke`): the files zipped into the request's base64 `context`, the long-running
// operation polled to its end, and the result checked. The SDK's poller follows only the HTTP status (202 running,
// 200 done), so a command AKS could not run — `provisioningState: Failed` with a `reason` — resolves it successfully:
// that is checked here.
import type { RunCommandResult } from '@azure/arm-containerservice';
import { strToU8, zipSync } from 'fflate';
import { SnatDoctorError } from '../../errors.ts';
import type { ClusterRef } from '../../model.ts';

/** The files a command needs, as the `context` AKS unpacks into the command pod's working directory ('' for none). */
export function zipContext(files: Record<string, string>): string {
  const entries = Object.entries(files);
  if (entries.length === 0) return '';
  // A fixed mtime keeps the same files the same bytes.
  const zip = zipSync(Object.fromEntries(entries.map(([name, text]) => [name, strToU8(text)])), {
    mtime: new Date('2000-01-01T00:00:00Z'),
  });
  return Buffer.from(zip).toString('base64');
}

/** A finished command's exit code and output; a command AKS could not run is a RUN_COMMAND_FAILED naming the cause. */
export function commandOutcome(result: RunCommandResult, ref: ClusterRef): { exitCode: number; logs: string } {
  const state = result.provisioningState?.toLowerCase();
  if (state === 'failed' || state === 'canceled' || state === 'cancelled') {
    const reason = result.reason?.trim() || 'AKS gave no reason';
    throw new SnatDoctorError(
      'RUN_COMMAND_FAILED',
      `runCommand on ${ref.name} ended ${result.provisioningState}: ${reason}. ${howToFix(reason)}`,
      { context: { reason } },
    );
  }
  if (state !== undefined && state !== 'succeeded') {
    throw new SnatDoctorError(
      'RUN_COMMAND_FAILED',
      `runCommand on ${ref.name} returned while still ${result.provisioningState}; try again.`,
    );
  }
  if (typeof result.exitCode !== 'number') {
    throw new SnatDoctorError('RUN_COMMAND_FAILED', `runCommand on ${ref.name} finished without an exit code.`);
  }
  return { exitCode: result.exitCode, logs: result.logs ?? '' };
}

/** AKS runs the command in a `command-<id>` pod of the aks-command namespace (200m CPU / 500Mi requested). */
function howToFix(reason: string): string {
  if (/gatekeeper|admission|denied|policy|forbidden/i.test(reason)) {
    return 'A policy (Azure Policy, Gatekeeper, Pod Security admission) refused the command pod: exempt the aks-command namespace.';
  }
  if (/KubernetesPerformanceError|did not start|pending|unschedulable|insufficient/i.test(reason)) {
    return "AKS's command pod did not start in time: check that a node pool has room for a 200m CPU / 500Mi pod (or scale one up), then try again.";
  }
  if (/ImagePull|ErrImage/i.test(reason)) {
    return "The nodes could not pull AKS's command image: allow egress to mcr.microsoft.com, then try again.";
  }
  return 'AKS runs the command in a pod of the aks-command namespace: exempt that namespace from admission policies and check that a node pool has room for a 200m CPU / 500Mi pod.';
}
