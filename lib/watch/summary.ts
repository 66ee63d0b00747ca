// A tick in one log line: what an operator greps the Function App's logs for.
import type { ClusterRef } from '../model.ts';
import type { NodeAction, WatchTickResult } from './tick.ts';

const ORDER: NodeAction[] = ['started', 'joined', 'cooldown', 'flat', 'investigate', 'warn', 'ok', 'no-metric'];

export function tickSummary(result: WatchTickResult): string {
  const clusters = new Set(result.nodes.map((node) => clusterName(node.cluster))).size;
  const counts = ORDER.map((action) => [action, result.nodes.filter((n) => n.action === action).length] as const)
    .filter(([, n]) => n > 0)
    .map(([action, n]) => `${n} ${action}`);
  const parts: string[] = [];
  // A fleet of NAT gateway clusters only has no node to count: its gateways are the summary.
  if (result.nodes.length > 0 || result.gateways.length === 0) {
    parts.push(
      `${plural(result.nodes.length, 'node')} in ${plural(clusters, 'cluster')}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}`,
    );
  }
  const rising = result.nodes.filter((n) => n.rising).length;
  if (rising > 0) parts.push(`${plural(rising, 'node')} rising toward exhaustion`);
  const fresh = result.findings.filter((f) => f.new);
  if (fresh.length > 0) {
    parts.push(
      `SNAT allocation changed on ${fresh.map((f) => `${clusterName(f.cluster)} ${f.node} (${f.allocatedPorts}, expected ${f.expectedPorts})`).join(', ')}`,
    );
  }
  if (result.gateways.length > 0) {
    const failing = result.gateways.filter((g) => g.decision === 'finding');
    parts.push(
      `${plural(result.gateways.length, 'NAT gateway')}${failing.length > 0 ? ` (failing: ${failing.map((g) => `${clusterName(g.cluster)} ${nameOf(g.gatewayId)} ${g.failedConnections ?? 0} failed, ${g.droppedPackets ?? 0} dropped`).join('; ')})` : ''}`,
    );
  }
  if (result.started.length > 0) parts.push(`started ${result.started.map((s) => s.instanceId).join(', ')}`);
  if (result.unsupported.length > 0) {
    parts.push(
      `no per-node metric: ${result.unsupported.map((u) => `${clusterName(u.cluster)} (${u.outboundType})`).join(', ')}`,
    );
  }
  if (result.errors.length > 0) parts.push(plural(result.errors.length, 'error'));
  return `snatWatch: ${parts.join('; ')}`;
}

export function clusterName(cluster: ClusterRef): string {
  return `${cluster.resourceGroup}/${cluster.name}`;
}

function nameOf(resourceId: string): string {
  return resourceId.split('/').filter(Boolean).at(-1) ?? resourceId;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
