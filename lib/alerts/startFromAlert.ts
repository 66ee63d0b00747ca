// A fired SNAT alert becomes its nodes' investigations, through the start path every trigger shares: one
// investigation per node, joined when one is already running (whoever started it).
import { TransientError } from '../errors.ts';
import type { ClusterRef, InvestigationRequest, NodeInfo } from '../model.ts';
import { CAPTURE_SECONDS } from '../validation.ts';
import { startOnce, type WatchClient } from '../watch/startOnce.ts';
import type { MetricAlert } from './commonAlertSchema.ts';
import { type AlertClusters, clustersOfLoadBalancers } from './resolveCluster.ts';

export interface AlertInvestigation {
  instanceId: string;
  cluster: ClusterRef;
  /** The node asked for: its name, or its IP when no listed node has it; absent for "the most exhausted node". */
  node?: string;
  /** The alert's BackendIPAddress this investigation is for. */
  backendIp?: string;
  joined: boolean;
}

export type AlertOutcome =
  | {
      kind: 'started';
      investigations: AlertInvestigation[];
      /** What this payload named beyond the caps (MAX_ALERT_LOAD_BALANCERS, MAX_ALERT_NODES): not acted on. */
      capped: { loadBalancerIds: string[]; backendIps: string[] };
      /** Load balancers of no configured cluster, and ones whose cluster could not be told (with why). */
      unknown: string[];
      unresolved: { loadBalancerId: string; reason: string }[];
    }
  /** Load balancers of no configured cluster: nothing was started. */
  | { kind: 'unknown-cluster'; unknown: string[]; configured: ClusterRef[] }
  /** Load balancers of several clusters and backend IPs: whose IP is whose cannot be told, so nothing was started. */
  | { kind: 'ambiguous'; clusters: ClusterRef[] };

/**
 * What one payload may set going. Azure Monitor sends one alert per load balancer and per BackendIPAddress value, so
 * these leave room for a hand-made payload and none for a flood: a payload naming 300 backend IPs starts 10 probes,
 * not 300, and one naming 300 load balancers costs at most one ARM read per configured cluster, not 1,200.
 */
export const MAX_ALERT_LOAD_BALANCERS = 5;
export const MAX_ALERT_NODES = 10;

export interface AlertStartOptions {
  /** Starts investigations (the Durable client). */
  client: WatchClient;
  clusters: AlertClusters;
  /** The cluster's nodes, to name the node behind a backend IP. */
  listNodes(cluster: ClusterRef): Promise<NodeInfo[]>;
  captureSeconds?: number;
}

/**
 * Starts (or joins) the investigation of each alerted node, within the caps; throws only what the caller should retry
 * (no cluster could be told, and some could not be read).
 */
export async function startFromAlert(alert: MetricAlert, options: AlertStartOptions): Promise<AlertOutcome> {
  const loadBalancerIds = distinct(alert.loadBalancerIds);
  const backendIps = distinct(alert.backendIps);
  const capped = {
    loadBalancerIds: loadBalancerIds.slice(MAX_ALERT_LOAD_BALANCERS),
    backendIps: backendIps.slice(MAX_ALERT_NODES),
  };
  const owners = await clustersOfLoadBalancers(loadBalancerIds.slice(0, MAX_ALERT_LOAD_BALANCERS), options.clusters);
  if (owners.clusters.length === 0) {
    const first = owners.unresolved[0];
    if (first) throw new TransientError(first.reason);
    return { kind: 'unknown-cluster', unknown: owners.unknown, configured: options.clusters.configured };
  }
  // Azure Monitor fires one alert per resource and dimension combination, so this takes a hand-made payload; AKS
  // clusters commonly share address ranges (10.224.0.0/12), so guessing could investigate the wrong cluster's node.
  if (owners.clusters.length > 1 && backendIps.length > 0) return { kind: 'ambiguous', clusters: owners.clusters };

  const investigations: AlertInvestigation[] = [];
  for (const cluster of owners.clusters) {
    // No BackendIPAddress (a rule not split by it): the node using the largest share of its ports.
    const targets: { node?: string; backendIp?: string }[] =
      backendIps.length > 0 ? await nodesBehind(cluster, backendIps.slice(0, MAX_ALERT_NODES), options) : [{}];
    for (const target of targets) {
      const request: InvestigationRequest = {
        cluster,
        ...(target.node !== undefined ? { node: target.node } : {}),
        captureSeconds: options.captureSeconds ?? CAPTURE_SECONDS.default,
        requestedBy: { kind: 'alert', who: alert.rule },
      };
      // startOnce, not bare startOrJoin: Azure Monitor may deliver an alert twice at once (retries, two action
      // groups), and the watch may be starting the same node; the keyed lock keeps that to one instance.
      const { instanceId, outcome } = await startOnce(options.client, request);
      investigations.push({ instanceId, cluster, ...target, joined: outcome === 'joined' });
    }
  }
  return { kind: 'started', investigations, capped, unknown: owners.unknown, unresolved: owners.unresolved };
}

/** The values, once each (resource ids compared as Azure does, without case). */
function distinct(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = value.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Backend IPs as node names. The instance id is made from the node as it was asked for, and the watch asks by name:
 * an alert asking by IP would run a second investigation of a node the watch is already investigating. When the
 * nodes cannot be listed, or none has the IP, the IP itself is asked for, and locateNode finds the node (or says
 * that none has that IP) — the alert is not lost to a failed lookup.
 */
async function nodesBehind(
  cluster: ClusterRef,
  ips: string[],
  options: AlertStartOptions,
): Promise<{ node: string; backendIp: string }[]> {
  const nodes = await options.listNodes(cluster).catch((): NodeInfo[] => []);
  return ips.map((ip) => ({ node: nodes.find((n) => n.ip === ip)?.name ?? ip, backendIp: ip }));
}
