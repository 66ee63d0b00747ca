// What the watch remembers between ticks (issue 15): allocation drift told once per change, a rising node
// investigated before it crosses the threshold, a high but flat node not investigated again every cooldown. Each tick
// runs on the sandbox scenario as it is at that moment (its nodes' SNAT metrics changed between ticks).
import { describe, expect, test } from '@jest/globals';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { LocalDurableClient } from '../../lib/local/localClient.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { ClusterRef } from '../../lib/model.ts';
import type { Scenario } from '../../lib/sandbox/scenario.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { inMemoryWatchMemory, type WatchMemory } from '../../lib/watch/memory.ts';
import type { WatchClient } from '../../lib/watch/startOnce.ts';
import { watchTick } from '../../lib/watch/tick.ts';
import { scenarioWith } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000000';

/** The built-in scenario with 1,000 ports allocated per node and the three nodes' SNAT as given. */
function cluster(snat: { usedPorts: number; allocatedPorts?: number; failedConnections?: number }[]): Scenario {
  return scenarioWith((doc) => {
    (doc.cluster as Record<string, unknown>).allocatedOutboundPorts = 1000;
    const nodes = doc.nodes as Record<string, unknown>[];
    snat.forEach((s, i) => {
      (nodes[i] as Record<string, unknown>).snat = { failedConnections: 0, ...s };
    });
  });
}

const quiet = (used = 10, allocatedPorts = 1000) => [
  { usedPorts: used, allocatedPorts },
  { usedPorts: 10 },
  { usedPorts: 10 },
];

function refOf(scenario: Scenario): ClusterRef {
  const { subscriptionId, resourceGroup, name } = scenario.cluster;
  return { subscriptionId, resourceGroup, name };
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

function tick(scenario: Scenario, memory: WatchMemory, now: Date, client?: WatchClient) {
  return watchTick({
    clusters: [refOf(scenario)],
    ports: scenarioPorts(scenario),
    memory,
    now,
    ...(client ? { client } : {}),
  });
}

describe('allocation drift', () => {
  test('an allocation that drops between ticks is told once, with the command that restores it; again only if it changes again', async () => {
    const memory = inMemoryWatchMemory();
    expect((await tick(cluster(quiet()), memory, at(0))).findings).toEqual([]);

    const dropped = await tick(cluster(quiet(10, 512)), memory, at(5));
    expect(dropped.findings).toHaveLength(1);
    const [finding] = dropped.findings;
    expect(finding).toMatchObject({
      node: NODE,
      kinds: ['drop', 'mismatch'],
      allocatedPorts: 512,
      expectedPorts: 1000,
      previousPorts: 1000,
      new: true,
    });
    expect(finding?.commands).toEqual([
      'az aks update --resource-group rg-payments-prod --name aks-prod --load-balancer-outbound-ports 1000',
    ]);
    expect(finding?.message).toContain('dropped from 1000 to 512 SNAT ports but the cluster is configured for 1000');

    // Still 512 on the next tick: still a finding, not told again.
    const still = await tick(cluster(quiet(10, 512)), memory, at(10));
    expect(still.findings.map((f) => f.new)).toEqual([false]);
    // Restored, then dropped again: told again.
    expect((await tick(cluster(quiet()), memory, at(15))).findings).toEqual([]);
    expect(
      (await tick(cluster(quiet(10, 256)), memory, at(20))).findings.map((f) => [f.allocatedPorts, f.new]),
    ).toEqual([[256, true]]);
  });

  test('a node not allocated what the configuration implies is a finding on the first tick, without memory of it', async () => {
    const result = await tick(cluster(quiet(10, 1024)), inMemoryWatchMemory(), at(0));
    expect(result.findings).toMatchObject([
      { node: NODE, kinds: ['mismatch'], allocatedPorts: 1024, expectedPorts: 1000, new: true, commands: [] },
    ]);
  });
});

describe('time to exhaustion', () => {
  test('a node rising 20 ports a minute is investigated before it crosses the threshold', async () => {
    const memory = inMemoryWatchMemory();
    const clock = new VirtualClock(T0);
    const scenario = cluster(quiet(500));
    const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock });
    const client = new LocalDurableClient(host);
    // 50 %, 60 %, 70 % of the allocation: below the warn line (75 %) every time.
    const first = await tick(cluster(quiet(500)), memory, at(0), client);
    const second = await tick(cluster(quiet(600)), memory, at(5), client);
    const third = await tick(cluster(quiet(700)), memory, at(10), client);
    expect([first, second].map((r) => r.nodes.find((n) => n.name === NODE)?.action)).toEqual(['ok', 'ok']);
    const node = third.nodes.find((n) => n.name === NODE);
    expect(node).toMatchObject({
      decision: 'investigate',
      rising: true,
      action: 'started',
      trend: { portsPerMinute: 20, exhaustsInMinutes: 15 },
    });
    expect(third.started.map((s) => s.node)).toEqual([NODE]);
  });

  test('the horizon is a setting: with 10 minutes, a node 15 minutes from exhaustion waits; with 0, never early', async () => {
    for (const horizonMinutes of [10, 0]) {
      const memory = inMemoryWatchMemory();
      let last: Awaited<ReturnType<typeof watchTick>> | undefined;
      for (const [minute, used] of [
        [0, 500],
        [5, 600],
        [10, 700],
      ] as const) {
        const scenario = cluster(quiet(used));
        last = await watchTick({
          clusters: [refOf(scenario)],
          ports: scenarioPorts(scenario),
          memory,
          now: at(minute),
          horizonMinutes,
        });
      }
      expect(last?.nodes.find((n) => n.name === NODE)).toMatchObject({
        decision: 'ok',
        trend: { exhaustsInMinutes: 15 },
      });
    }
  });

  test('a node falling or flat at 70 % is not investigated', async () => {
    const memory = inMemoryWatchMemory();
    for (const [minute, used] of [
      [0, 720],
      [5, 700],
      [10, 700],
    ] as const) {
      const result = await tick(cluster(quiet(used)), memory, at(minute));
      expect(result.nodes.find((n) => n.name === NODE)?.decision).toBe('ok');
    }
  });

  test('a node high but flat since its last investigation is not investigated again when the cooldown ends', async () => {
    const memory = inMemoryWatchMemory();
    const clock = new VirtualClock(T0);
    const scenario = cluster(quiet(950));
    const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock });
    const client = new LocalDurableClient(host);
    const first = await tick(scenario, memory, at(0), client);
    expect(first.started.map((s) => s.node)).toEqual([NODE]);
    await host.waitForCompletion(first.started[0]?.instanceId ?? '');
    // 40 minutes on (past the 30-minute cooldown), still 95 %: held as flat.
    const later = await tick(cluster(quiet(950)), memory, at(40), client);
    expect(later.nodes.find((n) => n.name === NODE)?.action).toBe('flat');
    expect(later.started).toEqual([]);
    // Failing connections are exhaustion itself: investigated whatever the trend.
    const failing = await tick(
      cluster([{ usedPorts: 950, allocatedPorts: 1000, failedConnections: 5 }, { usedPorts: 10 }, { usedPorts: 10 }]),
      memory,
      at(80),
      client,
    );
    expect(failing.nodes.find((n) => n.name === NODE)?.action).toBe('started');
  });
});
