// The evidence blob of an investigation: the real registered orchestrator on the sandbox scenario's ports, with the
// real evidence store on Azurite. The report (and so the status response) says where the blob is; the blob holds what
// every step gathered; a store that fails is named in the report and changes nothing else.
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createEvidenceStore } from '../../lib/adapters/evidenceStore.ts';
import { VirtualClock } from '../../lib/local/durableHost.ts';
import { startLocalRuntime } from '../../lib/local/runtime.ts';
import type { Evidence, Report } from '../../lib/model.ts';
import type { EvidenceStore } from '../../lib/ports.ts';
import { scenarioPorts } from '../../lib/sandbox/scenarioPorts.ts';
import { startNewInvestigation } from '../../lib/workflow/start.ts';
import { storeEvidence } from '../../lib/workflow/steps/storeEvidence.ts';
import { type Azurite, getBlob, startAzurite } from '../support/azurite.ts';
import { activityTimeline, requestFor } from '../support/runtime.ts';
import { scenarioWith } from '../support/scenarios.ts';

let azurite: Azurite;
let stopped: Azurite;
beforeAll(async () => {
  [azurite, stopped] = await Promise.all([startAzurite(), startAzurite()]);
  // A store whose Storage has gone away: every call is refused at once.
  await stopped.stop();
});
afterAll(async () => {
  await azurite?.stop();
});

async function investigateWith(evidence: EvidenceStore) {
  const scenario = scenarioWith();
  const { host } = await startLocalRuntime({
    ports: { ...scenarioPorts(scenario), evidence },
    clock: new VirtualClock(),
  });
  const instanceId = await startNewInvestigation(host, requestFor(scenario));
  const status = await host.waitForCompletion(instanceId);
  return { instanceId, status, report: status.output as Report };
}

describe('with an evidence store', () => {
  test('the report says where the evidence is, and the blob holds the metrics, capture, pod tables and ranking', async () => {
    const store = createEvidenceStore({ connectionString: azurite.connectionString });
    const { instanceId, status, report } = await investigateWith(store);

    expect(status.runtimeStatus).toBe('Completed');
    expect(report.unavailable.map((u) => u.what)).not.toContain('evidence store');
    expect(report.evidence?.url).toMatch(
      new RegExp(
        `^${azurite.accountUrl}/snat-doctor-evidence/snat/[^?]+/\\d{4}-\\d\\d-\\d\\dT[\\d-]+\\.\\d{3}Z\\.json$`,
      ),
    );
    const scheduled = activityTimeline(status.history)
      .filter((e) => e.event === 'scheduled')
      .map((e) => e.name);
    expect(scheduled.slice(-2)).toEqual(['rankAndReport', 'storeEvidence']);

    const blob = await getBlob(report.evidence!.url);
    expect(blob.status).toBe(200);
    const stored = JSON.parse(blob.text) as Evidence;
    expect(stored).toMatchObject({ instanceId, request: { cluster: report.cluster } });
    // The metrics snapshot: this node's SNAT metrics and every node's standing.
    expect(stored.located?.backend?.usedPorts).toBe(report.budget?.usedPorts);
    expect(stored.located?.nodes.map((n) => n.name)).toContain(report.node?.name);
    // The probe's report, as the node aggregated it.
    expect(stored.capture?.node).toBe(report.node?.name);
    expect(stored.capture?.sockets.length).toBeGreaterThan(0);
    // The per-pod tables, every examined pod's, and the ranking made from them.
    expect(stored.pods).toHaveLength(report.podsExamined);
    const culprit = stored.pods.find((p) => p.pod === report.culprits[0]?.pod);
    expect(culprit?.publicEstablished).toBe(report.culprits[0]?.publicEstablished);
    expect(culprit?.flows.length).toBeGreaterThan(0);
    expect(stored.report.culprits).toEqual(report.culprits);

    expect(await store.load(instanceId)).toEqual(stored);
  });

  test.each([
    [
      'gone (connection refused): retried, then named',
      () => createEvidenceStore({ connectionString: stopped.connectionString }),
      /still failing after 3 attempts: .*ECONNREFUSED/,
    ],
    [
      'refusing the key: named at once, with the role to grant',
      () =>
        createEvidenceStore({
          connectionString: azurite.connectionString.replace(/AccountKey=[^;]+/, 'AccountKey=d3Jvbmc='),
        }),
      /refused \(HTTP 403.*Storage Blob Data Contributor/,
    ],
  ])('a store %s; the investigation completes as before', async (_, store, reason) => {
    const { status, report } = await investigateWith(store());
    expect(status.runtimeStatus).toBe('Completed');
    expect(report.steps.map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
    expect(report.culprits[0]?.pod).toMatch(/^checkout-api-/);
    expect(report.evidence).toBeUndefined();
    expect(report.unavailable).toContainEqual({ what: 'evidence store', reason: expect.stringMatching(reason) });
  });
});

test('the activity without a store configured says so (NOT_BUILT)', async () => {
  const input = { instanceId: 'snat:rg:aks:n1', request: requestFor(scenarioWith()), report: {} as Report, pods: [] };
  const result = await storeEvidence.run(input, scenarioPorts(scenarioWith()), new InvocationContext());
  expect(result).toMatchObject({ ok: false, code: 'NOT_BUILT' });
});
