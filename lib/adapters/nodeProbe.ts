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
    options: { seconds: number; script: string; image?: string; deadlineSeconds: number },
  ): Promise<string>;
}

export interface NodeProbeOptions {
  runCommand?: RunCommandClient;
  /** The Kubernetes transport for clusters with runCommand disabled. */
  pods?: (ref: ClusterRef) => ProbePodClient;
  image?: string;
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
      const logs =
        !facts.disableRunCommand && options.runCommand
          ? await viaRunCommand(options.runCommand, facts, node, seconds, options.image)
          : await viaPod(options, facts, node, seconds);
      return parseProbeReport(logs, { node: node.name, seconds }).capture;
    },
  };
}

async function viaRunCommand(
  client: RunCommandClient,
  facts: ClusterFacts,
  node: NodeInfo,
  seconds: number,
  image: string | undefined,
): Promise<string> {
  const manifest = probePodManifest({ node: node.name, seconds, image });
  const result = await client.runCommand(facts.ref, {
    command: runCommandScript(manifest, { seconds }),
    contextFiles: { 'probe-pod.json': JSON.stringify(manifest) },
    aadManaged: facts.aadManaged,
  });
  return interpretRunCommand(result, node.name);
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
  });
}
