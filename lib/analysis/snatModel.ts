// How the node's SNAT ports are spent, from what the node's sockets and trace show. The model, its formula and its
// sources are in the README ("How the culprit is chosen"); in short:
//
//   - A TCP flow takes one SNAT port per destination IP:port; flows to *different* destinations may share a port, so
//     the node runs out when the flows to one destination need more ports than the node is allocated. UDP takes one
//     port per destination IP.
//   - A port stays taken while the flow is open (ESTABLISHED, SYN_SENT, the closing states), and for a while after it
//     closes, before the load balancer hands it out again (HOLD_AFTER_CLOSE_SECONDS; NAT gateway's is shorter).
//   - So a destination needs   held = open flows   +   churn = new connections per second × the hold time
//     (or, without a trace, the TIME_WAIT sockets seen, scaled from Linux's 60 s TIME_WAIT to the hold time)
//     +   failed = connects that found no port during the capture.
//   - Destinations nearer the allocation weigh more: a pod's pressure is Σ over destinations of its ports there ×
//     (the destination's ports ÷ the busiest destination's ports). Pods, workloads and the node's own processes are
//     ranked by pressure; a pod's share is its pressure ÷ everyone's.
//
// IPv4 and IPv6 are separate pools (each family has its own frontend and backend IPs): destinations are grouped and
// budgeted per family, and never added across families.
import ipaddr from 'ipaddr.js';
import type { DestinationPressure, FlowCount, OutboundType, PortDemand, Protocol } from '../model.ts';
import { isNatOutbound } from './snatBudget.ts';
import { compareIps } from './summarizeConnections.ts';

/**
 * How long the load balancer keeps a TCP flow's SNAT port after the flow closes (FIN) before it can take a new flow to
 * the same destination: 240 s in Load Balancer's 2020 outbound-connections page and App Service's troubleshooting
 * guide (the current Load Balancer page no longer gives a figure; README, "How the culprit is chosen").
 */
export const HOLD_AFTER_CLOSE_SECONDS = 240;
/** NAT gateway's port reuse timer after a TCP FIN (nat-gateway-resource.md, "Port Reuse Timers"). */
export const NAT_GATEWAY_HOLD_AFTER_CLOSE_SECONDS = 65;

/** The hold after close for the cluster's outbound type: NAT gateway's own timer, else the load balancer's. */
export function holdAfterCloseSeconds(outboundType: OutboundType | undefined): number {
  return isNatOutbound(outboundType) ? NAT_GATEWAY_HOLD_AFTER_CLOSE_SECONDS : HOLD_AFTER_CLOSE_SECONDS;
}
/** Linux keeps a closed connection in TIME_WAIT for TCP_TIMEWAIT_LEN = 60 s (include/net/tcp.h). */
export const LINUX_TIME_WAIT_SECONDS = 60;

export type Family = 'ipv4' | 'ipv6';

export function familyOf(ip: string): Family {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return 'ipv4';
  if (ipaddr.IPv6.isValid(ip)) return ipaddr.IPv6.parse(ip).isIPv4MappedAddress() ? 'ipv4' : 'ipv6';
  return ip.includes(':') ? 'ipv6' : 'ipv4';
}

/** One pod's (or the host's) ports for one flow row: what is held now, what churn keeps held, what failed. */
export function flowDemand(flow: FlowCount, captureSeconds: number, hold = HOLD_AFTER_CLOSE_SECONDS): PortDemand {
  const held = flow.open;
  const rate = captureSeconds > 0 ? flow.connects / captureSeconds : 0;
  // Two views of the same thing: flows closed recently whose port is not released yet. The trace measures the rate;
  // TIME_WAIT sockets are the closes of the last 60 s (when this side closed first). Take the larger.
  const churn = flow.protocol === 'tcp' ? Math.max(rate * hold, (flow.timeWait * hold) / LINUX_TIME_WAIT_SECONDS) : 0;
  const failed = flow.failed;
  return demand(held, churn, failed);
}

export function demand(held: number, churn: number, failed: number): PortDemand {
  const r = (n: number) => Math.round(n);
  return { held: r(held), churn: r(churn), failed: r(failed), total: r(held) + r(churn) + r(failed) };
}

export function addDemand(a: PortDemand, b: PortDemand): PortDemand {
  return { held: a.held + b.held, churn: a.churn + b.churn, failed: a.failed + b.failed, total: a.total + b.total };
}

