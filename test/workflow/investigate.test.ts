// The real registered orchestrator, driven through durable-functions' replay engine by the in-memory host, on the
// sandbox scenario's ports.
import { describe, expect, test } from '@jest/globals';
import * as df from 'durable-functions';
import { InMemoryDurableHost, VirtualClock } from '../../lib/local/durableHost.ts';
import { registrations } from '../../lib/local/functionsCore.cjs';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import { renderProbeReport } from '../../lib/sandbox/nodeProbe.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { POD_CONCURRENCY, RETRY_POLICY } from '../../lib/workflow/investigate.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { activityTimeline, investigateOn, requestFor } from '../support/runtime.ts';
import { scenarioWith, withFaults } from '../support/scenarios.ts';

const STEPS = ['locateNode', 'captureNode', 'mapPods', 'podConnections', 'rankAndReport'];

describe('investigate on the default sandbox scenario', () => {
  test('runs every step in order and names the culprit', async () => {
    const { status, report } = await investigateOn(scenarioWith());
    expect(status.runtimeStatus).toBe('Completed');
    expect(report.steps.map((s) => [s.name, s.status])).toEqual(STEPS.map((name) => [name, 'succeeded']));
    expect(report.node?.name).toBe('aks-nodepool1-31415926-vmss000001');
    expect(report.culprits[0]).toMatchObject({ namespace: 'payments', rank: 1 });
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
    expect(report.culprits[0]?.publicEstablished).toBeGreaterThan(500);
    expect(report.recommendations.length).toBeGreaterThan(0);

    const scheduled = activityTimeline(status.history)
      .filter((e) => e.event === 'scheduled')
      .map((e) => e.name);
    const firstOfEach = STEPS.map((name) => scheduled.indexOf(name));
    expect(firstOfEach).toEqual([...firstOfEach].sort((a, b) => a - b));
    expect(scheduled.at(-1)).toBe('rankAndReport');
  });

  test('examines every pod through a sliding window of POD_CONCURRENCY: one pod stuck holds up only its own slot', async () => {
    // Every pod is examined by exec (the probe fails). One pod's exec answers only once every other pod is done: with
    // fixed batches its batch would wait for it, and the next batch never start — this would never finish.
    const scenario = withFaults({ target: 'probe.capture', error: 'failed' });
    const ports = scenarioPorts(scenario);
    const total = scenario.nodes[1]?.pods.length ?? 0;
    const stuck = `${scenario.nodes[1]?.pods[0]?.namespace}/${scenario.nodes[1]?.pods[0]?.name}`;
    let inFlight = 0;
    let peak = 0;
    let done = 0;
    let releaseStuck: () => void = () => {};
    const stuckReleased = new Promise<void>((resolve) => {
      releaseStuck = resolve;
    });
    const kubernetes = ports.kubernetes;
    ports.kubernetes = (cluster) => {
      const api = kubernetes(cluster);
      return {
        ...api,
        async exec(target, argv) {
          inFlight++;
          peak = Math.max(peak, inFlight);
          try {
            if (`${target.namespace}/${target.name}` === stuck) await stuckReleased;
            return await api.exec(target, argv);
          } finally {
            inFlight--;
            if (++done === total - 1) releaseStuck();
          }
        },
      };
    };
    const { host } = await startLocalRuntime({ ports, clock: new VirtualClock() });
    const instanceId = await startNewInvestigation(host, requestFor(scenario));
    const report = (await host.waitForCompletion(instanceId)).output as { podsExamined: number };
    expect(total).toBeGreaterThan(POD_CONCURRENCY);
    expect(report.podsExamined).toBe(total);
    expect(done).toBe(total);
    expect(peak).toBe(POD_CONCURRENCY);
  });

  test('sets a custom status at each step', async () => {
    const scenario = scenarioWith();
    const { host } = await startLocalRuntime({ ports: scenarioPorts(scenario), clock: new VirtualClock() });
    const seen: string[] = [];
    host.events.on('status', (e) => {
      const step = (e.customStatus as { step?: string } | null)?.step;
      if (step && seen.at(-1) !== step) seen.push(step);
    });
    const instanceId = await startNewInvestigation(host, requestFor(scenario));
    await host.waitForCompletion(instanceId);
    expect(seen).toEqual(STEPS);
  });
});

