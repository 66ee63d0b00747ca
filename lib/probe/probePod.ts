// The node probe's pod and the runCommand script that runs it: one privileged pod pinned to the node, in the host's
// namespaces, fed the probe script as an argument of `sh -c` (our static asset) with validated parameters after it.
// Nothing here splices user text into shell text: the runCommand script is a constant apart from values that match
// strict patterns, and the pod manifest travels as a JSON file in runCommand's `context`.
import { readFileSync } from 'node:fs';
import { SnatDoctorError } from '../errors.ts';
import { projectPath } from '../projectRoot.ts';
import { CAPTURE_SECONDS } from '../validation.ts';

/** The probe image: busybox from MCR; the probe runs the node's own tools through nsenter, so any shell will do. */
export const DEFAULT_PROBE_IMAGE = 'mcr.microsoft.com/azurelinux/busybox:1.36';
export const PROBE_NAMESPACE = 'kube-system';
export const PROBE_LABEL = { 'app.kubernetes.io/name': 'snat-doctor-probe' };
/** Exit codes of the runCommand script, read back by `interpretRunCommand`. */
export const EXIT = { created: 0, createFailed: 3, notFinished: 4, podFailed: 5 } as const;

const NODE_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const PROBE_POD_NAME = /^snat-doctor-probe-[a-z0-9]{8}$/;
// registry/repository[:tag][@sha256:digest], lower-case path components as the distribution spec allows.
const IMAGE =
  /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

let script: string | undefined;

/** The node probe script (lib/probe/node-probe.sh), read once. */
export function probeScript(): string {
  script ??= readFileSync(projectPath('lib', 'probe', 'node-probe.sh'), 'utf8');
  return script;
}

export interface ProbePodOptions {
  node: string;
  seconds: number;
  image?: string;
  /** Kill the pod after this long whatever happens (activeDeadlineSeconds). */
  deadlineSeconds?: number;
  name?: string;
}

