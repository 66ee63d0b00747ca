// Where a node's SNAT port use is heading: a least-squares line through its recent standings (one per watch tick),
// and when that line reaches the node's allocation. Pure.
//
// How wrong it can be (README, "Time to exhaustion"): UsedSnatPorts is each window's worst minute, so the line
// follows peaks; a straight line misses a curve (a leak that accelerates exhausts sooner, a burst that passes never
// does); a change in allocation between samples bends it (the estimate uses the latest allocation); and with few
// samples one noisy tick swings the slope. It is used only to investigate early, never to hold an investigation off.

export interface Sample {
  at: string;
  usedPorts: number;
  allocatedPorts: number;
}

export interface Trend {
  /** The fitted slope: SNAT ports per minute (negative when use falls). */
  portsPerMinute: number;
  samples: number;
  spanMinutes: number;
  /** Minutes until the line reaches the latest allocation, when it rises and has not reached it yet. */
  exhaustsInMinutes?: number;
}

/** Samples kept per node (the watch's memory): an hour of 5-minute ticks. */
export const SAMPLES_KEPT = 12;
/** Only samples this recent count. */
export const TREND_WINDOW_MINUTES = 60;
/** A line through fewer samples, or over a shorter span, says nothing. */
export const MIN_SAMPLES = 3;
export const MIN_SPAN_MINUTES = 2;

export function trendOf(samples: readonly Sample[], now: Date): Trend | undefined {
  const since = now.getTime() - TREND_WINDOW_MINUTES * 60_000;
  const points = samples
    .map((s) => ({ t: Date.parse(s.at), used: s.usedPorts, allocated: s.allocatedPorts }))
    .filter((p) => Number.isFinite(p.t) && p.t >= since && p.t <= now.getTime())
    .sort((a, b) => a.t - b.t);
  if (points.length < MIN_SAMPLES) return undefined;
  const first = points[0] as (typeof points)[number];
  const last = points.at(-1) as (typeof points)[number];
  const spanMinutes = (last.t - first.t) / 60_000;
  if (spanMinutes < MIN_SPAN_MINUTES) return undefined;
  // Least squares over minutes since the first sample.
  const xs = points.map((p) => (p.t - first.t) / 60_000);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = points.reduce((a, p) => a + p.used, 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  points.forEach((p, i) => {
    const dx = (xs[i] as number) - meanX;
    sxy += dx * (p.used - meanY);
    sxx += dx * dx;
  });
  const portsPerMinute = sxx > 0 ? sxy / sxx : 0;
  const trend: Trend = { portsPerMinute, samples: points.length, spanMinutes };
  if (portsPerMinute > 0 && last.used < last.allocated) {
    // From where the line is now, not from the last sample alone: one noisy tick moves the estimate less.
    const fittedNow = meanY + portsPerMinute * ((now.getTime() - first.t) / 60_000 - meanX);
    const from = Math.max(fittedNow, 0);
    trend.exhaustsInMinutes = Math.max(0, (last.allocated - from) / portsPerMinute);
  }
  return trend;
}
