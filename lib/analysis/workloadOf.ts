// The workload a pod belongs to, from what the pod itself carries: its owner references and its labels. No other
// object is read (snat-doctor lists pods, not ReplicaSets or Jobs), so the step from the pod's direct owner to the
// controller above it is made from names, the way the controllers make them.
import type { Workload } from '../model.ts';

export interface PodOwnership {
  name: string;
  ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  labels?: Record<string, string>;
}

/**
 * A CronJob names each Job `<cronjob>-<scheduled time in minutes since the epoch>`: kubernetes
 * pkg/controller/cronjob/cronjob_controllerv2.go `getJobName` = `fmt.Sprintf("%s-%d", cj.Name,
 * getTimeHashInMinutes(scheduledTime))`, and pkg/controller/cronjob/utils.go `getTimeHashInMinutes` =
 * `scheduledTime.Unix() / 60`. Any time since 1989 is 8 digits or more (10,000,000 minutes ≈ 19 years), so fewer
 * digits are a Job someone named, not the CronJob controller.
 */
const CRONJOB_JOB_NAME = /^(.+)-(\d{8,})$/;

/**
 * The controller to fix for a pod:
 *
 * - The controller owner reference (`controller: true`), else the first one; none: the pod is its own workload.
 * - A ReplicaSet named `<deployment>-<pod-template-hash>` belongs to that Deployment. The Kubernetes docs
 *   (concepts/workloads/controllers/deployment.md, "Creating a Deployment" and "Pod-template-hash label"): the
 *   ReplicaSet's name "is always formatted as `[DEPLOYMENT-NAME]-[HASH]`", and "the `HASH` string is the same as the
 *   `pod-template-hash` label", which the Deployment controller also puts on the Pods. A ReplicaSet whose name does not
 *   end with the pod's hash was made by hand, and is the workload itself.
 * - A Job named `<cronjob>-<minutes>` belongs to that CronJob (CRONJOB_JOB_NAME). This is inferred from the name: the
 *   pod names only the Job, and only the Job's own owner reference would name the CronJob.
 * - A Node owns mirror pods, the API server's copies of static pods: the kubelet runs them from a manifest on the node,
 *   and they "cannot be controlled from" the API server (concepts/workloads/pods/static-pods.md). Neither the Node nor
 *   anything above it is what to change, so the pod is its own workload (kind `Pod`, named by the pod's name).
 * - StatefulSet, DaemonSet and any other kind (operators' custom resources) are the workload as they are.
 */
export function workloadOf(pod: PodOwnership): Workload {
  const podName = pod.name || '(unnamed pod)';
  const owners = (pod.ownerReferences ?? []).filter((o) => o && typeof o.kind === 'string' && o.kind !== '');
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (!owner || typeof owner.name !== 'string' || owner.name === '' || owner.kind === 'Node') {
    return { kind: 'Pod', name: podName };
  }
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.labels?.['pod-template-hash'];
    if (hash && owner.name.length > hash.length + 1 && owner.name.endsWith(`-${hash}`)) {
      return { kind: 'Deployment', name: owner.name.slice(0, -(hash.length + 1)) };
    }
    return { kind: 'ReplicaSet', name: owner.name };
  }
  if (owner.kind === 'Job') {
    const cronJob = CRONJOB_JOB_NAME.exec(owner.name)?.[1];
    return cronJob ? { kind: 'CronJob', name: cronJob } : { kind: 'Job', name: owner.name };
  }
  return { kind: owner.kind, name: owner.name };
}
