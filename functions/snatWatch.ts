// snatWatch: on the schedule in the app setting SNAT_DOCTOR_WATCH_SCHEDULE (NCRONTAB, e.g. "0 */5 * * * *"), one watch
// tick over the configured clusters: every node's SNAT standing, and the investigation of each node above the
// threshold (or predicted to reach its allocation within the horizon) started or joined (lib/watch/tick.ts). What it
// remembers between ticks is a `watchmemory` entity per cluster (lib/watch/memoryEntity.ts). A node whose SNAT
// allocation dropped or is not as configured is told once per change, in the Slack channels that may diagnose its
// cluster (SNAT_DOCTOR_SLACK_ACCESS), with the command that restores it. A NAT gateway that failed connections or
// dropped packets is logged as a warning with what to do (lib/watch/natGateway.ts); it is not posted to Slack yet.
// Settings: the watch section of lib/config.ts.
import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { isAmong } from '../lib/appClusters.ts';
import { ports } from '../lib/composition.ts';
import { appConfig, SETTINGS, type Section, type SlackSettings, type WatchSettings } from '../lib/config.ts';
import type { ClusterRef } from '../lib/model.ts';
import type { SlackApi } from '../lib/ports.ts';
import { escapeMrkdwn } from '../lib/render/slackBlocks.ts';
import type { AllocationFinding } from '../lib/watch/drift.ts';
import { clusterKey } from '../lib/watch/memory.ts';
import { entityWatchMemory, WATCH_MEMORY_ENTITY, watchMemoryEntity } from '../lib/watch/memoryEntity.ts';
import type { NatGatewayStanding } from '../lib/watch/natGateway.ts';
import type { WatchClient } from '../lib/watch/startOnce.ts';
import { clusterName, tickSummary } from '../lib/watch/summary.ts';
import { watchTick } from '../lib/watch/tick.ts';

export async function snatWatch(
  _timer: Timer,
  client: WatchClient,
  context: InvocationContext,
  settings: Section<WatchSettings> = appConfig().watch,
  now: Date = new Date(),
  slack: { settings: Section<SlackSettings>; api: SlackApi | undefined } = {
    settings: appConfig().slack,
    api: ports().slack,
  },
): Promise<void> {
  if (!settings.ok) {
    context.error(`snatWatch is not configured:\n  ${settings.problems.join('\n  ')}`);
    return;
  }
  const { clusters, thresholds, cooldownMinutes, horizonMinutes } = settings.settings;
  const memory = entityWatchMemory(client);
  const result = await watchTick({
    clusters,
    ports: ports(),
    client,
    thresholds,
    cooldownMinutes,
    horizonMinutes,
    now,
    memory,
  });
  context.log(tickSummary(result));
  for (const gateway of result.gateways.filter((g) => g.decision === 'finding' && g.new)) {
    await tellSlackAboutGateway(gateway, slack).catch((error: unknown) =>
      context.warn(
        `snatWatch: telling Slack about NAT gateway ${gateway.gatewayId} failed: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  }
  for (const finding of result.findings.filter((f) => f.new)) {
    context.warn(`snatWatch: ${finding.message}`);
    await tellSlack(finding, slack).catch((error: unknown) =>
      context.warn(
        `snatWatch: telling Slack about ${finding.node} failed: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  }
  for (const gateway of result.gateways.filter((g) => g.decision === 'finding')) {
    const commands = gateway.commands.length > 0 ? ` Commands: ${gateway.commands.join(' ; ')}` : '';
    context.warn(`snatWatch: ${gateway.message} ${gateway.advice.join(' ')}${commands}`);
  }
  for (const error of result.errors) {
    context.warn(`snatWatch: ${clusterName(error.cluster)}${error.node ? ` ${error.node}` : ''}: ${error.message}`);
  }
}

df.app.client.timer('snatWatch', {
  // A binding expression: the host reads the schedule from the app setting, so it changes without a deployment.
  schedule: `%${SETTINGS.watchSchedule}%`,
  handler: snatWatch,
});

/** The finding, in every channel that may diagnose its cluster; keyed by the change, so a retry never posts twice. */
async function tellSlack(
  finding: AllocationFinding,
  slack: { settings: Section<SlackSettings>; api: SlackApi | undefined },
): Promise<void> {
  const text = `SNAT allocation changed on ${finding.node} (${finding.cluster.name})`;
  await postToClusterChannels(finding.cluster, slack, {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `:warning: ${text}`.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(finding.message).slice(0, 2900) } },
      ...(finding.commands.length > 0
        ? [
            {
              type: 'section',
              text: { type: 'mrkdwn', text: `\`\`\`${finding.commands.join('\n')}\`\`\``.slice(0, 2900) },
            },
          ]
        : []),
    ],
    key: `snat-drift:${clusterKey(finding.cluster)}:${finding.node}:${finding.signature}`,
  });
}

/** Posts in every Slack channel that may diagnose `cluster` (SNAT_DOCTOR_SLACK_ACCESS); one message per key there. */
async function postToClusterChannels(
  cluster: ClusterRef,
  slack: { settings: Section<SlackSettings>; api: SlackApi | undefined },
  message: { text: string; blocks: unknown[]; key: string },
): Promise<void> {
  if (!slack.api || !slack.settings.ok) return;
  const channels = slack.settings.settings.access.clusters
    .filter((c) => isAmong([c.ref], cluster))
    .flatMap((c) => c.channels);
  const key = { instanceId: message.key, kind: 'report' as const };
  for (const channel of new Set(channels))
    await slack.api.post(channel, { text: message.text, blocks: message.blocks }, key);
}

/** A NAT gateway that started failing connections, told once (its id in the key), in its cluster's channels. */
async function tellSlackAboutGateway(
  gateway: NatGatewayStanding,
  slack: { settings: Section<SlackSettings>; api: SlackApi | undefined },
): Promise<void> {
  const text = `NAT gateway of ${gateway.cluster.name} is failing SNAT connections`;
  const details = [gateway.message, ...gateway.advice].map(escapeMrkdwn).join('\n');
  await postToClusterChannels(gateway.cluster, slack, {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `:warning: ${text}`.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: details.slice(0, 2900) } },
      ...(gateway.commands.length > 0
        ? [
            {
              type: 'section',
              text: { type: 'mrkdwn', text: `\`\`\`${gateway.commands.join('\n')}\`\`\``.slice(0, 2900) },
            },
          ]
        : []),
    ],
    key: `snat-natgw:${clusterKey(gateway.cluster)}:${gateway.gatewayId.toLowerCase()}`,
  });
}

// What the watch remembers between ticks, one entity per cluster.
df.app.entity(WATCH_MEMORY_ENTITY, watchMemoryEntity);