export const NO_DEMAND: PortDemand = { held: 0, churn: 0, failed: 0, total: 0 };

/** Who holds sockets: a pod, or the node's own network namespace (the host's processes and hostNetwork pods). */
export interface Holder {
  id: string;
  flows: FlowCount[];
}

export interface HolderPressure {
  id: string;
  ports: PortDemand;
  /** Σ ports on each destination × that destination's weight (its ports ÷ the busiest destination's). */
  pressure: number;
  /** pressure ÷ everyone's pressure; 0 when nobody has any. */
  share: number;
  /** Its destinations, most pressure first. */
  destinations: DestinationPressure[];
}

export interface SnatModel {
  /** Every SNAT'd destination on the node, most ports first. */
  destinations: DestinationPressure[];
  holders: Map<string, HolderPressure>;
  /** The busiest destination's ports per family: what the node needs of its allocation at the least. */
  peak: Record<Family, number>;
}

/**
 * Runs the model over everyone holding sockets on the node. Each holder's flows must be its own: a socket counted for
 * two holders would be counted twice here (podConnections and the report make sure it is not).
 */
export function snatModel(holders: Holder[], captureSeconds: number, hold = HOLD_AFTER_CLOSE_SECONDS): SnatModel {
  const byDestination = new Map<string, DestinationPressure>();
  const perHolder = holders.map((h) => {
    const rows = new Map<string, DestinationPressure>();
    for (const flow of h.flows) {
      const row: DestinationPressure = {
        ip: flow.ip,
        port: flow.port,
        protocol: flow.protocol,
        connections: flow.open,
        timeWait: flow.timeWait,
        connectsPerSecond: captureSeconds > 0 ? flow.connects / captureSeconds : 0,
        ports: flowDemand(flow, captureSeconds, hold),
      };
      addToDestination(rows, row);
      addToDestination(byDestination, row);
    }
    return { id: h.id, rows };
  });

  const destinations = [...byDestination.values()].sort(comparePressure);
  const peak: Record<Family, number> = { ipv4: 0, ipv6: 0 };
  for (const d of destinations) {
    const family = familyOf(d.ip);
    peak[family] = Math.max(peak[family], d.ports.total);
  }
  const busiest = Math.max(peak.ipv4, peak.ipv6);
  const weight = (key: string) => (busiest > 0 ? (byDestination.get(key)?.ports.total ?? 0) / busiest : 0);

  const scored = perHolder.map(({ id, rows }) => {
    let ports = NO_DEMAND;
    let pressure = 0;
    for (const [key, row] of rows) {
      ports = addDemand(ports, row.ports);
      pressure += row.ports.total * weight(key);
    }
    const mine = [...rows.entries()]
      .sort(([ka, a], [kb, b]) => b.ports.total * weight(kb) - a.ports.total * weight(ka) || comparePressure(a, b))
      .map(([, row]) => row);
    return { id, ports, pressure, destinations: mine };
  });
  const all = scored.reduce((sum, h) => sum + h.pressure, 0);
  const result = new Map<string, HolderPressure>();
  for (const h of scored) {
    result.set(h.id, { ...h, pressure: round1(h.pressure), share: all > 0 ? h.pressure / all : 0 });
  }
  return { destinations, holders: result, peak };
}

/**
 * Adds one destination's counts into `into`, under its key: the same destination reached by several flows, holders or
 * pods is one row with their counts summed.
 */
export function addToDestination(into: Map<string, DestinationPressure>, d: DestinationPressure): void {
  const key = destinationKey(d.ip, d.port, d.protocol);
  const row = into.get(key);
  if (!row) {
    into.set(key, { ...d, connectsPerSecond: round1(d.connectsPerSecond) });
    return;
  }
  row.connections += d.connections;
  row.timeWait += d.timeWait;
  row.connectsPerSecond = round1(row.connectsPerSecond + d.connectsPerSecond);
  row.ports = addDemand(row.ports, d.ports);
}

export function destinationKey(ip: string, port: number, protocol: Protocol): string {
  return `${protocol} ${ip} ${protocol === 'udp' ? 0 : port}`;
}

/** Most ports first; then by address and port, so the order is stable. */
export function comparePressure(a: DestinationPressure, b: DestinationPressure): number {
  return b.ports.total - a.ports.total || compareIps(a.ip, b.ip) || a.port - b.port;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
