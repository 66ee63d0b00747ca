// An IP and port as people write them: 20.1.2.3:443, [2001:db8::1]:443. Its own module so that the Slack renderer
// (loaded by the Functions app) does not load the terminal renderer's table library.
export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
