// The report step on its own: the rates come from the time the tracer really ran.
import { describe, expect, test } from '@jest/globals';
import type { InvestigationRequest } from '../../lib/model.ts';
import { buildReport, type ReportInput } from '../../lib/workflow/steps/rankAndReport.ts';
import { flow, podWithFlows } from '../support/podConnections.ts';

const request: InvestigationRequest = {
  cluster: { subscriptionId: '00000000-0000-0000-0000-000000000001', resourceGroup: 'rg', name: 'aks' },
  captureSeconds: 30,
  requestedBy: { kind: 'cli' },
};

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    instanceId: 'snat:rg:aks:n1',
    request,
    startedAt: '2026-12-02T00:00:00.000Z',
    pods: [podWithFlows('poller', [flow({ connects: 300 })])],
    steps: [],
    unavailable: [],
    ...overrides,
  };
}

describe('buildReport', () => {
  test.each([
    ['the whole capture traced', undefined, 10],
    ['the tracer died after 5 s of 30: 300 connects in 5 s', 5, 60],
    ['a traced time longer than the capture is the capture', 90, 10],
    ['nothing traced (0 s): the capture length, as no rate can be made of it', 0, 10],
  ])('%s → %d connects/s', (_what, tracedSeconds, perSecond) => {
    const report = buildReport(input(tracedSeconds === undefined ? {} : { tracedSeconds }), '2026-12-02T00:01:00.000Z');
    expect(report.culprits[0]?.connectsPerSecond).toBe(perSecond);
  });
});
