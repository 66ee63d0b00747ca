// What both renderers write the same way: an IP and port as people write them (20.1.2.3:443, [2001:db8::1]:443), a
// destination, a pod's network. Its own module so that the Slack renderer (loaded by the Functions app) does not load
// the terminal renderer's table library.
import type { NatBudget, NatSurvey } from '../model.ts';
export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A SNAT destination: TCP by IP and port; UDP by IP alone (the load balancer gives UDP a port per destination IP). */
export function formatDestination(d: { ip: string; port: number; protocol?: 'tcp' | 'udp' }): string {
  return d.protocol === 'udp' ? `${d.ip} (UDP)` : formatEndpoint(d.ip, d.port);
}

/** " (hostNetwork)" after a hostNetwork pod's name; the node's own row says whose sockets it holds. */
export function hostNote(c: { hostNetwork: boolean; workload: { kind: string }; hostNetworkPods?: string[] }): string {
  if (c.workload.kind === 'Node') return c.hostNetworkPods ? '' : " (the node's own processes)";
  return c.hostNetwork ? ' (hostNetwork)' : '';
}

/**
 * A NAT gateway cluster's budget as lines both renderers print (numbers and validated addresses only), the ratio its
 * bar shows (the busiest endpoint's share of the per-endpoint cap: this node's or, surveyed, the cluster's), and
 * whether the gateway failed connections.
 */
export function natBudgetLines(b: NatBudget, survey?: NatSurvey): { ratio: number; failing: boolean; lines: string[] } {
  const n = (v: number) => v.toLocaleString('en');
  const ofCap = (share: number) => `${Math.round(share * 1000) / 10} % of that cap`;
  const ips =
    b.publicIpCount > 0
      ? `${b.publicIpCount} public IP${b.publicIpCount === 1 ? '' : 's'}`
      : 'its public IPs unknown, counted as 1';
  const lines = [
    `NAT gateway: ${n(b.perEndpointCap)} connections allowed to one destination endpoint, ${n(b.ports)} SNAT ports shared by every node behind it (${ips})`,
  ];
  const [top] = b.byDestination;
  if (top) {
    lines.push(
      `this node's busiest endpoint ${formatDestination(top)}: ${n(top.ports.total)} ports (${n(top.ports.held)} held, ${n(top.ports.churn)} churn, ${n(top.ports.failed)} failed), ${ofCap(top.share)}`,
    );
  }
  if (b.hotEndpoint) {
    lines.push(
      `across the cluster (survey): ${n(b.hotEndpoint.connections)} connections to ${formatEndpoint(b.hotEndpoint.ip, b.hotEndpoint.port)}, ${ofCap(b.hotEndpoint.share)}`,
    );
    const holders = survey?.pods ?? [];
    if (holders.length > 0) {
      lines.push(
        `the pods holding most of them: ${holders.map((p) => `${p.namespace}/${p.pod} on ${p.node} (${n(p.connections)})`).join(', ')}`,
      );
    }
  }
  const g = b.gateway;
  lines.push(
    g
      ? `the gateway's own metrics, cluster-wide (no per-node dimension): ${n(g.failedConnections)} failed SNAT connections, ${n(g.droppedPackets)} dropped packets, ${n(g.totalConnections)} connections at the busiest minute`
      : "the gateway's own metrics were not read (the locateNode step says why)",
  );
  return {
    ratio: Math.max(top?.share ?? 0, b.hotEndpoint?.share ?? 0),
    failing: (g?.failedConnections ?? 0) > 0,
    lines,
  };
}
