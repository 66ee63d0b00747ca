// The sandbox node's answer to the node probe: the report lib/probe/node-probe.sh would print on a node running the
// scenario's pods — the aggregated trace, network namespaces, sandboxes (crictl, or pstree without it), the pod
// cgroups' processes and every namespace's sockets — in the script's exact format, so the workflow parses it with
// the same parser as a real node's.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { encodeAddress, hex } from './procNetTcpText.ts';
import { HOST_NETNS, type ScenarioNode, type ScenarioPod } from './scenario.ts';

const STATE_CODE: Record<string, string> = {
  ESTABLISHED: '01',
  SYN_SENT: '02',
  FIN_WAIT1: '04',
  FIN_WAIT2: '05',
  TIME_WAIT: '06',
  CLOSE_WAIT: '08',
};

interface Processes {
  pause: number;
  containers: number[];
}

export function renderProbeReport(node: ScenarioNode, seconds: number): string {
  const processes = new Map<ScenarioPod, Processes>();
  let pid = 3100;
  for (const pod of node.pods) {
    processes.set(pod, { pause: pid++, containers: pod.containers.map(() => pid++) });
  }
  const { crictl } = node.probe;
  // The probe's tracer chain: BCC's tcptracer where installed, else bpftrace (which also sees failed connects).
  const kind = node.probe.tcptracer ? 'bcc' : node.probe.bpftrace ? 'bpftrace' : 'none';
  const tcptracer = kind !== 'none';
  const out: string[] = ['@@ snat-doctor-probe 1', '@@ meta'];
  out.push(`node=${node.name}`, `seconds=${seconds}`, `host_netns=${HOST_NETNS}`, 'kernel=5.15.0-1079-azure');
  out.push(`tracer=${tcptracer ? 'yes' : 'no'}`, `crictl=${crictl ? 'yes' : 'no'}`);
  out.push(`traced_seconds=${tcptracer ? seconds : 0}`, `tracer_kind=${kind}`);

  out.push('@@ trace');
  const traceRows: string[] = [];
  let events = 0;
  if (tcptracer) {
    // Who connects: each pod (its container processes) and each process outside any pod (from the node's IP).
    const sources = [
      ...node.pods.map((pod) => ({
        saddr: pod.ip,
        netns: pod.netns,
        pids: (processes.get(pod) as Processes).containers.slice(0, 3).join(','),
        comms: pod.containers
          .map((c) => comm(c.command))
          .slice(0, 3)
          .join(','),
        connections: pod.connections,
      })),
      ...node.hostProcesses.map((p) => ({
        saddr: node.ip,
        netns: HOST_NETNS,
        pids: String(p.pid),
        comms: comm(p.command),
        connections: p.connections,
      })),
    ];
    for (const source of sources) {
      for (const c of source.connections) {
        const connects = Math.round(c.connectsPerSecond * seconds);
        const failed = kind === 'bpftrace' ? Math.round(c.failedPerSecond * seconds) : 0;
        const rows: [string, number][] = [
          ['connect', connects],
          ['close', connects],
          ['failed', failed],
        ];
        for (const [type, count] of rows) {
          if (count === 0) continue;
          events += count;
          traceRows.push([count, type, source.saddr, c.ip, c.port, source.netns, source.pids, source.comms].join(' '));
        }
      }
    }
  }
  out.push(`# events=${events} skipped=0 lost=0 pruned=0 prune_floor=0`, ...traceRows);
  // Exact totals per source (NETNS SADDR TYPE COUNT), as the probe adds them up before it keeps the busiest rows.
  const sourceTotals = new Map<string, number>();
  for (const row of traceRows) {
    const [count, type, saddr, , , netns] = row.split(' ');
    const key = `${netns} ${saddr} ${type}`;
    sourceTotals.set(key, (sourceTotals.get(key) ?? 0) + Number(count));
  }
  out.push('@@ trace-sources', ...[...sourceTotals].map(([key, count]) => `${key} ${count}`));

  out.push('@@ netns', `${HOST_NETNS} 1 ${180 + node.pods.filter((p) => p.hostNetwork).length} systemd`);
  const own = node.pods.filter((p) => !p.hostNetwork);
  for (const pod of own) {
    const { pause, containers } = processes.get(pod) as Processes;
    out.push(`${pod.netns} ${pause} ${1 + containers.length} pause`);
  }
  out.push('@@ netns-files', ...own.map((pod) => `${pod.netns} /run/netns/${cniName(pod)}`));

  out.push('@@ sandboxes');
  if (crictl) {
    for (const pod of node.pods) out.push(`${pod.sandboxId} ${(processes.get(pod) as Processes).pause} ${pod.netns}`);
  }
  out.push('@@ pstree');
  if (!crictl) {
    for (const pod of own) {
      const { pause } = processes.get(pod) as Processes;
      out.push(
        `# netns ${pod.netns} pid ${pause}`,
        'systemd,1',
        `  \`-containerd-shim,${pause - 1} -namespace k8s.io -id ${pod.sandboxId} -address /run/containerd/containerd.sock`,
        `      \`-pause,${pause}`,
      );
    }
  }

  out.push('@@ pod-processes');
  for (const pod of node.pods) {
    const { pause, containers } = processes.get(pod) as Processes;
    out.push(`${pause} ${pod.netns} ${pod.uid} ${pod.sandboxId}`);
    containers.forEach((p, i) => {
      out.push(`${p} ${pod.netns} ${pod.uid} ${containerId(pod, i)}`);
    });
  }

  out.push('@@ sockets');
  const udpRows: string[] = [];
  for (const pod of node.pods) {
    for (const c of pod.connections) {
      if (c.count === 0) continue; // a group of connects only: no socket open at the snapshot
      const six = ipaddr.parse(c.ip).kind() === 'ipv6' || ipaddr.parse(pod.ip).kind() === 'ipv6';
      const remote = `${encodeAddress(c.ip, six)}:${hex(c.port, 4)}`;
      const owner = pod.hostNetwork ? ` ${pod.uid}` : '';
      (c.protocol === 'udp' ? udpRows : out).push(
        `${pod.netns} ${STATE_CODE[c.state] ?? '01'} ${remote} ${c.count}${owner}`,
      );
    }
  }

  for (const process of node.hostProcesses) {
    for (const c of process.connections) {
      if (c.count === 0) continue;
      const six = ipaddr.parse(c.ip).kind() === 'ipv6';
      const row = `${HOST_NETNS} ${STATE_CODE[c.state] ?? '01'} ${encodeAddress(c.ip, six)}:${hex(c.port, 4)} ${c.count}`;
      (c.protocol === 'udp' ? udpRows : out).push(row);
    }
  }
  out.push('@@ udp-sockets', ...udpRows);
  // Exact totals per namespace, protocol and state (NETNS PROTO STATE COUNT [POD_UID]).
  const socketTotals = new Map<string, { head: string; owner: string; count: number }>();
  const tcpRows = out.slice(out.indexOf('@@ sockets') + 1, out.indexOf('@@ udp-sockets'));
  for (const [protocol, rows] of [
    ['tcp', tcpRows],
    ['udp', udpRows],
  ] as const) {
    for (const row of rows) {
      const [netns, state, , count, uid] = row.split(' ');
      const head = `${netns} ${protocol} ${state}`;
      const owner = uid ? ` ${uid}` : '';
      const total = socketTotals.get(head + owner) ?? { head, owner, count: 0 };
      total.count += Number(count);
      socketTotals.set(head + owner, total);
    }
  }
  out.push('@@ socket-totals', ...[...socketTotals.values()].map((t) => `${t.head} ${t.count}${t.owner}`));
  // The probe counts accepted connections per namespace and listening port (node-probe.sh, "inbound").
  out.push('@@ inbound');
  for (const pod of node.pods) {
    for (const i of pod.inbound) {
      if (i.clients.length > 0) {
        out.push(`${pod.netns} ${hex(i.port, 4)} ${i.clients.length}${pod.hostNetwork ? ` ${pod.uid}` : ''}`);
      }
    }
  }

  out.push('@@ unavailable');
  if (!tcptracer) {
    out.push(
      'tcptracer\tBCC tcptracer is not installed (looked for /usr/share/bcc/tools/tcptracer and tcptracer-bpfcc); bpftrace is not installed either: no connect trace, so churn is unknown; open sockets are still counted',
    );
  }
  if (!crictl) out.push('crictl\tnot installed: sandboxes are mapped with pstree instead');
  out.push('@@ end');
  return `${out.join('\n')}\n`;
}

/**
 * A process name as the probe's trace aggregation writes it: tcptracer's COMM may hold spaces, which the probe's awk
 * turns into "_" (and "," into "_", the list separator) so that a row stays one line of fields (node-probe.sh).
 */
function comm(command: string): string {
  return command.replace(/[ ,]/g, '_');
}

/** containerd's netns file name: `cni-` and a UUID-shaped hex string. */
function cniName(pod: ScenarioPod): string {
  const h = createHash('sha256').update(`netns:${pod.sandboxId}`).digest('hex');
  return `cni-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function containerId(pod: ScenarioPod, index: number): string {
  return createHash('sha256').update(`container:${pod.sandboxId}:${index}`).digest('hex');
}