describe('a Windows node', () => {
  test('gets no node probe; its pods are examined with netstat -aon and ranked', async () => {
    const scenario = scenarioWith((doc) => {
      (doc.nodes as unknown[]).push({
        name: 'akswin000000',
        ip: '10.224.0.7',
        os: 'windows',
        snat: { usedPorts: 1000, failedConnections: 12 },
        pods: [
          {
            namespace: 'legacy',
            name: 'iis-app-6c8d9b7f5-abcde',
            connections: [{ to: '13.107.42.14:443', count: 700 }],
          },
          { namespace: 'legacy', name: 'worker-5d8c7b9f6-fghij', connections: [{ to: '10.224.8.4:1433', count: 30 }] },
        ],
      });
    });
    const { report } = await investigateOn(scenario, { node: 'akswin000000' });
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['locateNode', 'succeeded'],
      ['captureNode', 'skipped'],
      ['mapPods', 'succeeded'],
      ['podConnections', 'succeeded'],
      ['rankAndReport', 'succeeded'],
    ]);
    expect(report.culprits).toHaveLength(1);
    expect(report.culprits[0]).toMatchObject({
      pod: 'iis-app-6c8d9b7f5-abcde',
      publicEstablished: 700,
      source: 'exec-netstat',
      topDestinations: [{ ip: '13.107.42.14', port: 443, connections: 700 }],
    });
  });
});

describe('failures', () => {
  test('a transient probe fault is retried with back-off and the investigation succeeds', async () => {
    const { status, report } = await investigateOn(
      withFaults({ target: 'probe.capture', error: 'transient', times: 1 }),
    );
    const capture = activityTimeline(status.history).filter((e) => e.name === 'captureNode' || e.event === 'timer');
    expect(capture.map((e) => e.event)).toEqual(['scheduled', 'failed', 'timer', 'scheduled', 'completed']);
    expect(report.steps.find((s) => s.name === 'captureNode')?.status).toBe('succeeded');
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  });

  test.each([
    ['the node probe', { target: 'probe.capture', error: 'throttled', retryAfterSeconds: 30, times: 1 }, 'captureNode'],
    [
      'exec into one pod',
      { target: 'kubernetes.exec', error: 'throttled', retryAfterSeconds: 20, times: 1 },
      'podConnections',
    ],
  ])('a throttled call to %s is retried no sooner than its Retry-After', async (_name, fault, step) => {
    const probeless = fault.target === 'kubernetes.exec' ? { target: 'probe.capture', error: 'failed' } : undefined;
    const { status, report } = await investigateOn(withFaults(fault, ...(probeless ? [probeless] : [])));
    expect(report.steps.find((s) => s.name === step)?.status).toBe('succeeded');
    expect(report.steps.find((s) => s.name === step)?.detail ?? '').not.toMatch(/could not be examined/);
    // The fault comes back as a failed task (single steps) or as TRANSIENT data (fanned-out pods); the retry timer
    // follows it in the history.
    const at = status.history.findIndex(
      (e) => (e.EventType === 5 || e.EventType === 6) && JSON.stringify(e).includes('retry after'),
    );
    expect(at).toBeGreaterThan(-1);
    const timer = status.history.slice(at).find((e) => e.EventType === 10);
    const waited = Date.parse(String(timer?.FireAt)) - Date.parse(status.history[at]!.Timestamp);
    expect(waited).toBeGreaterThanOrEqual(fault.retryAfterSeconds * 1000);
  });

  test('a pod that keeps failing is named in the report; the others are ranked', async () => {
    const scenario = scenarioWith();
    const ledger = scenario.nodes[1]!.pods.find((p) => p.name.startsWith('ledger-'))!;
    const { report } = await investigateOn(
      withFaults(
        { target: 'probe.capture', error: 'failed' },
        { target: 'kubernetes.exec', error: 'server-error', pod: `${ledger.namespace}/${ledger.name}` },
      ),
    );
    const podStep = report.steps.find((s) => s.name === 'podConnections');
    expect(podStep?.status).toBe('succeeded');
    expect(podStep?.detail).toMatch(
      new RegExp(`1 of \\d+ pods could not be examined: payments/${ledger.name}: still failing after 3 attempts`),
    );
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
  });

  test('a transient fault that never clears fails the step after every attempt, and the report says so', async () => {
    const { status, report } = await investigateOn(withFaults({ target: 'probe.capture', error: 'transient' }));
    const attempts = activityTimeline(status.history).filter((e) => e.name === 'captureNode' && e.event === 'failed');
    expect(attempts).toHaveLength(RETRY_POLICY.maxNumberOfAttempts);
    const capture = report.steps.find((s) => s.name === 'captureNode');
    expect(capture?.status).toBe('failed');
    expect(capture?.detail).toMatch(/still failing after 3 attempts/);
  });

  test('a failed probe leaves a partial report: the pods are examined by exec instead', async () => {
    const { status, report } = await investigateOn(
      withFaults({ target: 'probe.capture', error: 'failed', message: 'probe pod stuck Pending' }),
    );
    expect(status.runtimeStatus).toBe('Completed');
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['locateNode', 'succeeded'],
      ['captureNode', 'failed'],
      ['mapPods', 'succeeded'],
      ['podConnections', 'succeeded'],
      ['rankAndReport', 'succeeded'],
    ]);
    expect(report.steps[1]?.detail).toMatch(/probe pod stuck Pending/);
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
    expect(report.culprits[0]?.source).toBe('exec-proc-net-tcp');
  });

  test('a node without tcptracer and crictl: the socket snapshot still names the culprit, the report says what was missing', async () => {
    const { report } = await investigateOn(
      scenarioWith((doc) => {
        const nodes = doc.nodes as Record<string, unknown>[];
        (nodes[1] as Record<string, unknown>).probe = { tcptracer: false, crictl: false };
      }),
    );
    expect(report.steps.map((s) => s.status)).toEqual(STEPS.map(() => 'succeeded'));
    expect(report.culprits[0]).toMatchObject({ namespace: 'payments', source: 'node-snapshot', publicConnects: 0 });
    expect(report.unavailable.map((u) => u.what).sort()).toEqual(['crictl', 'tcptracer']);
  });

  test('a probe report cut short still ranks from what arrived, and says it was cut', async () => {
    // Cut in the middle of the socket snapshot: the pods it no longer covers are examined by exec.
    const full = renderProbeReport(scenarioWith().nodes[1]!, 30);
    const bytes = full.indexOf('@@ sockets') + 300;
    const { report } = await investigateOn(withFaults({ target: 'probe.capture', error: 'truncated', bytes }));
    expect(report.steps.find((s) => s.name === 'captureNode')).toMatchObject({
      status: 'succeeded',
      detail: expect.stringMatching(/unavailable: probe report/),
    });
    expect(report.unavailable).toContainEqual(expect.objectContaining({ what: 'probe report' }));
    expect(report.culprits[0]).toMatchObject({ pod: expect.stringMatching(/^checkout-api-/), publicEstablished: 905 });
  });

  test('a cluster that cannot be found still yields a report naming locateNode', async () => {
    const { report } = await investigateOn(scenarioWith(), {
      cluster: { subscriptionId: '11111111-1111-1111-1111-111111111111', resourceGroup: 'rg-x', name: 'nope' },
    });
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['locateNode', 'failed'],
      ['captureNode', 'skipped'],
      ['mapPods', 'skipped'],
      ['podConnections', 'skipped'],
      ['rankAndReport', 'succeeded'],
    ]);
    expect(report.steps[0]?.detail).toMatch(/nope/);
    expect(report.culprits).toEqual([]);
  });

  test('a node that does not exist is reported with the nodes that do', async () => {
    const { report } = await investigateOn(scenarioWith(), { node: 'aks-nodepool1-00000000-vmss000009' });
    expect(report.steps[0]).toMatchObject({ name: 'locateNode', status: 'failed' });
    expect(report.steps[0]?.detail).toMatch(/vmss000001/);
  });
});

