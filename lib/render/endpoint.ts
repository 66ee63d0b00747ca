// What both renderers write the same way: an IP and port as people write them (20.1.2.3:443, [2001:db8::1]:443), a
// destination, a pod's network. Its own module so that the Slack renderer (loaded by the Functions app) does not load
// the terminal renderer's table library.
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
