// The sandbox's ports: ARM, metrics, Kubernetes and the node probe answered in-process from a scenario, with the
// scenario's latencies and injected faults. (Issue #4 serves the same scenario over the real protocols on loopback
// and puts the real SDK adapters in front of it.)

import { AzureHttpFailure, toAzureError } from '../adapters/azure/azureFailures.ts';
import {
  natGatewaysOf,
  type PublicIpReading,
  type PublicIpRef,
  publicIpNotReadNote,
  publicIpRef,
  type VnetReading,
  vnetNotReadNote,
} from '../adapters/azure/clusterFacts.ts';
import { workloadOf } from '../analysis/workloadOf.ts';
import { type ErrorCode, SnatDoctorError, TransientError } from '../errors.ts';
import type { BackendSnat, ClusterFacts, ClusterRef, NatGatewaySnat, NodeInfo, PodInfo } from '../model.ts';
import type { KubernetesApi, Ports } from '../ports.ts';
import { parseProbeReport } from '../probe/probeReport.ts';
import { metricsRefusal } from './azureRbac.ts';
import { FaultInjector, type FaultSubject } from './faults.ts';
import { natGatewaySnatOf, outboundIpIds, publicIpNatGatewayId, subnetNatGatewayId } from './natGateways.ts';
import { renderProbeReport } from './nodeProbe.ts';
import { execInPod } from './podExec.ts';
import type { Fault, FaultTarget, Scenario, ScenarioNode, ScenarioPod } from './scenario.ts';
import { scenarioPrivateRanges, subnetId, vnetId, vnetReading } from './virtualNetworks.ts';

