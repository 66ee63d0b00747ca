// The clusters this app is set up for: the watched ones (SNAT_DOCTOR_WATCH_CLUSTERS) and those Slack may diagnose
// (SNAT_DOCTOR_SLACK_ACCESS). The HTTP API starts and shows investigations of these only: its function key says the
// caller may use the app, not that the app may run a privileged probe on any cluster its identity can reach.
import { type AppConfig, appConfig } from './config.ts';
import type { ClusterRef } from './model.ts';

export function appClusters(config: AppConfig = appConfig()): ClusterRef[] {
  const clusters: ClusterRef[] = [];
  const add = (ref: ClusterRef) => {
    if (!isAmong(clusters, ref)) clusters.push(ref);
  };
  if (config.watch.ok) config.watch.settings.clusters.forEach(add);
  if (config.slack.ok) for (const c of config.slack.settings.access.clusters) add(c.ref);
  return clusters;
}

/** Azure compares subscription ids, resource group and resource names case-insensitively. */
export function isAmong(clusters: readonly ClusterRef[], ref: ClusterRef): boolean {
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  return clusters.some(
    (c) =>
      same(c.subscriptionId, ref.subscriptionId) && same(c.resourceGroup, ref.resourceGroup) && same(c.name, ref.name),
  );
}