describe('determinism', () => {
  test('an orchestrator that schedules differently on replay is detected and failed', async () => {
    // Registered here, beside the app's functions, through the same df.app path.
    df.app.orchestration('nondeterministic', function* (context) {
      yield context.df.callActivity('echo', { nonce: Math.random() });
      yield context.df.callActivity('echo', { nonce: 2 });
    });
    df.app.activity('echo', { handler: async (x: unknown) => x });
    const host = new InMemoryDurableHost(registrations, { clock: new VirtualClock() });
    const id = await host.startNew('nondeterministic');
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(/Non-deterministic orchestration/);
  });
});

describe('a pod whose socket table comes back cut short', () => {
  // Issue 14: a cut exec output undercounted a pod (481 of 905) while the step "succeeded" with no note.
  test('is still ranked, and the step and the pod both say its counts may be low', async () => {
    const scenario = scenarioWith();
    const checkout = scenario.nodes[1]!.pods.find((p) => p.name.startsWith('checkout-api-'))!;
    const { report } = await investigateOn(
      withFaults(
        { target: 'probe.capture', error: 'failed' },
        { target: 'kubernetes.exec', error: 'truncated', pod: `${checkout.namespace}/${checkout.name}` },
      ),
    );
    const podStep = report.steps.find((s) => s.name === 'podConnections');
    expect(podStep?.status).toBe('succeeded');
    expect(podStep?.detail).toContain(
      `1 pod's socket table came back cut short, so its counts may be low: ${checkout.namespace}/${checkout.name}`,
    );
  });
});
