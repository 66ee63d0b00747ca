// One probe per node (issue 14): the orchestrator takes the node's registry entity (lib/workflow/nodeRegistry.ts)
// once it has located the node, before it runs anything on it. Driven here through the real registrations, the
// real replay engine and the in-memory host's entities, on the sandbox, with the starter's guards bypassed
// (startNewInvestigation) as two app instances racing each other would bypass them.
import { describe, expect, test } from '@jest/globals';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { Report } from '../../lib/model.ts';
import type { Ports } from '../../lib/ports.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { nodeKey } from '../../lib/workflow/instanceId.ts';
import { readRegistry, startNewInvestigation } from '../../lib/workflow/start.ts';
import { requestFor } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';

const NODE = 'aks-nodepool1-31415926-vmss000001';

/** The sandbox's ports with every probe capture counted and held until `release`. */
function countedProbe(ports: Ports) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const captures: string[] = [];
  let secondCapture!: () => void;
  /** Resolves when a second capture starts (which must not happen while the first runs). */
  const second = new Promise<void>((resolve) => {
    secondCapture = resolve;
  });
  const probe: Ports['probe'] = {
    async capture(...args) {
      captures.push(JSON.stringify(args[1] ?? args[0]).slice(0, 200));
      if (captures.length >= 2) secondCapture();
      await held;
      return ports.probe.capture(...args);
    },
  };
  return { ports: { ...ports, probe }, captures, release, second };
}

async function setup() {
  const scenario = scenarioWith();
  const counted = countedProbe(scenarioPorts(scenario));
  const { host } = await startLocalRuntime({ ports: counted.ports, clock: new VirtualClock() });
  const ip = scenario.nodes.find((n) => n.name === NODE)?.ip ?? '';
  return { scenario, host, ip, ...counted };
}

describe('one probe per node', () => {
  // Issue 14, item 1: ten spellings of one node (name, IP, no node at all …) started ten probes on it.
  test('by name, by IP and "the most exhausted node" at once: one probe; the others join the one holding the node', async () => {
    const { scenario, host, ip, captures, release, second } = await setup();
    const ids = await Promise.all(
      [NODE, ip, undefined].map((node) => startNewInvestigation(host, requestFor(scenario, node ? { node } : {}), [])),
    );
    // The capture is held until the two others have finished (they joined: nothing to wait for) or, if the lock
    // failed, until a second capture starts.
    const finished = ids.map((id) => host.waitForCompletion(id));
    let settled = 0;
    const twoFinished = new Promise<void>((resolve) => {
      for (const f of finished) void f.then(() => ++settled === 2 && resolve());
    });
    await Promise.race([twoFinished, second]);
    release();
    const reports = await Promise.all(finished.map(async (f) => (await f).output as Report));
    expect(captures).toHaveLength(1);
    const holders = reports.filter((r) => !r.joined);
    expect(holders).toHaveLength(1);
    const holder = holders[0] as Report;
    for (const joined of reports.filter((r) => r.joined)) {
      expect(joined.joined?.instanceId).toBe(holder.instanceId);
      expect(joined.steps.map((s) => [s.name, s.status])).toEqual([
        ['locateNode', 'succeeded'],
        ['captureNode', 'skipped'],
        ['mapPods', 'skipped'],
        ['podConnections', 'skipped'],
        ['rankAndReport', 'succeeded'],
      ]);
      expect(joined.steps[1]?.detail).toContain(`is already being investigated by ${holder.instanceId}`);
    }
    expect(holder.culprits.length).toBeGreaterThan(0);
  });

  // Issue 14, item 5: a re-run replaced the first run's history.
  test("the node is let go when the report is out: a re-run probes again and both runs are in the node's history", async () => {
    const { scenario, host, captures, release } = await setup();
    release();
    const first = await startNewInvestigation(host, requestFor(scenario, { node: NODE }), []);
    await host.waitForCompletion(first);
    const second = await startNewInvestigation(host, requestFor(scenario, { node: NODE }), []);
    await host.waitForCompletion(second);
    expect(captures).toHaveLength(2);
    const registry = await readRegistry(host, nodeKey(requestFor(scenario).cluster, NODE));
    expect(registry.running).toBeUndefined();
    expect(registry.history.map((h) => [h.instanceId, h.outcome])).toEqual([
      [second, 'completed'],
      [first, 'completed'],
    ]);
    // Both runs are kept as instances of their own.
    expect((await host.getStatus(first))?.runtimeStatus).toBe('Completed');
  });
});
