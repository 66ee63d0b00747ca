// A fired SNAT alert becomes its nodes' investigations, through the start path every trigger shares: one
// investigation per node, joined when one is already running (whoever started it).
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
  | { kind: 'started'; investigations: AlertInvestigation[] }
  /** Load balancers of no configured cluster: nothing was started. */
  | { kind: 'unknown-cluster'; unknown: string[]; configured: ClusterRef[] }
  /** Load balancers of several clusters and backend IPs: whose IP is whose cannot be told, so nothing was started. */
  | { kind: 'ambiguous'; clusters: ClusterRef[] };

export interface AlertStartOptions {
  /** Starts investigations (the Durable client). */
  client: WatchClient;
  clusters: AlertClusters;
  /** The cluster's nodes, to name the node behind a backend IP. */
  listNodes(cluster: ClusterRef): Promise<NodeInfo[]>;
  captureSeconds?: number;
}

/** Starts (or joins) the investigation of each alerted node; throws only what the caller should retry. */
export async function startFromAlert(alert: MetricAlert, options: AlertStartOptions): Promise<AlertOutcome> {
  const owners = await clustersOfLoadBalancers(alert.loadBalancerIds, options.clusters);
  if (!owners.ok) return { kind: 'unknown-cluster', unknown: owners.unknown, configured: options.clusters.configured };
  // Azure Monitor fires one alert per resource and dimension combination, so this takes a hand-made payload; AKS
  // clusters commonly share address ranges (10.224.0.0/12), so guessing could investigate the wrong cluster's node.
  if (owners.clusters.length > 1 && alert.backendIps.length > 0)
    return { kind: 'ambiguous', clusters: owners.clusters };

  const investigations: AlertInvestigation[] = [];
  for (const cluster of owners.clusters) {
    // No BackendIPAddress (a rule not split by it): the node using the largest share of its ports.
    const targets: { node?: string; backendIp?: string }[] =
      alert.backendIps.length > 0 ? await nodesBehind(cluster, alert.backendIps, options) : [{}];
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
  return { kind: 'started', investigations };
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
