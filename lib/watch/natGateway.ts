// A NAT gateway cluster's standing at the gateway: its own metrics have no per-node dimension, so the watch judges the
// gateway as a whole — a finding when it failed connections or dropped packets in the window — and says what it cannot
// see (which node) and Microsoft's advice for SNAT exhaustion on a NAT gateway. Pure: the tick reads the metrics.
//
// Sources:
//   learn.microsoft.com/azure/nat-gateway/nat-metrics — "A failed connection volume greater than zero can indicate
//     that you reached the connection limit on your NAT gateway or that you hit SNAT port exhaustion"; the alert it
//     recommends is SNAT Connection Count, Total, Connection State Failed, greater than 0, over 5 minutes.
//   learn.microsoft.com/azure/nat-gateway/troubleshoot-nat-connectivity — "Add more public IP addresses or public IP
//     prefixes as need (assign up to 16 IP addresses in total to your NAT gateway)"; at 16, "Distribute your
//     application environment across multiple subnets and provide a NAT gateway resource for each subnet"; "Modify
//     the application to use connection pooling", "… to reuse connections", "… to use less aggressive retry logic";
//     "Adding more SNAT ports … without understanding the cause of the demand should be a last resort."
//   learn.microsoft.com/azure/nat-gateway/nat-gateway-resource — 64,512 SNAT ports per public IP; "it isn't
//     recommended to increase the TCP idle timeout duration to longer than the default time of 4 minutes".
//   learn.microsoft.com/azure/aks/nat-gateway — `az aks update … --nat-gateway-managed-outbound-ip-count`
//     ([1, 16]) and `--nat-gateway-idle-timeout`.
//   learn.microsoft.com/azure/nat-gateway/nat-gateway-flow-logs — StandardV2 only: `SourceIp`, "Source IP address of
//     originating traffic (Azure virtual machine's private IP)".
import { MAX_NAT_GATEWAY_IPS, NAT_GATEWAY_PORTS_PER_IP, type NatOutboundType } from '../analysis/snatBudget.ts';
import type { ClusterFacts, ClusterRef, NatGatewaySnat } from '../model.ts';

/** `finding`: failed connections or dropped packets in the window; `no-metric`: Azure Monitor had no data for it. */
export type GatewayDecision = 'finding' | 'ok' | 'no-metric';

/** A NAT gateway of a watched cluster: its metrics over the window, the decision, and for a finding what to do. */
export interface NatGatewayStanding {
  cluster: ClusterRef;
  outboundType: NatOutboundType;
  gatewayId: string;
  /** Absent when Azure Monitor returned no data for the gateway. */
  failedConnections?: number;
  /** Active SNAT connections at the window's busiest minute. */
  totalConnections?: number;
  droppedPackets?: number;
  decision: GatewayDecision;
  /** What the gateway's metrics say, in one sentence. */
  message: string;
  /** For a finding: what the metrics cannot tell, and the advice, most lasting first. */
  advice: string[];
  /** For a finding: the commands that apply the advice, where there is one to give. */
  commands: string[];
  /** For a finding: first seen failing on this tick (to be told); false while it goes on failing. */
  new?: boolean;
}

/** NAT gateway's default TCP idle timeout, which Microsoft advises keeping. */
const DEFAULT_IDLE_MINUTES = 4;

export function natGatewayStanding(input: {
  facts: ClusterFacts;
  gatewayId: string;
  /** The gateway's metrics; absent when Azure Monitor returned none for it. */
  metrics: NatGatewaySnat | undefined;
  windowMinutes: number;
}): NatGatewayStanding {
  const { facts, gatewayId, metrics, windowMinutes } = input;
  const outboundType = facts.outboundType as NatOutboundType;
  const about = `NAT gateway ${nameOf(gatewayId)} of cluster ${facts.ref.resourceGroup}/${facts.ref.name}`;
  const window = `in the last ${windowMinutes} minute${windowMinutes === 1 ? '' : 's'}`;
  const base = { cluster: facts.ref, outboundType, gatewayId };
  if (!metrics) {
    return {
      ...base,
      decision: 'no-metric',
      message: `${about}: Azure Monitor returned no metrics for it ${window}.`,
      advice: [],
      commands: [],
    };
  }
  const { failedConnections, totalConnections, droppedPackets } = metrics;
  const measured = { failedConnections, totalConnections, droppedPackets };
  const active = `(${fmt(totalConnections)} active connection${totalConnections === 1 ? '' : 's'})`;
  if (failedConnections === 0 && droppedPackets === 0) {
    return {
      ...base,
      ...measured,
      decision: 'ok',
      message: `${about}: no failed SNAT connection and no dropped packet ${window} ${active}.`,
      advice: [],
      commands: [],
    };
  }
  return {
    ...base,
    ...measured,
    decision: 'finding',
    message: `${about}: ${fmt(failedConnections)} failed SNAT connection${failedConnections === 1 ? '' : 's'}, ${fmt(droppedPackets)} dropped packet${droppedPackets === 1 ? '' : 's'} ${window} ${active}.`,
    ...advise(facts, gatewayId),
  };
}