export function probePodName(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `snat-doctor-probe-${Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** A probe image reference, checked against its strict pattern (it reaches a privileged pod's spec). */
export function validateProbeImage(image: string): string {
  return validated(image, IMAGE, 'probe image', 'an image reference like mcr.microsoft.com/azurelinux/busybox:1.36');
}

/** The probe pod's manifest (a plain Kubernetes Pod object). Every value is checked against a strict pattern. */
export function probePodManifest(options: ProbePodOptions): Record<string, unknown> {
  const node = validated(options.node, NODE_NAME, 'node name', 'a Kubernetes node name (RFC 1123)');
  const image = validateProbeImage(options.image ?? DEFAULT_PROBE_IMAGE);
  const name = validated(
    options.name ?? probePodName(),
    PROBE_POD_NAME,
    'probe pod name',
    'snat-doctor-probe- and 8 letters or digits',
  );
  const seconds = options.seconds;
  if (!Number.isInteger(seconds) || seconds < CAPTURE_SECONDS.min || seconds > CAPTURE_SECONDS.max) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `capture seconds ${seconds} is not valid: use ${CAPTURE_SECONDS.min}-${CAPTURE_SECONDS.max}.`,
    );
  }
  const deadline = options.deadlineSeconds ?? seconds + 120;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: PROBE_NAMESPACE, labels: { ...PROBE_LABEL } },
    spec: {
      nodeName: node,
      hostPID: true,
      hostNetwork: true,
      restartPolicy: 'Never',
      activeDeadlineSeconds: deadline,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      tolerations: [{ operator: 'Exists' }],
      priorityClassName: 'system-node-critical',
      containers: [
        {
          name: 'probe',
          image,
          // The script is the first argument of `sh -c`; `probe` is its $0 and the validated parameters follow.
          command: [
            'nsenter',
            '-t',
            '1',
            '-m',
            '-u',
            '-i',
            '-n',
            '-p',
            '--',
            'sh',
            '-c',
            probeScript(),
            'probe',
            '--seconds',
            String(seconds),
          ],
          securityContext: { privileged: true },
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
        },
      ],
    },
  };
}

/**
 * The script runCommand's pod runs (it has kubectl and a POSIX shell): create the probe pod from the manifest in
 * the command's context, wait until it ends, print its logs, and delete it on every way out (trap). Only the pod
 * name (generated, checked) and whole numbers are interpolated.
 */
export function runCommandScript(
  manifest: Record<string, unknown>,
  options: { seconds: number; file?: string; waitSeconds?: number },
): string {
  const metadata = manifest.metadata as { name: string; namespace: string };
  const name = validated(metadata.name, PROBE_POD_NAME, 'probe pod name', 'snat-doctor-probe- and 8 letters or digits');
  const namespace = validated(metadata.namespace, /^[a-z0-9-]{1,63}$/, 'namespace', 'a Kubernetes namespace');
  const file = validated(options.file ?? 'probe-pod.json', /^[a-z0-9.-]{1,64}$/, 'manifest file', 'a plain file name');
  // The capture, plus time to pull the image and schedule the pod.
  const wait = Math.max(0, Math.trunc(options.waitSeconds ?? options.seconds + 90));
  return [
    'set -u',
    `POD=${name}; NS=${namespace}; DEADLINE=$(( $(date +%s) + ${wait} ))`,
    // Our own manifest: no client-side validation (it would download the API server's OpenAPI document first).
    `kubectl create --validate=false -f ${file} >/dev/null || exit ${EXIT.createFailed}`,
    `trap 'kubectl delete pod -n "$NS" "$POD" --ignore-not-found --wait=false >/dev/null 2>&1' EXIT`,
    'while :; do',
    `  PHASE=$(kubectl get pod -n "$NS" "$POD" -o 'jsonpath={.status.phase}' 2>/dev/null)`,
    '  case "$PHASE" in Succeeded|Failed) break ;; esac',
    '  if [ "$(date +%s)" -ge "$DEADLINE" ]; then',
    `    echo "probe pod $POD did not finish: phase \${PHASE:-unknown}: $(kubectl get pod -n "$NS" "$POD" -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}' 2>/dev/null)"`,
    `    exit ${EXIT.notFinished}`,
    '  fi',
    '  sleep 2',
    'done',
    'kubectl logs -n "$NS" "$POD"',
    `[ "$PHASE" = Succeeded ] || exit ${EXIT.podFailed}`,
  ].join('\n');
}

/** What a finished runCommand says about the probe: its report, or a failure that names the cause. */
export function interpretRunCommand(result: { exitCode: number; logs: string }, node: string): string {
  switch (result.exitCode) {
    case EXIT.created:
      return result.logs;
    case EXIT.createFailed:
      throw new SnatDoctorError(
        'PROBE_FAILED',
        `The probe pod could not be created on ${node}: ${firstLines(result.logs)}. A policy (Azure Policy, Gatekeeper, Pod Security admission) may refuse privileged pods in ${PROBE_NAMESPACE}; exempt the snat-doctor-probe pods.`,
      );
    case EXIT.notFinished:
      throw new SnatDoctorError(
        'PROBE_FAILED',
        `${firstLines(result.logs).replace(/\.+$/, '')}. Check that ${node} is Ready and has room for one small pod.`,
      );
    case EXIT.podFailed:
      throw new SnatDoctorError(
        'PROBE_FAILED',
        `The probe failed on ${node}: ${firstLines(result.logs.split('@@ error').at(-1) ?? result.logs)}`,
      );
    default:
      throw new SnatDoctorError(
        'RUN_COMMAND_FAILED',
        `runCommand exited ${result.exitCode}: ${firstLines(result.logs)}`,
      );
  }
}

/** The first lines of a probe's or kubectl's output, without the report's own `@@` section markers. */
function firstLines(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('@@ '));
  return lines.slice(0, 3).join(' / ').slice(0, 400) || 'no output';
}

function validated(value: string, pattern: RegExp, what: string, accepted: string): string {
  if (!pattern.test(value)) {
    throw new SnatDoctorError(
      'BAD_ARGUMENT',
      `${what} ${JSON.stringify(value.slice(0, 80))} is not valid: use ${accepted}.`,
    );
  }
  return value;
}
