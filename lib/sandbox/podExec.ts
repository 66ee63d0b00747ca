// What a command prints inside a sandbox pod: the pod's socket tables as `cat /proc/net/tcp…` shows them in Linux
// pods, `netstat -aon` in Windows pods. Anything else fails as a container without that binary does.
import ipaddr from 'ipaddr.js';
import { renderProcNetTcp, renderWindowsNetstat, type SocketRow } from './procNetTcpText.ts';
import type { ScenarioNode, ScenarioPod } from './scenario.ts';

export interface PodExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const TABLES = /^\/proc\/(?:self\/|\d+\/)?net\/(tcp6?|udp6?)$/;

export function execInPod(node: ScenarioNode, pod: ScenarioPod, argv: string[]): PodExecResult {
  const [binary = '', ...args] = argv;
  if (node.os === 'windows') {
    if (
      binary.toLowerCase().replace(/\.exe$/, '') === 'netstat' &&
      args.length === 1 &&
      /^-[aon]{2,3}$/i.test(args[0] ?? '')
    ) {
      return { stdout: renderWindowsNetstat(socketRows(node, pod), 4120), stderr: '', exitCode: 0 };
    }
    return notFound(binary);
  }
  if (binary !== 'cat' || args.length === 0) return notFound(binary);
  const tables = renderProcNetTcp(socketRows(node, pod));
  let stdout = '';
  let stderr = '';
  for (const path of args) {
    const table = TABLES.exec(path)?.[1];
    if (table === 'tcp' || table === 'tcp6' || table === 'udp' || table === 'udp6') stdout += tables[table];
    else stderr += `cat: ${path}: No such file or directory\n`;
  }
  return { stdout, stderr, exitCode: stderr === '' ? 0 : 1 };
}

/** A hostNetwork pod sees the node's own table: every hostNetwork pod's sockets and the host processes'. */
function socketRows(node: ScenarioNode, pod: ScenarioPod): SocketRow[] {
  const sharing = pod.hostNetwork
    ? [
        ...node.pods.filter((p) => p.hostNetwork),
        ...node.hostProcesses.map((h) => ({ ip: node.ip, connections: h.connections })),
      ]
    : [pod];
  const rows: SocketRow[] = [];
  // A server's listeners and the connections it accepted: local port the listening one, remote a client's.
  for (const p of pod.hostNetwork ? node.pods.filter((q) => q.hostNetwork) : [pod]) {
    for (const i of p.inbound) {
      const any = ipaddr.parse(p.ip).kind() === 'ipv6' ? '::' : '0.0.0.0';
      rows.push({ localIp: any, localPort: i.port, remoteIp: any, remotePort: 0, state: 'LISTEN' });
      i.clients.forEach((client, n) => {
        rows.push({
          localIp: p.ip,
          localPort: i.port,
          remoteIp: client,
          remotePort: 40000 + (n % 20000),
          state: 'ESTABLISHED',
        });
      });
    }
  }
  let port = 32768;
  for (const p of sharing) {
    for (const c of p.connections) {
      for (let i = 0; i < c.count; i++) {
        rows.push({
          ...(c.protocol === 'udp' ? { protocol: 'udp' as const } : {}),
          localIp: p.ip,
          localPort: port++,
          remoteIp: c.ip,
          remotePort: c.port,
          state: c.state,
        });
        if (port > 60999) port = 32768;
      }
    }
  }
  return rows;
}

function notFound(binary: string): PodExecResult {
  return {
    stdout: '',
    stderr: `OCI runtime exec failed: exec failed: unable to start container process: exec: "${binary}": executable file not found in $PATH: unknown\n`,
    exitCode: 126,
  };
}