export interface SandboxOptions {
  /** Apply the scenario's latencies (the CLI does, so progress is visible; tests do not). */
  latency?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

export function scenarioPorts(scenario: Scenario, options: SandboxOptions = {}): Ports {
  const faults = new FaultInjector(scenario.faults);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const wait = async (target: FaultTarget) => {
    const ms = options.latency ? (scenario.latencies[target] ?? 0) : 0;
    if (ms > 0) await sleep(ms);
  };
  const call = async (target: FaultTarget, subject: FaultSubject = {}) => {
    await wait(target);
    const fault = faults.take(target, subject);
    if (fault) throw faultError(fault);
  };
  const { cluster } = scenario;
  const loadBalancerId =
    `/subscriptions/${cluster.subscriptionId}/resourceGroups/${cluster.nodeResourceGroup}` +
    '/providers/Microsoft.Network/loadBalancers/kubernetes';

  const facts: ClusterFacts = {
    ref: { subscriptionId: cluster.subscriptionId, resourceGroup: cluster.resourceGroup, name: cluster.name },
    location: cluster.location,
    nodeResourceGroup: cluster.nodeResourceGroup,
    outboundType: cluster.outboundType,
    // As the adapter reads it (clusterFacts.ts): a user-assigned gateway's IPs, and a route table's, are not on the
    // ManagedCluster.
    outboundIpCount:
      cluster.outboundType === 'loadBalancer' || cluster.outboundType === 'managedNATGateway' ? cluster.outboundIps : 0,
    allocatedOutboundPorts: cluster.allocatedOutboundPorts,
    idleTimeoutMinutes: cluster.idleTimeoutMinutes,
    loadBalancerIds: cluster.outboundType === 'loadBalancer' ? [loadBalancerId] : [],
    natGatewayIds: [],
    disableRunCommand: cluster.disableRunCommand,
    aadManaged: cluster.aadManaged,
    privateRanges: scenarioPrivateRanges(cluster),
    nodeCount: scenario.nodes.length,
  };

  /**
   * A read ARM refuses for good, as the endpoint answers the fault (armServer.ts: 403 forbidden, 400 failed) and the
   * adapter sees it; a fault worth retrying is thrown as the adapter throws it.
   */
  const refusal = (fault: Fault): { status: number; code: string; message?: string } => {
    const definite = {
      forbidden: { status: 403, code: 'AuthorizationFailed' },
      failed: { status: 400, code: 'BadRequest' },
    };
    const refused = fault.error === 'forbidden' || fault.error === 'failed' ? definite[fault.error] : undefined;
    if (!refused) throw fault.error === 'pending' ? faultError({ ...fault, error: 'timeout' }) : faultError(fault);
    const message = fault.message ?? (fault.error === 'failed' ? `${fault.target} failed (simulated).` : undefined);
    return { ...refused, ...(message ? { message } : {}) };
  };

  /** The VNet read as the adapter would: a refused read becomes a note, a transient fault is thrown. */
  const readVnets = async (): Promise<VnetReading[]> => {
    const { vnet } = cluster;
    if (!vnet) return [];
    await wait('arm.getVirtualNetwork');
    const fault = faults.take('arm.getVirtualNetwork');
    if (!fault) return [vnetReading(vnet, cluster.location, subnetNatGatewayId(cluster))];
    return [{ ok: false, id: vnetId(vnet), note: vnetNotReadNote(vnet, refusal(fault)) }];
  };

  /** A managed NAT gateway's outbound IPs, read as the adapter reads them: each names the gateway, or a note. */
  const readPublicIps = async (): Promise<PublicIpReading[]> => {
    if (cluster.outboundType !== 'managedNATGateway') return [];
    return Promise.all(
      outboundIpIds(cluster).map(async (id): Promise<PublicIpReading> => {
        await wait('arm.getPublicIpAddress');
        const fault = faults.take('arm.getPublicIpAddress');
        if (fault) {
          return { ok: false, id, note: publicIpNotReadNote(publicIpRef(id) as PublicIpRef, refusal(fault)) };
        }
        const natGatewayId = publicIpNatGatewayId(cluster);
        return { ok: true, id, ...(natGatewayId ? { natGatewayId } : {}) };
      }),
    );
  };

  /** The facts as the adapter finds them: the VNet's ranges, the NAT gateway, and a note for each read refused. */
  const readFacts = async (): Promise<ClusterFacts> => {
    const [vnets, publicIps] = await Promise.all([readVnets(), readPublicIps()]);
    const gateways = natGatewaysOf({
      outboundType: cluster.outboundType,
      subnets: cluster.vnet ? [subnetId(cluster.vnet)] : [],
      vnets,
      publicIps,
    });
    const notes = [...vnets.flatMap((vnet) => (vnet.ok ? [] : [vnet.note])), ...gateways.notes];
    return {
      ...facts,
      privateRanges: scenarioPrivateRanges(cluster, cluster.vnet ? vnets : undefined),
      natGatewayIds: gateways.ids,
      ...(notes.length > 0 ? { notes } : {}),
    };
  };

  /**
   * What the metrics endpoint answers (armServer.ts) for a fault, or for the identity's roles and the Insights
   * provider (azureRbac.ts), and what the adapter makes of that answer: the same errors in-process as over HTTP.
   */
  const metricsCall = async (target: 'metrics.backendSnat' | 'metrics.natGatewaySnat'): Promise<void> => {
    await wait(target);
    const fault = faults.take(target);
    const refused =
      fault?.error === 'forbidden'
        ? metricsRefusal(
            { ...scenario, azure: { ...scenario.azure, roleAssignments: [] } },
            scenario.azure.principalId,
            cluster.subscriptionId,
          )
        : fault?.error === 'throttled'
          ? { status: 529, code: 'TooManyRequests', message: 'The metrics backend is throttling requests.' }
          : fault
            ? undefined
            : metricsRefusal(scenario, scenario.azure.principalId, cluster.subscriptionId);
    if (refused) {
      const retryAfter = fault?.error === 'throttled' ? (fault.retryAfterSeconds ?? 1) : undefined;
      throw toAzureError(
        new AzureHttpFailure(refused.status, refused.code, fault?.message ?? refused.message, retryAfter),
        target === 'metrics.backendSnat' ? 'metrics' : 'natGatewayMetrics',
        undefined,
        { subscriptions: [cluster.subscriptionId] },
      );
    }
    if (fault) throw faultError(fault);
  };

  const isThisCluster = (ref: ClusterRef) =>
    ref.subscriptionId.toLowerCase() === cluster.subscriptionId &&
    ref.resourceGroup.toLowerCase() === cluster.resourceGroup.toLowerCase() &&
    ref.name.toLowerCase() === cluster.name.toLowerCase();
  const nodeNamed = (name: string) => scenario.nodes.find((n) => n.name === name);

  const kubernetes: KubernetesApi = {
    async listNodes() {
      await call('kubernetes.listNodes');
      return scenario.nodes.map(nodeInfo);
    },
    async listPodsOnNode(nodeName) {
      await call('kubernetes.listPodsOnNode', { node: nodeName });
      const node = nodeNamed(nodeName);
      if (!node) return [];
      // As the adapter asks the API server: finished pods (status.phase Succeeded or Failed) are left out.
      const listed = [...node.pods, ...node.inactivePods.filter((p) => p.phase === 'Pending')];
      return listed.map((pod) => podInfo(pod, node));
    },
    async exec(target, argv) {
      const subject = { pod: `${target.namespace}/${target.name}` };
      await wait('kubernetes.exec');
      const fault = faults.take('kubernetes.exec', subject);
      // As the served sandbox acts it out (sandboxCluster.ts): a `truncated` exec answers with its output cut.
      if (fault && fault.error !== 'truncated') throw faultError(fault);
      const node = scenario.nodes.find((n) =>
        n.pods.some((p) => p.namespace === target.namespace && p.name === target.name),
      );
      const pod = node?.pods.find((p) => p.namespace === target.namespace && p.name === target.name);
      if (!node || !pod) {
        throw new SnatDoctorError('EXEC_FAILED', `pods "${target.name}" not found in namespace ${target.namespace}`);
      }
      const result = execInPod(node, pod, argv);
      return fault
        ? { ...result, stdout: result.stdout.slice(0, fault.bytes ?? Math.floor(result.stdout.length / 2)) }
        : result;
    },
  };

  return {
    clusters: {
      async getCluster(ref) {
        await call('arm.getCluster');
        if (!isThisCluster(ref)) {
          throw new SnatDoctorError(
            'CLUSTER_NOT_FOUND',
            `No AKS cluster ${ref.name} in resource group ${ref.resourceGroup} of subscription ${ref.subscriptionId}. ` +
              `This sandbox has ${cluster.name} in ${cluster.resourceGroup}.`,
          );
        }
        return readFacts();
      },
    },
    metrics: {
      async backendSnat(loadBalancerIds) {
        await metricsCall('metrics.backendSnat');
        if (!loadBalancerIds.some((id) => id.toLowerCase() === loadBalancerId.toLowerCase())) return [];
        // Each backend IP has its own row: a dual-stack node's IPv6 address has its own SNAT ports.
        return scenario.nodes
          .flatMap((node) => [
            { ip: node.ip, snat: node.snat },
            ...(node.ipv6 && node.snatIpv6 ? [{ ip: node.ipv6, snat: node.snatIpv6 }] : []),
          ])
          .map(
            ({ ip, snat }): BackendSnat => ({
              loadBalancerId,
              backendIp: ip,
              usedPorts: snat.usedPorts,
              allocatedPorts: snat.allocatedPorts,
              failedConnections: snat.failedConnections,
              successfulConnections: snat.successfulConnections,
            }),
          );
      },
      async natGatewaySnat(natGatewayIds) {
        // The adapter asks nothing for no gateway (azure.ts).
        if (natGatewayIds.length === 0) return [];
        await metricsCall('metrics.natGatewaySnat');
        return natGatewayIds.flatMap((id): NatGatewaySnat[] => {
          const row = natGatewaySnatOf(cluster, id);
          return row ? [row] : [];
        });
      },
    },
    kubernetes(ref) {
      if (!isThisCluster(ref)) {
        throw new SnatDoctorError('CLUSTER_NOT_FOUND', `No credentials for cluster ${ref.name}: not in this sandbox.`);
      }
      return kubernetes;
    },
    probe: {
      async capture(_facts, node, { seconds }) {
        await wait('probe.capture');
        const fault = faults.take('probe.capture', { node: node.name });
        if (fault && fault.error !== 'truncated') throw faultError(fault);
        const found = nodeNamed(node.name);
        if (!found)
          throw new SnatDoctorError('PROBE_FAILED', `The probe pod cannot be scheduled: no node ${node.name}.`);
        const report = renderProbeReport(found, seconds);
        // A truncated report (runCommand keeps 512 kB) still yields what arrived; the parser says it was cut.
        const text = fault ? report.slice(0, fault.bytes ?? Math.floor(report.length / 2)) : report;
        return parseProbeReport(text, { node: found.name, seconds }).capture;
      },
    },
  };
}

function nodeInfo(node: ScenarioNode): NodeInfo {
  return {
    name: node.name,
    ip: node.ip,
    ...(node.ipv6 ? { ipv6: node.ipv6 } : {}),
    os: node.os,
    providerId: node.providerId,
  };
}

function podInfo(pod: ScenarioPod, node: ScenarioNode): PodInfo {
  return {
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    ip: pod.ip,
    hostNetwork: pod.hostNetwork,
    os: node.os,
    containers: pod.containers.map(({ name, image }) => ({ name, image })),
    // What the adapter derives from the served metadata (lib/analysis/workloadOf.ts), not the scenario's own word.
    workload: workloadOf({
      name: pod.name,
      ...(pod.owner ? { ownerReferences: [{ kind: pod.owner.kind, name: pod.owner.name, controller: true }] } : {}),
      labels: pod.labels,
    }),
    phase: pod.phase,
    ...(pod.terminating ? { terminating: true } : {}),
  };
}

const FAILED_CODE: Record<FaultTarget, ErrorCode> = {
  'arm.getCluster': 'INTERNAL',
  'arm.getVirtualNetwork': 'INTERNAL',
  'arm.getPublicIpAddress': 'INTERNAL',
  'arm.listClusterUserCredential': 'INTERNAL',
  'arm.runCommand': 'RUN_COMMAND_FAILED',
  'metrics.backendSnat': 'NO_METRICS',
  'metrics.natGatewaySnat': 'NO_METRICS',
  'kubernetes.listNodes': 'INTERNAL',
  'kubernetes.listPodsOnNode': 'INTERNAL',
  'kubernetes.exec': 'EXEC_FAILED',
  'kubernetes.createPod': 'PROBE_FAILED',
  'probe.capture': 'PROBE_FAILED',
};

/** In-process, a fault is what the adapter above the endpoint would make of it. */
function faultError(fault: Fault): Error {
  const where = fault.target;
  switch (fault.error) {
    case 'transient':
    case 'server-error':
    case 'timeout':
    case 'stream-dropped':
      return new TransientError(
        fault.message ?? `${where}: the service did not answer properly (simulated ${fault.error}); try again.`,
      );
    case 'throttled':
      return new TransientError(fault.message ?? `${where}: throttled (simulated HTTP 429)`, {
        retryAfterSeconds: fault.retryAfterSeconds ?? 1,
      });
    case 'forbidden':
      return new SnatDoctorError(
        'FORBIDDEN',
        fault.message ?? `${where}: 403 Forbidden (simulated): the identity lacks the role this call needs.`,
      );
    case 'pending':
      return new SnatDoctorError(
        'PROBE_FAILED',
        fault.message ?? `${where}: the probe pod stayed Pending (simulated).`,
      );
    case 'failed':
    case 'truncated':
      return new SnatDoctorError(
        FAILED_CODE[fault.target],
        fault.message ?? `${where} failed (simulated ${fault.error}).`,
      );
  }
}
