// snatWatch: on the schedule in the app setting SNAT_DOCTOR_WATCH_SCHEDULE (NCRONTAB, e.g. "0 */5 * * * *"), one watch
// tick over the configured clusters: every node's SNAT standing, and the investigation of each node above the
// threshold started or joined (lib/watch/tick.ts). Settings: the watch section of lib/config.ts.
import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { ports } from '../lib/composition.ts';
import { appConfig, SETTINGS, type Section, type WatchSettings } from '../lib/config.ts';
import type { WatchClient } from '../lib/watch/startOnce.ts';
import { clusterName, tickSummary } from '../lib/watch/summary.ts';
import { watchTick } from '../lib/watch/tick.ts';

export async function snatWatch(
  _timer: Timer,
  client: WatchClient,
  context: InvocationContext,
  settings: Section<WatchSettings> = appConfig().watch,
  now: Date = new Date(),
): Promise<void> {
  if (!settings.ok) {
    context.error(`snatWatch is not configured:\n  ${settings.problems.join('\n  ')}`);
    return;
  }
  const { clusters, thresholds, cooldownMinutes } = settings.settings;
  const result = await watchTick({ clusters, ports: ports(), client, thresholds, cooldownMinutes, now });
  context.log(tickSummary(result));
  for (const error of result.errors) {
    context.warn(`snatWatch: ${clusterName(error.cluster)}${error.node ? ` ${error.node}` : ''}: ${error.message}`);
  }
}

df.app.client.timer('snatWatch', {
  // A binding expression: the host reads the schedule from the app setting, so it changes without a deployment.
  schedule: `%${SETTINGS.watchSchedule}%`,
  handler: snatWatch,
});
