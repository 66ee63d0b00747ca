// The snatWatch timer function, called as the Functions host would: a Timer, the (local) Durable client and an
// InvocationContext whose log we read.
import { InvocationContext, type Timer } from '@azure/functions';
import { describe, expect, test } from '@jest/globals';
import { snatWatch } from '../../functions/snatWatch.ts';
import { readConfig } from '../../lib/config.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { scenarioWith } from '../support/scenarios.ts';

const TIMER: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '2026-01-01T00:00:00Z', next: '2026-01-01T00:05:00Z', lastUpdated: '2026-01-01T00:00:00Z' },
};

async function setup(edit?: Parameters<typeof scenarioWith>[0]) {
  const scenario = scenarioWith(edit);
  const clock = new VirtualClock();
  const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock });
  const logs: { level: string; message: string }[] = [];
  const context = new InvocationContext({
    functionName: 'snatWatch',
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(' ') }),
  });
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  const env = { SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify([{ subscriptionId, resourceGroup, name }]) };
  return { host, clock, context, logs, env, client: new LocalDurableClient(host) };
}

describe('snatWatch (timer)', () => {
  test('is registered as a timer on the schedule in the app setting SNAT_DOCTOR_WATCH_SCHEDULE', async () => {
    await setup();
    const bindings = Object.values(registrations.get('snatWatch')?.metadata.bindings ?? {});
    expect(bindings).toContainEqual(
      expect.objectContaining({ type: 'timerTrigger', schedule: '%SNAT_DOCTOR_WATCH_SCHEDULE%' }),
    );
    expect(bindings).toContainEqual(expect.objectContaining({ type: 'durableClient' }));
  });

  test('a tick starts the exhausted node’s investigation and logs a one-line summary', async () => {
    const { host, clock, context, logs, env, client } = await setup();
    await snatWatch(TIMER, client, context, readConfig(env).watch, clock.now());

    const [instance] = await host.listInstances();
    const id = instance?.instanceId ?? '';
    expect(id).toMatch(
      /^snat:3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c:rg-payments-prod:aks-prod:\d{8}t\d{6}z-[0-9a-f]{6}:aks-nodepool1-31415926-vmss000001$/,
    );
    expect(logs).toEqual([
      {
        level: 'information',
        message: `snatWatch: 3 nodes in 1 cluster (1 started, 2 ok); started ${id}`,
      },
    ]);
    expect((await host.waitForCompletion(id)).runtimeStatus).toBe('Completed');

    // Ten minutes after it finished, the next tick holds off.
    logs.length = 0;
    const finished = (await host.getStatus(id))?.lastUpdatedTime as Date;
    await snatWatch(TIMER, client, context, readConfig(env).watch, new Date(finished.getTime() + 10 * 60_000));
    expect(logs[0]?.message).toBe('snatWatch: 3 nodes in 1 cluster (1 cooldown, 2 ok)');
  });

  test('unconfigured: says which settings are missing, starts nothing', async () => {
    const { host, context, logs, client } = await setup();
    await snatWatch(TIMER, client, context, readConfig({ SNAT_DOCTOR_WARN_RATIO: 'high' }).watch);
    expect(logs).toHaveLength(1);
    expect(logs[0]?.level).toBe('error');
    expect(logs[0]?.message).toMatch(/SNAT_DOCTOR_WATCH_CLUSTERS is not set/);
    expect(logs[0]?.message).toMatch(/SNAT_DOCTOR_WARN_RATIO is "high"/);
    expect(await host.listInstances()).toEqual([]);
  });

  test('a cluster that fails is logged as a warning next to the summary', async () => {
    const { context, logs, client, env } = await setup();
    const clusters = [
      ...JSON.parse(env.SNAT_DOCTOR_WATCH_CLUSTERS),
      { subscriptionId: '3f2b6c4e-8a1d-4e5f-9b7c-2d1e0f3a4b5c', resourceGroup: 'rg-other', name: 'aks-other' },
    ];
    await snatWatch(TIMER, client, context, readConfig({ SNAT_DOCTOR_WATCH_CLUSTERS: JSON.stringify(clusters) }).watch);
    expect(logs.map((l) => l.level)).toEqual(['information', 'warning']);
    expect(logs[0]?.message).toMatch(/; 1 error$/);
    expect(logs[1]?.message).toMatch(/^snatWatch: rg-other\/aks-other: Reading the cluster: No AKS cluster aks-other/);
  });
});

describe('snatWatch: NAT gateway clusters (issue 15, part 3)', () => {
  test('failed connections at the gateway: the summary names it, a warning says what and what to do; nothing started', async () => {
    const { host, clock, context, logs, env, client } = await setup((doc) => {
      Object.assign(doc.cluster as object, {
        outboundType: 'managedNATGateway',
        natGateway: { failedConnections: 9, droppedPackets: 0, totalConnections: 400 },
      });
    });
    await snatWatch(TIMER, client, context, readConfig(env).watch, clock.now());
    expect(logs.map((l) => l.level)).toEqual(['information', 'warning']);
    expect(logs[0]?.message).toBe(
      'snatWatch: 1 NAT gateway (failing: rg-payments-prod/aks-prod nat-aks-prod 9 failed, 0 dropped)',
    );
    expect(logs[1]?.message).toMatch(
      /^snatWatch: NAT gateway nat-aks-prod of cluster rg-payments-prod\/aks-prod: 9 failed SNAT connections, 0 dropped packets in the last 5 minutes \(400 active connections\)\. The gateway's metrics have no per-node dimension.* Commands: az aks update --resource-group rg-payments-prod --name aks-prod --nat-gateway-managed-outbound-ip-count 2/,
    );
    expect(await host.listInstances()).toEqual([]);
  });

  test('a quiet gateway is counted in the summary, and nothing is warned', async () => {
    const { context, logs, env, client, clock } = await setup((doc) => {
      Object.assign(doc.cluster as object, { outboundType: 'managedNATGateway' });
    });
    await snatWatch(TIMER, client, context, readConfig(env).watch, clock.now());
    expect(logs).toEqual([{ level: 'information', message: 'snatWatch: 1 NAT gateway' }]);
  });
});

