// When a node's SNAT standing calls for an investigation. Pure: the watch tick, an alert or a test asks the same
// question and gets the same answer.

export interface Thresholds {
  /** Share of the node's allocated SNAT ports in use from which the node is flagged (0..1]. */
  warn: number;
  /** Share from which the node is investigated (0..1], at least `warn`. */
  investigate: number;
}

/** The runbook's levels: 75 % used is worth a look, 90 % is about to fail connections. */
export const DEFAULT_THRESHOLDS: Thresholds = { warn: 0.75, investigate: 0.9 };

/**
 * After a node's investigation finished, how long before a tick may investigate it again: long enough that one
 * incident yields one report, short enough that a fix that did not hold is seen the same hour.
 */
export const DEFAULT_COOLDOWN_MINUTES = 30;

/** How soon a node must be predicted to exhaust its ports to be investigated before it crosses the threshold. */
export const DEFAULT_HORIZON_MINUTES = 30;

/** A node's SNAT metrics over the query window; a field is absent when the metric is unknown. */
export interface SnatStanding {
  usedPorts?: number;
  allocatedPorts?: number;
  failedConnections?: number;
}

export type Decision = 'ok' | 'warn' | 'investigate' | 'no-metric';

export function decide(standing: SnatStanding, thresholds: Thresholds = DEFAULT_THRESHOLDS): Decision {
  // A failed connection is the exhaustion itself, not a forecast of it: investigate whatever the ratio says (the
  // ports metric averages over the window and can sit below the line while bursts fail).
  if ((standing.failedConnections ?? 0) > 0) return 'investigate';
  const ratio = usedRatio(standing);
  if (ratio === undefined) return 'no-metric';
  if (ratio >= thresholds.investigate) return 'investigate';
  if (ratio >= thresholds.warn) return 'warn';
  return 'ok';
}

/** Used ÷ allocated, when both are known; a node with no ports allocated has no ratio. */
export function usedRatio(standing: SnatStanding): number | undefined {
  const { usedPorts, allocatedPorts } = standing;
  if (usedPorts === undefined || allocatedPorts === undefined || allocatedPorts <= 0) return undefined;
  return usedPorts / allocatedPorts;
}
