// Step 4 (fanned out, one per pod): count a pod's connections to SNAT'd destinations. Sources, best first: the
// node's socket snapshot (no exec), then `cat /proc/net/tcp /proc/net/tcp6` in the pod.

import { snatClassifier } from '../../analysis/snatDestination.ts';
import { summarizeConnections } from '../../analysis/summarizeConnections.ts';
import { SnatDoctorError } from '../../errors.ts';
import { parseProcNetTcp } from '../../evidence/procNetTcp.ts';
import type { CandidatePod, ClusterRef, ConnectionSource, PodConnections, SocketAggregate } from '../../model.ts';
import { defineStep } from '../step.ts';

export interface PodInput {
  cluster: ClusterRef;
  pod: CandidatePod;
  clusterCidrs: string[];
}

const PROC_NET_TCP = ['cat', '/proc/net/tcp', '/proc/net/tcp6'];

export const podConnections = defineStep<PodInput, PodConnections>('podConnections', async (input, ports) => {
  const { pod } = input;
  let sockets: SocketAggregate[] = pod.sockets;
  let source: ConnectionSource = 'node-snapshot';
  let note: string | undefined;

  if (!pod.snapshotCovered) {
    if (pod.os === 'windows') {
      // Windows pods need `netstat -aon`; its parser arrives with the evidence engine (issue #3).
      sockets = [];
      source = 'none';
      note = 'Windows pod: not examined yet (netstat -aon support is not built).';
    } else {
      const result = await ports
        .kubernetes(input.cluster)
        .exec({ namespace: pod.namespace, name: pod.name, container: pod.containers[0]?.name }, PROC_NET_TCP);
      if (result.exitCode !== 0 && result.stdout.trim() === '') {
        throw new SnatDoctorError(
          'EXEC_FAILED',
          `cat /proc/net/tcp in ${pod.namespace}/${pod.name} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`,
        );
      }
      const parsed = parseProcNetTcp(result.stdout, { netns: pod.netns ?? 0 });
      sockets = parsed.sockets;
      source = 'exec-proc-net-tcp';
      if (parsed.skipped > 0) note = `${parsed.skipped} unreadable line(s) of /proc/net/tcp skipped.`;
    }
  }

  const summary = summarizeConnections({ sockets, trace: pod.trace, isSnat: snatClassifier(input.clusterCidrs) });
  return {
    namespace: pod.namespace,
    pod: pod.name,
    hostNetwork: pod.hostNetwork,
    source,
    ...summary,
    ...(note ? { note } : {}),
  };
});
