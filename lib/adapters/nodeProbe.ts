// The node probe's transports. On AKS: one runCommand round trip whose kubectl creates the probe pod, waits, prints
// its logs and deletes it (works for private clusters; no network path from us to the API server needed). Where the
// cluster disables runCommand: the same pod created directly through the Kubernetes API.
import { SnatDoctorError } from '../errors.ts';
import type { ClusterFacts, ClusterRef, NodeCapture, NodeInfo } from '../model.ts';
import type { NodeProbe } from '../ports.ts';
import { interpretRunCommand, probePodManifest, probeScript, runCommandScript } from '../probe/probePod.ts';
import { parseProbeReport } from '../probe/probeReport.ts';

export interface RunCommandClient {
  runCommand(
    ref: ClusterRef,
    request: { command: string; contextFiles: Record<string, string>; aadManaged: boolean },
    signal?: AbortSignal,
  ): Promise<{ exitCode: number; logs: string }>;
}

export interface ProbePodClient {
  /** Creates the probe pod on the node, waits for it, returns its logs, and deletes it whatever happens. */
  runProbePod(
    node: string,
    options: { seconds: number; script: string; image?: string; deadlineSeconds: number; signal?: AbortSignal },
  ): Promise<string>;
  /** Deletes the probe pods past their deadline that an interrupted run left behind; returns their names. */
  sweepProbePods(): Promise<string[]>;
  /** Deletes one probe pod (gone already is fine). */
  deleteProbePod(name: string): Promise<void>;
}

export interface NodeProbeOptions {
  runCommand?: RunCommandClient;
  /** The Kubernetes transport for clusters with runCommand disabled (and the sweep of stale probe pods). */
  pods?: (ref: ClusterRef) => ProbePodClient;
  image?: string;
  /**
   * Aborted when the process stops (the CLI on SIGINT or SIGTERM): a probe pod being waited for is deleted at once,
   * and no new one is started.
   */
  signal?: AbortSignal;
}

export function nodeProbe(options: NodeProbeOptions): NodeProbe {
  return {
    async capture(facts: ClusterFacts, node: NodeInfo, { seconds }): Promise<NodeCapture> {
      if (node.os !== 'linux') {
        throw new SnatDoctorError(
          'PROBE_FAILED',
          `${node.name} is a Windows node: the node probe runs on Linux nodes.`,
        );
      }
      options.signal?.throwIfAborted();
      const swept = await sweep(options, facts);
      const logs =
        !facts.disableRunCommand && options.runCommand
          ? await viaRunCommand(options, options.runCommand, facts, node, seconds)
          : await viaPod(options, facts, node, seconds);
      const capture = parseProbeReport(logs, { node: node.name, seconds }).capture;
      return swept.length > 0 ? { ...capture, sweptProbePods: swept } : capture;
    },
  };
}

/**
 * Before a probe pod is made on a cluster, the ones an interrupted run left there are deleted (a killed process cannot
 * delete its own; the pod's activeDeadlineSeconds only stops it). Best effort: a cluster whose API we cannot reach
 * (runCommand's private clusters) keeps them until it can be, and the probe runs all the same.
 */
async function sweep(options: NodeProbeOptions, facts: ClusterFacts): Promise<string[]> {
  if (!options.pods) return [];
  try {
    return await options.pods(facts.ref).sweepProbePods();
  } catch {
    return [];
  }
}

async function viaRunCommand(
  options: NodeProbeOptions,
  client: RunCommandClient,
  facts: ClusterFacts,
  node: NodeInfo,
  seconds: number,
): Promise<string> {
  const manifest = probePodManifest({ node: node.name, seconds, image: options.image });
  try {
    const result = await client.runCommand(
      facts.ref,
      {
        command: runCommandScript(manifest, { seconds }),
        contextFiles: { 'probe-pod.json': JSON.stringify(manifest) },
        aadManaged: facts.aadManaged,
      },
      options.signal,
    );
    return interpretRunCommand(result, node.name);
  } catch (error) {
    // Interrupted, we stop waiting and delete the pod through the Kubernetes API where we reach it; where we do not,
    // the command's own trap deletes it when the command ends, and activeDeadlineSeconds stops it before that.
    if (options.signal?.aborted && options.pods) {
      const name = (manifest.metadata as { name: string }).name;
      await options
        .pods(facts.ref)
        .deleteProbePod(name)
        .catch(() => undefined);
    }
    throw error;
  }
}

async function viaPod(
  options: NodeProbeOptions,
  facts: ClusterFacts,
  node: NodeInfo,
  seconds: number,
): Promise<string> {
  if (!options.pods) {
    throw new SnatDoctorError(
      'RUN_COMMAND_DISABLED',
      `runCommand is disabled on ${facts.ref.name} (apiServerAccessProfile.disableRunCommand) and no Kubernetes access ` +
        'is configured: give snat-doctor cluster user credentials so it can run the probe pod itself.',
    );
  }
  return options.pods(facts.ref).runProbePod(node.name, {
    seconds,
    script: probeScript(),
    image: options.image,
    deadlineSeconds: seconds + 120,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
