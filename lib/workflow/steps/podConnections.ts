// Step 4: count each pod's connections to SNAT'd destinations. Sources, best first: the node's socket snapshot (no
// exec), then `cat /proc/net/tcp /proc/net/tcp6` in the pod (`netstat -aon` in Windows pods).
//
// One activity examines a list of pods through a sliding window of `concurrency` at a time: a pod starts as soon as
// any other finishes, so one slow exec holds up only its own slot. (Per-pod activities in fixed batches made every
// batch wait for its slowest pod, and each batch cost the orchestrator a replay; a window of Durable tasks would need
// `Task.any` over tasks already yielded, which durable-functions for JavaScript can launch again:
// Azure/azure-functions-durable-js#574.) Each pod's outcome is data, its transient faults included, so the
// orchestrator retries only the pods that need it.

import { snatClassifier } from '../../analysis/snatDestination.ts';
import { summarizeConnections } from '../../analysis/summarizeConnections.ts';
import { SnatDoctorError, type StepResult, toStepFailure } from '../../errors.ts';
import { parseProcNetTcp } from '../../evidence/procNetTcp.ts';
import { parseWindowsNetstat } from '../../evidence/windowsNetstat.ts';
import type { CandidatePod, ClusterRef, ConnectionSource, PodConnections, SocketAggregate } from '../../model.ts';
import type { Ports } from '../../ports.ts';
import { defineStep } from '../step.ts';

export interface PodsInput {
  cluster: ClusterRef;
  pods: CandidatePod[];
  /** CIDRs the cluster reaches without SNAT (ClusterFacts.privateRanges). */
  privateRanges: string[];
  /** Pods examined at once (the orchestrator's POD_CONCURRENCY). */
  concurrency: number;
}

export interface PodInput {
  cluster: ClusterRef;
  pod: CandidatePod;
  privateRanges: string[];
}

// The TCP tables, then the UDP ones (connected UDP sockets hold a SNAT port per destination IP).
const PROC_NET_TCP = ['cat', '/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6'];
const NETSTAT_AON = ['netstat', '-aon'];

/** Every pod's outcome, in the order given, with at most `concurrency` pods examined at any moment. */
export const podConnections = defineStep<PodsInput, StepResult<PodConnections>[]>('podConnections', (input, ports) =>
  examinePods(input, ports),
);

export function examinePods(input: PodsInput, ports: Ports): Promise<StepResult<PodConnections>[]> {
  return inWindow(input.pods, Math.trunc(input.concurrency) || 1, async (pod): Promise<StepResult<PodConnections>> => {
    try {
      return { ok: true, value: await examinePod({ ...input, pod }, ports) };
    } catch (error) {
      return toStepFailure(error, { transientAsData: true });
    }
  });
}

/** `work` on each item, at most `width` (at least 1) at once, each starting as one ends; results in the items' order. */
export async function inWindow<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const slot = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, slot));
  return results;
}

/** One pod's connections; throws what the pod's examination hit. */
export async function examinePod(input: PodInput, ports: Ports): Promise<PodConnections> {
  const { pod } = input;
  let sockets: SocketAggregate[] = pod.sockets;
  let inbound = (pod.inbound ?? []).reduce((sum, i) => sum + i.count, 0);
  let source: ConnectionSource = 'node-snapshot';
  let note: string | undefined;
  let hostTable = false;
  let incomplete = false;

  if (!pod.snapshotCovered && pod.phase !== undefined && pod.phase !== 'Running') {
    // Nothing to exec into: its containers have not started (Pending) or have ended.
    source = 'none';
    note = `${pod.phase} pod: not examined (no running container to read its connections from).`;
  } else if (!pod.snapshotCovered) {
    const k8s = ports.kubernetes(input.cluster);
    const target = { namespace: pod.namespace, name: pod.name, container: pod.containers[0]?.name };
    // Windows pods: no node probe runs there, and netstat -aon is always present. Linux pods: the kernel's own table,
    // which needs only `cat` (no net-tools installed into the pod, unlike the runbook).
    const argv = pod.os === 'windows' ? NETSTAT_AON : PROC_NET_TCP;
    const result = await k8s.exec(target, argv);
    if (result.exitCode !== 0 && result.stdout.trim() === '') {
      throw new SnatDoctorError(
        'EXEC_FAILED',
        `${argv.join(' ')} in ${pod.namespace}/${pod.name} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`,
      );
    }
    const parsed =
      pod.os === 'windows'
        ? parseWindowsNetstat(result.stdout, { netns: pod.netns ?? 0 })
        : parseProcNetTcp(result.stdout, { netns: pod.netns ?? 0 });
    sockets = parsed.sockets;
    inbound = 'inbound' in parsed ? parsed.inbound.reduce((sum, i) => sum + i.count, 0) : 0;
    source = pod.os === 'windows' ? 'exec-netstat' : 'exec-proc-net-tcp';
    const notes: string[] = [];
    const cut = 'tables' in parsed ? tablesCut(parsed, result.stderr) : undefined;
    if (cut) {
      incomplete = true;
      notes.push(`The output of ${argv.join(' ')} looks cut short (${cut}): this pod's counts may be low.`);
    }
    if (parsed.skipped > 0) notes.push(`${parsed.skipped} unreadable line(s) of ${argv.join(' ')} skipped.`);
    if (notes.length > 0) note = notes.join(' ');
    // A hostNetwork pod's table is the node's: every host process's and hostNetwork pod's sockets. The report counts
    // it once, as the host network (rankCulprits).
    hostTable = pod.hostNetwork;
  }

  const summary = summarizeConnections({ sockets, trace: pod.trace, isSnat: snatClassifier(input.privateRanges) });
  return {
    namespace: pod.namespace,
    pod: pod.name,
    hostNetwork: pod.hostNetwork,
    ...(pod.workload ? { workload: pod.workload } : {}),
    source,
    ...summary,
    ...(inbound > 0 ? { inbound } : {}),
    ...(hostTable ? { hostTable } : {}),
    ...(note ? { note } : {}),
    ...(incomplete ? { incomplete } : {}),
  };
}

/**
 * Why `cat /proc/net/{tcp,tcp6,udp,udp6}`'s output looks cut short, if it does: fewer tables than files, except
 * those cat said it could not read (a kernel without IPv6 has no tcp6), or a cut the parser saw.
 */
function tablesCut(parsed: { tables: number; cut?: string }, stderr: string): string | undefined {
  if (parsed.cut) return parsed.cut;
  const unreadable = PROC_NET_TCP.slice(1).filter((file) => stderr.includes(`${file}:`)).length;
  const expected = PROC_NET_TCP.length - 1 - unreadable;
  return parsed.tables < expected ? `${parsed.tables} of its ${expected} tables` : undefined;
}
