// Which pods use the node's SNAT ports, most first: the runbook's last step ("the pod with the most ESTABLISHED
// connections to public IPs is the culprit"), refined with the trace's connect churn and TIME_WAIT.
import type { Culprit, PodConnections } from '../model.ts';

export const DEFAULT_TOP_DESTINATIONS = 5;

type Rankable = Pick<PodConnections, 'namespace' | 'pod' | 'publicEstablished' | 'publicConnects' | 'timeWait'>;

/**
 * The ranking rule:
 * 1. more ESTABLISHED connections to public (SNAT'd) destinations first — each one holds a SNAT port now;
 * 2. then more connects to public destinations during the capture — churn that takes ports faster than they free;
 * 3. then more TIME_WAIT sockets — the trace of churn that happened before the capture;
 * 4. then `namespace/pod` in ascending (code-unit) order, so equal pods always come out in the same order.
 */
export function compareCulprits(a: Rankable, b: Rankable): number {
  return (
    b.publicEstablished - a.publicEstablished ||
    b.publicConnects - a.publicConnects ||
    b.timeWait - a.timeWait ||
    compareText(`${a.namespace}/${a.pod}`, `${b.namespace}/${b.pod}`)
  );
}

/**
 * Ranks the pods that touch public destinations (public ESTABLISHED or public connects > 0; the others cannot be
 * using SNAT ports) by {@link compareCulprits}, numbering them from 1. `usedPorts` is the node's `UsedSnatPorts`
 * metric; when known and positive, each pod gets its approximate share of it.
 */
export function rankCulprits(
  pods: PodConnections[],
  options: { captureSeconds: number; usedPorts?: number; topDestinations?: number },
): Culprit[] {
  const top = options.topDestinations ?? DEFAULT_TOP_DESTINATIONS;
  const usedPorts = options.usedPorts ?? 0;
  return pods
    .filter((p) => p.publicEstablished > 0 || p.publicConnects > 0)
    .sort(compareCulprits)
    .map((p, index) => ({
      rank: index + 1,
      namespace: p.namespace,
      pod: p.pod,
      hostNetwork: p.hostNetwork,
      publicEstablished: p.publicEstablished,
      publicConnects: p.publicConnects,
      connectsPerSecond: options.captureSeconds > 0 ? round(p.publicConnects / options.captureSeconds, 1) : 0,
      timeWait: p.timeWait,
      source: p.source,
      topDestinations: p.destinations.slice(0, top),
      // An approximation: the load balancer reuses one SNAT port for connections to different destination ports,
      // and the metric is an average over the window, so the ratio can exceed 1; it is capped there.
      ...(usedPorts > 0 ? { shareOfUsedPorts: round(Math.min(1, p.publicEstablished / usedPorts), 2) } : {}),
    }));
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
