import type { Report } from '../model.ts';

/** Connects were traced when the capture succeeded and tcptracer was there; otherwise churn is unknown, not zero. */
export function connectsTraced(report: Pick<Report, 'steps' | 'unavailable'>): boolean {
  const capture = report.steps.find((s) => s.name === 'captureNode');
  return capture?.status === 'succeeded' && !report.unavailable.some((u) => u.what === 'tcptracer');
}
