// An IP and port as people write them: 20.1.2.3:443, [2001:db8::1]:443. Its own module so that the Slack renderer
// (loaded by the Functions app) does not load the terminal renderer's table library.
export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A SNAT destination: TCP by IP and port; UDP by IP alone (the load balancer gives UDP a port per destination IP). */
export function formatDestination(d: { ip: string; port: number; protocol?: 'tcp' | 'udp' }): string {
  return d.protocol === 'udp' ? `${d.ip} (UDP)` : formatEndpoint(d.ip, d.port);
}