describe('snatWatch: allocation drift (issue 15)', () => {
  // The watch's memory is a `watchmemory` entity per cluster in the host; the SNAT metrics change between ticks.
  test('an allocation that drops between ticks is posted once to the channels of its cluster, with the fix', async () => {
    const { host, clock, context, logs, env, client } = await setup();
    const { usePorts } = await import('../../lib/composition.ts');
    const dropped = scenarioWith((doc) => {
      const node = (doc.nodes as Record<string, unknown>[])[0] as Record<string, unknown>;
      node.snat = { ...(node.snat as Record<string, unknown>), usedPorts: 10, allocatedPorts: 512 };
    });
    const { subscriptionId, resourceGroup, name } = dropped.cluster;
    const slackSettings = readConfig({
      SLACK_SIGNING_SECRET: '8f14e45fceea167a5a36dedd4bea2543',
      SLACK_BOT_TOKEN: 'xoxb-0000000000-0000000000000-abcdefghijklmnopqrstuvwx',
      SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({
        clusters: [{ alias: 'prod', subscriptionId, resourceGroup, name, channels: ['C0PRODAAA', 'C0OPSBBBB'] }],
      }),
    }).slack;
    expect(slackSettings.ok).toBe(true);
    const posts: { channel: string; text: string; key: string }[] = [];
    const slack = {
      settings: slackSettings,
      api: {
        async post(channel: string, message: { text: string; blocks: unknown[] }, key: { instanceId: string }) {
          posts.push({ channel, text: JSON.stringify(message.blocks), key: key.instanceId });
          return { ts: '1.0', channel };
        },
      },
    };
    const watch = readConfig(env).watch;
    const minutes = (n: number) => new Date(clock.now().getTime() + n * 60_000);

    await snatWatch(TIMER, client, context, watch, minutes(0), slack);
    expect(posts).toEqual([]);
    await host.entityIdle({ name: 'watchmemory', key: `${subscriptionId}:${resourceGroup}:${name}`.toLowerCase() });
    usePorts(scenarioPorts(dropped));
    logs.length = 0;
    await snatWatch(TIMER, client, context, watch, minutes(5), slack);
    expect(posts.map((p) => p.channel)).toEqual(['C0PRODAAA', 'C0OPSBBBB']);
    expect(posts[0]?.text).toContain('dropped from 1024 to 512 SNAT ports');
    expect(posts[0]?.text).toContain(
      'az aks update --resource-group rg-payments-prod --name aks-prod --load-balancer-outbound-ports 1024',
    );
    expect(logs.map((l) => l.message).join('\n')).toContain(
      'SNAT allocation changed on rg-payments-prod/aks-prod aks-nodepool1-31415926-vmss000000 (512, expected 1024)',
    );
    // The next tick, still 512: nothing posted again.
    await host.entityIdle({ name: 'watchmemory', key: `${subscriptionId}:${resourceGroup}:${name}`.toLowerCase() });
    await snatWatch(TIMER, client, context, watch, minutes(10), slack);
    expect(posts).toHaveLength(2);
  });
});

describe('snatWatch: a NAT gateway failing connections (issue 15)', () => {
  test('is posted once when it starts failing, not at every tick it goes on failing; again after it recovered', async () => {
    const { host, clock, context, env, client } = await setup();
    const { usePorts } = await import('../../lib/composition.ts');
    const behindGateway = (failedConnections: number) =>
      scenarioWith((doc) => {
        const cluster = doc.cluster as Record<string, unknown>;
        cluster.outboundType = 'managedNATGateway';
        cluster.natGateway = { name: 'nat-egress', failedConnections, droppedPackets: 0 };
      });
    const { subscriptionId, resourceGroup, name } = behindGateway(0).cluster;
    const slackSettings = readConfig({
      SLACK_SIGNING_SECRET: '8f14e45fceea167a5a36dedd4bea2543',
      SLACK_BOT_TOKEN: 'xoxb-0000000000-0000000000000-abcdefghijklmnopqrstuvwx',
      SNAT_DOCTOR_SLACK_ACCESS: JSON.stringify({
        clusters: [{ alias: 'prod', subscriptionId, resourceGroup, name, channels: ['C0PRODAAA'] }],
      }),
    }).slack;
    const posts: string[] = [];
    const slack = {
      settings: slackSettings,
      api: {
        async post(channel: string, message: { text: string }) {
          posts.push(`${channel}: ${message.text}`);
          return { ts: '1.0', channel };
        },
      },
    };
    const watch = readConfig(env).watch;
    const memoryId = { name: 'watchmemory', key: `${subscriptionId}:${resourceGroup}:${name}`.toLowerCase() };
    const tickWith = async (failed: number, minute: number) => {
      usePorts(scenarioPorts(behindGateway(failed)));
      await snatWatch(TIMER, client, context, watch, new Date(clock.now().getTime() + minute * 60_000), slack);
      await host.entityIdle(memoryId);
    };
    await tickWith(120, 0);
    expect(posts).toEqual(['C0PRODAAA: NAT gateway of aks-prod is failing SNAT connections']);
    await tickWith(80, 5);
    expect(posts).toHaveLength(1);
    await tickWith(0, 10);
    await tickWith(30, 15);
    expect(posts).toHaveLength(2);
  });
});