function advise(facts: ClusterFacts, gatewayId: string): { advice: string[]; commands: string[] } {
  const managed = facts.outboundType === 'managedNATGateway';
  const args = `--resource-group ${facts.ref.resourceGroup} --name ${facts.ref.name}`;
  const advice = [
    "The gateway's metrics have no per-node dimension, so they cannot say which node (or pod) opens these connections, " +
      'and the watch started no investigation: there is no node to pick. A diagnose of the cluster without a node ' +
      "surveys its pods' connections, names the pods holding the busiest destination on every node and investigates " +
      `the node holding most (\`snat-doctor diagnose --subscription ${facts.ref.subscriptionId} -g ${facts.ref.resourceGroup} --cluster ${facts.ref.name}\`, ` +
      'or `/snat diagnose` in Slack); on a StandardV2 gateway its flow logs say it too ' +
      '(NatGatewayFlowlogsV1: the SourceIp sending the most is the node).',
    'Fix the demand first: reuse connections (connection pooling, keep-alive) and retry less aggressively. Microsoft ' +
      'calls adding SNAT ports without understanding the cause of the demand a last resort.',
  ];
  const commands: string[] = [];
  const ips = facts.outboundIpCount;
  if (managed && ips >= MAX_NAT_GATEWAY_IPS) {
    advice.push(
      `The gateway already has ${MAX_NAT_GATEWAY_IPS} public IPs, its most: spread the workloads over subnets, each with a NAT gateway of its own.`,
    );
  } else if (managed) {
    const more = Math.min(MAX_NAT_GATEWAY_IPS, Math.max(ips + 1, ips * 2));
    advice.push(
      `More public IPs give more SNAT ports (${fmt(NAT_GATEWAY_PORTS_PER_IP)} each, up to ${MAX_NAT_GATEWAY_IPS}): the managed gateway has ${ips || 'an unknown number of'} and can have ${more}.`,
    );
    commands.push(`az aks update ${args} --nat-gateway-managed-outbound-ip-count ${more}`);
  } else {
    advice.push(
      `More public IPs give more SNAT ports (${fmt(NAT_GATEWAY_PORTS_PER_IP)} each): add public IPs or a prefix to gateway ${nameOf(gatewayId)}, up to ${MAX_NAT_GATEWAY_IPS} IPs; at ${MAX_NAT_GATEWAY_IPS}, give another subnet a NAT gateway of its own.`,
    );
  }
  if (managed && facts.idleTimeoutMinutes > DEFAULT_IDLE_MINUTES) {
    advice.push(
      `Its TCP idle timeout is ${facts.idleTimeoutMinutes} minutes: Microsoft advises keeping the default ${DEFAULT_IDLE_MINUTES}, so that idle flows give their ports back.`,
    );
    commands.push(`az aks update ${args} --nat-gateway-idle-timeout ${DEFAULT_IDLE_MINUTES}`);
  } else {
    advice.push(
      `Keep the gateway's TCP idle timeout at its default ${DEFAULT_IDLE_MINUTES} minutes: a longer one keeps idle flows' ports.`,
    );
  }
  return { advice, commands };
}

/** The last segment of a resource id: the gateway's name. */
function nameOf(resourceId: string): string {
  return resourceId.split('/').filter(Boolean).at(-1) ?? resourceId;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
