// Builders for the SNAT model's input: flow rows, and a pod whose summary fields agree with its flows, as
// summarizeConnections makes them (so a fixture cannot disagree with the model).
import type { FlowCount, PodConnections } from '../../lib/model.ts';

export function flow(overrides: Partial<FlowCount> = {}): FlowCount {
  return { ip: '20.50.2.10', port: 443, protocol: 'tcp', open: 0, timeWait: 0, connects: 0, failed: 0, ...overrides };
}

export function podWithFlows(
  name: string,
  flows: FlowCount[],
  overrides: Partial<PodConnections> = {},
  namespace = 'default',
): PodConnections {
  return {
    namespace,
    pod: name,
    hostNetwork: false,
    source: 'node-snapshot',
    publicEstablished: flows.reduce((s, f) => s + f.open, 0),
    privateEstablished: 0,
    timeWait: flows.reduce((s, f) => s + f.timeWait, 0),
    privateTimeWait: 0,
    synSent: 0,
    publicConnects: flows.reduce((s, f) => s + f.connects, 0),
    flows,
    ...overrides,
  };
}

/**
 * The node's table as exec into each of four hostNetwork DaemonSet pods shows it (every one the same: 600 and 3
 * public connections), for the one-count-per-socket cases.
 */
export function hostNetworkTables(namespaceOfPods = 'kube-system'): PodConnections[] {
  const nodeTable = [flow({ open: 600 }), flow({ ip: '52.1.1.1', open: 3 })];
  return ['kube-proxy-x', 'azure-cns-y', 'cloud-node-manager-z', 'csi-azuredisk-node-a'].map((name) =>
    podWithFlows(
      name,
      nodeTable,
      {
        hostNetwork: true,
        hostTable: true,
        source: 'exec-proc-net-tcp',
        workload: { kind: 'DaemonSet', name: name.replace(/-\w$/, '') },
      },
      namespaceOfPods,
    ),
  );
}
